"""Sample-size-free FID and IS: FID_inf and IS_inf (Chong & Forsyth, "Effectively unbiased FID and Inception
Score and where to find them", CVPR 2020; reference code mchong6/FID_IS_infinity ``calculate_FID_infinity``,
``calculate_IS_infinity``).

FID computed from N generated samples is biased upward by roughly ``c / N``, with ``c`` depending on the
model, so two models compared at one N can swap ranks. As in the reference: compute FID_N (and IS_N) on
random subsets of the generated features at ``num_points`` = 15 sizes N (each subset a fresh shuffle of all
samples, drawn without replacement), fit ``value = intercept + slope / N`` by ordinary least squares, and
report the intercept, the value at N = infinity. The real side keeps all its samples (its mean and
covariance are given).

N grid: the reference uses ``linspace(5000, num_im, 15)`` for num_im = 50,000 generated images; here
``linspace(lo, N_total, num_points)`` (cast to int, duplicates dropped) with ``lo = min(5000, N_total // 2)``,
which is the reference's grid whenever N_total >= 10,000 and keeps the top/bottom ratio at >= 2 below that.
The smaller the range of 1/N, the longer the extrapolation: the fit's residuals are reported (RMS, in the
metric's units, and R^2) with the slope, and a warning is given when subsets are not larger than the
feature dimension (the covariance is then singular and FID_N is not linear in 1/N).

Randomness: ``numpy.random.RandomState(seed)``, one ``permutation`` per grid point, in grid order.
IS_N uses one split (the reference's ``calculate_inception_score(..., num_splits=1)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from gan_eval.errors import UserError
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.inception_score import inception_score
from gan_eval.stats.feature_stats import FeatureStats, as_feature_tensor

# -- result keys --------------------------------------------------------------------------------------------
FID_INF = "fid_inf"  # value, lower is better
IS_INF = "is_inf"  # value, higher is better
# diagnostics (suffixes of the value key)
SLOPE = "_slope"  # the fitted c in value = intercept + c / N
RMSE = "_fit_rmse"  # root mean square of the fit's residuals (metric units)
R2 = "_fit_r2"  # coefficient of determination of the fit
N_MIN, N_MAX = "_n_min", "_n_max"  # the grid's smallest and largest N

HIGHER_IS_BETTER: dict[str, bool | None] = {FID_INF: False, IS_INF: True}
"""Direction of each value key (the suffixed keys are diagnostics)."""

DEFAULT_POINTS = 15
DEFAULT_N_LOW = 5000


def sample_size_grid(
    n_total: int, num_points: int = DEFAULT_POINTS, n_low: int = DEFAULT_N_LOW
) -> np.ndarray:
    """int64 [<= num_points] ascending subset sizes: ``linspace(min(n_low, n_total // 2), n_total,
    num_points)`` cast to int, duplicates removed. Raises UserError when fewer than 3 distinct sizes result
    (too few samples)."""
    if num_points < 3:
        raise UserError(f"the 1/N extrapolation needs num_points >= 3, got {num_points}")
    lo = min(n_low, n_total // 2)
    grid = np.unique(np.linspace(lo, n_total, num_points).astype(np.int64))
    if lo < 2 or grid.size < 3:
        raise UserError(f"the 1/N extrapolation needs at least 4 samples, got {n_total}")
    return grid


@dataclass(frozen=True, eq=False)
class ExtrapolationFit:
    """The points and the least-squares line ``value = intercept + slope / n``.

    ``n`` int64 [P] subset sizes; ``values`` float64 [P] the metric on each subset; ``intercept`` (the
    value at N = infinity), ``slope``, ``rmse`` (root mean square residual, metric units), ``r2``.
    """

    n: np.ndarray
    values: np.ndarray
    intercept: float
    slope: float
    rmse: float
    r2: float

    def predict(self, n: Any) -> np.ndarray:
        """The fitted line at subset sizes ``n`` (float64; ``np.inf`` gives the intercept)."""
        return self.intercept + self.slope / np.asarray(n, dtype=np.float64)

    def as_dict(self, key: str) -> dict[str, float]:
        """``{key: intercept, key_slope, key_fit_rmse, key_fit_r2, key_n_min, key_n_max}``."""
        return {
            key: self.intercept,
            key + SLOPE: self.slope,
            key + RMSE: self.rmse,
            key + R2: self.r2,
            key + N_MIN: float(self.n[0]),
            key + N_MAX: float(self.n[-1]),
        }


def fit_inverse_n(n: np.ndarray, values: np.ndarray) -> ExtrapolationFit:
    """Ordinary least squares of ``values`` float [P] on ``1 / n`` (with intercept), in float64."""
    n = np.asarray(n, dtype=np.int64)
    y = np.asarray(values, dtype=np.float64)
    x = 1.0 / n.astype(np.float64)
    design = np.stack([np.ones_like(x), x], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - (intercept + slope * x)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float((resid**2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return ExtrapolationFit(n, y, float(intercept), float(slope), float(np.sqrt(ss_res / y.size)), r2)


def fid_infinity_details(
    real_mu: Any,
    real_sigma: Any,
    fake_features: Any,
    *,
    real_n: int | None = None,
    num_points: int = DEFAULT_POINTS,
    n_low: int = DEFAULT_N_LOW,
    seed: int = 0,
) -> ExtrapolationFit:
    """FID_N on ``num_points`` random subsets of ``fake_features`` float [N, D] against the real
    ``real_mu`` float [D] / ``real_sigma`` float [D, D] (from ``real_n`` samples, if known), and its
    1/N fit. See the module docstring."""
    fake = as_feature_tensor(fake_features, "fake features")
    d = fake.shape[1]
    if np.asarray(real_mu).shape != (d,):
        raise UserError(f"real statistics: expected a mean of dimension {d}, got shape {np.shape(real_mu)}")
    grid = sample_size_grid(fake.shape[0], num_points, n_low)
    if grid[0] <= d:
        warnings.warn(
            f"FID_inf: the smallest subset ({grid[0]} samples) is not larger than the feature dimension {d}; "
            "its covariance is singular and FID_N is far from linear in 1/N: use more samples",
            stacklevel=2,
        )
    rs = np.random.RandomState(seed)
    values = []
    for n in grid:
        sub = fake[rs.permutation(fake.shape[0])[:n]]
        stats = FeatureStats(d).update(sub)
        with warnings.catch_warnings():  # the n < D case was warned about once above
            warnings.simplefilter("ignore")
            fid = fid_from_stats(real_mu, real_sigma, stats.mean(), stats.cov(), n1=real_n, n2=int(n))
        values.append(fid["fid"])
    return fit_inverse_n(grid, np.asarray(values))


def fid_infinity(
    real_mu: Any,
    real_sigma: Any,
    fake_features: Any,
    *,
    real_n: int | None = None,
    num_points: int = DEFAULT_POINTS,
    n_low: int = DEFAULT_N_LOW,
    seed: int = 0,
) -> dict[str, float]:
    """``{"fid_inf": value (lower is better)}`` plus diagnostics ``fid_inf_slope``, ``fid_inf_fit_rmse``,
    ``fid_inf_fit_r2``, ``fid_inf_n_min``, ``fid_inf_n_max``; arguments as ``fid_infinity_details``."""
    fit = fid_infinity_details(
        real_mu, real_sigma, fake_features, real_n=real_n, num_points=num_points, n_low=n_low, seed=seed
    )
    return fit.as_dict(FID_INF)


def is_infinity_details(
    fake_logits: Any, *, num_points: int = DEFAULT_POINTS, n_low: int = DEFAULT_N_LOW, seed: int = 0
) -> ExtrapolationFit:
    """IS_N (one split) on ``num_points`` random subsets of classifier ``fake_logits`` float [N, K], and
    its 1/N fit. See the module docstring."""
    logits = as_feature_tensor(fake_logits, "logits")
    grid = sample_size_grid(logits.shape[0], num_points, n_low)
    rs = np.random.RandomState(seed)
    values = [
        inception_score(logits[rs.permutation(logits.shape[0])[:n]], splits=1, shuffle=False)["is_mean"]
        for n in grid
    ]
    return fit_inverse_n(grid, np.asarray(values))


def is_infinity(
    fake_logits: Any, *, num_points: int = DEFAULT_POINTS, n_low: int = DEFAULT_N_LOW, seed: int = 0
) -> dict[str, float]:
    """``{"is_inf": value (higher is better)}`` plus diagnostics ``is_inf_slope``, ``is_inf_fit_rmse``,
    ``is_inf_fit_r2``, ``is_inf_n_min``, ``is_inf_n_max``; arguments as ``is_infinity_details``."""
    return is_infinity_details(fake_logits, num_points=num_points, n_low=n_low, seed=seed).as_dict(IS_INF)
