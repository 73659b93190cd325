"""Inception Score against torch-fidelity 0.4.0's own function on the same logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from gan_eval.errors import UserError
from gan_eval.metrics import inception_score


def _logits(n: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g) * 3.0


@pytest.mark.parametrize(("n", "k", "splits"), [(1000, 10, 10), (997, 1008, 10), (50, 10, 3), (64, 7, 1)])
def test_equals_torch_fidelity(n: int, k: int, splits: int) -> None:
    x = _logits(n, k, seed=n + k)
    for shuffle in (True, False):
        ref = isc_features_to_metric(x, splits=splits, shuffle=shuffle, rng_seed=2020)
        out = inception_score(x.numpy(), splits=splits, shuffle=shuffle)
        assert out["is_mean"] == pytest.approx(ref["inception_score_mean"], rel=1e-6)
        assert out["is_std"] == pytest.approx(ref["inception_score_std"], rel=1e-6, abs=1e-12)


def test_independent_formula_without_shuffle() -> None:
    x = _logits(100, 10, seed=1).double().numpy()
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for chunk in np.array_split(p, 4):
        q = chunk.mean(0)
        scores.append(np.exp(np.mean(np.sum(chunk * (np.log(chunk) - np.log(q)), axis=1))))
    out = inception_score(x, splits=4, shuffle=False)
    assert out["is_mean"] == pytest.approx(np.mean(scores), rel=1e-12)
    assert out["is_std"] == pytest.approx(np.std(scores), rel=1e-9)


def test_bounds_and_errors() -> None:
    confident = torch.eye(10).repeat(20, 1) * 50.0  # every class equally often, each sample certain
    assert inception_score(confident, splits=2, shuffle=False)["is_mean"] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(torch.zeros(40, 10), splits=2)["is_mean"] == pytest.approx(1.0)
    with pytest.raises(UserError, match="at least 10 samples"):
        inception_score(torch.zeros(5, 10))
