"""Memorization / training-set copying: authenticity (AuthPct), the C_T data-copying test and near-copies.

Every generated sample is compared with its nearest training rows (exact k-NN, ``gan_eval.metrics.knn``),
and the same distances from held-out real rows (e.g. mnist:test) to the training set serve as the baseline
of "new but realistic". Rows are either pixels (``uint8 [N, C*H*W]``: distances are computed exactly in
integers and reported in [0, 1] pixel units, i.e. divided by 255) or an extractor's features (float [N, D]).

**AuthPct** (Alaa et al., ICML 2022, "How faithful is your synthetic data?", as computed in
layer6ai-labs/dgm-eval ``compute_authpct``): generated sample g with nearest training row t (distance d1;
ties go to the lower training index, as ``torch.min``) is *authentic* when ``d_train(t) < d1``, strictly,
where ``d_train(t)`` is the distance from t to its nearest *other* training row (exact duplicates in the
training set count, at distance 0). AuthPct = 100 x the authentic fraction. A verbatim copy (d1 = 0) is
never authentic; higher is better.

**C_T** (Meehan, Chaudhuri & Dasgupta, AISTATS 2020, reference code casey-meehan/data-copying
``C_T``/``Zu``): the training set is partitioned into ``n_cells`` cells by k-means; the test and generated
rows fall into the cell of their nearest centroid. In each cell pi, the distances of the generated rows
(L(Q_m)) and of the test rows (L(P_n)) to their nearest training row *of that cell* are compared with the
Mann-Whitney U statistic of L(Q_m) against L(P_n) (``scipy.stats.mannwhitneyu`` convention: pairs with
L_Q > L_P count 1, ties 1/2), z-scored as in the reference code::

    Z_pi = (U - (n m / 2 - 0.5)) / sqrt(n m (n + m + 1) / 12)      (n test, m generated rows in the cell)

C_T is the average of Z_pi over the cells that hold *more than* ``tau`` generated rows (the reference's
``Q_m(pi) > tau / m`` with ``tau = 20``), weighted by the share of test rows in each cell. Strongly negative
(below about -3) = generated rows sit closer to the training rows than fresh real data do: copying; about 0
= as close as new real data; positive = farther (underfitting). Cells without test rows have weight 0 and
are skipped (the reference raises instead). Defaults follow the paper's MNIST experiments: 50 cells, tau =
20; the k-means is fitted on up to ``kmeans_sample`` = 20,000 seeded training rows (the paper fits all of
them; any partition fixed by the training set is valid for the test) and every row is then assigned exactly.
dgm-eval's ``compute_CTscore`` instead uses 3 cells after a 64-component PCA.

**Near-copies**: a generated row is a near-copy when ``d1 / mean(d2, ..., dk) < 1/3`` (d_i its distance to
the i-th nearest training row; a row at distance 0 always counts). This is the ratio test in the style of
Carlini et al. (USENIX Security 2023, "Extracting training data from diffusion models"), whose distance
divides d1 by alpha = 0.5 times the mean distance to the n = 50 nearest training rows; the 1/3 threshold on
d1 / d2 is the rule of Yoon et al. (2023) and Gu et al. (2023) that cite it. Here k = 50 (Carlini's n) and
the threshold 1/3 by default; ``ratio_k=2`` gives the d1 / d2 rule.

The parts that depend only on the training (and test) set, in particular the train-to-train 1-NN distances
(M^2 D multiply-adds: 60,000 MNIST digits 31-49 s in pixel space, 22-28 s as 128-d features, 1 thread), the
k-means cells and the test-to-train distances, are computed once by ``training_reference`` (a frozen
dataclass with ``to_state``/``from_state`` for caching); ``memorization_details`` then costs one k-NN pass
of the generated rows against the training set.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.ct_statistic import (  # noqa: F401 - CTResult and mann_whitney_u re-exported
    DEFAULT_TAU,
    CTResult,
    ct_statistic,
    mann_whitney_u,
)
from gan_eval.metrics.kmeans import kmeans
from gan_eval.metrics.knn import nearest_neighbours
from gan_eval.stats.feature_stats import as_feature_tensor

# -- result keys --------------------------------------------------------------------------------------------
AUTH_PCT = "auth_pct"  # value, percent in [0, 100], higher is better
COPYING_CT = "copying_ct"  # value, z-score: ~0 fine, < -3 copying, > 0 underfitting (no monotone direction)
NEAR_COPIES = "near_copies"  # value, count of generated rows, lower is better
NEAR_COPY_FRAC = "near_copy_frac"  # value, fraction in [0, 1], lower is better
# diagnostics
CT_CELLS = "copying_ct_cells"  # number of k-means cells
CT_CELLS_USED = "copying_ct_cells_used"  # cells with more than tau generated rows (those averaged)
GEN_NN_MEDIAN = "mem_gen_nn_median"  # median distance generated -> nearest training row
TEST_NN_MEDIAN = "mem_test_nn_median"  # median distance held-out -> nearest training row
RATIO_K = "near_copy_k"  # the k of the ratio test

HIGHER_IS_BETTER: dict[str, bool | None] = {
    AUTH_PCT: True,
    COPYING_CT: None,  # two-sided: ~0 is right; gate copying with a lower bound (e.g. C_T > -3)
    NEAR_COPIES: False,
    NEAR_COPY_FRAC: False,
}
"""Direction of each value key (the other keys are diagnostics)."""

DEFAULT_CELLS = 50
DEFAULT_RATIO_K = 50
DEFAULT_RATIO_THRESHOLD = 1.0 / 3.0
KMEANS_SAMPLE = 20000


def as_rows(x: Any, name: str) -> torch.Tensor:
    """``x`` as a 2-D tensor of rows: uint8 images [N, H, W] or [N, C, H, W] become pixel rows uint8
    [N, C*H*W] (kept uint8: the exact integer distance path); float [N, D] features pass through
    ``as_feature_tensor``."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    if isinstance(t, torch.Tensor) and t.dtype == torch.uint8:
        if t.ndim < 2:
            raise UserError(f"{name}: expected images [N, H, W] or rows [N, D], got shape {tuple(t.shape)}")
        return t.reshape(t.shape[0], -1)
    return as_feature_tensor(x, name)


def _unit(rows: torch.Tensor) -> float:
    """Factor from the k-NN distances of ``rows`` to reported distances (1/255 for uint8 pixels)."""
    return 1.0 / 255.0 if rows.dtype == torch.uint8 else 1.0


def _digest(rows: torch.Tensor) -> str:
    """A cheap fingerprint of a row set (shape, kind, 256 sampled rows), to catch a reference built from
    different training rows."""
    step = max(1, rows.shape[0] // 256)
    sample = rows[::step].to(torch.float64).cpu().numpy()
    h = hashlib.sha256(f"{tuple(rows.shape)}:{rows.dtype == torch.uint8}".encode())
    h.update(np.ascontiguousarray(sample).tobytes())
    return h.hexdigest()[:16]


def train_nn_distances(train: Any, *, block_rows: int | None = None) -> np.ndarray:
    """float64 [M]: the distance from each training row to its nearest *other* training row (an exact
    duplicate elsewhere in the set counts, at 0). Pixel rows (uint8) in [0, 1] units.

    Depends only on the training set (cache it with the real-set statistics). Cost: M^2 D multiply-adds,
    memory O(16M + M D): 60,000 MNIST digits take 31-49 s in pixel space (int8 GEMM), 22-28 s as 128-d
    float features (one thread of a shared Xeon, load 4-6; benchmarks/bench_new_metrics.py)."""
    rows = as_rows(train, "training rows")
    if rows.shape[0] < 2:
        raise UserError(
            f"training rows: need at least 2 rows for nearest-neighbour distances, got {rows.shape[0]}"
        )
    nb = nearest_neighbours(rows, rows, 1, exclude_self=True, block_rows=block_rows)
    return nb.distances[:, 0] * _unit(rows)


@dataclass(frozen=True, eq=False)
class TrainingReference:
    """What the memorization metrics need from the training and held-out sets alone (cacheable).

    ``train_nn_dist`` float64 [M] (``train_nn_distances``); ``centroids`` float64 [C, D] k-means cells of
    the training rows (in input units: raw 0..255 values for pixels); ``train_cells`` int64 [M];
    ``test_nn_dist`` float64 [P] held-out row -> nearest training row; ``test_cells`` int64 [P];
    ``test_cell_nn_dist`` float64 [P] held-out row -> nearest training row of its own cell. Distances in
    reported units (pixels / 255). ``digest``: fingerprint of the training rows; ``pixel``: built from uint8
    rows; ``seed``: of the k-means.
    """

    train_nn_dist: np.ndarray
    centroids: np.ndarray
    train_cells: np.ndarray
    test_nn_dist: np.ndarray
    test_cells: np.ndarray
    test_cell_nn_dist: np.ndarray
    digest: str
    pixel: bool
    seed: int

    @property
    def n_cells(self) -> int:
        return int(self.centroids.shape[0])

    def to_state(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (for an ``.npz`` cache entry); ``from_state`` rebuilds the reference."""
        return {
            "train_nn_dist": self.train_nn_dist,
            "centroids": self.centroids,
            "train_cells": self.train_cells,
            "test_nn_dist": self.test_nn_dist,
            "test_cells": self.test_cells,
            "test_cell_nn_dist": self.test_cell_nn_dist,
            "digest": np.asarray(self.digest),
            "pixel": np.asarray(self.pixel),
            "seed": np.asarray(self.seed, dtype=np.int64),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TrainingReference:
        a = {k: np.asarray(v) for k, v in state.items()}
        return cls(
            a["train_nn_dist"].astype(np.float64),
            a["centroids"].astype(np.float64),
            a["train_cells"].astype(np.int64),
            a["test_nn_dist"].astype(np.float64),
            a["test_cells"].astype(np.int64),
            a["test_cell_nn_dist"].astype(np.float64),
            str(a["digest"][()]),
            bool(a["pixel"]),
            int(a["seed"]),
        )


def _assign_cells(rows: torch.Tensor, centroids: np.ndarray) -> np.ndarray:
    """int64 [N]: index of the nearest centroid (exact; ties to the lower index)."""
    # pixels as float32 (exact for uint8): the k-NN recomputes the candidates in float64 from these values
    q = rows.to(torch.float32) if rows.dtype == torch.uint8 else rows
    return nearest_neighbours(q, torch.from_numpy(centroids), 1).indices[:, 0]


def _cell_nn(
    rows: torch.Tensor, cells: np.ndarray, train: torch.Tensor, train_cells: np.ndarray, n_cells: int
) -> np.ndarray:
    """float64 [N] distance of each row to the nearest training row of its own cell (input units)."""
    out = np.full(rows.shape[0], np.inf)
    for c in range(n_cells):
        sel = np.flatnonzero(cells == c)
        tsel = np.flatnonzero(train_cells == c)
        if sel.size == 0 or tsel.size == 0:
            continue
        nb = nearest_neighbours(rows[torch.from_numpy(sel)], train[torch.from_numpy(tsel)], 1)
        out[sel] = nb.distances[:, 0]
    return out


def training_reference(
    train: Any,
    test: Any,
    *,
    n_cells: int = DEFAULT_CELLS,
    seed: int = 0,
    kmeans_sample: int = KMEANS_SAMPLE,
    train_nn: np.ndarray | None = None,
) -> TrainingReference:
    """Build the ``TrainingReference`` of training rows ``train`` [M, D] and held-out rows ``test`` [P, D]
    (uint8 images/pixel rows, or float features; both of one kind).

    ``n_cells``: k-means cells for C_T; ``seed``: of the k-means (and its row sample); ``kmeans_sample``:
    training rows the k-means is fitted on (all rows are then assigned to the nearest centroid);
    ``train_nn``: precomputed ``train_nn_distances(train)`` (it is the expensive part).
    """
    t_rows = as_rows(train, "training rows")
    p_rows = as_rows(test, "held-out rows")
    if (t_rows.dtype == torch.uint8) != (p_rows.dtype == torch.uint8) or t_rows.shape[1] != p_rows.shape[1]:
        raise UserError(
            f"held-out rows must be of the training rows' kind and dimension: got {p_rows.dtype} "
            f"[{p_rows.shape[1]}] vs {t_rows.dtype} [{t_rows.shape[1]}]"
        )
    m = t_rows.shape[0]
    if m < max(2, n_cells):
        raise UserError(f"training rows: {m} rows are too few for {n_cells} cells")
    if p_rows.shape[0] < 1:
        raise UserError("held-out rows: need at least one row")
    unit = _unit(t_rows)
    if train_nn is None:
        train_nn = train_nn_distances(t_rows)
    train_nn = np.asarray(train_nn, dtype=np.float64)
    if train_nn.shape != (m,):
        raise UserError(f"train_nn: expected shape ({m},), got {train_nn.shape}")
    rng = np.random.default_rng(seed)
    fit_rows = t_rows
    if m > kmeans_sample:
        fit_rows = t_rows[torch.from_numpy(np.sort(rng.choice(m, kmeans_sample, replace=False)))]
    km = kmeans(fit_rows, n_cells, seed=seed, max_iter=100)
    centroids = km.centroids
    train_cells = _assign_cells(t_rows, centroids)
    test_cells = _assign_cells(p_rows, centroids)
    test_nn = nearest_neighbours(p_rows, t_rows, 1).distances[:, 0] * unit
    test_cell_nn = _cell_nn(p_rows, test_cells, t_rows, train_cells, n_cells) * unit
    return TrainingReference(
        train_nn,
        centroids,
        train_cells,
        test_nn,
        test_cells,
        test_cell_nn,
        _digest(t_rows),
        t_rows.dtype == torch.uint8,
        seed,
    )


@dataclass(frozen=True, eq=False)
class MemorizationDetails:
    """Headline values and the arrays behind them (for the report).

    ``values``: the dict ``memorization`` returns. Per generated row (float64/int64/bool [N]):
    ``gen_nn_dist`` distance to the nearest training row, ``gen_nn_index`` its index, ``authentic``,
    ``copy_ratio`` d1 / mean(d2..dk), ``near_copy``, ``gen_cells``, ``gen_cell_nn_dist``. ``test_nn_dist``
    float64 [P] the held-out baseline (for the two histograms). ``ct``: the per-cell C_T breakdown.
    Distances in reported units (pixels / 255).
    """

    values: dict[str, float]
    gen_nn_dist: np.ndarray
    gen_nn_index: np.ndarray
    authentic: np.ndarray
    copy_ratio: np.ndarray
    near_copy: np.ndarray
    gen_cells: np.ndarray
    gen_cell_nn_dist: np.ndarray
    test_nn_dist: np.ndarray
    ct: CTResult

    def most_copied(self, count: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """(generated indices int64 [<= count], their nearest training indices int64): the rows with the
        smallest copy ratio first (ties: smaller distance, then lower index)."""
        order = np.lexsort((np.arange(self.copy_ratio.shape[0]), self.gen_nn_dist, self.copy_ratio))[:count]
        return order, self.gen_nn_index[order]


def memorization_details(
    train: Any,
    gen: Any,
    reference: TrainingReference,
    *,
    ratio_k: int = DEFAULT_RATIO_K,
    ratio_threshold: float = DEFAULT_RATIO_THRESHOLD,
    tau: int = DEFAULT_TAU,
) -> MemorizationDetails:
    """AuthPct, C_T and near-copies of generated rows ``gen`` [N, D] against ``train`` [M, D] (the rows the
    ``reference`` was built from; same kind: uint8 pixels or float features). See the module docstring.

    ``ratio_k``, ``ratio_threshold``: the near-copy rule ``d1 / mean(d2..d_k) < threshold``; ``tau``: C_T's
    minimum generated rows per cell (a cell needs more than ``tau``).
    Values (``.values``): ``auth_pct`` (percent, higher is better), ``copying_ct`` (about 0 is fine, below
    -3 flags copying), ``near_copies`` (count, lower is better), ``near_copy_frac`` (lower is better);
    diagnostics ``copying_ct_cells``, ``copying_ct_cells_used``, ``mem_gen_nn_median``,
    ``mem_test_nn_median``, ``near_copy_k``.
    """
    t_rows = as_rows(train, "training rows")
    g_rows = as_rows(gen, "generated rows")
    if (t_rows.dtype == torch.uint8) != (g_rows.dtype == torch.uint8) or t_rows.shape[1] != g_rows.shape[1]:
        raise UserError(
            f"generated rows must be of the training rows' kind and dimension: got {g_rows.dtype} "
            f"[{g_rows.shape[1]}] vs {t_rows.dtype} [{t_rows.shape[1]}] (pixels need uint8 on both sides)"
        )
    m, n = t_rows.shape[0], g_rows.shape[0]
    if n < 1:
        raise UserError("generated rows: need at least one row")
    if reference.train_nn_dist.shape[0] != m or reference.pixel != (t_rows.dtype == torch.uint8):
        raise UserError(
            f"the memorization reference was built from {reference.train_nn_dist.shape[0]} "
            f"{'pixel' if reference.pixel else 'feature'} rows, not these {m} training rows"
        )
    if reference.digest != _digest(t_rows):
        raise UserError("the memorization reference was built from different training rows (digest mismatch)")
    if not 2 <= ratio_k <= m:
        raise UserError(f"near-copy ratio test: ratio_k must be in [2, {m}], got {ratio_k}")
    unit = _unit(t_rows)

    nb = nearest_neighbours(g_rows, t_rows, ratio_k)
    dist = nb.distances * unit
    d1, idx1 = dist[:, 0], nb.indices[:, 0]
    authentic = reference.train_nn_dist[idx1] < d1
    rest = dist[:, 1:].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d1 == 0, 0.0, d1 / rest)
    near = ratio < ratio_threshold

    gen_cells = _assign_cells(g_rows, reference.centroids)
    gen_cell_nn = _cell_nn(g_rows, gen_cells, t_rows, reference.train_cells, reference.n_cells) * unit
    ct = ct_statistic(
        gen_cell_nn, gen_cells, reference.test_cell_nn_dist, reference.test_cells, reference.n_cells, tau
    )
    if not ct.used.any():
        warnings.warn(
            f"C_T: no cell holds more than tau = {tau} of the {n} generated rows (and a held-out row), "
            f"over {reference.n_cells} cells; C_T is NaN: use more samples or fewer cells",
            stacklevel=2,
        )
    values = {
        AUTH_PCT: float(100.0 * authentic.mean()),
        COPYING_CT: ct.ct,
        NEAR_COPIES: float(near.sum()),
        NEAR_COPY_FRAC: float(near.mean()),
        CT_CELLS: float(reference.n_cells),
        CT_CELLS_USED: float(ct.used.sum()),
        GEN_NN_MEDIAN: float(np.median(d1)),
        TEST_NN_MEDIAN: float(np.median(reference.test_nn_dist)),
        RATIO_K: float(ratio_k),
    }
    return MemorizationDetails(
        values, d1, idx1, authentic, ratio, near, gen_cells, gen_cell_nn, reference.test_nn_dist, ct
    )


def memorization(
    train: Any,
    test: Any,
    gen: Any,
    *,
    reference: TrainingReference | None = None,
    n_cells: int = DEFAULT_CELLS,
    seed: int = 0,
    ratio_k: int = DEFAULT_RATIO_K,
    ratio_threshold: float = DEFAULT_RATIO_THRESHOLD,
    tau: int = DEFAULT_TAU,
) -> dict[str, float]:
    """The memorization values of ``gen`` against ``train`` with held-out baseline ``test`` (all [*, D],
    uint8 pixels or float features); builds the ``TrainingReference`` unless given. See
    ``memorization_details`` for the keys and directions."""
    if reference is None:
        reference = training_reference(train, test, n_cells=n_cells, seed=seed)
    return memorization_details(
        train, gen, reference, ratio_k=ratio_k, ratio_threshold=ratio_threshold, tau=tau
    ).values
