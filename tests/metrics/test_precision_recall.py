"""Precision/recall against torch-fidelity 0.4.0's prc on the same features (exact), and chunk invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_prc import prc_features_to_metric

from gan_eval.errors import UserError
from gan_eval.metrics import precision_recall
from gan_eval.metrics.precision_recall import knn_radii


def _sets(n_real: int, n_fake: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An 8-d latent Gaussian embedded in d dims (balls overlap in high d); fake: shifted, wider."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(8, d, generator=g) / 8**0.5
    real = torch.randn(n_real, 8, generator=g) @ w + 0.05 * torch.randn(n_real, d, generator=g)
    fake = (torch.randn(n_fake, 8, generator=g) * 1.2 + 0.8) @ w + 0.05 * torch.randn(n_fake, d, generator=g)
    return real, fake


def _tf(real: torch.Tensor, fake: torch.Tensor, k: int, batch: int, part: bool) -> dict:
    return prc_features_to_metric(  # torch-fidelity: input 1 = generated, input 2 = real
        fake, real, prc_neighborhood=k, prc_batch_size=batch, save_cpu_ram=part, verbose=False
    )


@pytest.mark.parametrize(
    ("n_real", "n_fake", "d", "k"), [(300, 250, 16, 3), (200, 260, 64, 5), (40, 30, 2048, 3)]
)
def test_equals_torch_fidelity_exactly(n_real: int, n_fake: int, d: int, k: int) -> None:
    real, fake = _sets(n_real, n_fake, d, seed=d)
    ref = _tf(real, fake, k, 10000, part=False)
    out = precision_recall(real, fake, k=k)
    assert 0 < out["precision"] < 1 and 0 < out["recall"] < 1
    assert out["precision"] == ref["precision"] and out["recall"] == ref["recall"]
    # chunked through blocks of 37 rows/columns: the same blocks as torch-fidelity's save_cpu_ram mode
    small = precision_recall(real.numpy(), fake.numpy(), k=k, chunk=37)
    ref_part = _tf(real, fake, k, 37, part=True)
    assert small == out
    assert (ref_part["precision"], ref_part["recall"]) == (small["precision"], small["recall"])


def test_radii_equal_brute_force() -> None:
    x = torch.randn(123, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    d = np.sqrt(((x.numpy()[:, None] - x.numpy()[None]) ** 2).sum(-1))
    ref = np.sort(d, axis=1)[:, 3]  # column 0 is the point itself
    np.testing.assert_allclose(knn_radii(x, 3, chunk=10).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_identical_sets_are_perfect_and_errors() -> None:
    real, _ = _sets(100, 1, 8, seed=4)
    out = precision_recall(real, real.clone())
    assert out == {"precision": 1.0, "recall": 1.0}
    with pytest.raises(UserError, match="at least 4 samples"):
        precision_recall(real, real[:3], k=3)
    with pytest.raises(UserError, match="dimension"):
        precision_recall(real, real[:, :4])
