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
from gan_eval.metrics.keys import STD_OF
from gan_eval.stats.feature_stats import FeatureStats, Moments

_STD_KEYS = frozenset(STD_OF.values())

NEEDS = frozenset({"stats", "features", "logits", "labels", "pixels", "train", "ratings"})
"""What a metric may read: the real and generated sets' ``stats`` (mean, covariance), kept ``features``,
classifier ``logits``; the real set's class ``labels``; the generated images themselves (``pixels``, uint8);
a ``train`` context (the training and held-out sets, for the memorization metrics); people's ``ratings``
(human evaluation: scored by ``gan-eval human score``, never by an evaluation pass)."""


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

    ``compute(real: inputs | None, fake: inputs, **context) -> dict``: values and diagnostics as floats, and
    arrays for the report under keys starting with ``_`` (details); ``keys``: the value keys it returns
    (and their stds); ``key_prefixes``: families of value keys named by the data (``fid_class_<c>``);
    ``directions``: value key (or prefix) -> True when higher is better, False when lower, None when neither
    (a two-sided statistic such as C_T); ``needs``: subset of ``NEEDS``; ``needs_real``: False for metrics
    of the generated set alone (IS); ``no_bootstrap``: why the metric gets no bootstrap interval (None: it
    may be bootstrapped).
    """

    name: str
    directions: Mapping[str, bool | None]
    needs: frozenset[str]
    compute: Compute
    keys: tuple[str, ...]
    needs_real: bool = True
    description: str = ""
    key_prefixes: tuple[str, ...] = ()
    no_bootstrap: str | None = None

    @property
    def higher_is_better(self) -> bool | None:
        """The direction of the metric's first value key (or key family)."""
        first = next((k for k in self.keys if k not in _STD_KEYS), None)
        return self.directions[first if first is not None else self.key_prefixes[0]]

    def owns(self, key: str) -> bool:
        """Whether ``key`` is one of this metric's value (or std) keys."""
        return key in self.keys or any(
            key.startswith(p) and key[len(p) :].isdigit() for p in self.key_prefixes
        )


METRICS: dict[str, MetricSpec] = {}
_DIRECTION: dict[str, bool | None] = {}  # result key -> higher is better (None: no single direction)
_PREFIX_DIRECTION: dict[str, bool | None] = {}  # key prefix (fid_class_) -> direction of its keys


def register_metric(
    name: str,
    *,
    higher_is_better: bool | Mapping[str, bool | None],
    needs: frozenset[str] | set[str],
    keys: tuple[str, ...],
    needs_real: bool = True,
    description: str = "",
    key_prefixes: Mapping[str, bool | None] | None = None,
    no_bootstrap: str | None = None,
) -> Callable[[Compute], Compute]:
    """Decorator: register ``compute(real, fake, **context)`` under ``name``. ``higher_is_better``: one
    direction for every value key, or a mapping value key -> direction (None: no single direction);
    ``key_prefixes``: prefix -> direction of data-named keys ``<prefix><int>``."""
    needs = frozenset(needs)
    if not needs or not needs <= NEEDS:
        raise ValueError(
            f"metric {name!r}: needs must be a non-empty subset of {sorted(NEEDS)}, got {sorted(needs)}"
        )
    valued = [key for key in keys if key not in _STD_KEYS]
    if isinstance(higher_is_better, Mapping):
        directions = dict(higher_is_better)
        if set(directions) != set(valued):
            raise ValueError(f"metric {name!r}: directions for {sorted(directions)}, value keys {valued}")
    else:
        directions = {key: higher_is_better for key in valued}
    prefixes = dict(key_prefixes or {})

    def wrap(compute: Compute) -> Compute:
        if name in METRICS and METRICS[name].compute is not compute:
            raise ValueError(f"metric {name!r} registered twice")
        for key, d in directions.items():
            if key in _DIRECTION and _DIRECTION[key] != d:
                raise ValueError(f"result key {key!r} registered with both directions")
        METRICS[name] = MetricSpec(
            name,
            {**directions, **prefixes},
            needs,
            compute,
            tuple(keys),
            needs_real,
            description,
            tuple(prefixes),
            no_bootstrap,
        )
        _DIRECTION.update(directions)
        _PREFIX_DIRECTION.update(prefixes)
        return compute

    return wrap


def list_metrics() -> list[str]:
    return sorted(METRICS)


def get_metric(name: str) -> MetricSpec:
    """The spec registered under ``name``; UserError listing the choices for an unknown name."""
    if name not in METRICS:
        raise UserError(f"unknown metric {name!r}; available: {', '.join(list_metrics())}")
    return METRICS[name]


def value_direction(key: str) -> bool | None:
    """Direction of a value key: True (higher is better), False (lower), None (a value with no single good
    direction, e.g. ``copying_ct``: about 0 is right). UserError for keys that are not values (stds,
    diagnostics, unknown keys)."""
    if key in _DIRECTION:
        return _DIRECTION[key]
    for prefix, d in _PREFIX_DIRECTION.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            return d
    known = sorted([*_DIRECTION, *(f"{p}<c>" for p in _PREFIX_DIRECTION)])
    raise UserError(f"result key {key!r} is not a metric value; value keys: {', '.join(known)}")


def higher_is_better(key: str) -> bool:
    """Direction of a result key (``fid`` -> False, ``precision`` -> True, ...). UserError for keys with no
    direction (stds, diagnostics, unknown, and two-sided values such as ``copying_ct``)."""
    d = value_direction(key)
    if d is None:
        raise UserError(
            f"result key {key!r} has no single good direction (use absolute bounds, not a ranking or a "
            "regression margin, for it)"
        )
    return d


def moments_of(inputs: Any, metric: str, side: str) -> Moments:
    """Mean, covariance and n of one set from ``inputs.stats`` (Moments / FeatureStats) or ``inputs.mu``..."""
    stats = getattr(inputs, "stats", None) if inputs is not None else None
    if isinstance(stats, Moments):
        return stats
    if getattr(inputs, "mu", None) is not None and getattr(inputs, "sigma", None) is not None:
        n = getattr(inputs, "n", None)
        return Moments(inputs.mu, inputs.sigma, None if n is None else int(n))
    if isinstance(stats, FeatureStats):
        if stats.n < 2:
            raise UserError(
                f"metric {metric!r}: the {side} set has {stats.n} image(s); its covariance needs at least 2"
            )
        return stats.moments()
    raise UserError(f"metric {metric!r} needs the {side} set's statistics, which were not computed")


def direction_table() -> Mapping[str, bool | None]:
    """Every fixed value key and its direction (read-only view for gates and reports)."""
    return dict(_DIRECTION)


def require(inputs: Any, what: str, metric: str, side: str) -> Any:
    value = None if inputs is None else getattr(inputs, what, None)
    if value is None:
        raise UserError(f"metric {metric!r} needs the {side} set's {what}, which were not computed")
    return value
