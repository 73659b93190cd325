"""The Vendi score against the vendi-score package (0.0.3) on the same features, and its limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from vendi_score import vendi as reference

from gan_eval.errors import UserError
from gan_eval.metrics.vendi import HIGHER_IS_BETTER, VENDI, VENDI_REAL, vendi, vendi_eigenvalues, vendi_score


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # vendi-score 0.0.3 uses scipy.sparse.csr
@pytest.mark.parametrize(("n", "d"), [(50, 8), (200, 300), (1000, 64)])
def test_equals_vendi_score_package(n, d):
    x = np.random.default_rng(n).standard_normal((n, d)) + 0.3
    ours = vendi_score(x)
    assert ours == pytest.approx(reference.score_dual(x), rel=1e-6)
    assert ours == pytest.approx(reference.score_X(x), rel=1e-6)  # the N x N form
    for q in (0.5, 2.0):
        assert vendi_score(x, q=q) == pytest.approx(reference.score_dual(x, q=q), rel=1e-6)
    assert vendi_score(x, q=np.inf) == pytest.approx(reference.score_dual(x, q="inf"), rel=1e-6)
    assert vendi_score(torch.from_numpy(x).float()) == pytest.approx(ours, rel=1e-5)


def test_identical_orthogonal_and_bounds():
    assert vendi_score(np.tile([[1.0, 2.0, 3.0]], (100, 1))) == pytest.approx(1.0, abs=1e-9)
    assert vendi_score(np.eye(20) * 3.0) == pytest.approx(20.0, rel=1e-12)
    x = np.random.default_rng(1).standard_normal((500, 16))
    assert 1.0 <= vendi_score(x) <= 16.0
    # duplicating every sample leaves the effective number unchanged
    assert vendi_score(np.concatenate([x, x])) == pytest.approx(vendi_score(x), rel=1e-12)


def test_large_n_never_builds_an_n_by_n_matrix():
    """200,000 samples: an N x N float64 matrix would take 320 GB; the D x D form takes kilobytes."""
    x = torch.randn(200_000, 8, generator=torch.Generator().manual_seed(0))
    w = vendi_eigenvalues(x)
    assert w.shape == (8,) and w.sum() == pytest.approx(1.0, rel=1e-12)
    assert 7.9 < vendi_score(x) <= 8.0


def test_dict_zero_rows_and_errors():
    rng = np.random.default_rng(2)
    fake, real = rng.standard_normal((100, 5)), rng.standard_normal((300, 5))
    out = vendi(fake, real)
    assert out == {VENDI: vendi_score(fake), VENDI_REAL: vendi_score(real)}
    assert set(HIGHER_IS_BETTER) == set(out)
    assert vendi(fake) == {VENDI: vendi_score(fake)}
    fake[3] = 0
    with pytest.raises(UserError, match="1 of 100 rows have zero norm"):
        vendi_score(fake)
    with pytest.raises(UserError, match="order q"):
        vendi_score(real, q=-1)
    with pytest.raises(UserError, match="at least one sample"):
        vendi_score(np.zeros((0, 3)))
