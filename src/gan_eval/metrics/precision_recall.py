"""Improved precision and recall (Kynkaanniemi et al. 2019), exactly as torch-fidelity 0.4.0's prc.

Each sample's ball has radius = the Euclidean distance to its k-th nearest neighbour in its own set, taken
as the (k+1)-th smallest entry of its row of ``torch.cdist(set, set)`` (the row includes the sample itself,
at distance ~0). Precision: the fraction of fake samples inside at least one real ball (``dist <= radius``);
recall: the fraction of real samples inside at least one fake ball.

Computed over ``chunk x chunk`` blocks of the distance matrix: a running k+1 smallest per row for the radii
and a running "inside any ball" flag, so 50,000 x 50,000 distances never sit in memory at once (peak about
``chunk * (chunk + k + 1)`` elements). Distances are ``torch.cdist`` in float32 (float64 if the features are
float64), as torch-fidelity does on its float32 features; with the default ``chunk=10000`` (torch-fidelity's
``prc_batch_size``) every ``cdist`` call sees the same blocks as torch-fidelity's, so the values agree bit
for bit. float32 is enough: a radius comparison flips only for points within ~1e-6 relative of a ball edge.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_eval.errors import UserError
from gan_eval.metrics.keys import PRECISION, RECALL
from gan_eval.stats.feature_stats import as_feature_tensor

DEFAULT_CHUNK = 10000


def prepare_pair(
    real: Any, fake: Any, dtype: torch.dtype | None, device: str | torch.device | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets as 2-D tensors of one dtype on one device (default: float64 stays float64, other
    floats become float32; the device of ``real``)."""
    r = as_feature_tensor(real, "real features")
    f = as_feature_tensor(fake, "fake features", dim=r.shape[1])
    if dtype is None:
        dtype = torch.float64 if r.dtype == torch.float64 and f.dtype == torch.float64 else torch.float32
    dev = torch.device(device) if device is not None else r.device
    return r.to(dev, dtype), f.to(dev, dtype)


def knn_radii(x: torch.Tensor, k: int, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Distance of each row of ``x`` [N, D] to its k-th nearest other row -> [N] (dtype of x).

    It is the (k+1)-th smallest of the row's distances to all rows including itself (as torch-fidelity and
    prdc do; exact duplicates therefore count as neighbours). Needs N >= k + 1.
    """
    n = x.shape[0]
    if n < k + 1:
        raise UserError(f"k-nearest-neighbour radii with k={k} need at least {k + 1} samples, got {n}")
    radii = torch.empty(n, dtype=x.dtype, device=x.device)
    for i0 in range(0, n, chunk):
        rows = x[i0 : i0 + chunk]
        best: torch.Tensor | None = None  # [rows, <= k+1] smallest distances so far
        for j0 in range(0, n, chunk):
            d = torch.cdist(rows, x[j0 : j0 + chunk])
            cand = d if best is None else torch.cat([best, d], dim=1)
            best = cand.topk(min(k + 1, cand.shape[1]), dim=1, largest=False, sorted=True).values
        assert best is not None
        radii[i0 : i0 + chunk] = best[:, k]
    return radii


def inside_any_ball(
    queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int
) -> torch.Tensor:
    """bool [Q]: whether each query row lies within ``radii[j]`` (inclusive) of some ``centres[j]``."""
    hit = torch.zeros(queries.shape[0], dtype=torch.bool, device=queries.device)
    for i0 in range(0, queries.shape[0], chunk):
        q = queries[i0 : i0 + chunk]
        h = hit[i0 : i0 + chunk]
        for j0 in range(0, centres.shape[0], chunk):
            h |= (torch.cdist(q, centres[j0 : j0 + chunk]) <= radii[j0 : j0 + chunk]).any(dim=1)
    return hit


def precision_recall(
    real: Any,
    fake: Any,
    k: int = 3,
    chunk: int = DEFAULT_CHUNK,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Precision and recall of ``fake`` float [M, D] against ``real`` float [N, D] (torch or numpy).

    ``k``: neighbourhood size (3 in the paper and torch-fidelity); ``chunk``: rows/columns per distance
    block; ``dtype``/``device``: where the distances are computed (defaults: see ``prepare_pair``).
    Returns ``{"precision": float, "recall": float}`` in [0, 1], higher is better.
    """
    if k < 1 or chunk < 1:
        raise UserError(f"precision/recall needs k >= 1 and chunk >= 1, got k={k}, chunk={chunk}")
    r, f = prepare_pair(real, fake, dtype, device)
    radii_real = knn_radii(r, k, chunk)
    radii_fake = knn_radii(f, k, chunk)
    # .float().mean().item() as torch-fidelity, so the reported numbers are identical
    precision = inside_any_ball(f, r, radii_real, chunk).float().mean().item()
    recall = inside_any_ball(r, f, radii_fake, chunk).float().mean().item()
    return {PRECISION: precision, RECALL: recall}
