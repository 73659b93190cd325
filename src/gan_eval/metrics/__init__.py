"""Metrics: pure functions on features, logits or statistics, each returning ``dict[str, float]``."""

from gan_eval.metrics.density_coverage import density_coverage
from gan_eval.metrics.fid import fid_from_features, fid_from_stats
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.kid import kid
from gan_eval.metrics.precision_recall import precision_recall
from gan_eval.metrics.registry import (
    METRICS,
    MetricInputs,
    MetricSpec,
    get_metric,
    higher_is_better,
    list_metrics,
    register_metric,
    value_direction,
)

# the metrics register themselves on import; importing any gan_eval.metrics module runs this file first
from gan_eval.metrics import catalog  # noqa: E402, F401  isort: skip

__all__ = [
    "METRICS",
    "MetricInputs",
    "MetricSpec",
    "density_coverage",
    "fid_from_features",
    "fid_from_stats",
    "get_metric",
    "higher_is_better",
    "inception_score",
    "kid",
    "list_metrics",
    "precision_recall",
    "register_metric",
    "value_direction",
]
