"""Memorization metrics: AuthPct against dgm-eval's brute-force formula, C_T against Meehan et al.'s reference
procedure (re-implemented here with scipy), the near-copy ratio against brute force, and the issue's
validation on real MNIST (verbatim training digits flagged, held-out digits not, noised copies flagged)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu

from gan_eval.data.datasets import load_arrays
from gan_eval.errors import UserError
from gan_eval.metrics.memorization import (
    AUTH_PCT,
    COPYING_CT,
    CT_CELLS_USED,
    HIGHER_IS_BETTER,
    NEAR_COPIES,
    NEAR_COPY_FRAC,
    TrainingReference,
    ct_statistic,
    mann_whitney_u,
    memorization,
    memorization_details,
    train_nn_distances,
    training_reference,
)

# ------------------------------------------------------------------ independent references


def dgm_eval_authpct(train: np.ndarray, gen: np.ndarray) -> tuple[float, np.ndarray]:
    """layer6ai-labs/dgm-eval ``compute_authpct``, in float64 (it uses float32 torch.cdist): a generated
    sample is authentic iff its nearest training sample's own nearest-neighbour distance is strictly smaller
    than its distance to that sample; argmin takes the first index, as torch.min."""
    real_dists = cdist(train, train)
    np.fill_diagonal(real_dists, np.inf)
    gen_dists = cdist(train, gen)
    real_min = real_dists.min(axis=0)
    authentic = real_min[gen_dists.argmin(axis=0)] < gen_dists.min(axis=0)
    return 100.0 * authentic.mean(), authentic


def meehan_ct(test, test_cells, gen, gen_cells, train, train_cells, tau_count):
    """casey-meehan/data-copying ``C_T`` / ``Zu_cells`` / ``Zu``, with cdist in place of sklearn's exact
    NearestNeighbors and the reference's tau = tau_count / m."""
    m, n = gen.shape[0], test.shape[0]
    k = int(train_cells.max()) + 1
    q_of_pi = np.bincount(gen_cells, minlength=k) / m
    pi_tau = q_of_pi > tau_count / m
    pn_of_pi = np.bincount(test_cells, minlength=k) / n
    zu = np.zeros(k)
    for i in range(k):
        p_i, q_i, t_i = test[test_cells == i], gen[gen_cells == i], train[train_cells == i]
        assert len(p_i) * len(t_i) > 0, "the reference raises here"
        if len(q_i) == 0:
            continue
        lq = cdist(q_i, t_i).min(axis=1)
        lp = cdist(p_i, t_i).min(axis=1)
        u, _ = mannwhitneyu(lq, lp, alternative="less")
        mm, nn = len(lq), len(lp)
        zu[i] = (u - (nn * mm / 2 - 0.5)) / np.sqrt(nn * mm * (nn + mm + 1) / 12)
    return pn_of_pi[pi_tau].dot(zu[pi_tau]) / np.sum(pn_of_pi[pi_tau])


def clustered(seed: int, n: int, d: int = 6, clusters: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((clusters, d)) * 6
    return centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, d))


@pytest.fixture(scope="module")
def small():
    """Float rows in 4 blobs: training set with exact duplicates, a held-out set, and a generated set made
    of fresh samples, verbatim copies (including of duplicated rows) and slightly moved training rows."""
    train = clustered(0, 600)
    train[50] = train[40]
    train[60] = train[40]
    test = clustered(1, 300)
    rng = np.random.default_rng(2)
    gen = np.concatenate(
        [clustered(3, 200), train[[40, 60, 7, 8, 9]], train[100:140] + 0.01 * rng.standard_normal((40, 6))]
    )
    ref = training_reference(train, test, n_cells=4, seed=0)
    return train, test, gen, ref


def test_train_nn_distances_brute_force(small):
    train = small[0]
    d = cdist(train, train)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(train_nn_distances(train), d.min(axis=1), rtol=1e-12, atol=0)
    assert train_nn_distances(train)[[40, 50, 60]].tolist() == [0.0, 0.0, 0.0]


def test_authpct_equals_dgm_eval_formula_exactly(small):
    train, _, gen, ref = small
    det = memorization_details(train, gen, ref, ratio_k=5)
    pct, authentic = dgm_eval_authpct(train, gen)
    np.testing.assert_array_equal(det.authentic, authentic)
    assert det.values[AUTH_PCT] == pct
    assert not det.authentic[200:205].any()  # verbatim copies (d1 = 0 = d2 for duplicated rows: a tie)
    np.testing.assert_array_equal(det.gen_nn_index[200:203], [40, 40, 7])  # tie -> the lower training index


def test_near_copies_against_brute_force(small):
    train, _, gen, ref = small
    k = 6
    det = memorization_details(train, gen, ref, ratio_k=k, ratio_threshold=0.25)
    d = np.sort(cdist(gen, train), axis=1)[:, :k]
    ratio = np.where(d[:, 0] == 0, 0.0, d[:, 0] / d[:, 1:].mean(axis=1))
    np.testing.assert_allclose(det.copy_ratio, ratio, rtol=1e-12)
    np.testing.assert_array_equal(det.near_copy, ratio < 0.25)
    assert det.values[NEAR_COPIES] == (ratio < 0.25).sum() and det.near_copy[200:245].all()
    order, nn = det.most_copied(5)
    assert set(order.tolist()) <= set(range(200, 245)) and (nn == det.gen_nn_index[order]).all()


def test_ct_equals_meehan_reference(small):
    train, test, gen, ref = small
    det = memorization_details(train, gen, ref, tau=20)
    gen_cells = cdist(gen, ref.centroids).argmin(axis=1)
    np.testing.assert_array_equal(det.gen_cells, gen_cells)
    np.testing.assert_array_equal(ref.test_cells, cdist(test, ref.centroids).argmin(axis=1))
    np.testing.assert_array_equal(ref.train_cells, cdist(train, ref.centroids).argmin(axis=1))
    want = meehan_ct(test, ref.test_cells, gen, gen_cells, train, ref.train_cells, 20)
    assert det.values[COPYING_CT] == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert det.values[CT_CELLS_USED] == 4


def test_mann_whitney_u_matches_scipy_with_ties():
    rng = np.random.default_rng(5)
    for m, n in ((1, 1), (7, 30), (200, 150)):
        x, y = rng.integers(0, 6, m).astype(float), rng.integers(0, 6, n).astype(float)
        assert mann_whitney_u(x, y) == pytest.approx(mannwhitneyu(x, y).statistic, rel=1e-12)


def test_ct_statistic_cells_and_tau():
    rng = np.random.default_rng(6)
    gen_d, test_d = rng.random(61), rng.random(50)
    gen_c = np.array([0] * 20 + [1] * 21 + [2] * 20)  # cell 0: exactly tau generated rows -> excluded
    test_c = np.array([0] * 10 + [1] * 40)  # cell 2 has no test rows: weight 0, skipped
    res = ct_statistic(gen_d, gen_c, test_d, test_c, n_cells=3, tau=20)
    assert res.used.tolist() == [False, True, False]
    lq, lp = gen_d[gen_c == 1], test_d[test_c == 1]
    z = (mannwhitneyu(lq, lp).statistic - (40 * 21 / 2 - 0.5)) / np.sqrt(40 * 21 * 62 / 12)
    assert res.ct == pytest.approx(z, rel=1e-12)
    assert np.isnan(ct_statistic(gen_d, gen_c, test_d, test_c, 3, tau=30).ct)


def test_reference_state_roundtrip_and_mismatch(small):
    train, test, gen, ref = small
    again = TrainingReference.from_state(ref.to_state())
    a = memorization_details(train, gen, ref, ratio_k=5).values
    assert set(HIGHER_IS_BETTER) <= set(a)
    assert memorization_details(train, gen, again, ratio_k=5).values == a
    assert memorization(train, test, gen, ratio_k=5, n_cells=4) == a  # builds the same reference itself
    other = train.copy()
    other[0] += 1
    with pytest.raises(UserError, match="different training rows"):
        memorization_details(other, gen, ref)
    with pytest.raises(UserError, match="kind and dimension"):
        memorization_details(train, gen[:, :3], ref)
    with pytest.raises(UserError, match="ratio_k"):
        memorization_details(train, gen, ref, ratio_k=1)
    with pytest.warns(UserWarning, match="C_T is NaN"):
        few = memorization_details(train, gen[:30], ref, ratio_k=5).values
    assert np.isnan(few[COPYING_CT]) and np.isfinite(few[AUTH_PCT])


# ------------------------------------------------------------------ real MNIST (the validation)


def _noised(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise of std ``sigma`` in [0, 1] units, clipped and quantized back to uint8."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape)
    return np.rint(np.clip(images / 255.0 + noise, 0.0, 1.0) * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def mnist_small():
    train, _ = load_arrays("mnist", "train")
    test, _ = load_arrays("mnist", "test")
    tr, te = train[:4000], test[:1600]
    ref = training_reference(tr, te[0::2], n_cells=8, seed=0)  # interleaved halves: one writer population
    return tr, te, ref


def test_mnist_pixels_verbatim_heldout_noised(mnist_small):
    train, test, ref = mnist_small
    n = 800
    verbatim = memorization_details(train, train[:n], ref).values
    assert verbatim[AUTH_PCT] == 0.0 and verbatim[NEAR_COPIES] == n
    assert verbatim[COPYING_CT] < -10
    held = memorization_details(train, test[1::2], ref).values
    assert abs(held[COPYING_CT]) < 1.5 and held[NEAR_COPY_FRAC] < 0.01 and held[AUTH_PCT] > 40
    noised = memorization_details(train, _noised(train[:n], 0.05), ref).values
    assert noised[AUTH_PCT] < 5 and noised[NEAR_COPY_FRAC] > 0.9 and noised[COPYING_CT] < -10


def test_mnist_float_features_verbatim(mnist_small):
    """The float path end to end: a fixed random projection of the pixels as 'features'."""
    train, test, _ = mnist_small
    proj = torch.randn(784, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def feats(x: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(x.reshape(len(x), -1)).to(torch.float64) / 255) @ proj

    tr = feats(train)
    ref = training_reference(tr, feats(test[0::2]), n_cells=8)
    verbatim = memorization_details(tr, tr[:800], ref).values
    assert verbatim[AUTH_PCT] == 0.0 and verbatim[NEAR_COPIES] == 800 and verbatim[COPYING_CT] < -10
    held = memorization_details(tr, feats(test[1::2]), ref).values
    assert abs(held[COPYING_CT]) < 1.5 and held[NEAR_COPY_FRAC] < 0.01


@pytest.mark.slow
def test_mnist_full_scale_pixels_and_lenet_features():
    """The issue's sizes: 60,000 training digits, 5,000 held-out (even test indices) as the baseline, 5,000
    generated; pixel space, then mnist-lenet features (on a 20,000-digit training subset). With 50 cells of
    ~100 test and ~100 generated rows, a cell of pure copies scores about -sqrt(3 n m / (n + m + 1)) = -12."""
    from gan_eval.features import build_extractor

    train, _ = load_arrays("mnist", "train")
    test, _ = load_arrays("mnist", "test")
    base, fresh = test[0::2], test[1::2]
    ref = training_reference(train, base)
    n = 5000
    verbatim = memorization_details(train, train[:n], ref).values
    assert verbatim[AUTH_PCT] == 0.0 and verbatim[NEAR_COPIES] == n and verbatim[COPYING_CT] < -10
    held = memorization_details(train, fresh, ref).values
    assert abs(held[COPYING_CT]) < 1.5 and held[NEAR_COPY_FRAC] < 0.01
    noised = memorization_details(train, _noised(train[:n], 0.05), ref).values
    assert noised[AUTH_PCT] < 5 and noised[NEAR_COPY_FRAC] > 0.9 and noised[COPYING_CT] < -10

    ex = build_extractor("mnist-lenet")

    def feats(x: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat(
                [ex(torch.from_numpy(x[i : i + 2000])[:, None])["features"] for i in range(0, len(x), 2000)]
            )

    tr = feats(train[:20000])
    ref_f = training_reference(tr, feats(base))
    verbatim = memorization_details(tr, tr[:n], ref_f).values
    assert verbatim[AUTH_PCT] == 0.0 and verbatim[NEAR_COPIES] == n and verbatim[COPYING_CT] < -10
    held = memorization_details(tr, feats(fresh), ref_f).values
    assert abs(held[COPYING_CT]) < 1.5 and held[NEAR_COPY_FRAC] < 0.01
