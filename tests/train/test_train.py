"""The trainer: the article's algorithm, checkpoint contents, bit-for-bit resume, logs and errors.

Everything runs on a few hundred synthetic images (``train(..., images=...)``): no MNIST needed, seconds each.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gan_eval.data.checkpoint_format import load_checkpoint
from gan_eval.errors import UserError
from gan_eval.train import load_train_config, train
from gan_eval.train.loop import normalize
from gan_eval.train.models import MLPDiscriminator, MLPGenerator

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"
REPO = Path(__file__).resolve().parents[2]


def blobs(n: int, seed: int = 0) -> torch.Tensor:
    """uint8 [n, 1, 28, 28]: random bright squares on black (a stand-in for MNIST)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    corners = torch.randint(0, 20, (n, 2), generator=g)
    for i, (y, x) in enumerate(corners.tolist()):
        images[i, 0, y : y + 8, x : x + 8] = 255
    return images


def small(name: str, **changes: object):
    """A config from configs/train with its networks shrunk so a test epoch takes well under a second."""
    config = load_train_config(CONFIGS / f"{name}.toml")
    shrink = {
        "mlp_gan": {"generator_args": {"hidden": 32}, "discriminator_args": {"hidden": [32, 16]}},
        "dcgan": {"generator_args": {"width": 8}, "discriminator_args": {"width": 8}},
        "wgan_gp": {"generator_args": {"width": 8}, "discriminator_args": {"width": 8, "norm": "none"}},
    }[name]
    for key, args in shrink.items():
        shrink[key] = {**getattr(config, key), **args}
    return dataclasses.replace(config, **shrink, **changes)


def reference_module():
    spec = importlib.util.spec_from_file_location("reference_gan", REPO / "benchmarks" / "reference_gan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_models_are_the_articles():
    ref = reference_module()
    ours_g, ours_d = MLPGenerator(), MLPDiscriminator()
    ref_g, ref_d = ref.Generator(), ref.Discriminator()
    for ours, theirs in ((ours_g, ref_g), (ours_d, ref_d)):
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: v.shape for k, v in theirs.state_dict().items()
        }
        theirs.load_state_dict(ours.state_dict())
    z = torch.randn(16, 100)
    torch.testing.assert_close(ours_g(z), ref_g(z), rtol=0, atol=0)
    ours_d.eval(), ref_d.eval()
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(ours_d(x), ref_d(x), rtol=0, atol=0)


def test_fused_discriminator_batch_is_the_average_of_the_halves():
    d = MLPDiscriminator()
    real, fake = torch.rand(64, 1, 28, 28), torch.rand(64, 1, 28, 28)
    bce = nn.BCELoss()
    halves = 0.5 * (bce(d(real), torch.ones(64, 1)) + bce(d(fake), torch.zeros(64, 1)))
    fused = bce(d(torch.cat([real, fake])), torch.cat([torch.ones(64, 1), torch.zeros(64, 1)]))
    torch.testing.assert_close(fused, halves)


def test_training_matches_the_articles_algorithm(tmp_path):
    """Two steps of our loop = two of the article's (same init, data order and noise), up to rounding."""
    config = load_train_config(CONFIGS / "mlp_gan.toml")
    images = blobs(100)  # batches of 64 and 36: the short last batch is kept, as DataLoader does
    ckpt = load_checkpoint(train(config, out=tmp_path, epochs=1, device="cpu", progress=False, images=images))

    torch.manual_seed(config.seed)
    ref = reference_module()
    generator, discriminator = ref.Generator(), ref.Discriminator()
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    data = normalize(images)
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed))
    noise = torch.Generator().manual_seed(config.seed + 1)
    for i in range(2):
        real_imgs = data[perm[i * 64 : (i + 1) * 64]]
        valid, fake = torch.ones(real_imgs.size(0), 1), torch.zeros(real_imgs.size(0), 1)
        real_loss = nn.BCELoss()(discriminator(real_imgs), valid)
        z = torch.randn(real_imgs.size(0), 100, generator=noise)
        fake_loss = nn.BCELoss()(discriminator(generator(z)), fake)
        d_loss = 0.5 * (real_loss + fake_loss)
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        z = torch.randn(real_imgs.size(0), 100, generator=noise)
        g_loss = nn.BCELoss()(discriminator(generator(z)), valid)
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
    for ours, theirs in (
        (ckpt["generator"], generator.state_dict()),
        (ckpt["discriminator"], discriminator.state_dict()),
    ):
        assert ours.keys() == theirs.keys()
        for k in ours:
            torch.testing.assert_close(ours[k], theirs[k], rtol=1e-4, atol=1e-5, msg=k)
    assert ckpt["global_step"] == 2


@pytest.mark.parametrize("name", ["mlp_gan", "dcgan", "wgan_gp"])
def test_resume_is_bit_for_bit(tmp_path, name):
    config = small(name, epochs=2)
    images = blobs(256)
    full = load_checkpoint(train(config, out=tmp_path / "full", device="cpu", progress=False, images=images))
    train(config, out=tmp_path / "split", epochs=1, device="cpu", progress=False, images=images)
    resumed_path = train(
        config, out=tmp_path / "split", resume=True, device="cpu", progress=False, images=images
    )
    resumed = load_checkpoint(resumed_path)
    assert resumed_path.name == "ckpt_epoch_002.pt"
    for key in ("generator", "discriminator") + (("generator_ema",) if config.ema_decay else ()):
        for k, v in full[key].items():
            assert torch.equal(v, resumed[key][k]), f"{key}.{k} differs after resume"
    assert resumed["global_step"] == full["global_step"] == 2 * 4
    for k, v in full["losses"].items():
        np.testing.assert_array_equal(resumed["losses"][k], v)  # NaN-aware: WGAN's epoch 1 has no G step
    log_full, log_split = (
        pd.read_csv(tmp_path / "full" / "log.csv"),
        pd.read_csv(tmp_path / "split" / "log.csv"),
    )
    pd.testing.assert_frame_equal(log_full, log_split)


def test_checkpoint_contents_and_outputs(tmp_path):
    config = small("dcgan", epochs=2)
    last = train(config, out=tmp_path, device="cpu", progress=False, images=blobs(128), seed=7)
    assert last == tmp_path / "ckpt_epoch_002.pt"
    ckpt = load_checkpoint(last)
    assert ckpt["generator_arch"] == {"name": "dcgan", "args": {"width": 8, "latent_dim": 100, "channels": 1}}
    assert ckpt["latent"] == {"dim": 100, "distribution": "normal"}
    assert tuple(ckpt["output_range"]) == (-1.0, 1.0) and tuple(ckpt["image_shape"]) == (1, 28, 28)
    assert (
        ckpt["epoch"] == 2 and ckpt["global_step"] == 4 and ckpt["seed"] == 7 and ckpt["config"]["seed"] == 7
    )
    assert ckpt["generator_ema"] is not None and set(ckpt["optimizers"]) == {"g", "d"}
    assert ckpt["losses"]["epoch"] == [1.0, 2.0] and len(ckpt["losses"]["d_loss"]) == 2
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "ckpt_epoch_001.pt",
        "samples_epoch_001.png",
        "samples_epoch_002.png",
        "log.csv",
        "epochs.csv",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    steps, epochs = pd.read_csv(tmp_path / "log.csv"), pd.read_csv(tmp_path / "epochs.csv")
    assert list(steps["step"]) == [1, 2, 3, 4] and list(epochs["epoch"]) == [1, 2]
    assert steps[["d_loss", "g_loss"]].notna().all().all()


def test_wgan_logs_generator_loss_every_n_critic_steps(tmp_path):
    train(small("wgan_gp", epochs=1), out=tmp_path, device="cpu", progress=False, images=blobs(640))
    steps = pd.read_csv(tmp_path / "log.csv")
    assert list(steps["g_loss"].notna()) == [False] * 4 + [True] + [False] * 4 + [True]


def test_eval_hook_results_land_in_the_epoch_log(tmp_path):
    calls = []

    def hook(epoch: int, path: Path) -> dict[str, float]:
        calls.append((epoch, path.name))
        return {"fid_mnist_lenet": float(epoch)}

    config = small("mlp_gan", epochs=3, eval_every=2)
    train(config, out=tmp_path, device="cpu", progress=False, images=blobs(64), eval_hook=hook)
    assert calls == [(2, "ckpt_epoch_002.pt"), (3, "ckpt_epoch_003.pt")]
    assert list(pd.read_csv(tmp_path / "epochs.csv")["fid_mnist_lenet"].fillna(-1)) == [-1, 2, 3]


def test_refuses_to_overwrite_or_resume_nothing(tmp_path):
    config = small("mlp_gan", epochs=1)
    with pytest.raises(UserError, match="no ckpt_epoch_XXX.pt"):
        train(config, out=tmp_path / "empty", resume=True, device="cpu", progress=False, images=blobs(64))
    train(config, out=tmp_path, device="cpu", progress=False, images=blobs(64))
    with pytest.raises(UserError, match="already holds checkpoints"):
        train(config, out=tmp_path, device="cpu", progress=False, images=blobs(64))
    with pytest.raises(UserError, match="already at epoch 1"):
        train(config, out=tmp_path, resume=True, device="cpu", progress=False, images=blobs(64))
    with pytest.raises(UserError, match="batch_size"):
        changed = dataclasses.replace(config, batch_size=32)
        train(changed, out=tmp_path, epochs=2, resume=True, device="cpu", progress=False, images=blobs(64))


def test_progress_bar_runs(tmp_path):
    path = train(small("mlp_gan", epochs=1), out=tmp_path, device="cpu", progress=True, images=blobs(64))
    assert path.exists()


def test_a_last_batch_of_one_image_is_dropped(tmp_path):
    """Batch norm cannot train on one image: 65 images at batch 64 make one step, not a crash."""
    train(small("dcgan", epochs=1), out=tmp_path, device="cpu", progress=False, images=blobs(65))
    assert list(pd.read_csv(tmp_path / "log.csv")["step"]) == [1]


def test_lean_adam_step_is_bit_for_bit_torch_adam():
    """The trainer's _AdamStep calls torch's fused kernel directly: parameters and optimizer state must equal
    those of torch.optim.Adam.step() exactly, step after step (also after a parameter had no gradient)."""
    import copy

    import torch
    from torch import nn

    from gan_eval.train.optim import AdamStep as _AdamStep
    from gan_eval.train.optim import adam as _adam

    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(20, 30), nn.BatchNorm1d(30), nn.LeakyReLU(0.2), nn.Linear(30, 1))
    b = copy.deepcopy(a)
    opt_a, opt_b = _adam(a, 2e-4, (0.5, 0.999)), _adam(b, 2e-4, (0.5, 0.999))
    step_b = _AdamStep(opt_b)
    for i in range(12):
        x = torch.randn(16, 20)
        for model, opt, step in ((a, opt_a, opt_a.step), (b, opt_b, step_b)):
            opt.zero_grad(set_to_none=True)
            model[1].requires_grad_(i != 5)  # one step where the batch norm gets no gradient
            model(x).pow(2).mean().backward()
            step()
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for name in sa[k]:
            assert torch.equal(sa[k][name], sb[k][name]), (k, name)


def test_normalizing_each_batch_gives_the_floats_of_normalizing_the_whole_set():
    images = torch.arange(256, dtype=torch.uint8).repeat(8).view(8, 1, 16, 16)
    idx = torch.tensor([5, 0, 7])
    assert torch.equal(normalize(images)[idx], normalize(images[idx]))
    ref = ((torch.arange(256, dtype=torch.float32) / 255) - 0.5) / 0.5  # ToTensor, then Normalize(0.5, 0.5)
    assert torch.equal(normalize(images).flatten()[:256], ref)
