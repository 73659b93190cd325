"""Exact k-NN against scipy's float64 brute force (``cdist``), including ties, duplicates, near-duplicates,
``exclude_self``, both GEMM paths and the exact fallback for rows whose float32 certificate fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from gan_eval.errors import UserError
from gan_eval.metrics import knn
from gan_eval.metrics.knn import nearest_neighbours


def brute(
    query: np.ndarray, ref: np.ndarray, k: int, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """float64 cdist, rows sorted by (distance, index): the definition nearest_neighbours must meet."""
    d = cdist(np.asarray(query, np.float64), np.asarray(ref, np.float64))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    cols = np.broadcast_to(np.arange(d.shape[1]), d.shape)
    order = np.lexsort((cols, d), axis=1)[:, :k]
    return np.take_along_axis(d, order, axis=1), order


def check(query, ref, k, exclude_self=False, exact=False, **kw):
    nb = nearest_neighbours(query, ref, k, exclude_self=exclude_self, **kw)
    d_ref, i_ref = brute(query, ref, k, exclude_self)
    assert nb.distances.dtype == np.float64 and nb.indices.dtype == np.int64
    assert nb.distances.shape == nb.indices.shape == (len(query), k)
    np.testing.assert_array_equal(nb.indices, i_ref)
    if exact:  # integer inputs: both sides take sqrt of the same exact integer
        np.testing.assert_array_equal(nb.distances, d_ref)
    else:  # float64 sums of D squares in different orders: relative error <= 2 D eps
        np.testing.assert_allclose(nb.distances, d_ref, rtol=2 * query.shape[1] * 2.3e-16, atol=0)
    return nb


@pytest.mark.parametrize(
    ("n", "m", "d", "k"), [(100, 300, 8, 1), (257, 1000, 20, 5), (50, 70, 3, 70), (3, 5, 1, 2)]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_brute_force(n, m, d, k, dtype):
    rng = np.random.default_rng(n + m + d)
    q, r = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((m, d)).astype(dtype)
    nb = check(q, r, k)
    assert (np.diff(nb.distances, axis=1) >= 0).all()
    # the forced exact fallback (no spare candidates: every certificate fails) and tiny tiles: bit for bit
    for kw in ({"extra": 0}, {"block_rows": 7}):
        again = nearest_neighbours(q, r, k, **kw)
        np.testing.assert_array_equal(again.distances, nb.distances)
        np.testing.assert_array_equal(again.indices, nb.indices)


def test_duplicates_ties_and_exclude_self():
    rng = np.random.default_rng(1)
    r = rng.standard_normal((500, 16))
    r[20] = r[10]
    r[30] = r[10]  # three identical rows: each is the others' neighbour at distance exactly 0
    nb = check(r, r, 3, exclude_self=True)
    assert nb.indices[10, :2].tolist() == [20, 30] and nb.indices[20, :2].tolist() == [10, 30]
    assert (nb.distances[[10, 20, 30], :2] == 0).all()
    check(r, r, 3, exclude_self=True, extra=0)
    # a query equal to tied reference rows gets the lowest index first
    nb = check(r[[10, 5]], r, 4)
    assert nb.indices[0, :3].tolist() == [10, 20, 30] and nb.indices[1, 0] == 5


def test_uint8_is_exact_on_both_gemm_paths(monkeypatch):
    rng = np.random.default_rng(2)
    q = rng.integers(0, 256, (300, 784), dtype=np.uint8)
    r = rng.integers(0, 256, (900, 784), dtype=np.uint8)
    r[5] = r[7]
    q[3] = r[5]
    q[4] = np.clip(r[9].astype(int) + 1, 0, 255)  # one grey level from a reference row
    nb = check(q, r, 4, exact=True)
    assert nb.distances[3, :2].tolist() == [0.0, 0.0] and nb.indices[3, :2].tolist() == [5, 7]
    check(q, r, 4, exact=True, extra=0)
    check(r[:200], r[:200], 2, exclude_self=True, exact=True)
    monkeypatch.setattr(knn, "int8_gemm_is_exact", lambda: False)  # the float32 path on the same pixels
    check(q, r, 4, exact=True)


def test_near_duplicates_far_from_the_origin_are_exact():
    """Distances of ~1e-5 between rows of norm ~1e6: float32 cannot rank them (its error is ~1e5 on the
    squared distance), so every row falls to the exact fallback, and the result is still exact."""
    rng = np.random.default_rng(3)
    r = rng.standard_normal((400, 32)) * 100 + 1e5
    q = r[:120] + 1e-6 * rng.standard_normal((120, 32))
    nb = check(q, r, 2)
    assert (nb.indices[:, 0] == np.arange(120)).all()
    assert (nb.distances[:, 0] < 1e-4).all()


def test_torch_inputs_and_mixed_dtypes():
    rng = np.random.default_rng(4)
    q = torch.from_numpy(rng.integers(0, 256, (40, 12), dtype=np.uint8))
    r = torch.from_numpy(rng.standard_normal((90, 12)) * 100)
    check(q.numpy(), r.numpy(), 3)  # uint8 query against float reference: both read as float
    nb = nearest_neighbours(q, r, 3)
    np.testing.assert_array_equal(nb.indices, brute(q.numpy(), r.numpy(), 3)[1])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 70),
    st.integers(1, 20),
    st.integers(0, 3),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_small_integer_grids(n, m, d, levels, self_mode, seed):
    """Values on a coarse integer grid: many exact ties in distance, the hard case for the tie order (d >= 8
    takes the int8 GEMM path for uint8, smaller d the float32 one; m > 64 spans two column groups)."""
    rng = np.random.default_rng(seed)
    r = rng.integers(0, levels + 1, (m, d)).astype(np.float64)
    if self_mode and m >= 2:
        k = int(rng.integers(1, m))
        check(r, r, k, exclude_self=True)
        check(r.astype(np.uint8), r.astype(np.uint8), k, exclude_self=True, exact=True)
    else:
        q = rng.integers(0, levels + 1, (n, d)).astype(np.float64)
        k = int(rng.integers(1, m + 1))
        check(q, r, k)
        check(q.astype(np.uint8), r.astype(np.uint8), k, exact=True)


def test_errors():
    r = np.zeros((5, 3))
    with pytest.raises(UserError, match=r"k must be in \[1, 5\]"):
        nearest_neighbours(r, r, 6)
    with pytest.raises(UserError, match=r"k must be in \[1, 4\]"):
        nearest_neighbours(r, r, 5, exclude_self=True)
    with pytest.raises(UserError, match="exclude_self"):
        nearest_neighbours(r[:4], r, 1, exclude_self=True)
    with pytest.raises(UserError, match="dimension"):
        nearest_neighbours(np.zeros((2, 4)), r, 1)
    with pytest.raises(UserError, match="NaN"):
        nearest_neighbours(np.full((2, 3), np.nan), r, 1)
    empty = nearest_neighbours(np.zeros((0, 3)), r, 2)
    assert empty.distances.shape == (0, 2)


def test_int8_probe_is_a_bool():
    assert isinstance(knn.int8_gemm_is_exact(), bool)
