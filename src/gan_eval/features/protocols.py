"""Preprocessing protocols: how uint8 images become the Inception network's 299x299 input.

FID numbers differ between libraries mostly because this step differs, so the protocol is an explicit,
named choice recorded with every result:

- ``pytorch-fid`` (default): uint8 -> float/255 -> bilinear resize to 299 (``F.interpolate``,
  ``align_corners=False``, no antialias) -> ``2x - 1``. What pytorch-fid 0.3.0's
  ``InceptionV3(resize_input=True, normalize_input=True)`` does to its ``ToTensor()`` input.
- ``tf1``: TensorFlow 1.x ``tf.image.resize_bilinear`` (``align_corners=False``, no half-pixel centres) on
  uint8-valued floats, then ``(x - 128) / 128``. What torch-fidelity 0.4.0 (and the TF1 FID code) does.
- ``clean``: PIL bicubic resize of each channel as a float32 (``'F'`` mode) image, clipped to [0, 255], then
  ``(x - 128) / 128``. clean-fid's ``make_resizer("PIL", False, "bicubic", (299, 299))`` plus its
  normalisation. Runs a per-image PIL loop (slower than the other two).

Grayscale images (C = 1) are repeated to 3 channels, as ``PIL.Image.convert("RGB")`` does.

Generated float images are first quantized with :func:`quantize_to_uint8`, the way saving a PNG does, so a
checkpoint and the same samples written to disk give the same number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gan_eval.data.base import quantize as quantize_to_uint8  # noqa: F401 - re-exported here
from gan_eval.errors import UserError

INPUT_SIZE = 299


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor):
        raise UserError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise UserError(
            f"images must be uint8 in 0..255, got dtype {images.dtype}; quantize float images with "
            "gan_eval.features.protocols.quantize_to_uint8 first"
        )
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"images must have shape [N, C, H, W] with C = 1 or 3, got {list(images.shape)}")


def _to_rgb(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] with C in (1, 3) -> [N, 3, H, W] (grayscale repeated)."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _pytorch_fid(images: torch.Tensor, size: int) -> torch.Tensor:
    # Same float ops as torchvision's ToTensor (to float32, div 255) followed by pytorch-fid's forward().
    x = images.to(torch.float32).div(255)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return _to_rgb(2 * x - 1).contiguous()


def _tf1_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF 1.x ``resize_bilinear(align_corners=False)``: source coordinate = out_index * in/out.

    x: float32 [N, C, H, W] -> float32 [N, C, size, size]. The float32 operation order is kept identical to
    torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x(method="slow")`` so results are bit-equal.
    """

    def grid(in_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(0, size, 1, dtype=torch.float32, device=x.device)
        pos = pos * torch.tensor(in_size / size, dtype=torch.float32, device=x.device)
        lo = pos.long()
        hi = (lo + 1).clamp_max(in_size - 1)
        return lo, hi, pos - lo.float()

    x_lo, x_hi, dx = grid(x.shape[3])
    y_lo, y_hi, dy = grid(x.shape[2])
    rows_lo, rows_hi = x[:, :, y_lo, :], x[:, :, y_hi, :]
    in_00, in_01 = rows_lo[:, :, :, x_lo], rows_lo[:, :, :, x_hi]
    in_10, in_11 = rows_hi[:, :, :, x_lo], rows_hi[:, :, :, x_hi]
    dx = dx.view(1, 1, 1, size)
    in_0 = in_00 + (in_01 - in_00) * dx
    in_1 = in_10 + (in_11 - in_10) * dx
    return in_0 + (in_1 - in_0) * dy.view(1, 1, size, 1)


def _tf1(images: torch.Tensor, size: int) -> torch.Tensor:
    x = _tf1_bilinear(images.to(torch.float32), size)
    return _to_rgb((x - 128) / 128).contiguous()


def _clean(images: torch.Tensor, size: int) -> torch.Tensor:
    arr = images.cpu().numpy()
    out = np.empty((arr.shape[0], arr.shape[1], size, size), dtype=np.float32)
    for i in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            img = Image.fromarray(arr[i, c].astype(np.float32))  # float32 2-D -> PIL mode "F"
            out[i, c] = np.asarray(img.resize((size, size), resample=Image.Resampling.BICUBIC)).clip(0, 255)
    x = torch.from_numpy(out).to(images.device)
    return _to_rgb((x - 128) / 128).contiguous()


@dataclass(frozen=True)
class Protocol:
    """A named preprocessing: ``protocol(images)`` maps uint8 ``[N, C, H, W]`` (C = 1 or 3, any H, W) to
    float32 ``[N, 3, size, size]`` in the network's input range [-1, 1]."""

    name: str
    description: str
    resize_and_normalize: Callable[[torch.Tensor, int], torch.Tensor]
    size: int = INPUT_SIZE

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        return self.resize_and_normalize(images, self.size)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("pytorch-fid", "uint8/255, torch bilinear resize (align_corners=False), 2x-1", _pytorch_fid),
        Protocol("tf1", "TF1 bilinear resize on 0..255 floats (torch-fidelity), (x-128)/128", _tf1),
        Protocol("clean", "PIL bicubic float32 resize per channel, clip 0..255, (x-128)/128", _clean),
    )
}
DEFAULT_PROTOCOL = "pytorch-fid"


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; an unknown name is a UserError listing the choices."""
    if name not in PROTOCOLS:
        raise UserError(f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
