"""The training-loop tracker and TensorBoard logs (issue 21): the tracker's values are evaluate()'s, its
rows carry step and epoch, it leaves the caller's state (modes, requires_grad, random streams) as it found
it, so a training run is bit-identical with and without it; the trainer's --tensorboard logs losses,
metrics and grids."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import gan_eval
from gan_eval.cli import app
from gan_eval.cli.core import OPTIONAL_VALUE, optional_values
from gan_eval.errors import UserError
from gan_eval.tracker import Tracker, preserved_rng

Z = 8


class TinyG(nn.Module):
    """A tutorial-shaped generator: Linear - BatchNorm - Dropout - Linear - Tanh, 8x8 images."""

    def __init__(self, latent_dim: int = Z, noisy: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.noisy = latent_dim, noisy
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(32, 64), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z).view(-1, 1, 8, 8)
        # global-stream noise even in eval mode (some generators do that): a call must not move the stream
        return (out + 0.01 * torch.randn_like(out)).clamp(-1, 1) if self.noisy else out


@pytest.fixture
def real(tmp_path):
    path = tmp_path / "real.npz"
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, size=(200, 1, 8, 8), dtype=np.uint8))
    return str(path)


def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    return ea


def test_tracker_values_rows_and_tensorboard(real, tmp_path, tmp_cache):
    torch.manual_seed(0)
    G = TinyG()
    results = tmp_path / "results.csv"
    with Tracker(
        real=real, extractor="dummy", metrics=["fid", "kid"], n=300, results=results, run="tiny",
        tensorboard=tmp_path / "tb",
    ) as tracker:  # fmt: skip
        first = tracker(G, step=10, epoch=1)
        second = tracker(G, step=20, epoch=2)
    direct = gan_eval.evaluate(
        real=real, fake=G, metrics=["fid", "kid"], extractor="dummy", n=300, progress=False
    )
    assert first == second == pytest.approx(direct.values, abs=0)  # the same latents, the same generator
    rows = pd.read_csv(results)
    assert set(rows["run_id"]) == {"tiny"} and sorted(set(rows["step"])) == [10, 20]
    assert sorted(set(rows["epoch"])) == [1, 2] and set(rows["metric"]) >= {"fid", "kid_mean"}
    assert rows["fake"].str.startswith("<in memory> nn.Module").all()
    ea = _events(tmp_path / "tb")
    assert [e.step for e in ea.Scalars("gan_eval/fid")] == [10, 20]
    assert ea.Scalars("gan_eval/fid")[0].value == pytest.approx(first["fid"], rel=1e-6)  # (stored as float32)
    assert len(ea.Images("gan_eval/samples")) == 2


def test_a_call_leaves_modes_grads_device_and_random_streams_as_found(real, tmp_cache):
    torch.manual_seed(0)
    G = TinyG(noisy=True)
    G.train()
    G.net[1].eval()  # a caller's mixed modes are restored one by one
    G.net[0].weight.requires_grad_(False)
    modes = [m.training for m in G.modules()]
    grads = [p.requires_grad for p in G.parameters()]
    tracker = Tracker(real=real, extractor="dummy", n=100)
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    tracker(G)
    after = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]
    assert [m.training for m in G.modules()] == modes
    assert [p.requires_grad for p in G.parameters()] == grads
    assert next(G.parameters()).device.type == "cpu"


def _train(tracker: Tracker | None, steps: int = 30) -> tuple[dict, torch.Tensor]:
    """A tiny tutorial-style GAN loop on the global stream (randn, dropout, shuffles), scored every 10."""
    torch.manual_seed(0)
    G, D = TinyG(), nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    data = torch.rand(256, 1, 8, 8) * 2 - 1
    bce = nn.BCEWithLogitsLoss()
    for step in range(1, steps + 1):
        real = data[torch.randperm(256)[:32]]
        fake = G(torch.randn(32, Z))
        d_loss = bce(D(real), torch.ones(32, 1)) + bce(D(fake.detach()), torch.zeros(32, 1))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(G(torch.randn(32, Z))), torch.ones(32, 1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if tracker is not None and step % 10 == 0:
            tracker(G, step=step)
    return {**G.state_dict(), **{f"D.{k}": v for k, v in D.state_dict().items()}}, torch.get_rng_state()


@pytest.mark.determinism
def test_a_training_run_is_bit_identical_with_and_without_the_tracker(real, tmp_cache):
    tracker = Tracker(real=real, extractor="dummy", metrics=["fid"], n=200)
    plain, rng_plain = _train(None)
    tracked, rng_tracked = _train(tracker)
    assert plain.keys() == tracked.keys()
    assert all(torch.equal(plain[k], tracked[k]) for k in plain)  # bit for bit
    assert torch.equal(rng_plain, rng_tracked)


def test_preserved_rng_restores_after_an_exception():
    torch.manual_seed(1)
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError), preserved_rng():
        torch.randn(10)
        raise RuntimeError
    assert torch.equal(state, torch.get_rng_state())


def test_missing_tensorboard_is_one_line(real, tmp_cache, monkeypatch):
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "tensorboard" else real_find(n, *a)
    )
    with pytest.raises(UserError, match=r"TensorBoard logging needs the tensorboard package: pip install"):
        Tracker(real=real, extractor="dummy", n=50, tensorboard="tb")


def test_optional_value_options():
    assert optional_values(["train", "--tensorboard"]) == ["train", "--tensorboard", OPTIONAL_VALUE]
    assert optional_values(["train", "--tensorboard", "-q"]) == [
        "train",
        "--tensorboard",
        OPTIONAL_VALUE,
        "-q",
    ]
    assert optional_values(["train", "--tensorboard", "tb"]) == ["train", "--tensorboard", "tb"]
    assert optional_values(["fid", "--", "--tensorboard"]) == ["fid", "--", "--tensorboard"]


@pytest.mark.parametrize("given", [None, "logs"])
def test_trainer_tensorboard_logs_losses_metrics_and_grids(tmp_path, given, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tiny.toml"
    config.write_text(
        'name = "tiny"\nepochs = 1\nbatch_size = 32\n[generator]\narch = "mlp"\nargs = { hidden = 16 }\n'
        '[discriminator]\narch = "mlp"\nargs = { hidden = [16] }\n[run]\nlimit = 128\n'
    )
    args = ["train", "--config", str(config), "--out", "run", "--threads", "1", "-q", "--tensorboard"]
    r = CliRunner().invoke(app, args + ([given] if given else []))
    assert r.exit_code == 0, r.output
    ea = _events(tmp_path / (given or "run/tensorboard"))
    assert len(ea.Scalars("loss/d")) == 4 and len(ea.Scalars("loss/g")) == 4  # 128 images / 32 a step
    assert [e.step for e in ea.Scalars("epoch/seconds")] == [4] and len(ea.Images("samples")) == 1
