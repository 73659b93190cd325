"""Meehan, Chaudhuri & Dasgupta's C_T data-copying statistic (AISTATS 2020) from per-row distances within
cells: the Mann-Whitney U of generated-to-train against held-out-to-train distances, z-scored per cell and
averaged with the held-out share of each cell as weight (see :mod:`gan_eval.metrics.memorization`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_TAU = 20
"""A cell is averaged when it holds more than this many generated rows (the reference code's tau)."""


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> float:
    """The Mann-Whitney U statistic of sample ``x`` against ``y`` (float [m], [n]): the number of pairs with
    x > y plus half the ties, from average ranks (``scipy.stats.mannwhitneyu(x, y).statistic``)."""
    from scipy.stats import rankdata  # scipy.stats takes ~1 s to import: only when used

    ranks = rankdata(np.concatenate([x, y]))
    m = x.shape[0]
    return float(ranks[:m].sum() - m * (m + 1) / 2.0)


@dataclass(frozen=True, eq=False)
class CTResult:
    """``ct``: the statistic (nan when no cell qualifies); ``z`` float64 [C] per-cell Z_U (nan for cells
    not averaged); ``weight`` float64 [C] test share of the cells averaged (0 elsewhere); ``used`` bool [C];
    ``gen_counts``, ``test_counts`` int64 [C]."""

    ct: float
    z: np.ndarray
    weight: np.ndarray
    used: np.ndarray
    gen_counts: np.ndarray
    test_counts: np.ndarray


def ct_statistic(
    gen_dist: np.ndarray,
    gen_cells: np.ndarray,
    test_dist: np.ndarray,
    test_cells: np.ndarray,
    n_cells: int,
    tau: int = DEFAULT_TAU,
) -> CTResult:
    """Meehan et al.'s C_T from per-row nearest-training-row distances within cells.

    ``gen_dist`` float [m] / ``gen_cells`` int [m]: generated rows; ``test_dist`` float [n] /
    ``test_cells`` int [n]: held-out rows; cells in [0, n_cells). A cell is averaged when it holds more than
    ``tau`` generated rows and at least one test row. See the module docstring for the formula.
    """
    gen_dist, test_dist = np.asarray(gen_dist, np.float64), np.asarray(test_dist, np.float64)
    gen_cells, test_cells = np.asarray(gen_cells, np.int64), np.asarray(test_cells, np.int64)
    gen_counts = np.bincount(gen_cells, minlength=n_cells)
    test_counts = np.bincount(test_cells, minlength=n_cells)
    used = (gen_counts > tau) & (test_counts > 0)
    z = np.full(n_cells, np.nan)
    for c in np.flatnonzero(used):
        lq, lp = gen_dist[gen_cells == c], test_dist[test_cells == c]
        m, n = lq.shape[0], lp.shape[0]
        u = mann_whitney_u(lq, lp)
        z[c] = (u - (n * m / 2.0 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12.0)
    weight = np.where(used, test_counts / max(1, test_dist.shape[0]), 0.0)
    ct = float(np.dot(weight[used], z[used]) / weight[used].sum()) if used.any() else float("nan")
    return CTResult(ct, z, weight, used, gen_counts, test_counts)
