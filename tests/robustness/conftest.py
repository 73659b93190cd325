"""Fixtures of the robustness (fuzz) suite.

``ws``: one workspace of valid inputs of every source kind (built once per session, never modified: every
case checks that). ``gens_on_path``: the suite's ``module:function`` generators importable.
"""

from __future__ import annotations

import sys
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from robust_helpers import CKPT

from gan_eval.results import append_results, make_rows
from gan_eval.stats import save_moments

REPO = Path(__file__).resolve().parents[2]

GENERATORS_MODULE = '''
"""Generators for the robustness suite's ``module:function`` cases."""
import torch


class Tiny(torch.nn.Module):
    z_dim = 8

    def __init__(self, bad: str = ""):
        super().__init__()
        self.lin = torch.nn.Linear(8, 16 * 16)
        self.bad = bad

    def forward(self, z):
        if self.bad == "shape":
            return z.view(-1, 3, 3)
        x = torch.tanh(self.lin(z)).view(-1, 1, 16, 16)
        return x * float("nan") if self.bad == "nan" else x


def ok():
    torch.manual_seed(0)
    return Tiny()


def boom():
    raise RuntimeError("weights file /nowhere/g.pt not found")


def bad_shape():
    return Tiny("shape")


def nan():
    return Tiny("nan")


def not_a_generator():
    return 42
'''


@dataclass(frozen=True)
class Workspace:
    root: Path
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Path:
        return self.files[key]


def _png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG that claims ``width`` x ``height`` grayscale pixels (no pixel data): enough
    for Pillow to read the size, not to decode."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"x\x9c") + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def ws(tmp_path_factory) -> Workspace:
    """Valid inputs of every kind (uint8 16x16 images for the dummy extractor, whose feature dim is 16)."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(15)
    files: dict[str, Path] = {}
    real = rng.integers(0, 256, (60, 1, 16, 16), dtype=np.uint8)
    fake = np.clip(real[:40].astype(int) + rng.integers(-60, 60, (40, 1, 16, 16)), 0, 255).astype(np.uint8)
    np.savez(root / "real.npz", images=real)
    np.savez(root / "fake.npz", images=fake)
    np.save(root / "fake.npy", fake)
    files.update(real=root / "real.npz", fake=root / "fake.npz", npy=root / "fake.npy")
    folder = root / "imgs"
    folder.mkdir()
    for i, im in enumerate(fake[:24]):
        Image.fromarray(im[0]).save(folder / f"{i:03d}.png")
    files["folder"] = folder
    with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    files["zip"] = root / "imgs.zip"
    files["ckpt"] = CKPT
    from gan_eval.data.generators import load_checkpoint_sampler

    sampler = load_checkpoint_sampler(CKPT)
    import warnings

    with warnings.catch_warnings():  # torch.jit is deprecated upstream; still what users hand us
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(sampler.generator, torch.randn(2, sampler.z_dim))
        torch.jit.save(traced, str(root / "gen_ts.pt"))
    files["torchscript"] = root / "gen_ts.pt"
    (root / "robust_gens.py").write_text(textwrap.dedent(GENERATORS_MODULE))
    from gan_eval.stats import FeatureStats

    feats = rng.normal(size=(80, 16))
    st = FeatureStats(16).update(feats)
    save_moments(root / "stats.npz", st.moments({"note": "robustness suite"}))
    save_moments(root / "stats_compact.npz", st.moments({"note": "robustness suite"}), compact=True)
    files.update(stats=root / "stats.npz", stats_compact=root / "stats_compact.npz")
    meta = {
        "real": "real.npz",
        "fake": "fake.npz",
        "n_real": 60,
        "n_fake": 40,
        "extractor": "dummy",
        "protocol": "dummy-8x8",
        "precision": "fp32",
        "seed": 0,
        "device": "cpu",
        "run_id": "r",
    }
    append_results(make_rows({"fid": 12.5, "is_mean": 3.0}, meta=meta), root / "results.csv")
    files["results"] = root / "results.csv"
    (root / "gate.toml").write_text("[absolute]\nfid = { max = 1e9 }\n")
    files["gate"] = root / "gate.toml"
    (root / "eval.toml").write_text('extractor = "dummy"\nmetrics = ["fid"]\n')
    (root / "train.toml").write_text((REPO / "configs" / "train" / "mlp_gan.toml").read_text())
    files["train_config"] = root / "train.toml"
    files["eval_config"] = root / "eval.toml"
    (root / "bomb.png").write_bytes(_png_header(20_000, 20_000))  # 400 Mpx: over Pillow's bomb limit
    (root / "big_header.png").write_bytes(_png_header(9_000, 9_000))  # 81 Mpx: under it, no pixel data
    files.update(bomb=root / "bomb.png", big_header=root / "big_header.png")
    return Workspace(root, files)


@pytest.fixture
def gens_on_path(ws, monkeypatch):
    """``robust_gens`` importable (for ``robust_gens:function`` specs)."""
    monkeypatch.syspath_prepend(str(ws.root))
    yield
    sys.modules.pop("robust_gens", None)
