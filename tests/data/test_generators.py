"""Generators as sources: checkpoint round trip, TorchScript, callables, grids, and bad checkpoints."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_eval.data import parse_source
from gan_eval.data.base import quantize
from gan_eval.data.checkpoint_format import load_checkpoint
from gan_eval.data.export import sample_grid
from gan_eval.data.generators import generator_source, load_checkpoint_sampler
from gan_eval.errors import UserError
from gan_eval.train import load_train_config, train
from gan_eval.train.checkpoint import slim_checkpoint

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory) -> Path:
    """A real (tiny) trained checkpoint: the MLP GAN shrunk, one epoch on 128 random images, with EMA."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    config = dataclasses.replace(
        load_train_config(CONFIGS / "mlp_gan.toml"),
        generator_args={"hidden": 32},
        discriminator_args={"hidden": [32]},
        ema_decay=0.9,
    )
    images = torch.randint(
        0, 256, (128, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    out = tmp_path_factory.mktemp("run")
    path = train(config, out=out, epochs=1, device="cpu", progress=False, images=images)
    torch.set_num_threads(before)
    return path


def all_images(source, batch_size: int = 64) -> torch.Tensor:
    return torch.cat(list(source.batches(batch_size)))


def save_modified(ckpt_path: Path, dst: Path, change) -> Path:
    ckpt = torch.load(ckpt_path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, dst)
    return dst


# ---------------------------------------------------------------- round trip
def test_checkpoint_source_round_trip(ckpt_path):
    source = generator_source(str(ckpt_path), n=50, seed=3)
    images = all_images(source, 16)
    assert images.dtype == torch.uint8 and images.shape == (50, 1, 28, 28) and len(source) == 50
    assert source.shape == (1, 28, 28)
    assert torch.equal(images, all_images(source, 50))  # the consumer's batch size changes nothing
    again = generator_source(str(ckpt_path), n=50, seed=3)
    assert torch.equal(images, all_images(again)) and again.identity == source.identity
    other = generator_source(str(ckpt_path), n=50, seed=4)
    assert not torch.equal(images, all_images(other)) and other.identity != source.identity
    assert images.float().std() > 0  # not a constant image


def test_identity_names_file_hash_n_seed_and_ema(ckpt_path):
    from gan_eval.atomic import sha256_file

    source = generator_source(str(ckpt_path), n=10, seed=5)
    for part in (sha256_file(ckpt_path)[:16], "n=10", "seed=5", "ema=True"):
        assert part in source.identity
    raw = generator_source(str(ckpt_path), n=10, seed=5, use_ema=False)
    assert "ema=False" in raw.identity and not torch.equal(all_images(raw), all_images(source))


def test_parse_source_routes_checkpoints(ckpt_path):
    source = parse_source(str(ckpt_path), n=12, sample_seed=1)
    assert len(source) == 12 and "seed=1" in source.identity
    assert torch.equal(all_images(source), all_images(generator_source(str(ckpt_path), n=12, seed=1)))


def test_sampler_matches_the_generator_and_quantizes_like_a_png(ckpt_path):
    sampler = load_checkpoint_sampler(ckpt_path)
    gen = torch.Generator().manual_seed(0)
    floats = sampler.sample(8, gen)
    z = torch.randn(8, 100, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(floats, sampler.generator(z), rtol=0, atol=0)
    via_source = all_images(generator_source(str(ckpt_path), n=8, seed=0))
    assert torch.equal(via_source, quantize(floats))


def test_quantize_values():
    x = torch.tensor([-1.0, -0.99999, 0.0, 1.0, 1.0005, -1.2, 0.5]).view(1, 1, 1, 7)
    assert quantize(x).flatten().tolist() == [0, 0, 128, 255, 255, 0, 191]
    assert quantize(torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3), (0, 1)).flatten().tolist() == [
        0,
        128,
        255,
    ]


def test_slim_checkpoint_samples_the_same_and_cannot_resume(ckpt_path, tmp_path):
    slim = slim_checkpoint(ckpt_path, tmp_path / "ckpt_epoch_001.pt")
    assert slim.stat().st_size < ckpt_path.stat().st_size / 2
    assert "optimizers" not in load_checkpoint(slim)
    a = all_images(generator_source(str(ckpt_path), n=20))
    assert torch.equal(a, all_images(generator_source(str(slim), n=20)))
    with pytest.raises(UserError, match="slim checkpoint"):
        config = load_train_config(CONFIGS / "mlp_gan.toml")
        train(config, out=tmp_path, epochs=2, resume=True, device="cpu", progress=False)


def test_sample_grid(ckpt_path, tmp_path):
    out = sample_grid(str(ckpt_path), n=64, out=tmp_path / "grid.png", seed=0, nrow=8)
    with Image.open(out) as im:
        assert im.size == (8 * 30 + 2, 8 * 30 + 2)  # 28 px images, 2 px padding
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------- TorchScript and callables
@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.trace is deprecated in recent torch
def test_torchscript_generator(ckpt_path, tmp_path):
    sampler = load_checkpoint_sampler(ckpt_path)
    scripted = torch.jit.trace(sampler.generator, torch.randn(2, 100))
    path = tmp_path / "g.pt"
    scripted.save(str(path))
    with pytest.raises(UserError, match="--z-dim"):
        generator_source(str(path), n=4)
    source = generator_source(str(path), n=30, z_dim=100, seed=2)
    assert source.identity.startswith("torchscript:")
    assert torch.equal(all_images(source), all_images(generator_source(str(ckpt_path), n=30, seed=2)))
    with pytest.raises(UserError, match="outside its declared output range"):
        generator_source(str(path), n=30, z_dim=100, value_range=(0, 1))


def test_callable_generator(tmp_path, monkeypatch):
    (tmp_path / "my_generators.py").write_text(
        "import torch\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    net = torch.nn.Sequential(torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Tanh(),\n"
        "                              torch.nn.Unflatten(1, (3, 16, 16)))\n"
        "    return net, 8\n"
        "def no_z():\n"
        "    return torch.nn.Identity()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    source = parse_source("my_generators:make", n=10)
    assert source.shape == (3, 16, 16) and all_images(source).shape == (10, 3, 16, 16)
    assert source.identity.startswith("user:my_generators:make|")
    with pytest.raises(UserError, match="latent size"):
        generator_source("my_generators:no_z", n=4)
    with pytest.raises(UserError, match="'nope' is not defined there"):
        generator_source("my_generators:nope", n=4)
    with pytest.raises(UserError, match="cannot import module"):
        generator_source("no_such_package_xyz.mod:make", n=4)
    sys.modules.pop("my_generators", None)


# ---------------------------------------------------------------- bad checkpoints: one clear UserError each
def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such checkpoint file"):
        generator_source(str(tmp_path / "nope.pt"))


def test_truncated_file(ckpt_path, tmp_path):
    data = ckpt_path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_checkpoint(bad)


def test_garbage_file(tmp_path):
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(UserError, match="truncated or corrupt"):
        generator_source(str(bad))


def test_bare_state_dict(ckpt_path, tmp_path):
    bad = tmp_path / "state.pt"
    torch.save(torch.load(ckpt_path, weights_only=True)["generator"], bad)
    with pytest.raises(UserError, match="state_dict without its architecture.*FILE.py:Generator --weights"):
        generator_source(str(bad))


def test_pickled_module(tmp_path):
    bad = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), bad)
    with pytest.raises(UserError, match="pickled Python objects"):
        generator_source(str(bad))


def test_missing_keys(ckpt_path, tmp_path):
    bad = save_modified(ckpt_path, tmp_path / "nolatent.pt", lambda c: c.pop("latent"))
    with pytest.raises(UserError, match=r"missing keys \['latent'\]"):
        generator_source(str(bad))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["generator_arch"].update(name="stylegan9"),
            "unknown generator architecture 'stylegan9'",
        ),
        (lambda c: c["generator_arch"]["args"].update(hidden=64), "do not match architecture"),
        (lambda c: c["generator_arch"]["args"].update(bogus=1), "cannot build generator"),
        (lambda c: c.update(output_range=(1.0, -1.0)), "output_range must be"),
        (lambda c: c.update(image_shape=(2, 28, 28)), "image_shape must be"),
        (lambda c: c.update(latent={"dim": 100, "distribution": "cauchy"}), "latent distribution"),
        (lambda c: c.update(format_version=99), "not supported"),
    ],
)
def test_malformed_checkpoints(ckpt_path, tmp_path, change, message):
    bad = save_modified(ckpt_path, tmp_path / "bad.pt", change)
    with pytest.raises(UserError, match=message):
        generator_source(str(bad), n=4)


def test_nan_generator(ckpt_path, tmp_path):
    def poison(c):
        for key in ("generator", "generator_ema"):
            c[key]["model.3.bias"].fill_(float("nan"))

    bad = save_modified(ckpt_path, tmp_path / "nan.pt", poison)
    with pytest.raises(UserError, match="NaN"):
        generator_source(str(bad), n=4)


def test_generator_outside_its_declared_range(ckpt_path, tmp_path):
    bad = save_modified(ckpt_path, tmp_path / "range.pt", lambda c: c.update(output_range=(0.0, 1.0)))
    with pytest.raises(UserError, match="outside its declared output range"):
        generator_source(str(bad), n=4)


SHIPPED = Path(__file__).resolve().parent / "mlp_gan_mnist.pt"


@pytest.mark.skipif(not SHIPPED.exists(), reason="tests/data/mlp_gan_mnist.pt not shipped")
def test_shipped_mlp_gan_checkpoint_draws_mnist_like_images():
    """The committed 20-epoch MLP GAN (slim copy): rebuilds without training flags, and its samples have
    MNIST's ink statistics (mostly black background, mean pixel near MNIST's 33/255)."""
    ckpt = load_checkpoint(SHIPPED)
    assert ckpt["generator_arch"]["name"] == "mlp" and ckpt["dataset"] == "mnist" and ckpt["epoch"] == 20
    images = all_images(generator_source(str(SHIPPED), n=500, seed=0)).float()
    assert 25 < images.mean() < 45  # MNIST test: 33.8 (this file at seed 0: 33.4)
    assert (images < 30).float().mean() > 0.7  # MNIST test: 0.83 (this file: 0.81)


# ---------------------------------------------------------------- issue 15: failing user generators
def test_a_generator_that_raises_is_a_user_error_naming_the_source_with_its_cause(ckpt_path, tmp_path):
    """Item 10: a TorchScript generator with the wrong --z-dim raised a shape-mismatch traceback."""
    sampler = load_checkpoint_sampler(ckpt_path)
    path = tmp_path / "g_ts.pt"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(sampler.generator, torch.randn(2, 100)), str(path))
    with pytest.raises(UserError) as info:
        generator_source(str(path), n=4, z_dim=7)
    message = str(info.value)
    assert message.startswith(f"{path}: the generator failed on latents float32 [4, 7]")
    assert "mat1 and mat2 shapes cannot be multiplied" in message and "--z-dim" in message
    assert "\n" not in message and isinstance(info.value.__cause__, RuntimeError)  # --debug shows it


def test_a_factory_or_module_that_raises_is_a_user_error(tmp_path, monkeypatch):
    (tmp_path / "failing_gens.py").write_text(
        "def boom():\n    raise OSError('weights /x.pt not found')\n"
        "def bad():\n    import torch\n    return (lambda z: z.view(-1, 3, 3), 8)\n"
    )
    (tmp_path / "import_fails.py").write_text("raise RuntimeError('no GPU at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        UserError, match=r"failing_gens:boom: calling boom\(\) failed \(OSError: weights"
    ) as a:
        generator_source("failing_gens:boom", n=4)
    assert isinstance(a.value.__cause__, OSError)
    with pytest.raises(
        UserError, match=r"failing_gens:bad: the generator failed on latents float32 \[4, 8\]"
    ):
        generator_source("failing_gens:bad", n=4)
    with pytest.raises(UserError, match=r"importing module 'import_fails' failed \(RuntimeError: no GPU"):
        generator_source("import_fails:make", n=4)


def test_latents_do_not_depend_on_the_consumers_batch_size(ckpt_path):
    """Item 4 at the source: the consumer's batch size (the extractor's) changes no image."""
    from gan_eval.data.generators import LATENT_CHUNK

    a = generator_source(str(ckpt_path), n=LATENT_CHUNK + 30, seed=2)
    b = generator_source(str(ckpt_path), n=LATENT_CHUNK + 30, seed=2)
    assert a.identity == b.identity and f"chunk={LATENT_CHUNK}" in a.identity and "batch" not in a.identity
    assert torch.equal(all_images(a, 7), all_images(b, 500))
