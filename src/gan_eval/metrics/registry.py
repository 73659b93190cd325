"""The metric registry: names, result keys, what each metric needs and which direction is better.

Every metric is a pure function returning ``dict[str, float]``. A registered metric wraps it in a uniform
``compute(real, fake, **options)`` so the pipeline can run any selection of metrics from one pass over the
features. Result keys are the constants of :mod:`gan_eval.metrics.keys`. A spec's ``keys`` are its value
keys and their stds; value keys have a direction (``higher_is_better(key)``), stds (``STD_OF``) and
diagnostics (other keys a metric returns, such as ``fid_clipped_eigs``) have none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gan_eval.errors import UserError
from gan_eval.metrics.density_coverage import density_coverage
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.keys import (
    COVERAGE,
    DENSITY,
    FID,
    IS_MEAN,
    IS_STD,
    KID_MEAN,
    KID_STD,
    PRECISION,
    RECALL,
    STD_OF,
)
from gan_eval.metrics.kid import kid
from gan_eval.metrics.precision_recall import precision_recall
from gan_eval.stats.feature_stats import FeatureStats, Moments

_STD_KEYS = frozenset(STD_OF.values())

NEEDS = frozenset({"stats", "features", "logits"})


@dataclass(frozen=True, eq=False)
class MetricInputs:
    """What a metric may read about one image set.

    ``stats``: mean/covariance as ``Moments`` or a ``FeatureStats``; ``features``: float [N, D] (torch or
    numpy); ``logits``: float [N, K] classifier logits. ``compute`` reads these attributes from any object
    (duck-typed), and for "stats" also accepts objects with ``mu``, ``sigma`` and ``n`` attributes.
    """

    stats: Moments | FeatureStats | None = None
    features: Any = None
    logits: Any = None


Compute = Callable[..., dict[str, float]]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    ``compute(real: MetricInputs | None, fake: MetricInputs, **options) -> dict[str, float]``; ``keys``: the
    value keys it returns (all with direction ``higher_is_better``); ``needs``: subset of
    {"stats", "features", "logits"}; ``needs_real``: False for metrics of the fake set alone (IS).
    """

    name: str
    higher_is_better: bool
    needs: frozenset[str]
    compute: Compute
    keys: tuple[str, ...]
    needs_real: bool = True
    description: str = ""


METRICS: dict[str, MetricSpec] = {}
_DIRECTION: dict[str, bool] = {}  # result key -> higher is better


def register_metric(
    name: str,
    *,
    higher_is_better: bool,
    needs: frozenset[str] | set[str],
    keys: tuple[str, ...],
    needs_real: bool = True,
    description: str = "",
) -> Callable[[Compute], Compute]:
    """Decorator: register ``compute(real, fake, **options)`` under ``name``."""
    needs = frozenset(needs)
    if not needs or not needs <= NEEDS:
        raise ValueError(
            f"metric {name!r}: needs must be a non-empty subset of {sorted(NEEDS)}, got {sorted(needs)}"
        )

    def wrap(compute: Compute) -> Compute:
        if name in METRICS and METRICS[name].compute is not compute:
            raise ValueError(f"metric {name!r} registered twice")
        valued = [key for key in keys if key not in _STD_KEYS]
        for key in valued:
            if key in _DIRECTION and _DIRECTION[key] != higher_is_better:
                raise ValueError(f"result key {key!r} registered with both directions")
        METRICS[name] = MetricSpec(
            name, higher_is_better, needs, compute, tuple(keys), needs_real, description
        )
        for key in valued:
            _DIRECTION[key] = higher_is_better
        return compute

    return wrap


def list_metrics() -> list[str]:
    return sorted(METRICS)


def get_metric(name: str) -> MetricSpec:
    """The spec registered under ``name``; UserError listing the choices for an unknown name."""
    if name not in METRICS:
        raise UserError(f"unknown metric {name!r}; available: {', '.join(list_metrics())}")
    return METRICS[name]


def higher_is_better(key: str) -> bool:
    """Direction of a result key (``fid`` -> False, ``precision`` -> True, ...). UserError for keys with no
    direction (stds, diagnostics, unknown)."""
    if key not in _DIRECTION:
        raise UserError(
            f"result key {key!r} has no direction; keys with one: {', '.join(sorted(_DIRECTION))}"
        )
    return _DIRECTION[key]


def _require(inputs: Any, what: str, metric: str, side: str) -> Any:
    value = None if inputs is None else getattr(inputs, what)
    if value is None:
        raise UserError(f"metric {metric!r} needs the {side} set's {what}, which were not computed")
    return value


def _moments(inputs: Any, metric: str, side: str) -> Moments:
    """Mean, covariance and n of one set from ``inputs.stats`` (Moments / FeatureStats) or ``inputs.mu``..."""
    stats = getattr(inputs, "stats", None) if inputs is not None else None
    if isinstance(stats, Moments):
        return stats
    if getattr(inputs, "mu", None) is not None and getattr(inputs, "sigma", None) is not None:
        n = getattr(inputs, "n", None)
        return Moments(inputs.mu, inputs.sigma, None if n is None else int(n))
    if isinstance(stats, FeatureStats):
        return stats.moments()
    raise UserError(f"metric {metric!r} needs the {side} set's statistics, which were not computed")


# -- the built-in metrics -----------------------------------------------------------------------------------


@register_metric(
    "fid",
    higher_is_better=False,
    needs={"stats"},
    keys=(FID,),
    description="Frechet distance of feature Gaussians",
)
def _fid(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    r = _moments(real, "fid", "real")
    f = _moments(fake, "fid", "fake")
    names = ("the real set's statistics", "the generated set's statistics")
    return fid_from_stats(r.mu, r.sigma, f.mu, f.sigma, n1=r.n, n2=f.n, names=names, **options)


@register_metric(
    "is",
    higher_is_better=True,
    needs={"logits"},
    keys=(IS_MEAN, IS_STD),
    needs_real=False,
    description="Inception Score (torch-fidelity's definition)",
)
def _is(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return inception_score(_require(fake, "logits", "is", "fake"), **options)


@register_metric(
    "kid",
    higher_is_better=False,
    needs={"features"},
    keys=(KID_MEAN, KID_STD),
    description="Kernel Inception Distance",
)
def _kid(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return kid(
        _require(real, "features", "kid", "real"), _require(fake, "features", "kid", "fake"), **options
    )


@register_metric(
    "pr",
    higher_is_better=True,
    needs={"features"},
    keys=(PRECISION, RECALL),
    description="Improved precision and recall (Kynkaanniemi et al. 2019)",
)
def _pr(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return precision_recall(
        _require(real, "features", "pr", "real"), _require(fake, "features", "pr", "fake"), **options
    )


@register_metric(
    "dc",
    higher_is_better=True,
    needs={"features"},
    keys=(DENSITY, COVERAGE),
    description="Density and coverage (Naeem et al. 2020)",
)
def _dc(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return density_coverage(
        _require(real, "features", "dc", "real"), _require(fake, "features", "dc", "fake"), **options
    )


def direction_table() -> Mapping[str, bool]:
    """Every value key and whether higher is better (read-only view for gates and reports)."""
    return dict(_DIRECTION)
