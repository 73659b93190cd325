"""Streaming feature statistics (float64, mergeable) and the ``.npz`` statistics file."""

from gan_eval.stats.feature_stats import (
    FORMAT_VERSION,
    FeatureStats,
    Moments,
    as_feature_tensor,
    load_moments,
    save_moments,
)

__all__ = ["FORMAT_VERSION", "FeatureStats", "Moments", "as_feature_tensor", "load_moments", "save_moments"]
