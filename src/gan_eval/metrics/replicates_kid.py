"""Bootstrap replicates of KID from kernel tiles computed once (see ``gan_eval.metrics.bootstrap``).

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

"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_eval.metrics.keys import KID_MEAN, KID_SUBSET_SIZE, KID_SUBSETS
from gan_eval.metrics.replicates import WHOLE_MAX_BYTES, counts
from gan_eval.stats.feature_stats import as_feature_tensor

TILE = 2048
"""Rows and columns of one float64 kernel tile (2048 x 2048 = 32 MiB)."""
KID_DEGREE, KID_COEF0 = 3, 1.0  # kid's defaults (gamma: 1 / D)


# ----------------------------------------------------------------------------------------------------- kid
@dataclass(frozen=True)
class KidPoint:
    """The reported KID: the mean of ``subsets`` unbiased MMD^2 values on subsets of ``subset_size``."""

    mean: float
    subsets: int
    subset_size: int


def kid_point(reported: Mapping[str, float] | None, real: Any, fake: torch.Tensor) -> KidPoint:
    rep = dict(reported or {})
    if not {KID_MEAN, KID_SUBSETS, KID_SUBSET_SIZE} <= rep.keys():
        from gan_eval.metrics.kid import kid

        rep = kid(real, fake)
    return KidPoint(float(rep[KID_MEAN]), int(rep[KID_SUBSETS]), int(rep[KID_SUBSET_SIZE]))


def kid_tiles(n: int, m: int) -> int:
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
    d = counts(idx, n) - 1.0  # float64 [b, n]
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
