"""The recognition rule (gan_eval.features.recognition): its scores against an independent numpy/scipy
computation, its calibration (99 % of the calibration set kept, thresholds half way between two scores), its
file, and the shipped rules recomputed from the shipped weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from gan_eval.data.datasets import load_arrays
from gan_eval.errors import UserError
from gan_eval.features import lenet, lenet_train
from gan_eval.features.recognition import COV_RIDGE, RecognitionRule, class_gaussians, fit_rule, load_rule


def _blobs(rng: np.random.Generator, n: int, k: int = 4, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, k, n)
    return rng.standard_normal((n, d)) + 3.0 * np.eye(k, d)[labels], labels


def _reference_distance(x: np.ndarray, train: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """min over classes of the squared Mahalanobis distance with the pooled within-class covariance (divisor
    N, plus the ridge), written out with numpy one class at a time."""
    means = np.stack([train[labels == c].mean(0) for c in range(k)])
    centred = train - means[labels]
    cov = centred.T @ centred / len(train)
    cov += COV_RIDGE * np.trace(cov) / len(cov) * np.eye(len(cov))
    inv = np.linalg.inv(cov)
    return np.stack([np.einsum("nd,de,ne->n", x - m, inv, x - m) for m in means], 1).min(1)


def test_scores_against_numpy_and_the_calibration_keeps_99_percent():
    rng = np.random.default_rng(0)
    train, labels = _blobs(rng, 3000)
    test, _ = _blobs(rng, 2000)
    logits = rng.standard_normal((2000, 4)) * 3
    rule = fit_rule(train, labels, test, logits, keep=0.99, calibrated_on="blobs", weights_sha256="ab")
    ref = _reference_distance(test, train, labels, 4)
    np.testing.assert_allclose(rule.distances(test).numpy(), ref, rtol=1e-10)
    energy = logsumexp(logits, axis=1)
    kept = (ref < rule.distance_max) & (energy > rule.energy_min)
    assert kept.sum() == 1980 and rule.keep == pytest.approx(0.99)  # exactly 1 % left out
    assert np.array_equal(rule.recognised(test, logits).numpy(), kept)
    # each threshold lies half way between the last image it leaves out and the first it keeps
    out_d, in_d = ref[ref >= rule.distance_max], ref[ref < rule.distance_max]
    assert rule.distance_max == pytest.approx((out_d.min() + in_d.max()) / 2, rel=1e-12)
    out_e, in_e = energy[energy <= rule.energy_min], energy[energy > rule.energy_min]
    assert rule.energy_min == pytest.approx((out_e.max() + in_e.min()) / 2, rel=1e-12)
    # the same depth k in both tails: as many images below the energy threshold as above the distance one
    assert len(out_d) == len(out_e)
    # far from every class, or no class fits: not recognised
    far = np.full((1, 5), 40.0)
    assert not rule.recognised(far, logits[:1] * 0 + 100).item()
    assert not rule.recognised(test[:1], np.full((1, 4), -100.0)).item()


def test_rule_file_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(1)
    train, labels = _blobs(rng, 500)
    logits = rng.standard_normal((300, 4))
    rule = fit_rule(train, labels, train[:300], logits, fitted_on="x", weights_sha256="cd")
    path = rule.save(tmp_path / "r.recognition.npz")
    back = load_rule(path)  # checks the .sha256 sidecar
    assert (back.distance_max, back.energy_min, back.keep, back.n) == (
        rule.distance_max,
        rule.energy_min,
        rule.keep,
        300,
    )
    assert np.array_equal(back.means, rule.means) and np.array_equal(back.precision, rule.precision)
    assert back.fitted_on == "x" and back.weights_sha256 == "cd"
    with pytest.raises(UserError, match="does not match the recorded"):
        load_rule(path, expected_sha256="0" * 64)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a gan-eval recognition file"):
        load_rule(tmp_path / "junk.npz")
    with pytest.raises(UserError, match="no such file"):
        load_rule(tmp_path / "missing.npz")
    with pytest.raises(UserError, match="needs 2"):
        class_gaussians(train[:3], np.array([0, 0, 1]), 4)


def test_user_weights_use_the_rule_beside_them_and_refuse_a_foreign_one(tmp_path):
    weights = tmp_path / "w.pt"
    shutil.copy(lenet.shipped_weights_path("mnist"), weights)
    assert lenet.mnist_lenet(weights=weights).recognition is None  # no rule beside them: every sample counts
    shutil.copy(lenet.shipped_recognition_path("mnist"), lenet.recognition_path(weights))
    ex = lenet.mnist_lenet(weights=weights)
    assert isinstance(ex.recognition, RecognitionRule)
    out = ex(torch.zeros(3, 1, 28, 28, dtype=torch.uint8))
    assert out["recognised"].dtype == torch.bool and out["recognised"].shape == (3,)
    shutil.copy(lenet.shipped_recognition_path("fashion-mnist"), lenet.recognition_path(weights))
    with pytest.raises(UserError, match="computed for weights"):
        lenet.mnist_lenet(weights=weights)


@pytest.fixture(scope="module")
def mnist_rule() -> lenet.LeNetExtractor:
    return lenet.mnist_lenet()


def _unrecognised(extractor: lenet.LeNetExtractor, images: np.ndarray) -> float:
    x = torch.from_numpy(np.ascontiguousarray(images))[:, None]
    with torch.no_grad():
        rec = torch.cat([extractor(x[i : i + 2000])["recognised"] for i in range(0, len(x), 2000)])
    return float(1 - rec.double().mean())


def test_shipped_rule_keeps_99_percent_of_real_digits(mnist_rule):
    """The calibration split itself (mnist:test) by construction, and 10,000 training digits it never saw
    for the thresholds (the class Gaussians do come from the training split)."""
    test_images, _ = load_arrays("mnist", "test")
    assert mnist_rule.recognition is not None
    assert _unrecognised(mnist_rule, test_images) == pytest.approx(1 - mnist_rule.recognition.keep, abs=5e-4)
    train_images, _ = load_arrays("mnist", "train")
    assert 0.004 < _unrecognised(mnist_rule, train_images[-10000:]) < 0.016


def _check_recomputed(dataset: str) -> None:
    shipped = load_rule(lenet.shipped_recognition_path(dataset), lenet.SHIPPED_RECOGNITION[dataset][1])
    again = lenet_train.calibrate_recognition(dataset)
    assert again.weights_sha256 == shipped.weights_sha256 == lenet.SHIPPED_WEIGHTS[dataset][1]
    assert (again.calibrated_on, again.fitted_on) == (shipped.calibrated_on, shipped.fitted_on)
    assert again.n == shipped.n == 10000
    # float32 convolutions differ in the last digits between CPUs (AVX-512 vs AVX2 kernels): the means by
    # ~2e-6 relative, the precision matrix (near-dead units, held up by the ridge) by ~1e-6 of its norm
    np.testing.assert_allclose(again.means, shipped.means, rtol=1e-5, atol=1e-6)
    diff = np.linalg.norm(again.precision - shipped.precision) / np.linalg.norm(shipped.precision)
    assert diff < 1e-5, diff
    assert again.distance_max == pytest.approx(shipped.distance_max, rel=1e-5)
    assert again.energy_min == pytest.approx(shipped.energy_min, rel=1e-5)
    assert again.keep == shipped.keep


@pytest.mark.slow  # two passes of the LeNet over 70,000 images: about a minute on a busy 2-core machine
def test_shipped_mnist_rule_is_what_the_shipped_weights_give():
    _check_recomputed("mnist")


@pytest.mark.slow
def test_shipped_fashion_mnist_rule_is_what_the_shipped_weights_give():
    try:
        load_arrays("fashion-mnist", "test")
    except UserError:
        pytest.skip("Fashion-MNIST is not installed (make data-fashion)")
    _check_recomputed("fashion-mnist")
