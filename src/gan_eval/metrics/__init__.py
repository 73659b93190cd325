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
)

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
]
