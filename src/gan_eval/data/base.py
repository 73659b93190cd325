"""The source interface shared by datasets, image files, arrays and generator checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import torch

#: Generator outputs and float arrays may exceed their value range by this fraction of its width (float
#: rounding) before they are refused.
RANGE_TOLERANCE = 1e-3

#: The seed used for ``--limit N`` subsets unless another is given (documented in the README).
DEFAULT_SUBSET_SEED = 0


class Source:
    """Yields uint8 image batches ``[B, C, H, W]`` (C = 1 or 3, values 0..255).

    Attributes:
        spec: what the user wrote (for messages).
        identity: a stable string that changes whenever the images could change (used in cache keys).
        shape: ``(C, H, W)`` of every image.
        deterministic: True when the same source yields the same images every time (datasets, files);
            generator sources are deterministic for a given seed on a given device.
    """

    spec: str
    identity: str
    shape: tuple[int, int, int]
    kind: str = "images"
    #: the float range the images were quantized from (generators, float arrays; part of the fingerprint),
    #: None for images stored as integers
    value_range: tuple[float, float] | None = None

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> str:
        c, h, w = self.shape
        return f"{self.spec}: {len(self)} images, {c}x{h}x{w} uint8"


def subset_indices(n_total: int, limit: int | None, seed: int = DEFAULT_SUBSET_SEED) -> np.ndarray | None:
    """Seeded subset for ``--limit``: ``limit`` distinct indices out of ``n_total``, sorted, or None for all.

    Uses ``torch.randperm`` with a ``torch.Generator`` seeded by ``seed`` so the subset is the same on every
    platform and torch version that keeps randperm's CPU algorithm.
    """
    if limit is None or limit >= n_total:
        return None
    if limit <= 0:
        from gan_eval.errors import UserError

        raise UserError(f"--limit must be a positive number of images, got {limit}")
    gen = torch.Generator().manual_seed(seed)
    return np.sort(torch.randperm(n_total, generator=gen)[:limit].numpy())


class ArraySource(Source):
    """An in-memory uint8 array ``[N, C, H, W]`` (MNIST, .npz/.npy files, tests)."""

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        spec: str,
        identity: str | None = None,
        labels: np.ndarray | None = None,
        kind: str = "images",
    ) -> None:
        arr = torch.as_tensor(images)
        if arr.dtype != torch.uint8 or arr.ndim != 4 or arr.shape[1] not in (1, 3):
            raise ValueError(
                f"ArraySource needs uint8 [N, C, H, W] with C in (1, 3), got {arr.dtype} {tuple(arr.shape)}"
            )
        self.images = arr.contiguous()
        self.labels = labels
        self.spec = spec
        self.kind = kind
        self.shape = (int(arr.shape[1]), int(arr.shape[2]), int(arr.shape[3]))
        self.identity = identity or f"array:{content_hash(self.images)}"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self), batch_size):
            yield self.images[start : start + batch_size]

    def subset(self, limit: int | None, seed: int = DEFAULT_SUBSET_SEED) -> ArraySource:
        idx = subset_indices(len(self), limit, seed)
        if idx is None:
            return self
        labels = None if self.labels is None else self.labels[idx]
        sub = ArraySource(
            self.images[torch.from_numpy(idx)],
            spec=self.spec,
            identity=f"{self.identity}|limit={limit},seed={seed}",
            labels=labels,
            kind=self.kind,
        )
        sub.value_range = self.value_range
        return sub


def quantize(x: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Quantize float images the way saving them as PNG does (the one quantizer of gan-eval).

    x: float tensor, any shape, nominally in ``value_range`` (values outside are clamped).
    Returns uint8 of the same shape: ``floor(255 * (x - lo) / (hi - lo) + 0.5)`` clamped to 0..255, i.e.
    ``round(127.5 * x + 127.5)`` for the default [-1, 1] (a tanh generator), halves rounded up. The float32
    operations are those of ``torchvision.utils.save_image(x, normalize=True, value_range=(lo, hi))``, so
    samples quantized here equal the same samples written to PNG by torchvision and read back.
    NaN anywhere is a UserError.
    """
    from gan_eval.errors import UserError

    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise UserError(f"quantize expects a float tensor, got {getattr(x, 'dtype', type(x))}")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise UserError(f"value_range must have low < high, got {value_range}")
    if torch.isnan(x).any():
        raise UserError(f"images contain {int(torch.isnan(x).sum())} NaN values; cannot quantize to uint8")
    y = x.clamp(min=lo, max=hi).sub(lo).div(max(hi - lo, 1e-5))
    return y.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def sample_latent(
    n: int, dim: int, distribution: str, gen: torch.Generator, device: torch.device | str
) -> torch.Tensor:
    """float32 ``[n, dim]`` from ``gen``: standard normal, or uniform on [-1, 1] (``distribution``); the one
    latent sampler of the trainer and the evaluator."""
    if distribution == "uniform":
        return torch.rand(n, dim, generator=gen, device=device) * 2 - 1
    return torch.randn(n, dim, generator=gen, device=device)


def content_hash(images: torch.Tensor | np.ndarray) -> str:
    """sha256 (first 16 hex digits) of the array's bytes and shape."""
    arr = images.numpy() if isinstance(images, torch.Tensor) else images
    h = hashlib.sha256(str(tuple(arr.shape)).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]
