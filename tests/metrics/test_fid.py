"""FID from statistics against a float64 scipy.linalg.sqrtm reference (pytorch-fid's formula)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from gan_eval.errors import UserError
from gan_eval.metrics import fid as fid_mod
from gan_eval.metrics import fid_from_features, fid_from_stats


def _stats(d: int, n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean float64 [d] and sample covariance float64 [d, d] of n correlated non-Gaussian samples."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d) + np.diag(rng.uniform(0.2, 1.0, d))
    x = np.abs(rng.standard_normal((n, d))) @ a + shift
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _reference(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


# d = 2048 (Inception's pool3): sqrtm of the product takes 10 s to minutes on 2 shared cores, hence slow
@pytest.mark.parametrize("d", [16, 64, 256, pytest.param(2048, marks=pytest.mark.slow)])
def test_equals_sqrtm_reference(d: int) -> None:
    n = d + d // 4 + 8
    mu1, s1 = _stats(d, n, seed=d)
    mu2, s2 = _stats(d, n + 3, seed=d + 1, shift=0.1)
    ref = _reference(mu1, s1, mu2, s2)
    out = fid_from_stats(mu1, s1, mu2, s2, n1=n, n2=n + 3)
    assert abs(out["fid"] - ref) <= 1e-9 * abs(ref), (out["fid"], ref)
    swapped = fid_from_stats(mu2, s2, mu1, s1)["fid"]
    assert abs(swapped - ref) <= 1e-9 * abs(ref)


@pytest.mark.parametrize("d", [16, 128])
def test_eigh_path_equals_sqrtm_reference(d: int, monkeypatch: pytest.MonkeyPatch) -> None:
    mu1, s1 = _stats(d, 2 * d, seed=5)
    mu2, s2 = _stats(d, 2 * d, seed=6, shift=0.2)
    ref = _reference(mu1, s1, mu2, s2)

    monkeypatch.setattr(fid_mod, "_cholesky", lambda _a: None)  # as if sigma1 were singular
    assert abs(fid_from_stats(mu1, s1, mu2, s2)["fid"] - ref) <= 1e-9 * abs(ref)


def test_identical_inputs_give_zero() -> None:
    mu, s = _stats(64, 200, seed=7)
    out = fid_from_stats(mu, s, mu, s)
    assert abs(out["fid"]) < 1e-6


def test_equal_covariances_give_squared_mean_distance() -> None:
    mu1, s = _stats(64, 300, seed=8)
    mu2 = mu1 + np.random.default_rng(9).standard_normal(64) * 0.3
    out = fid_from_stats(mu1, s, mu2, s)["fid"]
    expected = float(((mu1 - mu2) ** 2).sum())
    assert abs(out - expected) <= 1e-9 * (expected + 2 * np.trace(s))


def test_fewer_samples_than_dimensions_warns_and_clips() -> None:
    d, n = 64, 40  # singular covariances: Cholesky fails, the eigh path clips
    mu1, s1 = _stats(d, n, seed=10)
    mu2, s2 = _stats(d, n, seed=11, shift=0.1)
    with pytest.warns(UserWarning, match="fewer than the feature dimension"):
        out = fid_from_stats(mu1, s1, mu2, s2, n1=n, n2=n)
    eig = np.linalg.eigvals(s1 @ s2)  # independent reference: non-symmetric eigenvalues
    diff = mu1 - mu2
    ref = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig.astype(complex)).real.sum())
    assert abs(out["fid"] - ref) <= 1e-6 * abs(ref)
    assert out["fid_clipped_eigs"] >= 0 and out["fid_clipped_mass"] < 1e-5 * np.trace(s1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_stats(mu1, s1, mu2, s2)  # no n given: no warning
    assert abs(fid_from_stats(mu1, s1, mu1, s1)["fid"]) < 1e-6


def test_from_features_matches_numpy_statistics() -> None:
    rng = np.random.default_rng(12)
    real = rng.standard_normal((300, 16)).astype(np.float32)
    fake = (rng.standard_normal((250, 16)) * 1.3 + 0.2).astype(np.float32)
    r64, f64 = real.astype(np.float64), fake.astype(np.float64)
    ref = _reference(r64.mean(0), np.cov(r64, rowvar=False), f64.mean(0), np.cov(f64, rowvar=False))
    assert abs(fid_from_features(real, fake)["fid"] - ref) <= 1e-9 * ref


def test_user_errors() -> None:
    mu, s = _stats(8, 20, seed=13)
    with pytest.raises(UserError, match="dimension"):
        fid_from_stats(mu, s, mu[:4], s[:4, :4])
    with pytest.raises(UserError, match=r"\[D, D\]"):
        fid_from_stats(mu, s[:4], mu, s)
    with pytest.raises(UserError, match="NaN"):
        fid_from_stats(mu * np.nan, s, mu, s)


@pytest.mark.parametrize("n1, n2", [(40, 5000), (5000, 40), (40, 60)])
def test_singular_covariances_match_brute_force(n1, n2):
    """n < d makes one or both covariances singular: the low-rank paths (Cholesky of the other one, or a
    rank-r square root) equal a float64 brute force over eig(sigma1 sigma2) to 1e-8 relative."""
    rng = np.random.default_rng(7)
    d = 64
    a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d)) * 0.3
    b = rng.normal(size=(n2, d)) @ rng.normal(size=(d, d)) * 0.3 + 0.2
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(s1 @ s2).real
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum()
    got = fid_from_stats(mu1, s1, mu2, s2)["fid"]
    assert got == pytest.approx(ref, rel=1e-8)
