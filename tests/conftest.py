"""Shared fixtures: a dummy extractor so unit tests need no weights (torchmetrics' habit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_eval.features.registry import _REGISTRY, Extractor, register_extractor


class DummyExtractor(Extractor):
    """A fixed random projection of 8x8 average-pooled pixels: deterministic, fast, weight-free.

    features float32 [N, 16]; logits float32 [N, 10].
    """

    name = "dummy"
    feature_dim = 16
    num_classes = 10
    protocol = "dummy-8x8"
    weights_sha256 = "0" * 64

    def __init__(self, **_: object) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1234)
        self.register_buffer("proj", torch.randn(64, 16, generator=g))
        self.register_buffer("head", torch.randn(16, 10, generator=g))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.float().mean(dim=1, keepdim=True) / 255.0
        x = torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)
        feats = torch.tanh(x @ self.proj)
        return {"features": feats, "logits": feats @ self.head}


if "dummy" not in _REGISTRY:
    register_extractor("dummy")(DummyExtractor)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A private, empty cache root for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("GAN_EVAL_CACHE", str(root))
    return root


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def npz_pair(tmp_path, rng):
    """``npz_pair(n_real, n_fake, size, noise) -> (real.npz, fake.npz)``: uint8 [N, 1, size, size] real images
    and a noisier copy of the first ``n_fake`` of them as the fake set, written under ``tmp_path``."""

    def make(n_real: int, n_fake: int, size: int, noise: int):
        real = rng.integers(0, 256, size=(n_real, 1, size, size), dtype=np.uint8)
        jitter = rng.integers(-noise, noise, size=(n_fake, 1, size, size))
        fake = np.clip(real[:n_fake].astype(int) + jitter, 0, 255).astype(np.uint8)
        np.savez(tmp_path / "real.npz", images=real)
        np.savez(tmp_path / "fake.npz", images=fake)
        return tmp_path / "real.npz", tmp_path / "fake.npz"

    return make
