"""The streaming pass: one extractor over one source -> float64 moments, kept features and logits.

Determinism across processes. Under ``torchrun`` the images are split between K ranks, and the float64 sums
of the moments must not depend on K: floating-point addition is not associative, and FID is not Lipschitz
where the product of the covariances has eigenvalues near 0 (tr sqrt(.) turns a 1e-16 change into ~1e-8), so
a different order of the same additions moved FID by 6e-9 relative between 1 and 2 ranks. The reduction
order is therefore fixed by the data alone:

- the batches (``batch_size`` images each, in source order) are grouped into at most ``MAX_CHUNKS``
  consecutive chunks; the grouping depends on the number of images and the batch size, never on K;
- chunk ``c`` is extracted by rank ``c % K``; within a chunk the batches are folded into a
  :class:`FeatureStats` in order, so a chunk's moments are the same on every rank (same images, same batch
  shapes, same kernels);
- the chunks' moments are folded in chunk order, on the CPU, in one process and in K alike.

So one process and K processes perform the same float64 operations in the same order and get bit-identical
moments (tested with 2 gloo processes). Kept features and logits are reordered by global index.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_eval.data.base import Source, subset_indices
from gan_eval.distributed import all_gather, rank_world
from gan_eval.errors import UserError
from gan_eval.runtime import Progress, default_batch_size, precision_context
from gan_eval.stats.feature_stats import FeatureStats

MAX_CHUNKS = 16
"""At most this many reduction chunks per pass (a rank keeps one float64 [D, D] matrix per chunk it owns)."""


@dataclass
class Extracted:
    """What one pass over a source gives: float64 moments (mu [D], sigma [D, D] or None when n < 2), the
    count, kept features float32 [K, D] and logits float32 [M, C] (None when not asked for)."""

    stats: FeatureStats | None
    mu: np.ndarray
    sigma: np.ndarray | None
    n: int | None  # None: unknown (a statistics file that does not record it, e.g. pytorch-fid's)
    features: np.ndarray | None
    logits: np.ndarray | None
    from_cache: bool = False
    pixels: np.ndarray | None = None  # the images themselves, uint8 [N, C, H, W] (keep_pixels)
    labels: np.ndarray | None = None  # real set: int64 class labels of the kept feature rows
    class_counts: np.ndarray | None = None  # real set: int64 [C] images per class over the whole set
    # bool [N]: the images the extractor's classifier recognises as one of its classes at all (kept with the
    # logits when the extractor has a recognition rule, gan_eval.features.recognition); None: no rule
    recognised: np.ndarray | None = None

    @classmethod
    def from_moments(
        cls,
        mu: np.ndarray,
        sigma: np.ndarray | None,
        n: int | None,
        features: np.ndarray | None = None,
        logits: np.ndarray | None = None,
    ) -> Extracted:
        """Statistics read from a file or the cache (no pass was run)."""
        return cls(None, mu, sigma, n, features, logits, from_cache=True)


def chunk_of_batch(n_images: int, batch_size: int) -> int:
    """Batches per reduction chunk: ``ceil(n_batches / MAX_CHUNKS)`` (depends on the data, not on ranks)."""
    n_batches = max(1, math.ceil(n_images / batch_size))
    return math.ceil(n_batches / MAX_CHUNKS)


def extract(
    source: Source,
    extractor: Any,
    *,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int | None = None,
    keep_features: int | None = 0,
    keep_logits: bool = False,
    keep_pixels: bool = False,
    subset_seed: int = 0,
    progress: bool = True,
    label: str = "features",
) -> Extracted:
    """One pass of ``extractor`` (uint8 ``[B, C, H, W]`` -> {"features": [B, D], "logits": [B, K]}) over
    ``source``.

    Args:
        keep_features: 0 keeps none; None keeps all; k keeps a seeded subset of k feature rows
            (float32 [k, D]).
        keep_logits: keep the logits of every image (float32 [N, C]); needs a classifier head. With
            them, the extractor's ``recognised`` output (bool [N]) when it has one.
        keep_pixels: keep every image (uint8 [N, C, H, W]; the memorization metrics compare pixels).
    Returns float64 moments over all N images plus what was kept.
    """
    n_total = len(source)
    if n_total == 0:
        raise UserError(f"{source.spec}: no images")
    bs = batch_size or default_batch_size(extractor.name, device)
    keep_mask: np.ndarray | None = None
    if keep_features != 0:
        keep_idx = subset_indices(n_total, keep_features, subset_seed) if keep_features else None
        keep_mask = np.ones(n_total, bool) if keep_idx is None else np.isin(np.arange(n_total), keep_idx)
    rank, world = rank_world()
    per_chunk = chunk_of_batch(n_total, bs)
    chunks: dict[int, FeatureStats] = {}  # this rank's chunks, not yet folded into the total
    total = FeatureStats(extractor.feature_dim)
    kept: list[tuple[np.ndarray, np.ndarray]] = []  # (global indices, features float32 [k, D])
    logits: list[tuple[np.ndarray, np.ndarray]] = []  # (global indices, logits float32 [b, C])
    recognised: list[tuple[np.ndarray, np.ndarray]] = []  # (global indices, bool [b])
    pixels: list[tuple[np.ndarray, np.ndarray]] = []  # (global indices, images uint8 [b, C, H, W])
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)  # checked once at the end: no sync per batch
    # One batch shape only: a compiled extractor would recompile for the last, shorter batch, and cuDNN's
    # benchmark mode would time every convolution again for it (seconds per new shape on an H200).
    pad_to = bs if hasattr(extractor, "_orig_mod") or device.type == "cuda" else None
    seen = 0
    show = progress and rank == 0
    with Progress(label, n_total, enabled=show) as bar, torch.inference_mode():
        counted = _Numbered(source.batches(bs))
        mine = (b for b in counted if (b[0] // bs // per_chunk) % world == rank)
        for start, n_b, x in _on_device(mine, device, pad_to):
            chunk = start // bs // per_chunk
            if world == 1 and chunk not in chunks:  # one process: fold finished chunks as it goes
                for done in sorted(chunks):
                    total.merge_(_to_cpu(chunks.pop(done)))
            with precision_context(precision, device):
                out = extractor(x)
            feats = out["features"][:n_b].float()
            nonfinite |= ~torch.isfinite(feats).all()
            chunks.setdefault(chunk, FeatureStats(extractor.feature_dim)).update(feats, check_finite=False)
            idx = np.arange(start, start + n_b)
            if keep_mask is not None:
                sel = keep_mask[start : start + n_b]
                if sel.any():
                    kept.append((idx[sel], feats[torch.from_numpy(sel).to(feats.device)].cpu().numpy()))
            if keep_logits:
                logits.append((idx, out["logits"][:n_b].float().cpu().numpy()))
                if "recognised" in out:
                    recognised.append((idx, out["recognised"][:n_b].cpu().numpy()))
            if keep_pixels:
                pixels.append((idx, x[:n_b].cpu().numpy()))
            seen += n_b * world  # rank 0 alone shows progress: an estimate of all ranks' work
            bar.update(min(seen, n_total))
    if bool(nonfinite):
        raise UserError(f"{source.spec}: the {extractor.name} features contain NaN or infinite values")
    if counted.total != n_total:
        raise RuntimeError(f"{source.spec}: expected {n_total} images, got {counted.total}")
    states = {c: _to_cpu(s).to_state() for c, s in chunks.items()}
    if world > 1:
        states = {c: s for part in all_gather(states) for c, s in part.items()}
        kept = [part for parts in all_gather(kept) for part in parts]
        with_recognised = all_gather((logits, recognised))  # one exchange: they travel together
        logits = [part for parts, _ in with_recognised for part in parts]
        recognised = [part for _, parts in with_recognised for part in parts]
        pixels = [part for parts in all_gather(pixels) for part in parts]
    with torch.inference_mode():  # total may hold inference tensors from the in-loop folds
        for c in sorted(states):  # the same folds, in the same order, whatever the number of ranks
            total.merge_(FeatureStats.from_state(states[c]))
    return Extracted(
        stats=total,
        mu=total.mean(),
        sigma=total.cov() if total.n > 1 else None,
        n=total.n,
        features=_ordered(kept),
        logits=_ordered(logits),
        pixels=_ordered(pixels),
        recognised=_ordered(recognised),
    )


def _to_cpu(stats: FeatureStats) -> FeatureStats:
    """The same moments on the CPU (the cross-chunk folds always run there: a GPU may fuse them into FMAs)."""
    return FeatureStats.from_state(stats.to_state())


class _Numbered:
    """Iterates (global index of the first image, batch); ``total`` counts the images seen so far."""

    def __init__(self, batches: Iterator[torch.Tensor]) -> None:
        self.batches = batches
        self.total = 0

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        for b in self.batches:
            start, self.total = self.total, self.total + len(b)
            yield start, b


def _on_device(
    batches: Iterator[tuple[int, torch.Tensor]], device: torch.device, pad_to: int | None
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(start, valid rows, batch on ``device``). On CUDA each batch is pinned and its copy queued one batch
    ahead (``non_blocking``), so the transfer overlaps the previous batch's forward. ``pad_to``: repeat the
    last row up to that many rows (the caller drops the padded outputs)."""

    def put(start: int, b: torch.Tensor) -> tuple[int, int, torch.Tensor]:
        n = int(b.shape[0])
        if pad_to is not None and n < pad_to:
            b = torch.cat([b, b[-1:].expand(pad_to - n, *b.shape[1:])])
        if device.type == "cuda":
            b = (b if b.is_cuda else b.pin_memory()).to(device, non_blocking=True)
        else:
            b = b.to(device)
        return start, n, b

    ahead: tuple[int, int, torch.Tensor] | None = None
    for start, b in batches:
        nxt = put(start, b)
        if ahead is not None:
            yield ahead
        ahead = nxt
    if ahead is not None:
        yield ahead


def _ordered(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Concatenate (global indices, rows) parts in global index order."""
    if not parts:
        return None
    idx = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    return rows[np.argsort(idx, kind="stable")]
