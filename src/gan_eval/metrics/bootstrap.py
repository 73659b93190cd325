"""Percentile bootstrap intervals over the generated samples, and which metrics may be resampled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gan_eval.metrics.keys import STD_OF
from gan_eval.metrics.registry import MetricSpec
from gan_eval.stats.feature_stats import FeatureStats


@dataclass
class _Resampled:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray
    logits: np.ndarray | None
    stats: Any = None


def bootstrap_cis(
    specs: Sequence[MetricSpec],
    real: Any,
    fake: Any,
    b: int,
    seed: int,
    level: float = 0.95,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap over the generated samples (resampled with replacement), real set fixed.

    ``real`` / ``fake``: what the metrics read (``mu``, ``sigma``, ``n``, ``features`` float32 [N, D],
    ``logits`` float32 [N, C]); ``fake.features`` must hold every generated sample. Returns value key ->
    (low, high) at ``level``; metrics whose spec gives a ``no_bootstrap`` reason are skipped.
    ``progress(done, b)`` is called after each resample.
    """
    assert fake.features is not None
    specs = [s for s in specs if s.no_bootstrap is None]  # each spec states why it cannot be resampled
    rng = np.random.default_rng(seed + 1)
    n = fake.n
    draws: dict[str, list[float]] = {}
    for i in range(b):
        idx = rng.integers(0, n, size=n)
        feats = fake.features[idx]
        st = FeatureStats(feats.shape[1])
        st.update(feats)
        boot = _Resampled(
            st.mean(), st.cov(), n, feats, None if fake.logits is None else fake.logits[idx], st
        )
        for spec in specs:
            for k, v in spec.compute(real if spec.needs_real else None, boot).items():
                if k in spec.keys and k not in STD_OF.values():
                    draws.setdefault(k, []).append(float(v))
        if progress is not None:
            progress(i + 1, b)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: (float(np.percentile(v, lo)), float(np.percentile(v, hi))) for k, v in draws.items()}
