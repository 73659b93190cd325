"""Bootstrap replicates of FID and the Inception Score from features and logits computed once.

A resample is the multinomial count vector ``c`` (float64 [n], sums to n) of its indices into the n generated
samples; every replicate here reads the features / logits of one pass (``gan_eval.metrics.bootstrap``
draws the resamples and calls these):

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

Memory: float64 blocks of at most 32 MiB, the features' float64 copy when it takes at most 64 MiB, one
kernel tile: peak RSS +86 MiB at 10,000 x 128 features, +190 MiB at 50,000 x 128, +310 MiB at
10,000 x 2048 (benchmarks/bench_compare.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.keys import FID
from gan_eval.stats.feature_stats import as_feature_tensor

ROW_BLOCK = 4096
"""Rows per float64 block of the resample means and weighted covariances; fewer for wide features (a block
holds at most ``BLOCK_BYTES``)."""
BLOCK_BYTES = 32 << 20
"""Size of one float64 block of features, and of one group of [D, D] covariances in the FID step."""
WHOLE_MAX_BYTES = 64 << 20
"""FID: a centred float64 copy of the features is kept whole up to this size, else converted per block."""
SOFTMAX_WHOLE_MAX_BYTES = 32 << 20
"""IS: the softmax of all logits kept whole up to this size, else recomputed per row block and split."""
GATHER_MIN_DIM = 512
"""From this feature dimension on, the weighted covariance gathers the drawn rows (fewer multiply-adds);
below it, multiplying every row by its count (zeros included) is faster than gathering."""
IS_SPLITS = 10  # inception_score's defaults, which the registry uses
IS_SHUFFLE_SEED = 2020


def _rows(a: Any) -> int:
    return 0 if a is None else int(a.shape[0])


def _rows_per_block(width: int) -> int:
    """Rows of a float64 block of ``width`` columns: ``ROW_BLOCK``, fewer when that exceeds BLOCK_BYTES."""
    return max(1, min(ROW_BLOCK, BLOCK_BYTES // (8 * width)))


def counts(idx: np.ndarray, n: int) -> torch.Tensor:
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
    c = counts(idx, n)
    b = idx.shape[0]
    mus = torch.zeros(b, d, dtype=torch.float64)
    step = _rows_per_block(d)
    for i0 in range(0, n, step):  # all resamples' means: one float64 matmul per row block
        mus += c[:, i0 : i0 + step] @ x[i0 : i0 + step].to(torch.float64)
    mus /= n
    s1 = torch.from_numpy(sigma1)
    factor = _cholesky((s1 + s1.T) * 0.5)
    centred = _Centred(x)
    group = max(1, BLOCK_BYTES // (8 * d * d))  # covariances per batched FID step
    out = np.empty(b)
    for g0 in range(0, b, group):
        covs = []
        for k in range(g0, min(g0 + group, b)):
            covs.append(centred.cov(c[k], mus[k]))
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
        w = counts(order[:, lo:hi], n)  # [b, n]
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
