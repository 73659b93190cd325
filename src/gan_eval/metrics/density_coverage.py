"""Density and coverage (Naeem et al. 2020), with the formulas of the ``prdc`` package.

With ``r_i`` the distance of real sample i to its k-th nearest other real sample (``prdc``:
``kth smallest of the row incl. itself, k+1``) and ``d_ij`` the distance of real i to fake j (strict ``<``
as in prdc)::

    density  = 1 / (k M) * sum_j sum_i [d_ij < r_i]
    coverage = 1 / N     * sum_i [min_j d_ij < r_i]

Computed over ``chunk x chunk`` blocks (a running per-fake count and per-real minimum), never the full
N x M matrix. Distances are ``torch.cdist`` in float64 by default: prdc gets them from
``sklearn.metrics.pairwise_distances``, which upcasts float32 input to float64 (pass ``dtype=torch.float32``
for about 2x the speed on large sets).
"""

from __future__ import annotations

from typing import Any

import torch

from gan_eval.errors import UserError
from gan_eval.metrics.keys import COVERAGE, DENSITY
from gan_eval.metrics.precision_recall import DEFAULT_CHUNK, knn_radii, prepare_pair


def density_coverage(
    real: Any,
    fake: Any,
    k: int = 5,
    chunk: int = DEFAULT_CHUNK,
    *,
    dtype: torch.dtype | None = torch.float64,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Density and coverage of ``fake`` float [M, D] against ``real`` float [N, D] (torch or numpy).

    Returns ``{"density": float >= 0 (about 1 when the distributions match; can exceed 1), "coverage": float
    in [0, 1]}``, higher is better.
    """
    if k < 1 or chunk < 1:
        raise UserError(f"density/coverage needs k >= 1 and chunk >= 1, got k={k}, chunk={chunk}")
    r, f = prepare_pair(real, fake, dtype, device)
    radii = knn_radii(r, k, chunk)
    count = torch.zeros((), dtype=torch.float64, device=r.device)
    nearest_fake = torch.full((r.shape[0],), float("inf"), dtype=r.dtype, device=r.device)
    for i0 in range(0, f.shape[0], chunk):
        q = f[i0 : i0 + chunk]
        for j0 in range(0, r.shape[0], chunk):
            d = torch.cdist(q, r[j0 : j0 + chunk])  # [fake chunk, real chunk]
            count += (d < radii[j0 : j0 + chunk]).sum()
            seg = nearest_fake[j0 : j0 + chunk]
            torch.minimum(seg, d.min(dim=0).values, out=seg)
    density = float(count.item()) / (k * f.shape[0])
    coverage = float((nearest_fake < radii).double().mean().item())
    return {DENSITY: density, COVERAGE: coverage}
