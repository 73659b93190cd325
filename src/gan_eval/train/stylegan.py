"""A StyleGAN2-style generator and discriminator, sized for MNIST on one CPU thread.

After Karras et al. 2019 (StyleGAN: mapping network, learned constant, per-layer noise, style mixing) and
2020 (StyleGAN2: weight demodulation instead of AdaIN, skip toRGB outputs, residual discriminator,
equalized learning rate, lazy R1), written from the papers and NVlabs stylegan2-ada-pytorch's
``training/networks.py`` (the non-fused modulated convolution it uses in training). What differs, and why:

- resolutions ``base * 2**i`` (7 -> 14 -> 28 for MNIST) instead of 4 -> ... -> 2^k: 28 = 7 * 4 needs no
  crop;
- for one CPU thread (an epoch of MNIST in ~3 min): the upsampling convolution is a 4x4 stride-2 transposed
  convolution instead of 3x3 stride-2 plus a [1, 3, 3, 1] blur (the blur, a depthwise convolution, cost
  more than the convolution); the toRGB skips are upsampled bilinearly (x2 with half-pixel centres: the
  separable [1, 3, 3, 1] / 4 filter of StyleGAN2's ``upsample2d``, with replicated instead of zero edges);
  the discriminator starts with a 4x4 stride-2 convolution instead of a fromRGB and a residual block at
  full resolution, and its blocks downsample with a 2x2 average;
- the output is ``tanh`` of the summed toRGB skips: the evaluator needs ``[-1, 1]`` and MNIST is mostly
  exact -1 background; a clamp at sampling time only would let D see (and judge) values the evaluator never
  gets, a clamp in training too has no gradient for a pixel stuck outside;
- style mixing takes the second style from another sample of the batch (a random permutation of the
  batch's own ``w``), so the mixed latent follows whatever latent distribution the config draws, and no
  second mapping pass is needed;
- no path-length regularisation and no truncation trick (FID is measured at psi = 1).

Randomness (noise inputs, style mixing) is drawn from torch's global RNG in training mode only, which the
trainer saves in every checkpoint (``--resume`` stays bit-exact). In eval mode the generator is a pure
function of ``z``: each noise input is a fixed buffer of the state dict (stylegan2-ada's
``noise_mode='const'``), there is no style mixing and no batch statistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_LRELU_GAIN = math.sqrt(2.0)  # StyleGAN's leaky ReLU keeps the activations' second moment


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * _LRELU_GAIN


def _check_widths(widths: Sequence[int], name: str, minimum: int = 2) -> tuple[int, ...]:
    if not (isinstance(widths, (list, tuple)) and len(widths) >= minimum):
        raise ValueError(f"{name} must be a list of >= {minimum} channel counts, got {widths!r}")
    if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"{name} must hold integers >= 1, got {widths!r}")
    return tuple(widths)


def _base_resolution(resolution: int, levels: int) -> int:
    """The lowest of ``levels`` resolutions that double up to ``resolution`` (7 for 28 and 3 levels)."""
    base = resolution // 2 ** (levels - 1)
    if base < 2 or base * 2 ** (levels - 1) != resolution:
        raise ValueError(f"resolution {resolution} is not base * 2**{levels - 1} with an integer base >= 2")
    return base


class EqualLinear(nn.Module):
    """Linear layer with StyleGAN's equalized learning rate: weights stored ``N(0, 1) / lr_mul`` and scaled
    by ``lr_mul / sqrt(in)`` at run time, so Adam's step is the same for every layer, times ``lr_mul``."""

    def __init__(
        self, in_features: int, out_features: int, *, bias_init: float = 0.0, lr_mul: float = 1.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain, self.lr_mul = lr_mul / math.sqrt(in_features), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Conv2d with the equalized learning rate: ``N(0, 1)`` weights, ``1/sqrt(fan_in)`` at run time. Padding
    ``(kernel - 1) // 2``: the same size at stride 1, half the size for a 4x4 kernel at stride 2."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, *, stride: int = 1, bias: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.stride, self.padding = stride, (kernel - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x, self.weight * self.weight_gain, self.bias, stride=self.stride, padding=self.padding
        )


class MappingNetwork(nn.Module):
    """z ``float32 [B, z_dim]`` -> w ``float32 [B, w_dim]``: z normalized to unit second moment, then
    ``layers`` equalized FC layers with leaky ReLU, learning rate times ``lr_mul`` (StyleGAN: 0.01)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.fcs = nn.ModuleList(
            EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims, dims[1:], strict=False)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        for fc in self.fcs:
            x = _lrelu(fc(x))
        return x


class SynthesisLayer(nn.Module):
    """A modulated, demodulated convolution (StyleGAN2), then noise times a learned strength, bias and leaky
    ReLU. ``float32 [B, in, r, r]`` -> ``[B, out, R, R]``: a 3x3 convolution (R = r), or with ``up`` a 4x4
    transposed convolution of stride 2 (R = 2r; DCGAN's upsampling layer, every output pixel gets 2x2 of the
    16 taps, so no checkerboard of uneven coverage). StyleGAN2 upsamples with a 3x3 stride-2 transposed
    convolution and a [1, 3, 3, 1] blur; on one CPU thread that blur, a depthwise convolution, cost more
    than the convolution itself.

    Written as stylegan2-ada's non-fused form: scale the input channels by the style ``s``, convolve with the
    shared weight, scale each output channel by ``1 / sqrt(sum_{i,k} (w_oik s_i)^2 + 1e-8)``: the same
    numbers as convolving each sample with its own modulated, demodulated weight, with one ordinary conv
    (for ``up`` times 2: an output pixel sees a quarter of the taps). The leaky ReLU's gain is folded into
    that scale, the noise strength and the bias (``lrelu(a x) = a lrelu(x)`` for ``a > 0``): fewer passes
    over the activations, the same function.
    """

    noise_const: torch.Tensor

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool) -> None:
        super().__init__()
        self.up = up
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # styles start at 1: plain conv
        kernel = 4 if up else 3
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.out_gain = _LRELU_GAIN * (2.0 if up else 1.0)
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # eval-mode noise: one fixed map, part of the state dict (checkpoints and EMA copies carry it)
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # [B, in]
        weight = self.weight * self.weight_gain
        x = x * styles[:, :, None, None]
        if self.up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=1)
        else:
            x = F.conv2d(x, weight, padding=1)
        demod = (styles.square() @ weight.square().sum((2, 3)).t() + 1e-8).rsqrt()  # [B, out]
        x = torch.addcmul(
            (self.bias * _LRELU_GAIN)[None, :, None, None], x, (demod * self.out_gain)[:, :, None, None]
        )
        if self.training:
            noise = torch.randn(x.size(0), 1, x.size(2), x.size(3), device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        return F.leaky_relu(x + noise * (self.noise_strength * _LRELU_GAIN), 0.2)


class ToRGB(nn.Module):
    """A modulated 1x1 convolution to the image channels (no demodulation, as StyleGAN2), plus bias."""

    def __init__(self, in_channels: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, _, h, wd = x.shape
        # per sample, weight [out, in] times style [in]: one batched matmul (a 1x1 conv with one or three
        # output channels is ~10x slower on CPU)
        weight = self.weight[None, :, :, 0, 0] * (self.affine(w) * self.weight_gain)[:, None, :]
        out = torch.baddbmm(self.bias[None, :, None], weight, x.reshape(b, x.size(1), h * wd))
        return out.reshape(b, -1, h, wd)


class StyleGANGenerator(nn.Module):
    """z ``float32 [B, latent_dim]`` -> images ``float32 [B, channels, resolution, resolution]``, in [-1, 1].

    A mapping network (``mapping_layers`` FC layers, learning rate times ``mapping_lr_mul``) gives one ``w``;
    the synthesis network starts from a learned constant ``[widths[0], base, base]`` (``base = resolution /
    2**(len(widths) - 1)``), with one modulated conv at ``base`` and then, per level ``i >= 1``, an upsampling
    modulated conv and a modulated conv at ``base * 2**i`` with ``widths[i]`` channels. Every level has a
    toRGB whose outputs are upsampled and summed (StyleGAN2's skip generator); ``tanh`` of the sum is the
    image. Styles: ``num_ws = 2 * len(widths)`` copies of ``w`` (conv ``j`` uses ``ws[j]``, the toRGB of a
    level the index after its last conv); in training mode, with probability ``style_mixing``, ``ws[c:]``
    (``c`` uniform in ``1 .. num_ws - 1``) come from another sample of the batch.
    """

    def __init__(
        self,
        latent_dim: int = 128,
        channels: int = 1,
        resolution: int = 28,
        w_dim: int = 128,
        mapping_layers: int = 2,
        mapping_lr_mul: float = 0.01,
        widths: Sequence[int] = (128, 64, 32),
        style_mixing: float = 0.9,
    ) -> None:
        super().__init__()
        widths = _check_widths(widths, "widths")
        base = _base_resolution(int(resolution), len(widths))
        if not (isinstance(mapping_layers, int) and mapping_layers >= 1):
            raise ValueError(f"mapping_layers must be an integer >= 1, got {mapping_layers!r}")
        if not 0.0 < float(mapping_lr_mul) <= 1.0:
            raise ValueError(f"mapping_lr_mul must be in (0, 1], got {mapping_lr_mul!r}")
        if not 0.0 <= float(style_mixing) <= 1.0:
            raise ValueError(f"style_mixing must be a probability in [0, 1], got {style_mixing!r}")
        self.latent_dim, self.style_mixing = int(latent_dim), float(style_mixing)
        self.num_ws = 2 * len(widths)
        self.mapping = MappingNetwork(self.latent_dim, w_dim, mapping_layers, float(mapping_lr_mul))
        self.const = nn.Parameter(torch.randn(widths[0], base, base))
        self.convs = nn.ModuleList([SynthesisLayer(widths[0], widths[0], w_dim, base, up=False)])
        self.torgbs = nn.ModuleList([ToRGB(widths[0], channels, w_dim)])
        for i in range(1, len(widths)):
            res = base * 2**i
            self.convs.append(SynthesisLayer(widths[i - 1], widths[i], w_dim, res, up=True))
            self.convs.append(SynthesisLayer(widths[i], widths[i], w_dim, res, up=False))
            self.torgbs.append(ToRGB(widths[i], channels, w_dim))

    def styles(self, z: torch.Tensor) -> torch.Tensor:
        """``float32 [B, num_ws, w_dim]``: ``w`` repeated, style-mixed in training mode (global RNG)."""
        w = self.mapping(z)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.training and self.style_mixing > 0:
            # both draws every time (stylegan2-ada's order), so the RNG stream does not depend on the coin
            cutoff = int(torch.randint(1, self.num_ws, ()))
            if float(torch.rand(())) < self.style_mixing:
                other = w[torch.randperm(w.size(0), device=w.device)]
                ws[:, cutoff:] = other.unsqueeze(1)
        return ws

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ws = self.styles(z.reshape(z.size(0), -1))
        x = self.convs[0](self.const.unsqueeze(0).expand(z.size(0), -1, -1, -1), ws[:, 0])
        img = self.torgbs[0](x, ws[:, 1])
        for level in range(1, len(self.torgbs)):
            x = self.convs[2 * level - 1](x, ws[:, 2 * level - 1])
            x = self.convs[2 * level](x, ws[:, 2 * level])
            up = F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=False)
            img = up + self.torgbs[level](x, ws[:, 2 * level + 1])
        return torch.tanh(img)


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[N, C + 1, H, W]``: one more channel holding, for each group of ``g``
    consecutive samples, the mean over features of the standard deviation over the group (StyleGAN's
    minibatch-stddev; ``g`` = the largest divisor of ``N`` up to ``group_size``). Groups are consecutive
    samples (stylegan2-ada strides them), so a batch of reals followed by fakes is never mixed in a group
    when both halves are multiples of ``g``."""
    n, _, h, w = x.shape
    g = min(group_size, n)
    while n % g:
        g -= 1
    y = x.reshape(n // g, g, *x.shape[1:])
    y = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [n // g]
    y = y.repeat_interleave(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """StyleGAN2's residual block: conv3x3 - lrelu - 2x2 average - conv3x3 - lrelu, plus a 2x2 average and a
    1x1 conv (no bias) as the skip; the sum times ``sqrt(1/2)`` keeps the variance. ``[B, a, r, r]`` ->
    ``[B, b, r/2, r/2]``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = _lrelu(self.conv1(F.avg_pool2d(_lrelu(self.conv0(x)), 2)))
        return (x + skip) * math.sqrt(0.5)


class StyleGANDiscriminator(nn.Module):
    """Images ``float32 [B, channels, resolution, resolution]`` -> scores ``float32 [B, 1]`` (logits, or
    probabilities with ``sigmoid``).

    StyleGAN2's residual discriminator, with its full-resolution fromRGB and first block replaced by one 4x4
    stride-2 convolution to ``widths[0]`` channels (DCGAN's first layer): no feature map at full resolution,
    where a residual block costs the most CPU time per useful channel. Then one residual block per halving
    (``widths[i] -> widths[i + 1]``) and, at the lowest resolution (``resolution / 2**len(widths)``, 7 for
    28 and two widths): minibatch-stddev (groups of ``mbstd_group``), conv3x3, FC to ``widths[-1]``, FC to 1.
    Equalized learning rate throughout, no normalisation layer (R1 regularises it). The minibatch-stddev
    channel makes a sample's score depend on its group (``batch_dependent``): the trainer then scores real
    and fake batches in separate passes.
    """

    batch_dependent = True

    def __init__(
        self,
        channels: int = 1,
        resolution: int = 28,
        widths: Sequence[int] = (32, 64),
        mbstd_group: int = 4,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        widths = _check_widths(widths, "widths", minimum=1)
        if resolution % 2:
            raise ValueError(f"resolution must be even, got {resolution}")
        low = _base_resolution(int(resolution) // 2, len(widths))
        if not (isinstance(mbstd_group, int) and mbstd_group >= 1):
            raise ValueError(f"mbstd_group must be an integer >= 1, got {mbstd_group!r}")
        if not isinstance(sigmoid, bool):
            raise ValueError(f"sigmoid must be true or false, got {sigmoid!r}")
        self.mbstd_group, self.sigmoid = mbstd_group, sigmoid
        self.stem = EqualConv2d(channels, widths[0], 4, stride=2)
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(a, b) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.conv = EqualConv2d(widths[-1] + 1, widths[-1], 3)
        self.fc = EqualLinear(widths[-1] * low * low, widths[-1])
        self.out = EqualLinear(widths[-1], 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = _lrelu(self.stem(img))
        for block in self.blocks:
            x = block(x)
        x = _lrelu(self.conv(minibatch_stddev(x, self.mbstd_group)))
        x = self.out(_lrelu(self.fc(x.flatten(1))))
        return torch.sigmoid(x) if self.sigmoid else x
