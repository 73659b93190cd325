"""Per-class metrics: KL against scipy.stats.entropy, TV and coverage by hand, per-class FID against the
pytorch-fid formula (numpy covariance, scipy sqrtm) on each class's rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import entropy

from gan_eval.errors import UserError
from gan_eval.metrics.classwise import (
    CLASS_COVERAGE,
    CLASS_COVERAGE_FRAC,
    CLASS_KL,
    CLASS_MAX,
    CLASS_MAX_SHARE,
    CLASS_TV,
    CLASS_UNRECOGNISED,
    HIGHER_IS_BETTER,
    class_counts,
    class_distribution,
    class_distribution_details,
    class_moments,
    fid_class_key,
    fid_class_n_key,
    fid_class_n_real_key,
    per_class_fid,
    predicted_classes,
)


def test_kl_tv_coverage_against_scipy_and_hand_values():
    real = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    fake = np.array([3, 900, 1000, 1100, 800, 100, 4800, 500, 700, 97])
    out = class_distribution(real, fake)
    assert set(HIGHER_IS_BETTER) - {CLASS_UNRECOGNISED} <= set(out)  # unrecognised: the metric's, not here
    p, q = real / real.sum(), fake / fake.sum()
    q_s = (fake + 0.5) / (fake.sum() + 5.0)
    assert out[CLASS_KL] == pytest.approx(entropy(p, q_s), rel=1e-12)
    assert out[CLASS_TV] == pytest.approx(0.5 * np.abs(p - q).sum(), rel=1e-12)
    covered = q >= 0.25 * p
    assert out[CLASS_COVERAGE] == covered.sum() == 7  # classes 0, 5 and 9 are under a quarter of their share
    assert out[CLASS_COVERAGE_FRAC] == pytest.approx(0.7)
    assert out[CLASS_MAX] == 6 and out[CLASS_MAX_SHARE] == pytest.approx(0.48)
    det = class_distribution_details(real, fake)
    assert det.under == (0, 5, 9)
    assert det.summary().startswith("class 6 holds 48.0% of generated samples")
    assert "3 of 10 classes under 0.25 of their real share: 0 (0.0% vs 9.8%)" in det.summary()


def test_dropped_class_is_large_and_finite_identical_is_near_zero():
    real = np.full(10, 1000)
    dropped = np.array([1111] * 9 + [1])
    dropped[9] = 0
    out = class_distribution(real, dropped)
    assert np.isfinite(out[CLASS_KL]) and out[CLASS_KL] > 0.5
    assert out[CLASS_KL] == pytest.approx(
        entropy(real / 1e4, (dropped + 0.5) / (dropped.sum() + 5)), rel=1e-12
    )
    assert class_distribution(real, real)[CLASS_KL] == pytest.approx(0.0, abs=1e-12)
    assert class_distribution(real, real)[CLASS_TV] == 0.0
    assert (
        class_distribution_details(real, real)
        .summary()
        .endswith("all 10 classes at least 0.25 of their real share")
    )
    # a class absent from the real side contributes nothing to KL and is not counted in coverage
    assert class_distribution(np.array([5, 5, 0]), np.array([5, 5, 3]))[CLASS_COVERAGE] == 2


def test_labels_logits_and_errors():
    logits = np.array([[0.0, 2.0, 2.0], [5.0, 1.0, 0.0], [0.0, 0.0, 0.1]])
    np.testing.assert_array_equal(predicted_classes(logits), [1, 0, 2])  # a tie goes to the lower class
    np.testing.assert_array_equal(class_counts(np.array([2, 2, 0]), 4), [1, 0, 2, 0])
    with pytest.raises(UserError, match=r"\[0, 3\)"):
        class_counts(np.array([0, 3]), 3)
    with pytest.raises(UserError, match="integer"):
        class_counts(np.array([0.5]), 3)
    with pytest.raises(UserError, match="one length"):
        class_distribution(np.ones(3), np.ones(4))
    with pytest.raises(UserError, match="at least one sample"):
        class_distribution(np.ones(3), np.zeros(3))


def reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-fid's formula: numpy covariances, scipy sqrtm of the product."""
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_per_class_fid_against_reference_and_small_class_warning():
    rng = np.random.default_rng(0)
    d, k = 6, 4
    real_labels = rng.integers(0, k, 2000)
    real = rng.standard_normal((2000, d)) + real_labels[:, None]
    fake_classes = np.concatenate([rng.integers(0, 3, 600), [3]])  # class 3: one generated sample
    fake = rng.standard_normal((601, d)) * 1.1 + fake_classes[:, None] + 0.1
    fake_classes[:4] = 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = per_class_fid((real, real_labels), fake, fake_classes, k)
    # all classes with FIDs have more samples than d = 6; class 3 has one sample: no value, one line why
    assert [str(w.message) for w in caught] == [
        "per-class FID: no value for class 3 (1 generated): a covariance needs 2 or more samples"
    ]
    for c in range(3):
        want = reference_fid(real[real_labels == c], fake[fake_classes == c])
        assert out[fid_class_key(c)] == pytest.approx(want, rel=1e-7)
        assert out[fid_class_n_key(c)] == (fake_classes == c).sum()
        assert out[fid_class_n_real_key(c)] == (real_labels == c).sum()
    assert fid_class_key(3) not in out and out[fid_class_n_key(3)] == 1  # no NaN: no value
    # the same from precomputed class moments
    with pytest.warns(UserWarning, match="no value for class 3"):
        assert per_class_fid(class_moments(real, real_labels, k), fake, fake_classes, k) == pytest.approx(out)
    # fewer samples than dimensions: one warning line naming the class
    few = np.concatenate([fake_classes[fake_classes != 1], [1, 1, 1]])
    with pytest.warns(UserWarning, match=r"dimension 6 in class 1 \(3 generated, \d+ real\)") as rec:
        per_class_fid((real, real_labels), rng.standard_normal((len(few), d)), few, k)
    assert len(rec) == 2  # that line, and the one for class 3 (1 sample, no value)
    with pytest.raises(UserError, match="rows"):
        per_class_fid((real, real_labels), fake[:10], fake_classes, k)


@pytest.mark.slow
def test_mnist_lenet_real_digits_and_a_collapsed_generator():
    """mnist:test through mnist-lenet: the classifier's class distribution matches the true labels (KL and TV
    near 0, all 10 classes covered); a 'generator' that emits mostly 8s is reported as collapsed."""
    import torch

    from gan_eval.data.datasets import load_arrays
    from gan_eval.features import build_extractor

    images, labels = load_arrays("mnist", "test")
    ex = build_extractor("mnist-lenet")
    with torch.no_grad():
        out = [ex(torch.from_numpy(images[i : i + 2000])[:, None]) for i in range(0, 10000, 2000)]
    feats = torch.cat([o["features"] for o in out])
    classes = predicted_classes(torch.cat([o["logits"] for o in out]))
    real_counts = class_counts(labels, 10)
    same = class_distribution(real_counts, class_counts(classes, 10))
    assert same[CLASS_KL] < 0.01 and same[CLASS_TV] < 0.02 and same[CLASS_COVERAGE] == 10
    # per-class FID of the first half of the test set against the second half: small and finite everywhere
    half = per_class_fid((feats[5000:], labels[5000:]), feats[:5000], classes[:5000], 10)
    assert all(np.isfinite(half[fid_class_key(c)]) for c in range(10))
    rng = np.random.default_rng(0)
    collapsed = np.concatenate([np.flatnonzero(labels == 8), rng.choice(10000, 200, replace=False)])
    det = class_distribution_details(real_counts, class_counts(classes[collapsed], 10))
    assert det.values[CLASS_MAX] == 8 and det.values[CLASS_MAX_SHARE] > 0.45
    assert det.values[CLASS_COVERAGE] < 10 and det.values[CLASS_KL] > 0.3
    assert det.summary().startswith("class 8 holds")
