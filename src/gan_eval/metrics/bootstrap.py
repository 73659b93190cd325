"""Bootstrap confidence intervals over the generated samples (the real set fixed), from one pass of features.

A bootstrap resample draws the n generated samples with replacement:
``numpy.random.default_rng(seed + 1).integers(0, n, size=n)`` per resample, in sequence (the draws of the
reference implementation, :func:`reference_replicates`, so the same seed gives the same resamples). A
resample is the multinomial count vector ``c`` (float64 [n], sums to n) of those indices, and each metric
reads the features and logits computed once:

- **fid**, **is**: :mod:`gan_eval.metrics.replicates` (weighted moments; count matrices), equal to the
  reference to float64 rounding;
- **kid**: :mod:`gan_eval.metrics.replicates_kid` (the full-sample MMD^2 from kernel tiles computed once,
  centred on the reported value, with the subset noise added exactly).

Metrics whose registration states a ``no_bootstrap`` reason (the k-NN metrics: resampling with replacement
duplicates samples, whose zero-distance neighbours shrink the k-NN radii and bias the intervals; the
extrapolations, class counts, memorization) get none, with that reason. Other registered metrics fall back
to the reference (:func:`reference_replicates`): the metric rerun on every resample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.keys import FID, IS_MEAN, KID_MEAN, STD_OF
from gan_eval.metrics.registry import MetricInputs, MetricSpec, get_metric
from gan_eval.metrics.replicates import fid_replicates, is_replicates
from gan_eval.metrics.replicates_kid import kid_point, kid_replicates, kid_tiles
from gan_eval.stats.feature_stats import FeatureStats, Moments, as_feature_tensor

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called with 0 first and after each step (a resample, or a kernel tile)."""


@dataclass(frozen=True)
class BootstrapResult:
    """``intervals``: result key -> (low, high) percentile interval; ``skipped``: metric name -> why it got
    none; ``replicates``: result key -> float64 [b] the bootstrap values the interval comes from."""

    intervals: dict[str, tuple[float, float]]
    skipped: dict[str, str]
    replicates: dict[str, np.ndarray] = field(repr=False)
    n_resamples: int = 0
    level: float = 0.95


def resample_indices(n: int, b: int, seed: int) -> Iterator[np.ndarray]:
    """The ``b`` resamples of ``n`` samples: int64 [n] indices in [0, n), drawn with replacement."""
    rng = np.random.default_rng(seed + 1)
    for _ in range(b):
        yield rng.integers(0, n, size=n)


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of ``values`` (numpy's linear interpolation)."""
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return float(np.percentile(values, lo)), float(np.percentile(values, hi))


def _check(metrics: Sequence[str], b: int, level: float) -> None:
    if b < 2:
        raise UserError(f"--bootstrap {b}: expected at least 2 resamples (0 for no intervals)")
    if not 0 < level < 1:
        raise UserError(f"confidence level {level}: expected a number between 0 and 1")


def bootstrap_intervals(
    metrics: Sequence[str],
    fake_features: Any,
    *,
    fake_logits: Any = None,
    real_mu: Any = None,
    real_sigma: Any = None,
    real_features: Any = None,
    reported: Mapping[str, float] | None = None,
    n_resamples: int,
    seed: int = 0,
    level: float = 0.95,
    progress: Progress | None = None,
) -> BootstrapResult:
    """Percentile bootstrap intervals of ``metrics`` over the generated samples (see the module docstring).

    Args:
        metrics: registered metric names (``fid``, ``is``, ``kid``, ...; those registered with a
            ``no_bootstrap`` reason are skipped).
        fake_features: float [n, D] (numpy or torch), every generated sample's features.
        fake_logits: float [n, C], every generated sample's logits (for ``is``).
        real_mu, real_sigma: float64 [D], [D, D] the real set's mean and covariance (for ``fid``).
        real_features: float [m, D], the kept real features (for ``kid``).
        reported: the evaluation's values, needed to centre the KID interval: ``kid_mean``, ``kid_std`` and
            ``kid_subsets`` (as ``kid`` returns them). Missing: ``kid`` is computed here once more.
        n_resamples: b >= 2; seed: the evaluation's seed (resamples use ``seed + 1``); level: e.g. 0.95.
        progress: ``progress(done, total)`` after each step (see ``Progress``).
    Returns value key -> (low, high) for fid, is_mean, kid_mean (and any other registered metric), and the
    skipped metrics with the reason.
    """
    _check(metrics, n_resamples, level)
    specs = [get_metric(m) for m in dict.fromkeys(metrics)]  # each once, in order
    skipped = {s.name: s.no_bootstrap for s in specs if s.no_bootstrap is not None}
    names = [s.name for s in specs if s.name not in skipped]
    fast = {"fid", "is", "kid"}
    generic = [m for m in names if m not in fast]
    x = as_feature_tensor(fake_features, "fake features").cpu()
    n = int(x.shape[0])
    if n < 2:
        raise UserError(f"the bootstrap needs at least 2 generated samples, got {n}")
    b = n_resamples
    idx = np.stack(list(resample_indices(n, b, seed)))  # int64 [b, n]
    tiles = kid_tiles(n, 0 if real_features is None else int(real_features.shape[0])) if "kid" in names else 0
    total = b * sum(m in names for m in ("fid", "is")) + tiles + b * len(generic)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    reps: dict[str, np.ndarray] = {}
    if "fid" in names:
        if real_mu is None or real_sigma is None:
            raise UserError("metric 'fid' needs the real set's statistics, which were not computed")
        reps[FID] = fid_replicates(x, idx, real_mu, real_sigma, tick)
    if "is" in names:
        if fake_logits is None:
            raise UserError("metric 'is' needs the fake set's logits, which were not computed")
        reps[IS_MEAN] = is_replicates(fake_logits, idx, tick)
    if "kid" in names:
        if real_features is None:
            raise UserError("metric 'kid' needs the real set's features, which were not computed")
        point = kid_point(reported, real_features, x)
        reps[KID_MEAN] = kid_replicates(x, real_features, idx, point, seed, tick)
    if generic:
        reps.update(
            reference_replicates(
                generic,
                fake_features,
                fake_logits=fake_logits,
                real_mu=real_mu,
                real_sigma=real_sigma,
                real_features=real_features,
                n_resamples=b,
                seed=seed,
                progress=lambda i, _t: tick() if i else None,
            )
        )
    return BootstrapResult(
        intervals={k: percentile_interval(v, level) for k, v in reps.items()},
        skipped=skipped,
        replicates=reps,
        n_resamples=b,
        level=level,
    )


def bootstrap_cis(
    specs: Sequence[MetricSpec],
    real: Any,
    fake: Any,
    b: int,
    seed: int,
    *,
    level: float = 0.95,
    reported: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> dict[str, tuple[float, float]]:
    """The evaluation's intervals: value key -> (low, high) for the metrics of ``specs`` that may be
    resampled. ``real`` / ``fake``: the extracted sets (``mu``, ``sigma``, ``features``, ``logits``;
    ``fake.features`` holds every generated sample); ``reported``: the evaluation's values, stds and
    diagnostics (they centre the KID interval)."""
    if fake.features is None:
        raise UserError("bootstrap intervals need every generated sample's features, which were not kept")
    return bootstrap_intervals(
        [s.name for s in specs],
        fake.features,
        fake_logits=fake.logits,
        real_mu=None if real is None else real.mu,
        real_sigma=None if real is None else real.sigma,
        real_features=None if real is None else real.features,
        reported=reported,
        n_resamples=b,
        seed=seed,
        level=level,
        progress=progress,
    ).intervals


# ----------------------------------------------------------------------------------------- the reference
def reference_replicates(
    metrics: Sequence[str],
    fake_features: Any,
    *,
    fake_logits: Any = None,
    real_mu: Any = None,
    real_sigma: Any = None,
    real_features: Any = None,
    n_resamples: int,
    seed: int = 0,
    progress: Progress | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """The slow, exact bootstrap: every metric rerun on every resample (the implementation before issue 11,
    kept as the reference the fast path is tested against, and for metrics without a fast path).

    Inputs as :func:`bootstrap_intervals`; ``metric_options``: metric name -> keyword arguments of its
    ``compute`` (e.g. ``{"kid": {"subsets": 20}}``). Returns value key -> float64 [b] replicates (std keys
    left out).
    """
    specs = [get_metric(m) for m in metrics]
    feats_all = np.asarray(
        fake_features.detach().cpu() if isinstance(fake_features, torch.Tensor) else fake_features
    )
    logits_all = None
    if fake_logits is not None:
        logits_all = np.asarray(
            fake_logits.detach().cpu() if isinstance(fake_logits, torch.Tensor) else fake_logits
        )
    n = feats_all.shape[0]
    real_stats = None
    if real_mu is not None and real_sigma is not None:
        real_stats = Moments(np.asarray(real_mu), np.asarray(real_sigma), None)
    real = MetricInputs(stats=real_stats, features=real_features)
    stds = set(STD_OF.values())
    draws: dict[str, list[float]] = {}
    if progress is not None:
        progress(0, n_resamples)
    for i, idx in enumerate(resample_indices(n, n_resamples, seed)):
        feats = feats_all[idx]
        st = FeatureStats(feats.shape[1]).update(feats)
        fake = MetricInputs(
            stats=Moments(st.mean(), st.cov(), n),
            features=feats,
            logits=None if logits_all is None else logits_all[idx],
        )
        for spec in specs:
            opts = (metric_options or {}).get(spec.name, {})
            for k, v in spec.compute(real if spec.needs_real else None, fake, **opts).items():
                if k in spec.keys and k not in stds:
                    draws.setdefault(k, []).append(float(v))
        if progress is not None:
            progress(i + 1, n_resamples)
    return {k: np.asarray(v) for k, v in draws.items()}
