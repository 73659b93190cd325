"""Use gan-eval's extractors (with their preprocessing protocol inside) as torchmetrics' ``feature=`` module.

Recipe::

    from gan_eval.features.torchmetrics_adapter import torchmetrics_feature
    fid = FrechetInceptionDistance(feature=torchmetrics_feature("inception", protocol="pytorch-fid"))
    isc = InceptionScore(feature=torchmetrics_feature("inception", kind="logits"))  # or "mnist-lenet"

``KernelInceptionDistance(feature=torchmetrics_feature(...))`` works the same way. Feed the metrics uint8
images ``[N, C, H, W]`` (C = 1 or 3, any size; the protocol resizes), i.e. keep torchmetrics' default
``normalize=False``. With ``normalize=True``, FID and KID hand float images in [0, 1] to the module, which
quantizes them like saving a PNG (:func:`~gan_eval.features.protocols.quantize_to_uint8`); InceptionScore
instead truncates them itself with ``(imgs * 255).byte()``, which differs from PNG rounding, so prefer uint8.

torchmetrics' own resize and normalisation are bypassed: the module applies the extractor's protocol, so the
numbers equal gan-eval's for the same images and weights.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from gan_eval.errors import UserError
from gan_eval.features.protocols import quantize_to_uint8
from gan_eval.features.registry import Extractor, build_extractor

Kind = Literal["features", "logits"]


class TorchmetricsFeature(torch.nn.Module):
    """Wraps an :class:`Extractor` for torchmetrics.

    forward: uint8 ``[N, C, H, W]`` (or float in [0, 1], quantized first) -> ``[N, num_features]`` in
    ``out_dtype`` (float64 by default: torchmetrics' FID accumulates in float64 anyway, and its KID and IS
    compute in the dtype they are given). The extractor always stays in eval mode and without gradients, so
    a surrounding ``LightningModule.train()`` cannot switch its batch norms to batch statistics.
    """

    def __init__(self, extractor: Extractor, kind: Kind = "features", out_dtype: torch.dtype = torch.float64):
        super().__init__()
        if kind not in ("features", "logits"):
            raise UserError(f"kind must be 'features' or 'logits', got {kind!r}")
        if kind == "logits" and not extractor.num_classes:
            raise UserError(
                f"extractor {extractor.name!r} has no classifier head, so it gives no logits for the "
                "Inception Score; use Inception weights that include the 1008-class head "
                "(`gan-eval weights fetch`), or `mnist-lenet` for MNIST"
            )
        self.extractor = extractor.eval().requires_grad_(False)
        self.kind: Kind = kind
        self.out_dtype = out_dtype
        # torchmetrics reads this instead of running a dummy image through the network
        dim = extractor.feature_dim if kind == "features" else extractor.num_classes
        self.num_features: int = int(dim or 0)

    def train(self, mode: bool = True) -> TorchmetricsFeature:
        super().train(False)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if torch.is_floating_point(images):
            images = quantize_to_uint8(images, value_range=(0.0, 1.0))
        with torch.no_grad():
            out = self.extractor(images)[self.kind]
        return out.to(self.out_dtype)

    def extra_repr(self) -> str:
        return f"extractor={self.extractor.name!r}, kind={self.kind!r}, num_features={self.num_features}"


def torchmetrics_feature(
    extractor: str | Extractor,
    kind: Kind = "features",
    out_dtype: torch.dtype = torch.float64,
    **build_opts: Any,
) -> TorchmetricsFeature:
    """A module to pass as ``feature=`` to torchmetrics' FID / KID (``kind="features"``) or IS (``"logits"``).

    extractor: a registered name (built with ``build_extractor(extractor, **build_opts)``, e.g.
    ``protocol="tf1", weights=path`` for ``"inception"``) or an already built :class:`Extractor`.
    """
    if isinstance(extractor, str):
        extractor = build_extractor(extractor, **build_opts)
    elif build_opts:
        raise UserError(f"build options {sorted(build_opts)} only apply when the extractor is given by name")
    if not isinstance(extractor, Extractor):
        raise UserError(f"expected an extractor name or a gan_eval Extractor, got {type(extractor).__name__}")
    return TorchmetricsFeature(extractor, kind=kind, out_dtype=out_dtype)
