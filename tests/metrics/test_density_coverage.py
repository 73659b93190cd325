"""Density/coverage against a brute-force numpy implementation of the prdc package's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.errors import UserError
from gan_eval.metrics import density_coverage


def _prdc_dc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """prdc 0.2 compute_prdc's density and coverage, all N x M distances at once in float64."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    d_rr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    radii = np.sort(d_rr, axis=1)[:, k]  # prdc: the (k+1)-th smallest incl. the point itself
    d_rf = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))  # [N, M]
    density = (1.0 / k) * (d_rf < radii[:, None]).sum(axis=0).mean()
    coverage = (d_rf.min(axis=1) < radii).mean()
    return {"density": float(density), "coverage": float(coverage)}


@pytest.mark.parametrize(
    ("n_real", "n_fake", "d", "k"), [(200, 150, 8, 5), (120, 200, 32, 3), (60, 60, 2, 5)]
)
def test_equals_brute_force_prdc(n_real: int, n_fake: int, d: int, k: int) -> None:
    rng = np.random.default_rng(d)
    real = rng.standard_normal((n_real, d)).astype(np.float32)
    fake = (rng.standard_normal((n_fake, d)) * 1.2 + 0.25).astype(np.float32)
    ref = _prdc_dc(real, fake, k)
    assert 0 < ref["coverage"] < 1 and ref["density"] > 0
    out = density_coverage(real, fake, k=k)
    assert out["density"] == pytest.approx(ref["density"], rel=1e-12)
    assert out["coverage"] == pytest.approx(ref["coverage"], rel=1e-12)
    chunked = density_coverage(real, fake, k=k, chunk=17)
    assert chunked["density"] == pytest.approx(out["density"], rel=1e-12)
    assert chunked["coverage"] == out["coverage"]


def test_errors() -> None:
    with pytest.raises(UserError, match="at least 6 samples"):
        density_coverage(np.zeros((5, 3)), np.zeros((5, 3)), k=5)
