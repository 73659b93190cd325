"""Feature extractors (one file each, self-registering), preprocessing protocols and weight handling."""

from gan_eval.features.registry import Extractor, build_extractor, list_extractors, register_extractor

__all__ = ["Extractor", "build_extractor", "list_extractors", "register_extractor"]
