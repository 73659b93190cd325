"""FID_inf / IS_inf: the reference procedure (mchong6/FID_IS_infinity, re-implemented with scipy's sqrtm and
scikit-learn's LinearRegression), Gaussians with a closed-form Frechet distance, and MNIST."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.linear_model import LinearRegression

from gan_eval.errors import UserError
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.fid_infinity import (
    FID_INF,
    HIGHER_IS_BETTER,
    IS_INF,
    fid_infinity,
    fid_infinity_details,
    fit_inverse_n,
    is_infinity,
    is_infinity_details,
    sample_size_grid,
)


def reference_fd(mu1, sigma1, mu2, sigma2) -> float:
    """The reference's ``numpy_calculate_frechet_distance`` (scipy sqrtm of the product)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def test_grid_is_the_references_for_large_sets_and_halves_below():
    np.testing.assert_array_equal(sample_size_grid(50000), np.linspace(5000, 50000, 15).astype("int32"))
    np.testing.assert_array_equal(sample_size_grid(10000), np.linspace(5000, 10000, 15).astype(int))
    g = sample_size_grid(2000)
    assert g[0] == 1000 and g[-1] == 2000 and len(g) == 15
    assert sample_size_grid(8).tolist() == [4, 5, 6, 7, 8]  # duplicates dropped
    assert sample_size_grid(4).tolist() == [2, 3, 4]
    with pytest.raises(UserError, match="at least 4 samples"):
        sample_size_grid(3)
    with pytest.raises(UserError, match="num_points"):
        sample_size_grid(100, num_points=2)


def test_fit_matches_sklearn_linear_regression():
    rng = np.random.default_rng(0)
    n = np.array([100, 150, 230, 400, 800, 1000])
    y = 3.0 + 250.0 / n + rng.normal(0, 0.05, n.size)
    fit = fit_inverse_n(n, y)
    reg = LinearRegression().fit(1 / n.reshape(-1, 1), y.reshape(-1, 1))
    assert fit.intercept == pytest.approx(float(reg.intercept_[0]), rel=1e-10)
    assert fit.slope == pytest.approx(float(reg.coef_[0, 0]), rel=1e-10)
    assert fit.r2 == pytest.approx(reg.score(1 / n.reshape(-1, 1), y.reshape(-1, 1)), rel=1e-10)
    resid = y - reg.predict(1 / n.reshape(-1, 1)).ravel()
    assert fit.rmse == pytest.approx(np.sqrt(np.mean(resid**2)), rel=1e-10)
    exact = fit_inverse_n(n, 2.0 + 10.0 / n)
    assert exact.intercept == pytest.approx(2.0, rel=1e-12) and exact.r2 == pytest.approx(1.0)
    assert exact.predict(np.inf) == pytest.approx(2.0)


def test_points_and_intercept_equal_the_reference_procedure():
    """Same subsets (RandomState(seed).permutation per grid point), then the reference's FID (np.cov,
    sqrtm) and LinearRegression."""
    rng = np.random.default_rng(1)
    d, n = 12, 700
    real = rng.standard_normal((5000, d))
    mu_r, sig_r = real.mean(0), np.cov(real, rowvar=False)
    fake = rng.standard_normal((n, d)) * 1.3 + 0.2
    fit = fid_infinity_details(mu_r, sig_r, fake, seed=3)
    rs = np.random.RandomState(3)
    grid = sample_size_grid(n)
    want = []
    for size in grid:
        act = fake[rs.permutation(n)[:size]]
        want.append(reference_fd(act.mean(0), np.cov(act, rowvar=False), mu_r, sig_r))
    np.testing.assert_array_equal(fit.n, grid)
    np.testing.assert_allclose(fit.values, want, rtol=1e-8)
    reg = LinearRegression().fit(1 / grid.reshape(-1, 1), np.array(want).reshape(-1, 1))
    assert fit.intercept == pytest.approx(float(reg.predict(np.array([[0.0]]))[0, 0]), rel=1e-7)
    out = fid_infinity(mu_r, sig_r, fake, seed=3)
    assert FID_INF in HIGHER_IS_BETTER and IS_INF in HIGHER_IS_BETTER
    assert out[FID_INF] == fit.intercept and out["fid_inf_n_min"] == grid[0] and out["fid_inf_n_max"] == n


def test_gaussians_with_known_distance():
    """N(m, diag(0.6 a)) samples against the exact N(0, diag(a)), d = 192: FD = |m|^2 + sum (sqrt(a) -
    sqrt(0.6 a))^2. At N = 10,000 plain FID is ~7% too high; FID_inf must be within 1%."""
    d, n = 192, 10000
    a = np.linspace(0.5, 2.0, d)
    m = np.full(d, 0.02)
    true = m @ m + ((np.sqrt(a) - np.sqrt(0.6 * a)) ** 2).sum()
    x = np.random.default_rng(0).standard_normal((n, d)) * np.sqrt(0.6 * a) + m
    plain = fid_from_stats(np.zeros(d), np.diag(a), x.mean(0), np.cov(x, rowvar=False))["fid"]
    assert plain / true - 1 > 0.05
    fit = fid_infinity_details(np.zeros(d), np.diag(a), x, seed=0)
    assert abs(fit.intercept / true - 1) < 0.01
    assert fit.slope > 0 and fit.r2 > 0.95


def test_is_points_equal_the_reference_formula_and_warnings():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((900, 10)) * 3
    fit = is_infinity_details(logits, seed=4)
    rs = np.random.RandomState(4)
    want = []
    for size in sample_size_grid(900):
        z = logits[rs.permutation(900)[:size]]
        pred = np.exp(z - z.max(1, keepdims=True))
        pred /= pred.sum(1, keepdims=True)
        kl = pred * (np.log(pred) - np.log(pred.mean(0, keepdims=True)))
        want.append(np.exp(kl.sum(1).mean()))
    np.testing.assert_allclose(fit.values, want, rtol=1e-10)
    out = is_infinity(logits, seed=4)
    assert out[IS_INF] == pytest.approx(fit.intercept) and out["is_inf_fit_r2"] == fit.r2
    with pytest.warns(UserWarning, match="not larger than the feature dimension"):
        fid_infinity_details(np.zeros(64), np.eye(64), rng.standard_normal((100, 64)))
    with pytest.raises(UserError, match="dimension 3"):
        fid_infinity_details(np.zeros(4), np.eye(4), rng.standard_normal((100, 3)))


@pytest.mark.slow
def test_mnist_lenet_fid_inf_is_closer_to_the_10k_value():
    """mnist:test (fake) against mnist:train (real), mnist-lenet features: FID_inf from a 2,000-digit pool
    (and from all 10,000) lies closer to FID at 10,000 samples than plain FID at 2,000 does."""
    import torch

    from gan_eval.data.datasets import load_arrays
    from gan_eval.features import build_extractor
    from gan_eval.stats.feature_stats import FeatureStats

    ex = build_extractor("mnist-lenet")

    def feats(x: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat(
                [ex(torch.from_numpy(x[i : i + 2000])[:, None])["features"] for i in range(0, len(x), 2000)]
            )

    real = FeatureStats(128).update(feats(load_arrays("mnist", "train")[0]))
    fake = feats(load_arrays("mnist", "test")[0]).to(torch.float64)
    mu, sigma = real.mean(), real.cov()

    def fid(x: torch.Tensor) -> float:
        s = FeatureStats(128).update(x)
        return fid_from_stats(mu, sigma, s.mean(), s.cov())["fid"]

    fid_10k = fid(fake)
    pool = fake[np.sort(np.random.default_rng(0).choice(10000, 2000, replace=False))]
    fid_2k = fid(pool)
    inf_2k = fid_infinity(mu, sigma, pool, real_n=real.n)[FID_INF]
    inf_10k = fid_infinity(mu, sigma, fake, real_n=real.n)[FID_INF]
    assert abs(inf_2k - fid_10k) < abs(fid_2k - fid_10k)
    assert abs(inf_10k - fid_10k) < abs(fid_2k - fid_10k)
