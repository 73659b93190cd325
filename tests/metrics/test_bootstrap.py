"""The fast bootstrap (gan_eval.metrics.bootstrap) against the slow exact one (every metric rerun on every
resample, ``reference_replicates``) and against brute-force float64 formulas.

- FID and IS: the same resamples give the same replicates, to float64 rounding.
- KID: the count-based full-sample replicates equal a brute-force U-statistic of each resample; the subset
  noise variance equals enumeration over every subset; and the fast intervals agree with the reference's
  in spread, within Monte Carlo tolerance, while centred on the reported value (the reference's are
  shifted by the duplicates, by the amount the bootstrap-world mean predicts).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from gan_eval.errors import UserError
from gan_eval.metrics import METRICS, MetricSpec, replicates, replicates_kid
from gan_eval.metrics.bootstrap import bootstrap_intervals, reference_replicates, resample_indices
from gan_eval.metrics.catalog import KNN_REASON
from gan_eval.metrics.kid import kid
from gan_eval.metrics.replicates_kid import KidPoint, kid_replicates, subset_u_variance
from gan_eval.stats import FeatureStats


def _sets(n: int, m: int, d: int, seed: int = 0, n_real_stats: int | None = None):
    rng = np.random.default_rng(seed)
    fake = (rng.normal(size=(n, d)) * 1.2 + 0.3).astype(np.float32)
    real = rng.normal(size=(m, d)).astype(np.float32)
    logits = (fake @ rng.normal(size=(d, 10)) * 2).astype(np.float32)
    st = FeatureStats(d).update(real[: n_real_stats or m])
    return fake, real, logits, st.mean(), st.cov()


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a @ b.T / a.shape[1] + 1.0) ** 3


@pytest.mark.parametrize(
    "d, n_real_stats, paths",
    [
        (8, None, {}),
        (12, 6, {}),  # a singular real covariance: fid_from_stats per resample
        # the wide-feature and large-set paths: gathered rows, blocks, softmax per gathered group
        (8, None, {"GATHER_MIN_DIM": 1, "WHOLE_MAX_BYTES": 0, "ROW_BLOCK": 64, "SOFTMAX_WHOLE_MAX_BYTES": 0}),
    ],
)
def test_fid_and_is_replicates_equal_the_reference(d, n_real_stats, paths, monkeypatch) -> None:
    for name, value in paths.items():
        monkeypatch.setattr(replicates, name, value)
    fake, real, logits, mu, sigma = _sets(203, 150, d, n_real_stats=n_real_stats)
    inputs = dict(fake_logits=logits, real_mu=mu, real_sigma=sigma, real_features=real)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer real samples than dimensions: fid_from_stats warns
        fast = bootstrap_intervals(["fid", "is"], fake, n_resamples=25, seed=3, **inputs)
        ref = reference_replicates(["fid", "is"], fake, n_resamples=25, seed=3, **inputs)
    assert set(fast.replicates) == set(ref) == {"fid", "is_mean"}
    # FID: weighted float64 moments vs FeatureStats over the materialised resample; each covariance entry
    # differs by ~n eps relative, so FID by < 1e-10 of its scale (the traces and the mean term). With a
    # singular real covariance, the product's null-space eigenvalues are 0 +- delta, delta ~ eps |S1| |S2|,
    # and their clipped square roots move tr sqrt by up to D sqrt(delta) on either side
    s1, s2 = np.linalg.norm(sigma, 2), np.linalg.norm(np.cov(fake.T), 2)
    scale = np.trace(sigma) + np.trace(np.cov(fake.T)) + float(((fake.mean(0) - mu) ** 2).sum())
    atol = 1e-10 * scale if n_real_stats is None else 2 * d * math.sqrt(100 * np.finfo(float).eps * s1 * s2)
    np.testing.assert_allclose(fast.replicates["fid"], ref["fid"], rtol=0, atol=atol)
    # IS: count matrices instead of gathered rows: the same sums in another order
    np.testing.assert_allclose(fast.replicates["is_mean"], ref["is_mean"], rtol=1e-12)
    assert len(np.unique(ref["fid"])) == 25  # the resamples differ
    for key, values in fast.replicates.items():
        lo, hi = fast.intervals[key]
        assert (lo, hi) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])))


def test_kid_count_replicates_equal_brute_force(monkeypatch) -> None:
    monkeypatch.setattr(replicates_kid, "TILE", 64)  # 150 fake rows: 3 x 3 tiles, the last ones partial
    fake, real, *_ = _sets(150, 130, 5, seed=1)
    idx = np.stack(list(resample_indices(150, 6, seed=2)))
    got = kid_replicates(torch.from_numpy(fake), real, idx, KidPoint(0.0, 1, 150), 0, lambda: None)
    k_ff, k_fr = _kernel(fake, fake), _kernel(fake, real)
    n, m = k_fr.shape
    # the bootstrap-world mean: resampled positions are iid uniform over the n samples
    mean_star = k_ff.sum() / n**2 - 2 * k_fr.mean()
    for b, ix in enumerate(idx):  # the unbiased MMD^2 of the resample (duplicates as distinct samples)
        kk = k_ff[np.ix_(ix, ix)]
        ff = (kk.sum() - np.trace(kk)) / (n * (n - 1))
        fr = k_fr[ix].sum() / (n * m)
        assert got[b] == pytest.approx(ff - 2 * fr - mean_star, abs=1e-11 * k_ff.mean())
    assert np.abs(got).max() > 1e-4  # not trivially zero


def test_subset_noise_variance_equals_enumeration() -> None:
    rng = np.random.default_rng(3)
    n = 7
    x = rng.normal(size=(n, 3))
    k = _kernel(x, x)
    r = rng.normal(size=n) * 2 + 5
    h = k - r[:, None] - r[None, :]
    for size in range(2, n + 1):
        values = [
            sum(h[a, b] for a in p for b in p if a != b) / (size * (size - 1))
            for p in itertools.combinations(range(n), size)
        ]
        got = subset_u_variance(size, k.sum(1), np.diag(k).copy(), float((k * k).sum()), r)
        assert got == pytest.approx(np.var(values), rel=1e-9, abs=1e-12 * float(np.abs(h).max()) ** 2)


def _reference_mean(fake, real, subsets, size, seed=0) -> float:
    """E* of the reference's KID replicate: the resampled positions are iid over the fake samples; the real
    subsets are the fixed draws of ``kid`` (numpy RandomState(seed), fake subset first, then real)."""
    n, m = len(fake), len(real)
    k_ff, k_fr = _kernel(fake, fake), _kernel(fake, real)
    rs = np.random.RandomState(seed)
    cross, rr = [], []
    for _ in range(subsets):
        rs.choice(n, size, replace=False)
        q = rs.choice(m, size, replace=False)
        k_rr = _kernel(real[q], real[q])
        cross.append(k_fr[:, q].mean())
        rr.append((k_rr.sum() - np.trace(k_rr)) / (size * (size - 1)))
    return float(k_ff.sum() / n**2 - 2 * np.mean(cross) + np.mean(rr))


def test_kid_intervals_agree_with_the_reference_within_monte_carlo_error() -> None:
    """Few subsets of 40 out of 200: the subset noise is ~60% of the spread, so a wrong noise model fails.

    Monte Carlo: with b = 800 reference and 4000 fast replicates, log(sd ratio) has standard error
    sqrt(1/1600 + 1/8000) = 0.027 (normal theory); the tolerance is 4 of those (ratio within 0.90..1.11).
    Without the subset noise the ratio would be ~0.75; with the noise of a whole subset's spread
    (kid_std^2 / (subsets - 1)) ~1.5. The reference's mean must match the bootstrap-world mean (the
    duplicates' shift) within 4 standard errors; the fast replicates' mean the reported value."""
    fake, real, *_ = _sets(200, 240, 6)
    opts = {"subsets": 4, "subset_size": 40}
    reported = kid(real, fake, **opts)
    fast = bootstrap_intervals(["kid"], fake, real_features=real, reported=reported, n_resamples=4000)
    ref = reference_replicates(
        ["kid"], fake, real_features=real, n_resamples=800, metric_options={"kid": opts}
    )["kid_mean"]
    a = fast.replicates["kid_mean"]
    assert abs(math.log(a.std() / ref.std())) < 4 * math.sqrt(1 / 1600 + 1 / 8000)
    assert abs(a.mean() - reported["kid_mean"]) < 4 * a.std() / math.sqrt(len(a))
    assert abs(ref.mean() - _reference_mean(fake, real, 4, 40)) < 4 * ref.std() / math.sqrt(len(ref))
    lo, hi = fast.intervals["kid_mean"]
    assert lo < reported["kid_mean"] < hi
    # the central 95% widths: quantile Monte Carlo error is larger (the tails hold ~20 reference values)
    width_ref = np.subtract(*np.percentile(ref, [97.5, 2.5]))
    assert 0.8 < (hi - lo) / width_ref < 1.25


def test_kid_fills_in_a_missing_reported_value() -> None:
    fake, real, *_ = _sets(120, 100, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kid's subset size 1000 clamped to 100
        full = kid(real, fake)
        a = bootstrap_intervals(["kid"], fake, real_features=real, n_resamples=10)
    b = bootstrap_intervals(["kid"], fake, real_features=real, n_resamples=10, reported=full)
    np.testing.assert_array_equal(a.replicates["kid_mean"], b.replicates["kid_mean"])


def test_skips_knn_metrics_reports_progress_and_checks_inputs() -> None:
    fake, real, logits, mu, sigma = _sets(100, 90, 4)
    calls: list[tuple[int, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = bootstrap_intervals(
            ["fid", "pr", "is", "dc", "kid", "fid"],
            fake,
            fake_logits=logits,
            real_mu=mu,
            real_sigma=sigma,
            real_features=real,
            n_resamples=7,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert set(out.intervals) == {"fid", "is_mean", "kid_mean"}
    assert out.skipped == {"pr": KNN_REASON, "dc": KNN_REASON}
    total = 7 + 7 + 2  # fid and is resamples, one kernel tile each for K_ff and K_fr
    assert calls == [(i, total) for i in range(total + 1)]
    with pytest.raises(UserError, match="at least 2 resamples"):
        bootstrap_intervals(["fid"], fake, real_mu=mu, real_sigma=sigma, n_resamples=1)
    with pytest.raises(UserError, match="logits"):
        bootstrap_intervals(["is"], fake, n_resamples=5)
    with pytest.raises(UserError, match="real set's features"):
        bootstrap_intervals(["kid"], fake, n_resamples=5)
    with pytest.raises(UserError, match="level"):
        bootstrap_intervals(["fid"], fake, real_mu=mu, real_sigma=sigma, n_resamples=5, level=95)


def test_other_registered_metrics_fall_back_to_the_reference(monkeypatch) -> None:
    def mean_norm(real, fake, **_):
        return {"mean_norm": float(np.linalg.norm(np.asarray(fake.features).mean(0)))}

    spec = MetricSpec(
        "mean_norm", {"mean_norm": False}, frozenset({"features"}), mean_norm, ("mean_norm",), False
    )
    monkeypatch.setitem(METRICS, "mean_norm", spec)
    fake, *_ = _sets(60, 10, 3)
    out = bootstrap_intervals(["mean_norm"], fake, n_resamples=9, seed=4)
    expected = [np.linalg.norm(fake[ix].mean(0)) for ix in resample_indices(60, 9, seed=4)]
    np.testing.assert_allclose(out.replicates["mean_norm"], expected, rtol=1e-6)


def test_evaluate_passes_the_reported_kid_and_gets_centred_intervals(npz_pair, tmp_cache) -> None:
    from gan_eval.pipeline import EvalConfig, evaluate

    real, fake = npz_pair(300, 200, 16, 60)
    cfg = EvalConfig(
        real=str(real),
        fake=str(fake),
        metrics=("fid", "kid", "pr"),
        extractor="dummy",
        bootstrap=30,
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kid's subset size clamped to 200
        r = evaluate(config=cfg)
    assert set(r.cis) == {"fid", "kid_mean"}
    lo, hi = r.cis["kid_mean"]
    assert lo < r.values["kid_mean"] < hi
