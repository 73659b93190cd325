"""The one way a study's images are shown: nearest-neighbour upscaled, PNG with stored (uncompressed) zlib
blocks, no ancillary chunks. Real, generated and catch images go through the same function, so nothing in the
bytes tells them apart: same format, same chunks, and the same byte length for every image of a study (an
uncompressed PNG's length depends on its shape alone; compressed, a noisy generated image would be larger
than a clean real one).
"""

from __future__ import annotations

import io
import struct

import numpy as np

DISPLAY_PIXELS = 224
"""The default shown size: the largest integer upscale that stays within it (28 pixels -> 8x)."""


def default_scale(height: int, width: int) -> int:
    """The integer upscale that shows a ``height`` x ``width`` image at about ``DISPLAY_PIXELS``."""
    return max(1, DISPLAY_PIXELS // max(height, width))


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale: uint8 [C, H, W] -> uint8 [C, H * scale, W * scale] (each pixel a block)."""
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    return np.repeat(np.repeat(image, scale, axis=1), scale, axis=2)


def encode_png(image: np.ndarray, scale: int) -> bytes:
    """uint8 [C, H, W] (C = 1 grey or 3 RGB) -> PNG bytes of the image upscaled ``scale`` times.

    zlib level 0 (stored blocks): the length depends only on the shape, never on the content. Pillow writes
    only IHDR, IDAT and IEND for a grey or RGB image without ``pnginfo`` (no text, time or gamma chunks).
    """
    from PIL import Image

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected uint8 [C, H, W] with C in (1, 3), got {image.dtype} {image.shape}")
    big = upscale(image, scale)
    pil = Image.fromarray(np.ascontiguousarray(big[0] if big.shape[0] == 1 else big.transpose(1, 2, 0)))
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=0, optimize=False)
    return buf.getvalue()


def png_chunks(data: bytes) -> list[str]:
    """The chunk types of a PNG file in order, e.g. ``["IHDR", "IDAT", "IEND"]`` (to check for metadata)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos + 4 : pos + 8].decode("ascii"))
        pos += 12 + length
    return out


def catch_images(bases: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Obviously broken images for catch trials: each of ``bases`` (uint8 [N, C, H, W], real images not shown
    otherwise) with its pixel positions shuffled, so it keeps its brightness and colours but no shape (noise
    a rater who looks answers "generated" for). Returns uint8 [N, C, H, W]."""
    n, c, h, w = bases.shape
    out = np.empty_like(bases)
    for i in range(n):
        order = rng.permutation(h * w)
        out[i] = bases[i].reshape(c, h * w)[:, order].reshape(c, h, w)
    return out
