"""Inception Score (Salimans et al. 2016), exactly as torch-fidelity 0.4.0 computes it (``metric_isc.py``).

    IS = exp(E_x KL(p(y|x) || p(y)))   per split; reported as mean and std (ddof=0) over the splits.

Like torch-fidelity (``samples_shuffle=True``, ``rng_seed=2020`` by default), the samples are first
permuted with ``numpy.random.RandomState(seed).permutation(N)``; split ``i`` is rows
``[i*N//splits, (i+1)*N//splits)`` of the permuted logits. Softmax in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.keys import IS_MEAN, IS_STD
from gan_eval.stats.feature_stats import as_feature_tensor


def inception_score(
    logits: Any, splits: int = 10, *, shuffle: bool = True, seed: int = 2020
) -> dict[str, float]:
    """Inception Score of classifier ``logits`` float [N, K] (torch or numpy; unnormalised log-probabilities).

    ``splits``: number of consecutive chunks (after the seeded shuffle when ``shuffle``); needs N >= splits.
    Returns ``{"is_mean": float, "is_std": float}`` (higher is better; at most K).
    """
    x = as_feature_tensor(logits, "logits")
    n = x.shape[0]
    if splits < 1:
        raise UserError(f"the Inception Score needs splits >= 1, got {splits}")
    if n < splits:
        raise UserError(f"the Inception Score with {splits} splits needs at least {splits} samples, got {n}")
    if shuffle:
        perm = np.random.RandomState(seed).permutation(n)
        x = x[torch.from_numpy(perm).to(x.device)]
    x = x.to(torch.float64)
    p = x.softmax(dim=1)
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_chunk, log_p_chunk = p[lo:hi], log_p[lo:hi]
        q_chunk = p_chunk.mean(dim=0, keepdim=True)
        kl = (p_chunk * (log_p_chunk - q_chunk.log())).sum(dim=1).mean()
        scores.append(kl.exp().item())
    return {IS_MEAN: float(np.mean(scores)), IS_STD: float(np.std(scores))}
