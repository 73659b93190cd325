"""The StyleGAN-style generator and discriminator: shapes, the modulated convolution against a per-sample
reference, eval-mode determinism, style mixing, checkpoints the evaluator reads, bit-exact resume, and one
short epoch of the shipped config on MNIST.

Everything but the last test runs on tiny networks and synthetic images: seconds in all.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_train import blobs, checkpoint_tensors, full_and_resumed

from gan_eval.data.base import quantize, sample_latent
from gan_eval.data.checkpoint_format import load_checkpoint
from gan_eval.errors import UserError
from gan_eval.train import load_train_config, train
from gan_eval.train.models import (
    build_discriminator,
    build_generator,
    discriminator_args,
    generator_args,
    has_batch_statistics,
)
from gan_eval.train.stylegan import (
    StyleGANDiscriminator,
    StyleGANGenerator,
    SynthesisLayer,
    minibatch_stddev,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"
TINY_G = {"widths": [16, 8, 4], "w_dim": 16, "mapping_layers": 2}
TINY_D = {"widths": [8, 16], "sigmoid": False}


def tiny_generator(**changes: object) -> StyleGANGenerator:
    torch.manual_seed(0)
    g = build_generator("stylegan", generator_args("stylegan", {**TINY_G, **changes}, 16, (1, 28, 28)))
    assert isinstance(g, StyleGANGenerator)
    with torch.no_grad():  # noise strengths start at 0 (StyleGAN): give the noise inputs something to do
        for layer in g.convs:
            layer.noise_strength.fill_(0.5)
    return g


def small_config(**changes: object):
    """configs/train/stylegan.toml with tiny networks (a test epoch in well under a second)."""
    config = load_train_config(CONFIGS / "stylegan.toml")
    shrunk = {"generator_args": {**config.generator_args, **TINY_G}, "latent_dim": 16}
    shrunk["discriminator_args"] = {**config.discriminator_args, **TINY_D}
    return dataclasses.replace(config, **{**shrunk, **changes})


# ----------------------------------------------------------------------------- building and shapes
def test_build_shapes_range_and_arguments_from_the_image_shape():
    args = generator_args("stylegan", {"widths": [16, 8, 4]}, 32, (1, 28, 28))
    assert args == {"widths": [16, 8, 4], "latent_dim": 32, "channels": 1, "resolution": 28}
    g = build_generator("stylegan", args).eval()
    d_args = discriminator_args("stylegan", TINY_D, (1, 28, 28))
    assert d_args == {**TINY_D, "channels": 1, "resolution": 28}
    d = build_discriminator("stylegan", d_args)
    with torch.no_grad():
        x = g(torch.randn(5, 32) * 10)  # large latents: the output stays in [-1, 1] (tanh)
        assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1.0
        assert d(x).shape == (5, 1)
    assert g.num_ws == 6 and [c.up for c in g.convs] == [False, True, False, True, False]
    # three channels and another resolution: 8 -> 16 -> 32
    rgb = StyleGANGenerator(latent_dim=8, channels=3, resolution=32, widths=[8, 8, 8], w_dim=8)
    assert rgb.eval()(torch.randn(2, 8)).shape == (2, 3, 32, 32)
    d_rgb = StyleGANDiscriminator(channels=3, resolution=32, widths=[8, 8])
    assert d_rgb(torch.randn(2, 3, 32, 32)).shape == (2, 1)
    assert StyleGANDiscriminator(widths=[8, 8], sigmoid=True)(torch.randn(3, 1, 28, 28)).min() >= 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": 30}, "resolution 30 is not base"),
        ({"widths": [16]}, "widths must be a list of >= 2"),
        ({"widths": [16, 0, 4]}, "widths must hold integers >= 1"),
        ({"style_mixing": 1.5}, "style_mixing must be a probability"),
        ({"mapping_layers": 0}, "mapping_layers must be an integer >= 1"),
        ({"mapping_lr_mul": 0.0}, "mapping_lr_mul must be in"),
    ],
)
def test_bad_generator_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StyleGANGenerator(**{"widths": [16, 8, 4], **kwargs})


def test_bad_architecture_arguments_are_one_user_error(tmp_path):
    with pytest.raises(UserError, match="bad architecture arguments"):  # when the config is read, or built
        config = small_config(generator_args={**TINY_G, "widths": [16, 8, 4, 2]})  # 28 is not 3.5 * 2**3
        train(config, out=tmp_path, epochs=1, device="cpu", progress=False, images=blobs(64))


# ----------------------------------------------------------------------------- the modulated convolution
@pytest.mark.parametrize("up", [False, True])
def test_modulated_convolution_equals_per_sample_demodulated_weights(up):
    """The layer (styles on the input, one shared conv, demodulation on the output) against the definition
    written out (StyleGAN2 eq. 1-3): each sample convolved with its own weight w'_oik = s_i w_oik, divided by
    sqrt(sum_ik w'_oik^2 + 1e-8); in float64, equal to rounding."""
    torch.manual_seed(0)
    layer = SynthesisLayer(6, 5, 8, resolution=14 if up else 7, up=up).double().eval()
    with torch.no_grad():
        layer.bias.normal_()
        layer.affine.bias.normal_()
    x, w = torch.randn(3, 6, 7, 7, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    got = layer(x, w)
    styles = F.linear(w, layer.affine.weight * layer.affine.weight_gain, layer.affine.bias)
    rows = []
    for b in range(3):
        wb = layer.weight * layer.weight_gain * styles[b][None, :, None, None]  # [out, in, k, k]
        wb = wb / (wb.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
        if up:  # each output pixel of the stride-2 transposed conv sees 4 of the 16 taps: gain 2
            y = 2 * F.conv_transpose2d(x[b : b + 1], wb.transpose(0, 1), stride=2, padding=1)
        else:
            y = F.conv2d(x[b : b + 1], wb, padding=1)
        rows.append(y)
    expected = F.leaky_relu(torch.cat(rows) + layer.bias[None, :, None, None], 0.2) * math.sqrt(2)
    assert got.shape == (3, 5, 14 if up else 7, 14 if up else 7)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_minibatch_stddev_against_a_hand_computation():
    x = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    out = minibatch_stddev(x, 4)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    # groups of consecutive samples; population std over the group, then the mean over the features
    expected = [float(((g - g.mean(0)).square().mean(0) + 1e-8).sqrt().mean()) for g in (x[:4], x[4:])]
    assert torch.allclose(out[:4, 3], torch.full((4, 2, 2), expected[0], dtype=torch.float64))
    assert torch.allclose(out[4:, 3], torch.full((4, 2, 2), expected[1], dtype=torch.float64))
    # a batch of 6 with groups of up to 4: groups of 3 (the largest divisor), never a partial group
    six = minibatch_stddev(x[:6], 4)[:, 3, 0, 0]
    assert torch.equal(six[:3], six[:1].expand(3)) and not torch.equal(six[0], six[3])


def test_the_discriminator_is_batch_dependent_and_the_generator_is_not():
    """Minibatch-stddev ties a score to its group: the trainer must score real and fake batches apart."""
    assert has_batch_statistics(StyleGANDiscriminator(widths=[8, 8]))
    assert not has_batch_statistics(tiny_generator())


# ----------------------------------------------------------------------------- determinism
@pytest.mark.determinism
def test_eval_mode_is_a_pure_function_of_z():
    """Same z -> the same images, call after call, without touching the global RNG; a row does not depend on
    the rest of its batch. Batch of 1 vs 8 agree to float rounding only: CPU conv and matmul kernels pick
    their blocking by batch size (a plain Conv2d of batch 1 and 8 differs by ~1e-5 on this machine), which is
    why the evaluator always calls generators on the same chunks (LATENT_CHUNK)."""
    g = tiny_generator().eval()
    z, other = torch.randn(8, 16), torch.randn(7, 16)
    rng = torch.get_rng_state()
    with torch.no_grad():
        first, second = g(z), g(z)
        single = torch.cat([g(z[i : i + 1]) for i in range(8)])
        others = g(torch.cat([z[:1], other]))
    assert torch.equal(torch.get_rng_state(), rng)  # eval mode draws nothing
    assert torch.equal(first, second)
    torch.testing.assert_close(single, first, rtol=0, atol=1e-5)
    torch.testing.assert_close(others[:1], first[:1], rtol=0, atol=1e-5)
    # the control: in training mode the noise is fresh each call, so the same z differs
    g.train()
    with torch.no_grad():
        a, b = g(z), g(z)
    assert (a - b).abs().max() > 1e-3 and not torch.equal(torch.get_rng_state(), rng)


def test_eval_noise_is_the_state_dicts_fixed_buffer():
    g = tiny_generator().eval()
    keys = [k for k in g.state_dict() if k.endswith("noise_const")]
    assert len(keys) == len(g.convs) == 5
    z = torch.randn(4, 16)
    with torch.no_grad():
        before = g(z)
        g.convs[-1].noise_const.add_(1.0)
        assert not torch.equal(g(z), before)  # the images depend on the stored noise, so checkpoints carry it


def test_style_mixing_only_in_training_mode():
    g = tiny_generator(style_mixing=1.0)
    z = torch.randn(6, 16)
    with torch.no_grad():
        w = g.mapping(z)
        g.eval()
        assert torch.equal(g.styles(z), w[:, None].expand(6, g.num_ws, -1))
        g.train()
        for _ in range(5):  # every call mixes (p = 1): from a cutoff on, each row's w is another row's
            ws = g.styles(z)
            assert torch.equal(ws[:, 0], w)
            cutoff = next(c for c in range(1, g.num_ws) if not torch.equal(ws[:, c], w))
            assert all(torch.equal(ws[:, c], w) for c in range(cutoff))
            for c in range(cutoff, g.num_ws):
                assert torch.equal(ws[:, c], ws[:, cutoff])
            assert all(any(torch.equal(row, other) for other in w) for row in ws[:, cutoff])
        never = tiny_generator(style_mixing=0.0).train()
        assert torch.equal(never.styles(z), never.mapping(z)[:, None].expand(6, never.num_ws, -1))


# ----------------------------------------------------------------------------- the trainer and the evaluator
def test_checkpoint_round_trip_through_the_evaluator(tmp_path):
    """generator_source rebuilds the EMA generator of a stylegan checkpoint from its metadata alone and
    gives the images of that generator in eval mode (fixed noise), the same on every read."""
    from gan_eval.data.generators import LATENT_CHUNK, generator_source

    path = train(small_config(epochs=1), out=tmp_path, device="cpu", progress=False, images=blobs(128))
    ckpt = load_checkpoint(path)
    assert ckpt["generator_arch"]["name"] == "stylegan" and ckpt["generator_ema"] is not None
    source = generator_source(str(path), n=20, seed=3)
    images = torch.cat(list(source.batches(7)))
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(images, torch.cat(list(generator_source(str(path), n=20, seed=3).batches(20))))
    g = build_generator("stylegan", ckpt["generator_arch"]["args"]).eval()
    g.load_state_dict(ckpt["generator_ema"])
    assert 20 <= LATENT_CHUNK  # one chunk: the same call as below
    z = sample_latent(20, 16, "normal", torch.Generator().manual_seed(3), torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(images, quantize(g(z)))


def test_resume_is_bit_for_bit(tmp_path):
    """Noise and style mixing come from torch's global RNG, which checkpoints carry: a run resumed twice
    (R1 every 3 steps, 4 steps an epoch) ends with every tensor equal to the uninterrupted run's."""
    config = small_config(epochs=3, r1_every=3)
    full, resumed = full_and_resumed(config, tmp_path, blobs(256))
    a, b = checkpoint_tensors(full), checkpoint_tensors(resumed)
    assert a.keys() == b.keys() and any("noise_const" in k for k in a) and any("exp_avg" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    assert full["losses"] == resumed["losses"]


def test_one_epoch_of_the_shipped_config_on_mnist(tmp_path):
    """The real configs/train/stylegan.toml (its widths, optimizer, R1, EMA) for one epoch on 256 MNIST
    digits (run.limit): trains, writes a checkpoint the evaluator samples in range, and a sample grid."""
    from gan_eval.data.datasets import load_arrays
    from gan_eval.data.generators import generator_source

    try:
        load_arrays("mnist", "train")
    except UserError as e:
        pytest.skip(f"MNIST not available offline: {e}")
    config = load_train_config(CONFIGS / "stylegan.toml", limit=256)
    assert (config.generator_arch, config.discriminator_arch, config.loss) == ("stylegan", "stylegan", "ns")
    assert config.r1_gamma > 0 and config.r1_every > 1 and config.ema_decay > 0
    path = train(config, out=tmp_path, epochs=1, device="cpu", progress=False)
    assert path.name == "ckpt_epoch_001.pt" and (tmp_path / "samples_epoch_001.png").exists()
    images = torch.cat(list(generator_source(str(path), n=16, seed=0).batches(16)))
    assert images.shape == (16, 1, 28, 28) and images.float().std() > 0
