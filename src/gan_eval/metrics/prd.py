"""Precision and recall for distributions, PRD (Sajjadi et al., "Assessing generative models via precision
and recall", NeurIPS 2018; reference code msmsajjadi/precision-recall-distributions ``prd_score.py``).

The real and generated features are pooled and clustered by k-means into ``num_clusters`` = 20 cells; the two
histograms over the cells (``ref`` = real, ``eval`` = generated, each summing to 1) give the PRD curve over an
equiangular grid of ``num_angles`` = 1001 angles in [epsilon, pi/2 - epsilon] (epsilon = 1e-10)::

    lambda = tan(angle),  precision(lambda) = sum_i min(lambda ref_i, eval_i),  recall = precision / lambda

The curves of ``num_runs`` = 10 clusterings are averaged (precision and recall separately, as the
reference), and summarised by the maximum over the curve of F_beta = (1 + beta^2) p r / (beta^2 p + r + 1e-10)
for beta = 8 (``prd_f8``: recall-like, "how much of the real distribution is covered") and beta = 1/8
(``prd_f1_8``: precision-like, "how much of the generated distribution is realistic"); both in [0, 1],
higher is better. Values that rounding puts just above 1 are clipped to 1 (the reference's later versions
do the same; above 1.001 is a bug and raises).

Clustering: the reference runs scikit-learn's ``MiniBatchKMeans(n_clusters=20, n_init=10)`` unseeded per run.
Here each run is ``gan_eval.metrics.kmeans.kmeans`` (full-batch Lloyd with greedy k-means++, which reaches the
same or lower inertia than mini-batch) with seed ``seed + run`` and ``n_init`` seedings (default 1: the 10
runs already average over initialisations; ``n_init=10`` matches the reference's cost model more closely).
Balance: the reference refuses sets of different sizes (``enforce_balance``), since unequal sets bias the
clustering; ``balance="subsample"`` (default) instead draws a seeded random subset of the larger set to the
size of the smaller, ``"error"`` raises as the reference does, ``"none"`` clusters them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.kmeans import kmeans
from gan_eval.stats.feature_stats import as_feature_tensor

# -- result keys --------------------------------------------------------------------------------------------
PRD_F8 = "prd_f8"  # value in [0, 1], higher is better (recall-like)
PRD_F1_8 = "prd_f1_8"  # value in [0, 1], higher is better (precision-like)
PRD_N = "prd_n"  # diagnostic: samples per side that were clustered

HIGHER_IS_BETTER: dict[str, bool | None] = {PRD_F8: True, PRD_F1_8: True}
"""Direction of each value key."""

DEFAULT_CLUSTERS = 20
DEFAULT_ANGLES = 1001
DEFAULT_RUNS = 10
DEFAULT_BETA = 8.0
EPSILON = 1e-10


def prd_curve(
    eval_dist: Any, ref_dist: Any, num_angles: int = DEFAULT_ANGLES, epsilon: float = EPSILON
) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve of discrete distribution ``eval_dist`` float [C] against ``ref_dist`` float [C] (each
    non-negative, summing to 1): (precision float64 [num_angles], recall float64 [num_angles]), ordered by
    increasing angle (recall decreasing)."""
    if not 0 < epsilon < 0.1:
        raise UserError(f"PRD: epsilon must be in (0, 0.1), got {epsilon}")
    if not 3 <= num_angles <= 1_000_000:
        raise UserError(f"PRD: num_angles must be in [3, 1e6], got {num_angles}")
    ev = np.asarray(eval_dist, dtype=np.float64)
    ref = np.asarray(ref_dist, dtype=np.float64)
    if ev.ndim != 1 or ev.shape != ref.shape:
        raise UserError(f"PRD: the two histograms must be 1-D of one length, got {ev.shape} and {ref.shape}")
    if (ev < 0).any() or (ref < 0).any():
        raise UserError("PRD: histograms must be non-negative")
    slopes = np.tan(np.linspace(epsilon, np.pi / 2 - epsilon, num=num_angles))
    precision = np.minimum(ref[None, :] * slopes[:, None], ev[None, :]).sum(axis=1)
    recall = precision / slopes
    top = max(float(precision.max()), float(recall.max()))
    if top > 1.001:
        raise ValueError(f"PRD: precision or recall {top} > 1.001 (histograms not normalised?)")
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)


def f_beta(precision: np.ndarray, recall: np.ndarray, beta: float, epsilon: float = EPSILON) -> np.ndarray:
    """F_beta = (1 + beta^2) p r / (beta^2 p + r + epsilon), elementwise (float64)."""
    if beta <= 0:
        raise UserError(f"F_beta needs beta > 0, got {beta}")
    p, r = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    return (1 + beta**2) * (p * r) / (beta**2 * p + r + epsilon)


def max_f_beta_pair(
    precision: np.ndarray, recall: np.ndarray, beta: float = DEFAULT_BETA
) -> tuple[float, float]:
    """(max F_beta, max F_{1/beta}) over the curve: with beta = 8, (recall-like, precision-like)."""
    return float(f_beta(precision, recall, beta).max()), float(f_beta(precision, recall, 1.0 / beta).max())


@dataclass(frozen=True, eq=False)
class PRDResult:
    """``precision``, ``recall`` float64 [num_angles]: the averaged curve (plot recall on x, precision on
    y); ``eval_hist``, ``ref_hist`` float64 [num_runs, num_clusters]: the per-run histograms (generated,
    real); ``values``: the dict ``prd`` returns."""

    precision: np.ndarray
    recall: np.ndarray
    eval_hist: np.ndarray
    ref_hist: np.ndarray
    values: dict[str, float]


def _balanced(
    real: torch.Tensor, fake: torch.Tensor, balance: str, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    n_r, n_f = real.shape[0], fake.shape[0]
    if n_r == n_f or balance == "none":
        return real, fake
    if balance == "error":
        raise UserError(
            f"PRD: {n_f} generated and {n_r} real samples; the sets must be of equal size "
            "(unequal sets bias the clustering), or use balance='subsample'"
        )
    if balance != "subsample":
        raise UserError(f"PRD: balance must be 'subsample', 'error' or 'none', got {balance!r}")
    rng = np.random.default_rng(seed)
    n = min(n_r, n_f)
    if n_r > n:
        real = real[torch.from_numpy(np.sort(rng.choice(n_r, n, replace=False)))]
    else:
        fake = fake[torch.from_numpy(np.sort(rng.choice(n_f, n, replace=False)))]
    return real, fake


def prd_details(
    real: Any,
    fake: Any,
    *,
    num_clusters: int = DEFAULT_CLUSTERS,
    num_angles: int = DEFAULT_ANGLES,
    num_runs: int = DEFAULT_RUNS,
    beta: float = DEFAULT_BETA,
    balance: str = "subsample",
    seed: int = 0,
    n_init: int = 1,
) -> PRDResult:
    """PRD of generated features ``fake`` float [N, D] against real features ``real`` float [M, D] (torch or
    numpy); see the module docstring for every argument. Values: ``prd_f8`` (recall-like) and
    ``prd_f1_8`` (precision-like), both in [0, 1], higher is better; diagnostic ``prd_n``."""
    r = as_feature_tensor(real, "real features")
    f = as_feature_tensor(fake, "fake features", dim=r.shape[1])
    if num_runs < 1:
        raise UserError(f"PRD: num_runs must be >= 1, got {num_runs}")
    r, f = _balanced(r.cpu(), f.cpu(), balance, seed)
    n_f = f.shape[0]
    pooled = torch.cat([f.to(torch.float64), r.to(torch.float64)])
    if pooled.shape[0] < num_clusters:
        raise UserError(f"PRD: {pooled.shape[0]} samples in all are too few for {num_clusters} clusters")
    precisions, recalls, ev_h, ref_h = [], [], [], []
    for run in range(num_runs):
        labels = kmeans(pooled, num_clusters, seed=seed + run, n_init=n_init).labels
        ev = np.bincount(labels[:n_f], minlength=num_clusters) / n_f
        ref = np.bincount(labels[n_f:], minlength=num_clusters) / (pooled.shape[0] - n_f)
        p, rc = prd_curve(ev, ref, num_angles)
        precisions.append(p)
        recalls.append(rc)
        ev_h.append(ev)
        ref_h.append(ref)
    precision, recall = np.mean(precisions, axis=0), np.mean(recalls, axis=0)
    f8, f1_8 = max_f_beta_pair(precision, recall, beta)
    values = {PRD_F8: f8, PRD_F1_8: f1_8, PRD_N: float(n_f)}
    return PRDResult(precision, recall, np.asarray(ev_h), np.asarray(ref_h), values)


def prd(real: Any, fake: Any, **options: Any) -> dict[str, float]:
    """``{"prd_f8": recall-like, "prd_f1_8": precision-like, "prd_n": samples per side}``; higher is better
    for both values. Options as ``prd_details``."""
    return prd_details(real, fake, **options).values
