"""Sources: anything that yields uint8 image batches ``[N, C, H, W]`` (C = 1 or 3) with a known count and
a stable identity (used in cache keys). Use :func:`parse_source` to turn a command-line spec into one."""

from gan_eval.data.base import ArraySource, Source, subset_indices
from gan_eval.data.spec import parse_source

__all__ = ["ArraySource", "Source", "parse_source", "subset_indices"]
