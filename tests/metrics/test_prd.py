"""PRD: the curve and F_8 / F_1/8 against the reference formulas (msmsajjadi/precision-recall-distributions,
re-implemented here), hand-built histograms with known curves, and feature sets with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.errors import UserError
from gan_eval.metrics.prd import (
    HIGHER_IS_BETTER,
    PRD_F1_8,
    PRD_F8,
    max_f_beta_pair,
    prd,
    prd_curve,
    prd_details,
)


def reference_prd(eval_dist, ref_dist, num_angles=1001, epsilon=1e-10):
    """``compute_prd`` of the reference."""
    slopes = np.tan(np.linspace(epsilon, np.pi / 2 - epsilon, num=num_angles))
    precision = np.minimum(np.expand_dims(ref_dist, 0) * slopes[:, None], np.expand_dims(eval_dist, 0)).sum(
        axis=1
    )
    return precision, precision / slopes


def reference_f_beta_pair(precision, recall, beta=8, epsilon=1e-10):
    """``prd_to_max_f_beta_pair`` of the reference."""

    def f(b):
        return (1 + b**2) * (precision * recall) / ((b**2 * precision) + recall + epsilon)

    return np.max(f(beta)), np.max(f(1 / beta))


def test_curve_and_f_scores_equal_the_reference_on_random_histograms():
    rng = np.random.default_rng(0)
    for _ in range(5):
        ev, ref = rng.dirichlet(np.ones(20) * 0.5), rng.dirichlet(np.ones(20))
        p, r = prd_curve(ev, ref)
        p_ref, r_ref = reference_prd(ev, ref)
        np.testing.assert_allclose(p, np.clip(p_ref, 0, 1), rtol=1e-15, atol=0)
        np.testing.assert_allclose(r, np.clip(r_ref, 0, 1), rtol=1e-15, atol=0)
        assert max_f_beta_pair(p, r) == pytest.approx(reference_f_beta_pair(p, r), rel=1e-14)


def test_identical_distributions_reach_one_one():
    h = np.array([0.1, 0.2, 0.3, 0.4])
    p, r = prd_curve(h, h)
    assert np.minimum(p, r).max() == pytest.approx(1.0, abs=1e-12)  # the curve passes through (1, 1)
    f8, f1_8 = max_f_beta_pair(p, r)
    assert f8 == pytest.approx(1.0, abs=1e-9) and f1_8 == pytest.approx(1.0, abs=1e-9)


def test_disjoint_distributions_are_zero():
    p, r = prd_curve(np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.3, 0.7]))
    assert (p == 0).all() and (r == 0).all()
    assert max_f_beta_pair(p, r) == (0.0, 0.0)


def test_half_dropped_mode():
    """Real: two equal modes; generated: all mass on the first. Every generated sample is realistic
    (precision 1) but only half of the real distribution is covered (recall 1/2): the curve's corner is
    (recall 0.5, precision 1), F_8 = 65 * 0.5 / (64 + 0.5), F_1/8 = (1 + 1/64) * 0.5 / (1/64 + 0.5)."""
    p, r = prd_curve(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    assert p.max() == 1.0 and r.max() == pytest.approx(0.5, abs=1e-12)
    lam = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, 1001))
    np.testing.assert_allclose(p, np.minimum(lam / 2, 1.0), rtol=1e-14)
    np.testing.assert_allclose(r, np.minimum(0.5, 1 / lam), rtol=1e-12)
    f8, f1_8 = max_f_beta_pair(p, r)
    # the corner lambda = 2 lies between two grid angles: the grid maximum is within 1e-4 of it
    assert f8 == pytest.approx(65 * 0.5 / (64 + 0.5), rel=1e-4)
    assert f1_8 == pytest.approx((1 + 1 / 64) * 0.5 / (1 / 64 + 0.5), rel=1e-4)
    # a mode at half its weight: precision(lambda) = min(lambda/2, 3/4) + min(lambda/2, 1/4)
    p, r = prd_curve(np.array([0.75, 0.25]), np.array([0.5, 0.5]))
    want = np.minimum(lam / 2, 0.75) + np.minimum(lam / 2, 0.25)
    np.testing.assert_allclose(p, np.clip(want, 0, 1), rtol=1e-14)
    assert r.max() == pytest.approx(1.0) and p.max() == pytest.approx(1.0)
    assert p[np.argmin(np.abs(lam - 1))] == pytest.approx(0.75, abs=1e-9)  # at lambda = 1: 1 - TV


def _blob_sets(seed: int, n: int = 2000, d: int = 8):
    rng = np.random.default_rng(seed)
    a, b = np.zeros(d), np.full(d, 12.0)
    real = np.concatenate([a + rng.standard_normal((n // 2, d)), b + rng.standard_normal((n // 2, d))])
    return real, rng, a, b


def test_features_identical_disjoint_and_dropped_mode():
    real, rng, a, b = _blob_sets(1)
    d = real.shape[1]
    same = prd(real, real.copy(), num_runs=3)
    assert set(HIGHER_IS_BETTER) <= set(same)
    assert same[PRD_F8] > 0.999 and same[PRD_F1_8] > 0.999
    far = prd(real, real + 100.0, num_runs=3)
    assert far[PRD_F8] < 1e-6 and far[PRD_F1_8] < 1e-6
    dropped = prd_details(real, a + rng.standard_normal((2000, d)), num_runs=3)
    # ideal values 0.504 and 0.985; sampling noise in the per-cell counts lowers them slightly
    assert dropped.values[PRD_F8] == pytest.approx(0.504, abs=0.02)
    assert dropped.values[PRD_F1_8] == pytest.approx(0.985, abs=0.03)
    assert dropped.precision.shape == dropped.recall.shape == (1001,)
    assert dropped.eval_hist.shape == (3, 20) and np.allclose(dropped.eval_hist.sum(axis=1), 1)


def test_balance_and_errors():
    real, rng, _, _ = _blob_sets(2)
    fake = rng.standard_normal((500, real.shape[1]))
    assert prd(real, fake, num_runs=1)["prd_n"] == 500  # the real set is subsampled to 500
    with pytest.raises(UserError, match="equal size"):
        prd(real, fake, balance="error")
    with pytest.raises(UserError, match="balance"):
        prd(real, fake, balance="maybe")
    assert prd(real, fake, num_runs=1, balance="none")["prd_n"] == 500
    with pytest.raises(UserError, match="dimension"):
        prd(real, fake[:, :3])
    with pytest.raises(UserError, match="num_angles"):
        prd_curve(np.ones(2) / 2, np.ones(2) / 2, num_angles=2)
    with pytest.raises(ValueError, match="1.001"):
        prd_curve(np.array([2.0, 0.0]), np.array([1.0, 1.0]))
