"""The ``mnist-lenet`` extractor: shipped weights, protocol lenet-28, accuracy, IS/FID behaviour, training.

The quality tests run the shipped network on the real MNIST test set (10,000 digits) and a 10,000-digit
subset of the training set; features are computed once per module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_eval.atomic import sha256_file
from gan_eval.data.datasets import load_arrays
from gan_eval.errors import UserError
from gan_eval.features import lenet, lenet_train
from gan_eval.features.registry import build_extractor, list_extractors
from gan_eval.metrics import fid_from_features, inception_score

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.4)


def _run(extractor: torch.nn.Module, images: np.ndarray, batch: int = 2000) -> dict[str, torch.Tensor]:
    """Extractor outputs for uint8 ``images [N, 28, 28]`` or ``[N, C, H, W]``, concatenated over batches."""
    x = torch.from_numpy(images)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    parts: list[dict[str, torch.Tensor]] = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            parts.append(extractor(x[i : i + batch]))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _add_noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise of std ``sigma`` in [0, 1] units, clipped and quantized back to uint8."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape)
    noisy = np.clip(images / 255.0 + noise, 0.0, 1.0)
    return np.rint(noisy * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def extractor() -> lenet.LeNetExtractor:
    return lenet.mnist_lenet()


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    return load_arrays("mnist", "test")


@pytest.fixture(scope="module")
def test_outputs(extractor, mnist_test) -> dict[str, torch.Tensor]:
    return _run(extractor, mnist_test[0])


@pytest.fixture(scope="module")
def train_features(extractor) -> torch.Tensor:
    images, _ = load_arrays("mnist", "train")
    subset = np.random.default_rng(0).choice(len(images), 10_000, replace=False)
    return _run(extractor, images[np.sort(subset)])["features"]


# ---------------------------------------------------------------- weights and registry
def test_shipped_weights_load_and_match_recorded_sha256():
    assert lenet.SHIPPED_WEIGHTS["mnist"][1] is not None
    for dataset, (filename, recorded) in lenet.SHIPPED_WEIGHTS.items():
        path = lenet.shipped_weights_path(dataset)
        if recorded is None:  # optional extractor not shipped: a clear error says how to train it
            with pytest.raises(UserError, match="classifier train"):
                build_extractor(f"{dataset}-lenet")
            continue
        assert path.name == filename
        assert path.stat().st_size <= 1_000_000
        assert sha256_file(path) == recorded
        ex = build_extractor(f"{dataset}-lenet")
        assert ex.weights_sha256 == recorded
        assert ex.meta["dataset"] == dataset
        assert ex.meta["torch_version"] and ex.meta["command"].startswith("gan-eval classifier train")


def test_registry_and_fingerprint(extractor):
    assert "mnist-lenet" in list_extractors()
    assert extractor.name == "mnist-lenet"
    assert extractor.feature_dim == lenet.FEATURE_DIM == 128
    assert extractor.num_classes == 10
    fp = extractor.fingerprint()
    assert fp["protocol"] == "lenet-28"
    assert fp["weights_sha256"] == lenet.SHIPPED_WEIGHTS["mnist"][1]


def test_shipped_sha256_mismatch_is_a_user_error(monkeypatch):
    monkeypatch.setitem(lenet.SHIPPED_WEIGHTS, "mnist", ("mnist_lenet.pt", "f" * 64))
    with pytest.raises(UserError, match="does not match"):
        lenet.mnist_lenet()


def test_user_weights_checked_against_sidecar(tmp_path):
    path = tmp_path / "mine.pt"
    shutil.copyfile(lenet.shipped_weights_path("mnist"), path)
    assert lenet.mnist_lenet(weights=path).weights_sha256 == sha256_file(path)  # no sidecar: recorded only
    path.with_name("mine.pt.sha256").write_text("0" * 64 + "  mine.pt\n")
    with pytest.raises(UserError, match="does not match"):
        lenet.mnist_lenet(weights=path)


def test_bad_weights_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        lenet.mnist_lenet(weights=tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a gan-eval lenet weights file"):
        lenet.mnist_lenet(weights=junk)
    with pytest.raises(UserError, match="trained on 'mnist'"):
        lenet.fashion_mnist_lenet(weights=lenet.shipped_weights_path("mnist"))
    with pytest.raises(UserError, match="one protocol"):
        build_extractor("mnist-lenet", protocol="pytorch-fid")


# ---------------------------------------------------------------- protocol lenet-28
def test_output_shapes_dtypes_and_input_checks(extractor, mnist_test):
    out = extractor(torch.from_numpy(mnist_test[0][:5]).unsqueeze(1))
    assert out["features"].shape == (5, 128) and out["features"].dtype == torch.float32
    assert out["logits"].shape == (5, 10) and out["logits"].dtype == torch.float32
    with pytest.raises(UserError, match="uint8"):
        extractor(torch.zeros(2, 1, 28, 28))
    with pytest.raises(UserError, match="C = 1 or 3"):
        extractor(torch.zeros(2, 2, 28, 28, dtype=torch.uint8))


def test_rgb_input_is_converted_by_luma(extractor, mnist_test):
    gray = torch.from_numpy(mnist_test[0][:64]).unsqueeze(1)
    out_gray = extractor(gray)
    out_rgb = extractor(gray.expand(-1, 3, -1, -1).contiguous())  # R = G = B: luma equals the gray value
    assert out_rgb["features"].shape == (64, 128)
    torch.testing.assert_close(out_rgb["logits"], out_gray["logits"], rtol=1e-4, atol=1e-4)
    # luma weights: a pure-green image is brighter than a pure-blue one
    green = torch.zeros(1, 3, 28, 28, dtype=torch.uint8)
    green[:, 1] = 200
    blue = torch.zeros(1, 3, 28, 28, dtype=torch.uint8)
    blue[:, 2] = 200
    assert lenet.preprocess(green, 0.0, 1.0).mean() > lenet.preprocess(blue, 0.0, 1.0).mean()
    expected = 200 * (0.587 - 0.114) / 255
    assert abs(float((lenet.preprocess(green, 0, 1) - lenet.preprocess(blue, 0, 1)).mean()) - expected) < 1e-5


def test_32x32_input_is_resized_and_still_classified(extractor, mnist_test):
    images, labels = mnist_test[0][:500], mnist_test[1][:500]
    big = F.interpolate(torch.from_numpy(images).unsqueeze(1).float(), size=(32, 32), mode="bilinear")
    big = big.round().clamp(0, 255).to(torch.uint8)
    assert lenet.preprocess(big, 0.0, 1.0).shape == (500, 1, 28, 28)
    out = extractor(big)
    assert out["features"].shape == (500, 128) and out["logits"].shape == (500, 10)
    acc = (out["logits"].argmax(1).numpy() == labels).mean()
    assert acc >= 0.97, acc


# ---------------------------------------------------------------- verified numbers
def test_accuracy_on_mnist_test_at_least_99_3_percent(test_outputs, mnist_test):
    pred = test_outputs["logits"].argmax(1).numpy()
    accuracy = float((pred == mnist_test[1]).mean())
    assert accuracy >= 0.993, f"mnist-lenet accuracy on mnist:test is {accuracy:.4%}"


def test_inception_score_of_mnist_test_at_least_9_8(test_outputs):
    score = inception_score(test_outputs["logits"], splits=10)["is_mean"]
    assert 9.8 <= score <= 10.0, score


def test_fid_train_vs_test_small_and_rising_with_noise(extractor, train_features, test_outputs, mnist_test):
    clean = fid_from_features(train_features, test_outputs["features"])["fid"]
    fids = [clean]
    for sigma in NOISE_SIGMAS:
        noisy = _run(extractor, _add_noise(mnist_test[0][:5000], sigma))["features"]
        fids.append(fid_from_features(train_features, noisy)["fid"])
    assert all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids
    assert clean < 0.05 * fids[-1], fids  # train vs test is small next to heavy corruption
    assert clean < 1.0, fids


# ---------------------------------------------------------------- training
def _train(tmp_path: Path, name: str, seed: int) -> dict:
    return lenet_train.train_classifier(
        "mnist",
        epochs=1,
        seed=seed,
        batch_size=100,
        train_limit=1000,
        test_limit=1000,
        out=tmp_path / name,
        progress=False,
    )


def test_train_classifier_is_reproducible(tmp_path):
    torch.manual_seed(123)
    r1 = _train(tmp_path, "a.pt", seed=0)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after)  # training forks the global RNG; callers are not disturbed
    r2 = _train(tmp_path, "b.pt", seed=0)
    _train(tmp_path, "c.pt", seed=1)
    s1, m1, _ = lenet.load_weights(tmp_path / "a.pt")  # also checks the .sha256 sidecar
    s2, m2, _ = lenet.load_weights(tmp_path / "b.pt")
    s3, _, _ = lenet.load_weights(tmp_path / "c.pt")
    assert s1.keys() == s2.keys()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    assert r1["test_accuracy"] == r2["test_accuracy"]
    assert m1["history"] == m2["history"] and m1["training"]["seed"] == 0
    # the file is a usable extractor
    ex = lenet.mnist_lenet(weights=tmp_path / "a.pt")
    assert ex.weights_sha256 == r1["sha256"] and ex.feature_dim == 128


def test_train_classifier_rejects_bad_arguments(tmp_path):
    with pytest.raises(UserError, match="unknown dataset"):
        lenet_train.train_classifier("cifar", out=tmp_path / "x.pt", progress=False)
    with pytest.raises(UserError, match="epochs"):
        lenet_train.train_classifier("mnist", epochs=0, out=tmp_path / "x.pt", progress=False)


def test_a_misspelt_extractor_option_is_refused_not_ignored():
    with pytest.raises(UserError, match="takes no option wieghts"):
        build_extractor("mnist-lenet", wieghts="x.pt")
