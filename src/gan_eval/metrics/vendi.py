"""The Vendi score (Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning",
TMLR 2023): a reference-free "effective number of distinct samples".

With the cosine kernel, K = X X^T / N for the row-normalised features X [N, D] (float64); the Vendi score
is the exponential of the Shannon entropy of K's eigenvalues (which sum to 1)::

    VS = exp(-sum_i lambda_i log lambda_i)          (order q = 1; zero eigenvalues contribute 0)

and, for order q != 1, exp of the Renyi entropy ``log(sum lambda_i^q) / (1 - q)`` (q = inf:
``-log max lambda``). X X^T / N and X^T X / N share their non-zero eigenvalues, so the score is computed
from the D x D matrix (``vendi_score.vendi.score_dual``): no N x N matrix is built, whatever N. It lies in
[1, min(N, D)]: 1 for N identical samples, N for N mutually orthogonal ones. Higher = more diverse.

Rows of zero norm have no direction (the cosine similarity is undefined): they raise UserError (vendi-score
silently keeps them as zero rows, which leaves the eigenvalues summing to less than 1). As in vendi-score,
only positive eigenvalues enter the entropy (rounding leaves the zero ones of a rank-deficient matrix at
about +-1e-17, which contribute nothing measurable).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.stats.feature_stats import as_feature_tensor

# -- result keys --------------------------------------------------------------------------------------------
VENDI = "vendi"  # value, generated set, in [1, min(N, D)], higher is better
VENDI_REAL = "vendi_real"  # value of the real set (the same function on the real features), for comparison

HIGHER_IS_BETTER: dict[str, bool | None] = {VENDI: True, VENDI_REAL: True}
"""Direction of each value key (more diverse is better; the real set's value is the reference level)."""

ROW_CHUNK = 16384


def vendi_eigenvalues(features: Any) -> np.ndarray:
    """float64 [D] eigenvalues (ascending) of X^T X / N for the row-normalised
    ``features`` float [N, D]; the non-zero ones equal those of the N x N cosine similarity matrix / N."""
    x = as_feature_tensor(features, "features")
    n, d = x.shape
    if n < 1:
        raise UserError("the Vendi score needs at least one sample")
    gram = torch.zeros(d, d, dtype=torch.float64, device=x.device)
    zero_rows = 0
    for i0 in range(0, n, ROW_CHUNK):  # float64 chunks: peak memory O(chunk x D), not O(N x D) in float64
        xb = x[i0 : i0 + ROW_CHUNK].to(torch.float64)
        norms = xb.norm(dim=1)
        zero_rows += int((norms == 0).sum())
        xb = xb / norms.clamp(min=torch.finfo(torch.float64).tiny)[:, None]
        gram += xb.T @ xb
    if zero_rows:
        raise UserError(
            f"features: {zero_rows} of {n} rows have zero norm; the cosine similarity (Vendi score) is "
            "undefined for them"
        )
    return torch.linalg.eigvalsh(gram / n).cpu().numpy()


def entropy_from_eigenvalues(w: np.ndarray, q: float = 1.0) -> float:
    """Order-q entropy (nats) of eigenvalues ``w`` float [D] summing to 1: Shannon for q = 1, Renyi
    otherwise, ``-log max w`` for q = inf. Non-positive values are ignored."""
    p = w[w > 0]
    if q == 1:
        return float(-(p * np.log(p)).sum())
    if np.isinf(q):
        return float(-np.log(p.max()))
    if q < 0:
        raise UserError(f"the Vendi score order q must be >= 0, got {q}")
    return float(np.log((p**q).sum()) / (1 - q))


def vendi_score(features: Any, q: float = 1.0) -> float:
    """The Vendi score of ``features`` float [N, D] (torch or numpy) with the cosine kernel: a float in
    [1, min(N, D)], higher is more diverse. ``q``: the entropy order (1 = the paper's score)."""
    return float(np.exp(entropy_from_eigenvalues(vendi_eigenvalues(features), q)))


def vendi(fake: Any, real: Any | None = None, q: float = 1.0) -> dict[str, float]:
    """``{"vendi": score of the generated features}`` and, when ``real`` float [M, D] is given,
    ``"vendi_real"`` (the same score of the real features): side by side, "effective number of distinct
    samples" of each set. Both higher = more diverse; the real value is the reference level."""
    out = {VENDI: vendi_score(fake, q)}
    if real is not None:
        out[VENDI_REAL] = vendi_score(real, q)
    return out
