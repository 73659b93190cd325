"""Bootstrap confidence intervals over the generated samples (the real set fixed), from one pass of features.

A bootstrap resample draws the n generated samples with replacement:
``numpy.random.default_rng(seed + 1).integers(0, n, size=n)`` per resample, in sequence (the draws of the
reference implementation, :func:`reference_replicates`, so the same seed gives the same resamples). A
resample is the multinomial count vector ``c`` (float64 [n], sums to n) of those indices, and each metric
reads the features and logits computed once:

- **fid**: the resample's mean ``sum_i c_i x_i / n`` and covariance ``sum_i c_i (x_i - mu)(x_i - mu)^T /
  (n - 1)`` in float64 (from the features centred once; from D = 512 on only the rows drawn, ~63%, are
  gathered), then ``fid_from_stats``'s arithmetic batched over resamples (the real covariance's Cholesky
  factor once). Equal to the reference (which materialises ``features[idx]`` and streams it through
  ``FeatureStats``) to float64 rounding. Cost per resample: ``n D^2`` multiply-adds (``0.63 n D^2`` from
  D = 512) plus two [D, D] products and one ``eigvalsh``: ~25 ms for mnist-lenet (D = 128, n = 10,000) and
  ~6 s for Inception (D = 2048) on the 2 shared CPU cores under load, where the Inception pass over 10,000
  images takes ~750 s when the machine is quiet.
- **is**: each split's KL term from count matrices and the softmax of every sample computed once
  (:func:`is_replicates`); equal to the reference to float64 rounding.
- **kid**: the reported KID is the mean over ``subsets`` random subsets (torch-fidelity's draws) of the
  unbiased MMD^2; rerunning that per resample (the reference) costs ``3 * subsets`` kernel blocks per
  resample. Instead the replicates come from the full-sample unbiased MMD^2 ``T`` (all n generated samples
  against all kept real features), whose resample values need no kernel recomputation::

      within-fake sum over resample pairs a != b:  c^T K_ff c - sum_i c_i K_ff[i, i]
      cross term:                                   c^T K_fr 1

  with ``K_ff`` [n, n] and ``K_fr`` [n, n_real] computed once, tile by tile (2048 x 2048 float64, 32 MiB;
  ``K_ff`` is symmetric, so only its upper tiles), never held whole. Each subset's MMD^2 is an unbiased
  estimate of ``T`` given the two sets, so ``reported = T + e``, ``e`` the subset noise. A replicate is::

      reported + (T* - E*[T*]) + e*

  ``E*[T*]``, the exact bootstrap-world mean (resampled positions are iid over the n samples:
  ``1^T K_ff 1 / n^2 - 2 * 1^T K_fr 1 / (n n_real)`` + the real term), removes the upward shift that
  duplicated samples give the within-fake term (about ``(mean K_ii - mean K_ij) / n``; the reference's
  intervals carry it). ``e*`` ~ N(0, v / subsets), ``v`` the exact variance of one subset value over the
  draw of its generated samples (:func:`subset_u_variance`, from the same tiles): the reference's replicates
  carry this noise, since their subsets fall on different samples in each resample. The real subsets are
  fixed by the seed in both, so their part of the spread is not in either interval. The percentile
  interval is centred on the reported value with the reference's spread; tests/metrics/test_bootstrap.py
  holds it to the reference within Monte Carlo tolerance. Cost: ``n^2 D / 2 + n n_real D`` multiply-adds for
  the kernels plus ``n^2 b / 2`` for the quadratic forms, once for all b resamples: about half the kernel
  entries of the reported value's 100 subsets (1.5e8 vs 3e8 at n = n_real = 10,000), where the reference
  recomputed all of those on every resample.

Memory: float64 blocks of at most 32 MiB, the features' float64 copy when it takes at most 64 MiB, one
kernel tile: peak RSS +86 MiB at 10,000 x 128 features, +190 MiB at 50,000 x 128, +310 MiB at
10,000 x 2048 (benchmarks/bench_compare.py).

k-NN metrics (pr, dc) are skipped: resampling with replacement duplicates samples, whose zero-distance
neighbours shrink the k-NN radii and bias the intervals (recall's fell below its value). Other registered
metrics fall back to the reference: the metric rerun on every resample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.registry import (
    FID,
    IS_MEAN,
    KID_MEAN,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    STD_OF,
    MetricInputs,
)
from gan_eval.stats.feature_stats import FeatureStats, Moments, as_feature_tensor

KNN_METRICS = ("pr", "dc")
KNN_REASON = (
    "k-NN metric: resampling with replacement duplicates samples, whose zero-distance neighbours shrink the "
    "k-NN radii and bias the intervals"
)
ROW_BLOCK = 4096
"""Rows per float64 block of the resample means and weighted covariances; fewer for wide features (a block
holds at most ``BLOCK_BYTES``)."""
BLOCK_BYTES = 32 << 20
"""Size of one float64 block of features, and of one group of [D, D] covariances in the FID step."""
TILE = 2048
"""Rows and columns of one float64 kernel tile (2048 x 2048 = 32 MiB)."""
WHOLE_MAX_BYTES = 64 << 20
"""FID: a centred float64 copy of the features is kept whole up to this size, else converted per block."""
SOFTMAX_WHOLE_MAX_BYTES = 32 << 20
"""IS: the softmax of all logits kept whole up to this size, else recomputed per row block and split."""
GATHER_MIN_DIM = 512
"""From this feature dimension on, the weighted covariance gathers the drawn rows (fewer multiply-adds);
below it, multiplying every row by its count (zeros included) is faster than gathering."""
IS_SPLITS = 10  # inception_score's defaults, which the registry uses
IS_SHUFFLE_SEED = 2020
KID_DEGREE, KID_COEF0 = 3, 1.0  # kid's defaults (gamma: 1 / D)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called with 0 first and after each step (a resample, or a kernel tile)."""


@dataclass(frozen=True)
class BootstrapResult:
    """``intervals``: result key -> (low, high) percentile interval; ``skipped``: metric name -> why it got
    none; ``replicates``: result key -> float64 [b] the bootstrap values the interval comes from."""

    intervals: dict[str, tuple[float, float]]
    skipped: dict[str, str]
    replicates: dict[str, np.ndarray] = field(repr=False)
    n_resamples: int = 0
    level: float = 0.95


def resample_indices(n: int, b: int, seed: int) -> Iterator[np.ndarray]:
    """The ``b`` resamples of ``n`` samples: int64 [n] indices in [0, n), drawn with replacement."""
    rng = np.random.default_rng(seed + 1)
    for _ in range(b):
        yield rng.integers(0, n, size=n)


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of ``values`` (numpy's linear interpolation)."""
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return float(np.percentile(values, lo)), float(np.percentile(values, hi))


def _check(metrics: Sequence[str], b: int, level: float) -> None:
    if b < 2:
        raise UserError(f"--bootstrap {b}: expected at least 2 resamples (0 for no intervals)")
    if not 0 < level < 1:
        raise UserError(f"confidence level {level}: expected a number between 0 and 1")


def bootstrap_intervals(
    metrics: Sequence[str],
    fake_features: Any,
    *,
    fake_logits: Any = None,
    real_mu: Any = None,
    real_sigma: Any = None,
    real_features: Any = None,
    reported: Mapping[str, float] | None = None,
    n_resamples: int,
    seed: int = 0,
    level: float = 0.95,
    progress: Progress | None = None,
) -> BootstrapResult:
    """Percentile bootstrap intervals of ``metrics`` over the generated samples (see the module docstring).

    Args:
        metrics: registered metric names (``fid``, ``is``, ``kid``, ...; ``pr``/``dc`` are skipped).
        fake_features: float [n, D] (numpy or torch), every generated sample's features.
        fake_logits: float [n, C], every generated sample's logits (for ``is``).
        real_mu, real_sigma: float64 [D], [D, D] the real set's mean and covariance (for ``fid``).
        real_features: float [m, D], the kept real features (for ``kid``).
        reported: the evaluation's values, needed to centre the KID interval: ``kid_mean``, ``kid_std`` and
            ``kid_subsets`` (as ``kid`` returns them). Missing: ``kid`` is computed here once more.
        n_resamples: b >= 2; seed: the evaluation's seed (resamples use ``seed + 1``); level: e.g. 0.95.
        progress: ``progress(done, total)`` after each step (see ``Progress``).
    Returns value key -> (low, high) for fid, is_mean, kid_mean (and any other registered metric), and the
    skipped metrics with the reason.
    """
    from gan_eval.metrics.registry import get_metric

    _check(metrics, n_resamples, level)
    specs = [get_metric(m) for m in dict.fromkeys(metrics)]  # each once, in order
    skipped = {s.name: KNN_REASON for s in specs if s.name in KNN_METRICS}
    names = [s.name for s in specs if s.name not in skipped]
    fast = {"fid", "is", "kid"}
    generic = [m for m in names if m not in fast]
    x = as_feature_tensor(fake_features, "fake features").cpu()
    n = int(x.shape[0])
    if n < 2:
        raise UserError(f"the bootstrap needs at least 2 generated samples, got {n}")
    b = n_resamples
    idx = np.stack(list(resample_indices(n, b, seed)))  # int64 [b, n]
    tiles = _kid_tiles(n, _rows(real_features)) if "kid" in names else 0
    total = b * sum(m in names for m in ("fid", "is")) + tiles + b * len(generic)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    reps: dict[str, np.ndarray] = {}
    if "fid" in names:
        if real_mu is None or real_sigma is None:
            raise UserError("metric 'fid' needs the real set's statistics, which were not computed")
        reps[FID] = fid_replicates(x, idx, real_mu, real_sigma, tick)
    if "is" in names:
        if fake_logits is None:
            raise UserError("metric 'is' needs the fake set's logits, which were not computed")
        reps[IS_MEAN] = is_replicates(fake_logits, idx, tick)
    if "kid" in names:
        if real_features is None:
            raise UserError("metric 'kid' needs the real set's features, which were not computed")
        point = _kid_point(reported, real_features, x)
        reps[KID_MEAN] = kid_replicates(x, real_features, idx, point, seed, tick)
    if generic:
        reps.update(
            reference_replicates(
                generic,
                fake_features,
                fake_logits=fake_logits,
                real_mu=real_mu,
                real_sigma=real_sigma,
                real_features=real_features,
                n_resamples=b,
                seed=seed,
                progress=lambda i, _t: tick() if i else None,
            )
        )
    return BootstrapResult(
        intervals={k: percentile_interval(v, level) for k, v in reps.items()},
        skipped=skipped,
        replicates=reps,
        n_resamples=b,
        level=level,
    )


def _rows(a: Any) -> int:
    return 0 if a is None else int(a.shape[0])


def _rows_per_block(width: int) -> int:
    """Rows of a float64 block of ``width`` columns: ``ROW_BLOCK``, fewer when that exceeds BLOCK_BYTES."""
    return max(1, min(ROW_BLOCK, BLOCK_BYTES // (8 * width)))


def _counts(idx: np.ndarray, n: int) -> torch.Tensor:
    """float64 [b, n]: how often each sample occurs in each resample."""
    b = idx.shape[0]
    flat = (idx + np.arange(b)[:, None] * n).ravel()
    return torch.from_numpy(np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64))


# ----------------------------------------------------------------------------------------------------- fid
def fid_replicates(
    x: torch.Tensor, idx: np.ndarray, real_mu: Any, real_sigma: Any, tick: Callable[[], None]
) -> np.ndarray:
    """FID of each resample (float64 [b]) from its weighted moments; ``x`` float [n, D], ``idx`` int [b, n].

    The FID step is ``fid_from_stats``'s arithmetic (``metrics/fid.py``), batched over resamples: the real
    covariance's Cholesky factor ``L`` once, then ``eigvalsh(L^T S_b L)`` for a group of resamples at a time.
    A singular real covariance takes ``fid_from_stats`` itself, one resample at a time."""
    from gan_eval.metrics.fid import _as_moments, _cholesky, fid_from_stats

    mu1, sigma1 = _as_moments(real_mu, real_sigma, "the real set's statistics")
    n, d = x.shape
    if mu1.shape[0] != d:
        raise UserError(
            f"cannot compare statistics of feature dimension {mu1.shape[0]} with {d} (different extractors?)"
        )
    counts = _counts(idx, n)
    b = idx.shape[0]
    mus = torch.zeros(b, d, dtype=torch.float64)
    step = _rows_per_block(d)
    for i0 in range(0, n, step):  # all resamples' means: one float64 matmul per row block
        mus += counts[:, i0 : i0 + step] @ x[i0 : i0 + step].to(torch.float64)
    mus /= n
    s1 = torch.from_numpy(sigma1)
    factor = _cholesky((s1 + s1.T) * 0.5)
    centred = _Centred(x)
    group = max(1, BLOCK_BYTES // (8 * d * d))  # covariances per batched FID step
    out = np.empty(b)
    for g0 in range(0, b, group):
        covs = []
        for k in range(g0, min(g0 + group, b)):
            covs.append(centred.cov(counts[k], mus[k]))
            if factor is None:
                out[k] = fid_from_stats(mu1, sigma1, mus[k].numpy(), covs[-1].numpy())[FID]
            tick()  # a step per resample; the group's eigenvalues (below) add to the last one
        if factor is None:
            continue
        sigmas = torch.stack(covs)
        s2 = (sigmas + sigmas.transpose(1, 2)) * 0.5
        m = factor.T @ (s2 @ factor)
        eig = torch.linalg.eigvalsh((m + m.transpose(1, 2)) * 0.5).numpy()
        for j in range(eig.shape[0]):
            diff = mu1 - mus[g0 + j].numpy()
            tr_covmean = float(np.sqrt(np.clip(eig[j], 0.0, None)).sum())
            sigma2 = sigmas[j].numpy()
            out[g0 + j] = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return out


class _Centred:
    """The features centred on their mean, float64, for weighted covariances
    ``sum_i c_i (x_i - mu)(x_i - mu)^T = sum_i c_i y_i y_i^T - n (mu - m)(mu - m)^T`` (``y = x - m``,
    ``sum c = n``; ``mu - m`` is small, so nothing cancels). Kept whole when that takes <= 256 MiB, else
    converted block by block."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x
        self.mean = torch.zeros(x.shape[1], dtype=torch.float64)
        self.step = _rows_per_block(x.shape[1])
        for i0 in range(0, x.shape[0], self.step):
            self.mean += x[i0 : i0 + self.step].to(torch.float64).sum(dim=0)
        self.mean /= x.shape[0]
        small = x.shape[0] * x.shape[1] * 8 <= WHOLE_MAX_BYTES
        self.whole = x.to(torch.float64) - self.mean if small else None
        # wide features: the matmul dominates, so only the rows drawn (~63%) are worth gathering
        self.gather = x.shape[1] >= GATHER_MIN_DIM

    def block(self, rows: torch.Tensor | slice) -> torch.Tensor:
        if self.whole is not None:
            return self.whole[rows]
        return self.x[rows].to(torch.float64) - self.mean

    def cov(self, c: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """float64 [D, D] ``sum_i c_i (x_i - mu)(x_i - mu)^T / (n - 1)`` for counts ``c`` float64 [N]
        summing to n, exactly symmetric (as ``FeatureStats.cov``)."""
        n_rows, d = self.x.shape
        step = self.step
        m2 = torch.zeros(d, d, dtype=torch.float64)
        if self.gather:
            rows = torch.nonzero(c).squeeze(1)
            for i0 in range(0, rows.shape[0], step):
                r = rows[i0 : i0 + step]
                y = self.block(r)
                m2 += (y * c[r, None]).T @ y
        else:
            for i0 in range(0, n_rows, step):
                y = self.block(slice(i0, i0 + step))
                m2 += (y * c[i0 : i0 + step, None]).T @ y
        n = float(c.sum())
        shift = mu - self.mean
        m2 -= n * torch.outer(shift, shift)
        return (m2 + m2.T) / (2.0 * (n - 1))


# ------------------------------------------------------------------------------------------------------ is
def is_replicates(logits: Any, idx: np.ndarray, tick: Callable[[], None]) -> np.ndarray:
    """Inception Score (mean over the splits) of each resample, float64 [b], from count matrices.

    ``inception_score`` shuffles the resample's positions (RandomState(2020)) and cuts them into splits; the
    KL term of split s, ``mean_i sum_k p_ik (log p_ik - log q_k)`` with ``q = mean_i p_i``, equals
    ``(W_s h) / size - sum_k q_k log q_k`` with ``q = W_s p / size``: ``W_s`` [b, n] counts how often each
    sample falls in split s of each resample, ``p`` the softmax of every sample's logits (float64, computed
    once, or per row block for large sets) and ``h_i = sum_k p_ik log p_ik``. Equal to the reference up to
    float64 rounding."""
    z = as_feature_tensor(logits, "logits").cpu()
    n, k = z.shape
    if n < IS_SPLITS:
        raise UserError(f"the Inception Score with {IS_SPLITS} splits needs at least {IS_SPLITS} samples")
    perm = np.random.RandomState(IS_SHUFFLE_SEED).permutation(n)
    order = idx[:, perm]  # [b, n]: the resample's samples in the shuffled order
    b = idx.shape[0]
    whole = n * k * 8 <= SOFTMAX_WHOLE_MAX_BYTES

    def probs(rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
        z64 = z[rows].to(torch.float64)
        p = z64.softmax(dim=1)
        return p, (p * z64.log_softmax(dim=1)).sum(dim=1)

    p_all, h_all = probs(slice(0, n)) if whole else (None, None)
    scores = np.empty((b, IS_SPLITS))
    for s in range(IS_SPLITS):
        lo, hi = s * n // IS_SPLITS, (s + 1) * n // IS_SPLITS
        w = _counts(order[:, lo:hi], n)  # [b, n]
        if p_all is not None and h_all is not None:
            q, neg = w @ p_all, w @ h_all
        else:
            q, neg = torch.zeros(b, k, dtype=torch.float64), torch.zeros(b, dtype=torch.float64)
            step = _rows_per_block(k)
            for i0 in range(0, n, step):
                p, h = probs(slice(i0, i0 + step))
                q += w[:, i0 : i0 + step] @ p
                neg += w[:, i0 : i0 + step] @ h
        q /= hi - lo
        kl = neg / (hi - lo) - torch.special.xlogy(q, q).sum(dim=1)
        scores[:, s] = kl.exp().numpy()
    out = scores.mean(axis=1)
    for _ in range(b):
        tick()
    return out


# ----------------------------------------------------------------------------------------------------- kid
@dataclass(frozen=True)
class KidPoint:
    """The reported KID: the mean of ``subsets`` unbiased MMD^2 values on subsets of ``subset_size``."""

    mean: float
    subsets: int
    subset_size: int


def _kid_point(reported: Mapping[str, float] | None, real: Any, fake: torch.Tensor) -> KidPoint:
    rep = dict(reported or {})
    if not {KID_MEAN, KID_SUBSETS, KID_SUBSET_SIZE} <= rep.keys():
        from gan_eval.metrics.kid import kid

        rep = kid(real, fake)
    return KidPoint(float(rep[KID_MEAN]), int(rep[KID_SUBSETS]), int(rep[KID_SUBSET_SIZE]))


def _kid_tiles(n: int, m: int) -> int:
    nb, mb = -(-n // TILE), -(-m // TILE)
    return nb * (nb + 1) // 2 + nb * mb


def subset_u_variance(size: int, rowsum: np.ndarray, diag: np.ndarray, sumsq: float, r: np.ndarray) -> float:
    """Exact variance of the fake side of one KID subset value over the subset draw.

    One subset's MMD^2 is, up to its (fixed) real part, the U-statistic
    ``U = sum_{a != b} h(P_a, P_b) / (size (size - 1))`` with ``h(i, j) = K_ff[i, j] - r_i - r_j`` over a
    sample ``P`` of ``size`` of the N generated samples drawn without replacement (``r_i``: mean kernel of
    sample i against the real subset, here the kept real features). With ``(k)_j`` the falling factorial
    and, over distinct population indices, ``E2 = mean h_ij^2``, ``E3 = mean h_ij h_ik``,
    ``E4 = mean h_ij h_kl`` (h centred by its mean over distinct pairs, so the mean of U is 0)::

        Var U = (2 (size)_2 E2 + 4 (size)_3 E3 + (size)_4 E4) / (size)_2^2

    (the pairs of position pairs sharing 2, 1 or 0 positions; 0 when size = N).
    Inputs (float64): ``rowsum`` [N] = K_ff 1 (diagonal included), ``diag`` [N] = K_ff[i, i],
    ``sumsq`` = sum of all K_ff[i, j]^2, ``r`` [N].
    """
    n = rowsum.shape[0]
    if size < 2 or n < 4 or size >= n:
        return 0.0
    off_rowsum = rowsum - diag  # sum_{j != i} K_ij
    sum_r = r.sum()
    s = off_rowsum - (n - 1) * r - (sum_r - r)  # s_i = sum_{j != i} h_ij
    total = s.sum()
    q2 = (
        (sumsq - diag @ diag)
        - 4.0 * (r @ off_rowsum)
        + 2.0 * (n - 1) * (r @ r)
        + 2.0 * (sum_r * sum_r - r @ r)
    )  # sum_{i != j} h_ij^2
    pairs = n * (n - 1)
    theta = total / pairs
    # centre h by theta: the centred row sums and sum of squares (no theta^2-sized cancellation below)
    s_c = s - (n - 1) * theta
    q2_c = q2 - pairs * theta * theta
    e2 = q2_c / pairs
    e3 = (s_c @ s_c - q2_c) / (pairs * (n - 2))
    e4 = (-4.0 * (s_c @ s_c) + 2.0 * q2_c) / (pairs * (n - 2) * (n - 3))
    m2, m3, m4 = _falling(size, 2), _falling(size, 3), _falling(size, 4)
    return max(float((2.0 * m2 * e2 + 4.0 * m3 * e3 + m4 * e4) / (m2 * m2)), 0.0)


def _falling(k: int, j: int) -> float:
    return float(math.prod(range(k - j + 1, k + 1)))


def kid_replicates(
    x: torch.Tensor,
    real: Any,
    idx: np.ndarray,
    point: KidPoint,
    seed: int,
    tick: Callable[[], None],
    *,
    degree: int = KID_DEGREE,
    gamma: float | None = None,
    coef0: float = KID_COEF0,
) -> np.ndarray:
    """KID replicates (float64 [b]) centred on ``point.mean``: see the module docstring.

    ``x`` float [n, D] generated features, ``real`` float [m, D] kept real features, ``idx`` int [b, n].
    ``point.subsets = 1`` with ``point.subset_size = n`` gives the bare full-sample replicates
    ``point.mean + T* - E*[T*]`` (no subset noise).
    """
    y = as_feature_tensor(real, "real features", dim=x.shape[1]).cpu()
    n, m = x.shape[0], y.shape[0]
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)

    buf = torch.empty(min(TILE, n) * min(TILE, max(n, m)), dtype=torch.float64)  # one tile, reused
    bias = torch.tensor(coef0, dtype=torch.float64)
    # float64 copies once when small (converting per tile costs a pass per tile), else per tile
    x = x.to(torch.float64) if x.numel() * 8 <= WHOLE_MAX_BYTES else x
    y = y.to(torch.float64) if y.numel() * 8 <= WHOLE_MAX_BYTES else y

    def kernel(a: torch.Tensor, b_: torch.Tensor) -> torch.Tensor:
        """``(g a b^T + coef0) ** degree`` into the reused tile (the multiply-add inside the matmul)."""
        k = buf[: a.shape[0] * b_.shape[0]].view(a.shape[0], b_.shape[0])
        torch.addmm(bias, a.to(torch.float64), b_.to(torch.float64).T, alpha=g, out=k)
        return k.pow_(degree)

    # d = c - 1: the centred counts, so the leading n^2 mean-kernel part cancels exactly, not in rounding;
    # a last row of ones gives each tile's column sums from the same matmul
    d = _counts(idx, n) - 1.0  # float64 [b, n]
    d1 = torch.cat([d, torch.ones(1, n, dtype=torch.float64)])
    quad = torch.zeros(d.shape[0], dtype=torch.float64)  # d^T K_ff d per resample
    rowsum = torch.zeros(n, dtype=torch.float64)  # K_ff 1
    diag = torch.zeros(n, dtype=torch.float64)  # K_ff[i, i]
    sumsq = 0.0  # sum of K_ff[i, j]^2 (for the subset noise)
    for i0 in range(0, n, TILE):
        xi = x[i0 : i0 + TILE]
        for j0 in range(i0, n, TILE):
            k = kernel(xi, x[j0 : j0 + TILE])
            prod = d1[:, i0 : i0 + TILE] @ k  # [b + 1, tile]: d_I^T K_IJ, then the column sums
            part = (prod[:-1] * d[:, j0 : j0 + TILE]).sum(dim=1)
            flat = k.reshape(-1)
            sq = float(flat @ flat)
            rowsum[j0 : j0 + TILE] += prod[-1]
            if j0 == i0:
                quad += part
                sumsq += sq
                diag[i0 : i0 + TILE] = k.diagonal()
            else:  # the mirror tile (j, i) gives the same numbers
                quad += 2.0 * part
                sumsq += 2.0 * sq
                rowsum[i0 : i0 + TILE] += k.sum(dim=1)
            tick()
    cross = torch.zeros(n, dtype=torch.float64)  # K_fr 1
    for i0 in range(0, n, TILE):
        xi = x[i0 : i0 + TILE]
        for j0 in range(0, m, TILE):
            cross[i0 : i0 + TILE] += kernel(xi, y[j0 : j0 + TILE]).sum(dim=1)
            tick()
    # within-fake U-statistic minus its bootstrap mean 1^T K 1 / n^2, with c = 1 + d:
    #   (c^T K c - c.diag) / (n (n-1)) - 1^T K 1 / n^2
    # = (1^T K 1 / n - sum(diag)) / (n (n-1)) + (2 d.rowsum + d^T K d - d.diag) / (n (n-1))
    total = rowsum.sum()
    ff = (total / n - diag.sum()) / (n * (n - 1)) + (2.0 * (d @ rowsum) + quad - d @ diag) / (n * (n - 1))
    fr = (d @ cross) / (n * m)  # c^T r / (n m) - 1^T r / (n m)
    centred = (ff - 2.0 * fr).numpy()
    var_subset = subset_u_variance(
        point.subset_size, rowsum.numpy(), diag.numpy(), sumsq, (cross / m).numpy()
    )
    noise_sd = math.sqrt(var_subset / point.subsets)
    noise = np.random.default_rng([seed, 0x4B4944]).normal(0.0, noise_sd, size=centred.shape[0])
    return point.mean + centred + noise


# ----------------------------------------------------------------------------------------- the reference
def reference_replicates(
    metrics: Sequence[str],
    fake_features: Any,
    *,
    fake_logits: Any = None,
    real_mu: Any = None,
    real_sigma: Any = None,
    real_features: Any = None,
    n_resamples: int,
    seed: int = 0,
    progress: Progress | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """The slow, exact bootstrap: every metric rerun on every resample (the implementation before issue 11,
    kept as the reference the fast path is tested against, and for metrics without a fast path).

    Inputs as :func:`bootstrap_intervals`; ``metric_options``: metric name -> keyword arguments of its
    ``compute`` (e.g. ``{"kid": {"subsets": 20}}``). Returns value key -> float64 [b] replicates (std keys
    left out).
    """
    from gan_eval.metrics.registry import get_metric

    specs = [get_metric(m) for m in metrics]
    feats_all = np.asarray(
        fake_features.detach().cpu() if isinstance(fake_features, torch.Tensor) else fake_features
    )
    logits_all = None
    if fake_logits is not None:
        logits_all = np.asarray(
            fake_logits.detach().cpu() if isinstance(fake_logits, torch.Tensor) else fake_logits
        )
    n = feats_all.shape[0]
    real_stats = None
    if real_mu is not None and real_sigma is not None:
        real_stats = Moments(np.asarray(real_mu), np.asarray(real_sigma), None)
    real = MetricInputs(stats=real_stats, features=real_features)
    stds = set(STD_OF.values())
    draws: dict[str, list[float]] = {}
    if progress is not None:
        progress(0, n_resamples)
    for i, idx in enumerate(resample_indices(n, n_resamples, seed)):
        feats = feats_all[idx]
        st = FeatureStats(feats.shape[1]).update(feats)
        fake = MetricInputs(
            stats=Moments(st.mean(), st.cov(), n),
            features=feats,
            logits=None if logits_all is None else logits_all[idx],
        )
        for spec in specs:
            opts = (metric_options or {}).get(spec.name, {})
            for k, v in spec.compute(real if spec.needs_real else None, fake, **opts).items():
                if k in spec.keys and k not in stds:
                    draws.setdefault(k, []).append(float(v))
        if progress is not None:
            progress(i + 1, n_resamples)
    return {k: np.asarray(v) for k, v in draws.items()}
