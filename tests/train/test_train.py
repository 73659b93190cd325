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
        "dcgan_best": {"generator_args": {"width": 8}, "discriminator_args": {"width": 8}},
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


@pytest.mark.parametrize("name", ["mlp_gan", "dcgan", "wgan_gp", "dcgan_best"])
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


# ----------------------------------------------------------------------------- the dcgan_best features
def test_r1_penalty_matches_its_closed_form():
    """R1 = mean_i ||grad_x D(x_i)||^2 against the gradients written out by hand (float64, equal to rounding):
    D(x) = sum(a * x^2) + sum(w * x) has grad 2 a x + w per sample."""
    from gan_eval.train.losses import r1_penalty

    g = torch.Generator().manual_seed(0)
    a = torch.randn(1, 3, 5, 5, generator=g, dtype=torch.float64)
    w = torch.randn(1, 3, 5, 5, generator=g, dtype=torch.float64)
    x = torch.randn(7, 3, 5, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    scores = (a * x.square() + w * x).flatten(1).sum(1, keepdim=True)
    expected = (2 * a * x.detach() + w).square().flatten(1).sum(1).mean()
    got = r1_penalty(scores, x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
    got.backward()  # differentiable (create_graph): d/dx of the penalty exists
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_spectral_norm_divides_each_conv_by_its_largest_singular_value():
    """After enough power iterations (one per training-mode forward), every conv weight the discriminator
    uses has spectral norm 1, against numpy's SVD of the weight reshaped to [out, in * k * k]."""
    from gan_eval.train.models import DCGANDiscriminator

    torch.manual_seed(0)
    d = DCGANDiscriminator(width=8, norm="none", sigmoid=False, spectral_norm=True).train()
    with torch.no_grad():
        for _ in range(200):
            d(torch.randn(4, 1, 28, 28))
    convs = [m for m in d.model if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    for m in convs:
        w = m.weight.detach().reshape(m.weight.shape[0], -1).double().numpy()
        assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1.0) < 1e-4
    keys = set(d.state_dict())
    for i in (0, 2, 5):  # the power iteration's vectors are buffers: checkpoints and --resume carry them
        assert {f"model.{i}.parametrizations.weight.0._u", f"model.{i}.parametrizations.weight.0._v"} <= keys


def test_ns_loss_and_lazy_r1_match_a_hand_written_reference(tmp_path):
    """Two steps of the "ns" loop (R1 every 2nd D step, weight scaled by 2; fused real+fake D batch; EMA) =
    the same two steps written out here with BCE-with-logits (an independent form of the same loss)."""
    from gan_eval.train.loop import normalize
    from gan_eval.train.models import build_discriminator, build_generator

    config = small("dcgan_best", r1_gamma=3.0, r1_every=2, ema_decay=0.9)
    images = blobs(100)  # batches of 64 and 36
    ckpt = load_checkpoint(train(config, out=tmp_path, epochs=1, device="cpu", progress=False, images=images))

    torch.manual_seed(config.seed)
    G = build_generator("dcgan", {**config.generator_args, "latent_dim": 100, "channels": 1})
    D = build_discriminator("dcgan", {**config.discriminator_args, "channels": 1})
    G_ema = build_generator("dcgan", {**config.generator_args, "latent_dim": 100, "channels": 1})
    G_ema.load_state_dict(G.state_dict())
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas_g)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas_d)
    bce = nn.BCEWithLogitsLoss()
    data = normalize(images)
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed))
    noise = torch.Generator().manual_seed(config.seed + 1)
    for i in range(2):
        real = data[perm[i * 64 : (i + 1) * 64]].clone().requires_grad_(True)
        b = real.size(0)
        with torch.no_grad():
            fake = G(torch.randn(b, 100, generator=noise))
        scores = D(torch.cat([real, fake]))
        d_loss = bce(scores[:b], torch.ones(b, 1)) + bce(scores[b:], torch.zeros(b, 1))
        if i % 2 == 0:
            (grad,) = torch.autograd.grad(scores[:b].sum(), real, create_graph=True)
            d_loss = d_loss + 0.5 * 3.0 * 2 * (grad**2).sum(dim=(1, 2, 3)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(G(torch.randn(b, 100, generator=noise))), torch.ones(b, 1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), G.parameters(), strict=True):
                pe.copy_(0.9 * pe + 0.1 * p)
            for be, bg in zip(G_ema.buffers(), G.buffers(), strict=True):
                be.copy_(bg)
    for ours, theirs in (
        (ckpt["generator"], G.state_dict()),
        (ckpt["discriminator"], D.state_dict()),
        (ckpt["generator_ema"], G_ema.state_dict()),
    ):
        assert ours.keys() == theirs.keys()
        for k in ours:
            torch.testing.assert_close(ours[k], theirs[k], rtol=1e-4, atol=1e-6, msg=k)
    assert ckpt["global_step"] == 2


def full_and_resumed(config, tmp_path, images):
    """The last checkpoint of ``config`` trained for its epochs in one go, and of the same run trained for
    one epoch, resumed for a second, and resumed to the end."""
    full = load_checkpoint(train(config, out=tmp_path / "full", device="cpu", progress=False, images=images))
    train(config, out=tmp_path / "split", epochs=1, device="cpu", progress=False, images=images)
    train(config, out=tmp_path / "split", epochs=2, resume=True, device="cpu", progress=False, images=images)
    resumed = load_checkpoint(
        train(config, out=tmp_path / "split", resume=True, device="cpu", progress=False, images=images)
    )
    return full, resumed


def checkpoint_tensors(ckpt) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint's networks, optimizers and RNG states, by its path (``.generator.x``)."""

    def tensors(obj, prefix=""):
        if isinstance(obj, torch.Tensor):
            yield prefix, obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from tensors(v, f"{prefix}.{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from tensors(v, f"{prefix}[{i}]")

    keys = ("generator", "generator_ema", "discriminator", "optimizers", "rng")
    return dict(tensors({k: ckpt[k] for k in keys}))


def test_resume_is_bit_for_bit_with_lazy_r1_spectral_norm_and_ema(tmp_path):
    """An R1 period (3) that does not divide the epoch (4 steps): the resumed run must pick up the schedule
    from global_step. Every tensor of the checkpoint - weights, spectral-norm u/v, EMA, Adam moments, RNG
    states - equals the uninterrupted run's."""
    config = small("dcgan_best", epochs=3, r1_gamma=1.0, r1_every=3)
    full, resumed = full_and_resumed(config, tmp_path, blobs(256))
    a, b = checkpoint_tensors(full), checkpoint_tensors(resumed)
    assert a.keys() == b.keys() and any("_u" in k for k in a) and any("exp_avg" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


def test_a_diverged_run_stops_with_a_clear_error(tmp_path, monkeypatch):
    from gan_eval.train import loop

    monkeypatch.setattr(loop, "normalize", lambda images: torch.full(images.shape, float("nan")))
    with pytest.raises(UserError, match="training diverged in epoch 1"):
        train(small("dcgan_best", epochs=2), out=tmp_path, device="cpu", progress=False, images=blobs(64))
    assert not list(tmp_path.glob("ckpt_*.pt"))  # no checkpoint of NaN weights


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(8, 1, 28, 28), "training images must be uint8"),
        (torch.zeros(8, 28, 28, dtype=torch.uint8), "training images must be uint8"),
        (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), "need at least 2 training images"),
        (torch.zeros(8, 1, 32, 32, dtype=torch.uint8), "does not produce images of shape"),
    ],
)
def test_bad_training_data_is_refused_before_training(tmp_path, images, message):
    with pytest.raises(UserError, match=message):
        config = small("dcgan_best", epochs=1)
        train(config, out=tmp_path / "run", device="cpu", progress=False, images=images)
    assert not list((tmp_path / "run").glob("ckpt_*.pt"))


def test_the_evaluator_rebuilds_the_ema_generator_of_a_dcgan_best_checkpoint(tmp_path):
    from gan_eval.data.generators import load_checkpoint_sampler
    from gan_eval.train.models import build_generator

    path = train(small("dcgan_best", epochs=1), out=tmp_path, device="cpu", progress=False, images=blobs(128))
    sampler = load_checkpoint_sampler(path)
    ckpt = load_checkpoint(path)
    ema = build_generator(ckpt["generator_arch"]["name"], ckpt["generator_arch"]["args"]).eval()
    ema.load_state_dict(ckpt["generator_ema"])
    z = torch.randn(16, 100)
    with torch.no_grad():
        assert torch.equal(sampler.generator(z), ema(z))
    assert sampler.identity.endswith("ema=True")


def test_infogan_heads_shapes_keys_and_old_layouts():
    """fc > 0 builds the InfoGAN generator / discriminator heads; fc = 0 keeps the DCGAN layout, key for key
    (checkpoints written before the option existed still load)."""
    from gan_eval.train.models import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    for norm in ("batch", "layer", "none"):
        g, d = DCGANGenerator(width=8, fc=32), DCGANDiscriminator(width=8, fc=32, norm=norm)
        x = g(torch.randn(5, 100))
        assert x.shape == (5, 1, 28, 28) and d(x).shape == (5, 1)
        assert any(isinstance(m, nn.Linear) for m in d.modules())
    old_g = ["model.0.weight", "model.1.weight", "model.1.bias", "model.1.running_mean"]
    assert list(DCGANGenerator(width=8).state_dict())[:4] == old_g
    assert "model.5.weight" in DCGANDiscriminator(width=8).state_dict()  # the 7x7 conv head
    with pytest.raises(ValueError, match="fc must be"):
        DCGANGenerator(fc=-1)
    sn = DCGANDiscriminator(width=8, fc=16, norm="none", spectral_norm=True)
    assert sum(k.endswith("._u") for k in sn.state_dict()) == 4  # two convs and two linears
