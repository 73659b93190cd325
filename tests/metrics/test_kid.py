"""KID against torch-fidelity 0.4.0's own function on the same (float64) features and seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from gan_eval.errors import UserError
from gan_eval.metrics import kid
from gan_eval.metrics.kid import mmd2_unbiased, polynomial_kernel


def _features(n: int, d: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=torch.float64) * scale).relu()


@pytest.mark.parametrize(
    ("n_real", "n_fake", "d", "size", "degree", "gamma"),
    [
        (120, 100, 32, 50, 3, None),
        (80, 90, 16, 80, 2, 0.5),
        (64, 64, 2048, 64, 3, None),
    ],
)
def test_equals_torch_fidelity(n_real, n_fake, d, size, degree, gamma) -> None:
    real = _features(n_real, d, seed=1)
    fake = _features(n_fake, d, seed=2, scale=1.3)
    ref = kid_features_to_metric(
        fake,
        real,
        kid_subsets=7,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=gamma,
        kid_kernel_poly_coef0=1,
        rng_seed=123,
        verbose=False,
    )  # torch-fidelity's input 1 is the generated set
    out = kid(real, fake, subsets=7, subset_size=size, degree=degree, gamma=gamma, seed=123)
    assert out["kid_mean"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-6)
    assert out["kid_std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-6)
    assert out["kid_subset_size"] == size


def test_mmd_against_brute_force_loops() -> None:
    x, y = _features(12, 5, seed=3).numpy(), _features(12, 5, seed=4, scale=2).numpy()

    def k(a, b):
        return (a @ b / 5 + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    got = mmd2_unbiased(
        polynomial_kernel(tx, tx, 3, 0.2, 1),
        polynomial_kernel(tx, ty, 3, 0.2, 1),
        polynomial_kernel(ty, ty, 3, 0.2, 1),
    )
    assert got == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_clamps_subset_size_and_is_seeded() -> None:
    real, fake = _features(30, 8, seed=5), _features(40, 8, seed=6, scale=1.5)
    with pytest.warns(UserWarning, match="clamped to 30"):
        out = kid(real, fake, subsets=5, subset_size=1000)
    assert out["kid_subset_size"] == 30 and out["kid_subsets"] == 5
    with pytest.warns(UserWarning):
        again = kid(real.float().numpy(), fake.float().numpy(), subsets=5, subset_size=1000)
    assert again["kid_mean"] == pytest.approx(out["kid_mean"], rel=1e-5)  # float32 inputs, float64 kernels
    a = kid(real, fake, subsets=5, subset_size=20, seed=1)
    b = kid(real, fake, subsets=5, subset_size=20, seed=2)
    assert a["kid_mean"] != b["kid_mean"]
    same = kid(real[:15], real[15:], subsets=5, subset_size=15)  # same distribution: about 0
    assert abs(same["kid_mean"]) < 0.1 * a["kid_mean"]


def test_errors() -> None:
    with pytest.raises(UserError, match="at least 2"):
        kid(np.ones((1, 4)), np.ones((5, 4)))
    with pytest.raises(UserError, match="dimension"):
        kid(np.ones((5, 4)), np.ones((5, 3)))
