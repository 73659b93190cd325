"""Kernel Inception Distance (Binkowski et al. 2018), as torch-fidelity 0.4.0 computes it (``metric_kid.py``).

Unbiased MMD^2 with the polynomial kernel ``k(x, y) = (gamma x.y + coef0)^degree`` (gamma = 1/D by
default), averaged over ``subsets`` random subsets of ``subset_size`` samples of each set; std with ddof=0.

Same random draws as torch-fidelity: ``rng = numpy.random.RandomState(seed)``, and per subset first
``rng.choice(n_fake, size, replace=False)`` then ``rng.choice(n_real, size, replace=False)`` (torch-fidelity's
input 1 is the generated set). Differences, on purpose: the kernels are computed in float64 (torch-fidelity
uses the features' dtype, float32 for its extractors), and ``subset_size`` is clamped to
``min(n_real, n_fake)`` (reported under ``kid_subset_size``, with a warning) where torch-fidelity refuses.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.keys import KID_MEAN, KID_STD, KID_SUBSET_SIZE, KID_SUBSETS
from gan_eval.stats.feature_stats import as_feature_tensor


def polynomial_kernel(
    x: torch.Tensor,
    y: torch.Tensor,
    degree: int,
    gamma: float,
    coef0: float,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(gamma x y^T + coef0) ** degree`` for x [n, D], y [m, D] -> [n, m] (dtype of the inputs), written
    into ``out`` [n, m] when given (a reused buffer: no fresh pages per call)."""
    k = x @ y.T if out is None else torch.matmul(x, y.T, out=out)
    return k.mul_(gamma).add_(coef0).pow_(degree)  # in place: one [n, m] buffer, not four


def mmd2_unbiased(k_xx: torch.Tensor, k_xy: torch.Tensor, k_yy: torch.Tensor) -> float:
    """Unbiased MMD^2 estimate from kernel matrices [m, m] (diagonals of k_xx, k_yy excluded; all of k_xy)."""
    m = k_xx.shape[0]
    kt_xx = k_xx.sum() - k_xx.diagonal().sum()
    kt_yy = k_yy.sum() - k_yy.diagonal().sum()
    return float((kt_xx + kt_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid(
    real: Any,
    fake: Any,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
) -> dict[str, float]:
    """KID between ``real`` float [N, D] and ``fake`` float [M, D] (torch or numpy; computed in float64 on
    the device of ``real``).

    Returns ``{"kid_mean", "kid_std", "kid_subset_size", "kid_subsets"}``; lower is better, and values
    slightly below 0 are valid (the estimator is unbiased). Note torch-fidelity's default seed is 2020.
    """
    x_real = as_feature_tensor(real, "real features")
    x_fake = as_feature_tensor(fake, "fake features", dim=x_real.shape[1])
    device = x_real.device
    x_real = x_real.to(torch.float64)
    x_fake = x_fake.to(device, torch.float64)
    n_real, n_fake = x_real.shape[0], x_fake.shape[0]
    if subsets < 1:
        raise UserError(f"KID needs subsets >= 1, got {subsets}")
    size = min(subset_size, n_real, n_fake)
    if size < 2:
        raise UserError(f"KID needs at least 2 samples in each set, got {n_real} real and {n_fake} fake")
    if size < subset_size:
        warnings.warn(
            f"KID subset size {subset_size} clamped to {size} (real: {n_real}, fake: {n_fake} samples)",
            stacklevel=2,
        )
    g = 1.0 / x_real.shape[1] if gamma is None else float(gamma)

    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    buf = torch.empty(size, size, dtype=torch.float64, device=device)  # one kernel block at a time

    def kernel_sum(a: torch.Tensor, b: torch.Tensor, off_diagonal: bool) -> torch.Tensor:
        k = polynomial_kernel(a, b, degree, g, coef0, out=buf)
        total = k.sum()
        return total - k.diagonal().sum() if off_diagonal else total

    for i in range(subsets):
        idx_fake = torch.from_numpy(rng.choice(n_fake, size, replace=False)).to(device)
        idx_real = torch.from_numpy(rng.choice(n_real, size, replace=False)).to(device)
        f, r = x_fake[idx_fake], x_real[idx_real]
        # mmd2_unbiased's arithmetic, from the three kernel sums
        kt_xx, k_xy, kt_yy = kernel_sum(f, f, True), kernel_sum(f, r, False), kernel_sum(r, r, True)
        mmds[i] = float((kt_xx + kt_yy) / (size * (size - 1)) - 2.0 * k_xy / (size * size))
    return {
        KID_MEAN: float(np.mean(mmds)),
        KID_STD: float(np.std(mmds)),
        KID_SUBSET_SIZE: float(size),
        KID_SUBSETS: float(subsets),
    }
