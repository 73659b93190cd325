"""Per-class metrics with a classifier (mnist-lenet, fashion-mnist-lenet): the generated class distribution
against the real one, class coverage, and per-class FID.

**Recognised samples only.** A generated sample counts toward a class only when the classifier recognises it
as one of its classes at all (the extractor's recognition rule, :mod:`gan_eval.features.recognition`: the
shipped rules keep 99 % of the real test images). ``class_unrecognised`` is the share it does not recognise
(lower is better); every other value here is computed from the recognised samples, and each value's row
carries the number of generated samples it used (``<key>_n_fake``: the recognised samples, or for a
per-class FID the samples of that class). An extractor without a rule (``--weights`` without a
``.recognition.npz`` beside them) counts every sample, and there is no ``class_unrecognised``.

**Class distribution.** Recognised generated samples get the classifier's class (``argmax`` of the logits;
ties to the lower class); real samples their dataset labels when known, else the classifier's classes. With
real frequencies ``p`` and generated frequencies ``q`` over K classes:

- ``class_kl`` = KL(p || q_s) = sum_c p_c log(p_c / q_s,c) in nats, where ``q_s = (n_c + 1/2) / (N + K/2)``
  is the generated distribution with add-1/2 (Krichevsky-Trofimov / Jeffreys) smoothing. Direction: real
  first, because the question is whether the generator covers the real classes; KL(p || q) is the coding
  cost of real labels under the generator's frequencies and grows without bound as a real class is dropped,
  whereas KL(q || p) barely moves (log(10/9) = 0.105 for one of ten balanced classes dropped). The
  smoothing keeps a dropped class finite and large: with N = 10,000 and p_c = 0.1 it adds about 0.76 nats.
  Lower is better; 0 when q = p (up to the smoothing).
- ``class_tv`` = 1/2 sum_c |p_c - q_c| (unsmoothed), in [0, 1], lower is better.
- ``class_coverage``: the number of real classes (p_c > 0) with q_c >= 1/4 p_c; higher is better, at most
  the number of real classes (``class_coverage_frac`` divides by it).
- diagnostics: ``class_max_share`` (the largest q_c) and ``class_max`` (its class).

No recognised sample at all: these have no value (a warning says so), only ``class_unrecognised`` (1.0).

**Per-class FID** (``fid_class_<c>``, lower is better): FID between the real samples of class c (label) and
the recognised generated samples the classifier puts in class c, with ``fid_class_<c>_n_fake`` the generated
count and ``fid_class_<c>_n_real`` the real count. A class with fewer than 2 samples on a side has no
covariance: it gets no value, and one warning names every such class and why. Another names every class with
fewer generated samples than the feature dimension (its FID is then biased upward). The class is part of the
metric name (``fid_class_3``) rather than a new column of the results table: the table stays long-format
with one value per (metric, ...) row, and a filter on the name prefix ``fid_class_`` selects all of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.stats.feature_stats import FeatureStats, Moments, as_feature_tensor

# -- result keys --------------------------------------------------------------------------------------------
CLASS_KL = "class_kl"  # value, nats, lower is better
CLASS_TV = "class_tv"  # value in [0, 1], lower is better
CLASS_COVERAGE = "class_coverage"  # value, number of classes, higher is better
CLASS_COVERAGE_FRAC = "class_coverage_frac"  # value in [0, 1], higher is better
CLASS_MAX_SHARE = "class_max_share"  # diagnostic: largest generated class share
CLASS_MAX = "class_max"  # diagnostic: that class
CLASS_UNRECOGNISED = "class_unrecognised"  # share of generated samples not recognised as any class, lower
FID_CLASS_PREFIX = "fid_class_"

HIGHER_IS_BETTER: dict[str, bool | None] = {
    CLASS_KL: False,
    CLASS_TV: False,
    CLASS_COVERAGE: True,
    CLASS_COVERAGE_FRAC: True,
    CLASS_UNRECOGNISED: False,
}
"""Direction of each value key; every ``fid_class_<c>`` is a value too, lower is better (``_n_fake`` and
``_n_real`` suffixes and ``class_max*`` are diagnostics)."""

DEFAULT_COVERAGE_RATIO = 0.25
DEFAULT_SMOOTHING = 0.5


def fid_class_key(c: int) -> str:
    """``fid_class_<c>``: per-class FID (value, lower is better)."""
    return f"{FID_CLASS_PREFIX}{int(c)}"


def fid_class_n_key(c: int) -> str:
    """``fid_class_<c>_n_fake``: (recognised) generated samples in class c (diagnostic)."""
    return f"{FID_CLASS_PREFIX}{int(c)}_n_fake"


def fid_class_n_real_key(c: int) -> str:
    """``fid_class_<c>_n_real``: real samples of class c (diagnostic)."""
    return f"{FID_CLASS_PREFIX}{int(c)}_n_real"


def predicted_classes(logits: Any) -> np.ndarray:
    """int64 [N]: ``argmax`` of classifier ``logits`` float [N, K] (ties go to the lower class)."""
    x = as_feature_tensor(logits, "logits")
    return x.argmax(dim=1).cpu().numpy().astype(np.int64)


def recognised_classes(logits: Any, recognised: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(classes, keep)``: the predicted classes int64 [M] of the recognised rows of ``logits`` float [N, K]
    and the mask bool [N] that picked them; ``recognised`` None (no rule): every row, and ``keep`` None."""
    classes = predicted_classes(logits)
    if recognised is None:
        return classes, None
    keep = np.asarray(recognised.cpu() if isinstance(recognised, torch.Tensor) else recognised, dtype=bool)
    if keep.shape != classes.shape:
        raise UserError(f"recognised: expected a mask of {classes.shape[0]} samples, got shape {keep.shape}")
    return classes[keep], keep


def class_counts(labels: Any, num_classes: int) -> np.ndarray:
    """int64 [num_classes]: how many of ``labels`` int [N] fall in each class. UserError for labels outside
    [0, num_classes)."""
    lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if lab.ndim != 1 or (lab.size and not np.issubdtype(lab.dtype, np.integer)):
        raise UserError(f"labels: expected a 1-D integer array [N], got {lab.dtype} of shape {lab.shape}")
    if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
        raise UserError(f"labels: values must be in [0, {num_classes}), got [{lab.min()}, {lab.max()}]")
    return np.bincount(lab.astype(np.int64), minlength=num_classes).astype(np.int64)


@dataclass(frozen=True, eq=False)
class ClassDistribution:
    """The class-distribution comparison. ``real_freq``, ``fake_freq`` float64 [K]; ``real_counts``,
    ``fake_counts`` int64 [K]; ``covered`` bool [K] (real classes with q_c >= ratio p_c); ``under``: the
    real classes that are not covered; ``values``: the dict ``class_distribution`` returns."""

    real_counts: np.ndarray
    fake_counts: np.ndarray
    real_freq: np.ndarray
    fake_freq: np.ndarray
    covered: np.ndarray
    under: tuple[int, ...]
    coverage_ratio: float
    values: dict[str, float]

    def summary(self) -> str:
        """One line for the report, e.g. "class 8 holds 48.0% of generated samples (real 9.8%); 2 of 10
        classes under 1/4 of their real share: 0 (0.3% vs 9.9%), 6 (0.8% vs 9.9%)"."""
        top = int(self.values[CLASS_MAX])
        text = (
            f"class {top} holds {100 * self.fake_freq[top]:.1f}% of generated samples "
            f"(real {100 * self.real_freq[top]:.1f}%)"
        )
        n_real = int((self.real_counts > 0).sum())
        if not self.under:
            return text + f"; all {n_real} classes at least {self.coverage_ratio:g} of their real share"
        parts = ", ".join(
            f"{c} ({100 * self.fake_freq[c]:.1f}% vs {100 * self.real_freq[c]:.1f}%)" for c in self.under
        )
        return (
            text
            + f"; {len(self.under)} of {n_real} classes under {self.coverage_ratio:g} of their real share: "
            + parts
        )


def class_distribution_details(
    real_counts: Any,
    fake_counts: Any,
    *,
    coverage_ratio: float = DEFAULT_COVERAGE_RATIO,
    smoothing: float = DEFAULT_SMOOTHING,
) -> ClassDistribution:
    """Compare class counts ``real_counts`` int [K] (dataset labels, or classifier predictions of the real
    set) with ``fake_counts`` int [K] (``class_counts(predicted_classes(fake_logits), K)``). See the module
    docstring for the values and their directions."""
    rc = np.asarray(real_counts, dtype=np.float64)
    fc = np.asarray(fake_counts, dtype=np.float64)
    if rc.ndim != 1 or rc.shape != fc.shape or rc.size < 1:
        raise UserError(f"class counts must be 1-D of one length, got {rc.shape} and {fc.shape}")
    if (rc < 0).any() or (fc < 0).any() or rc.sum() <= 0 or fc.sum() <= 0:
        raise UserError("class counts must be non-negative with at least one sample on each side")
    if smoothing <= 0 or not 0 < coverage_ratio <= 1:
        raise UserError(f"need smoothing > 0 and coverage_ratio in (0, 1], got {smoothing}, {coverage_ratio}")
    k = rc.size
    p, q = rc / rc.sum(), fc / fc.sum()
    q_s = (fc + smoothing) / (fc.sum() + k * smoothing)
    real = p > 0
    kl = float(np.sum(p[real] * np.log(p[real] / q_s[real])))
    tv = float(0.5 * np.abs(p - q).sum())
    covered = real & (q >= coverage_ratio * p)
    under = tuple(int(c) for c in np.flatnonzero(real & ~covered))
    top = int(np.argmax(q))
    values = {
        CLASS_KL: kl,
        CLASS_TV: tv,
        CLASS_COVERAGE: float(covered.sum()),
        CLASS_COVERAGE_FRAC: float(covered.sum() / real.sum()),
        CLASS_MAX_SHARE: float(q[top]),
        CLASS_MAX: float(top),
    }
    return ClassDistribution(
        rc.astype(np.int64), fc.astype(np.int64), p, q, covered, under, coverage_ratio, values
    )


def class_distribution(
    real_counts: Any,
    fake_counts: Any,
    *,
    coverage_ratio: float = DEFAULT_COVERAGE_RATIO,
    smoothing: float = DEFAULT_SMOOTHING,
) -> dict[str, float]:
    """``class_kl``, ``class_tv`` (lower is better), ``class_coverage``, ``class_coverage_frac`` (higher is
    better), diagnostics ``class_max_share``, ``class_max``; see ``class_distribution_details``."""
    return class_distribution_details(
        real_counts, fake_counts, coverage_ratio=coverage_ratio, smoothing=smoothing
    ).values


def class_moments(features: Any, labels: Any, num_classes: int) -> dict[int, Moments]:
    """Mean and covariance (float64) of the ``features`` float [N, D] of each class in ``labels`` int [N]
    that has at least 2 samples (the real side of ``per_class_fid``; cache these with the real statistics)."""
    x = as_feature_tensor(features, "features")
    counts = class_counts(labels, num_classes)
    if counts.sum() != x.shape[0]:
        raise UserError(f"labels: {counts.sum()} labels for {x.shape[0]} feature rows")
    lab = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    out: dict[int, Moments] = {}
    for c in np.flatnonzero(counts >= 2):
        stats = FeatureStats(x.shape[1]).update(x[(lab == int(c)).to(x.device)])
        out[int(c)] = stats.moments()
    return out


def per_class_fid(
    real: Mapping[int, Moments] | tuple[Any, Any],
    fake_features: Any,
    fake_classes: Any,
    num_classes: int,
    *,
    fake_name: str = "generated",
) -> dict[str, float]:
    """Per-class FID of generated ``fake_features`` float [N, D] grouped by ``fake_classes`` int [N]
    (``predicted_classes(fake_logits)``, of the recognised samples) against the real class statistics:
    ``real`` is either ``class_moments(...)`` or a pair (real features float [M, D], real labels int [M]);
    ``fake_name`` names the generated samples in the warnings ("recognised generated").

    Returns, for every class c in [0, num_classes): ``fid_class_<c>`` (lower is better; absent when a side
    has fewer than 2 samples of class c), ``fid_class_<c>_n_fake`` and ``fid_class_<c>_n_real`` (counts).
    Warns once (one line) naming the classes without a value and why, and once naming the classes with fewer
    generated or real samples than the feature dimension.
    """
    moments = class_moments(real[0], real[1], num_classes) if isinstance(real, tuple) else dict(real)
    x = as_feature_tensor(fake_features, "fake features")
    d = x.shape[1]
    for c, mom in moments.items():
        if mom.dim != d:
            raise UserError(f"real class {c} statistics have dimension {mom.dim}, fake features {d}")
    fake_counts = class_counts(fake_classes, num_classes)
    if fake_counts.sum() != x.shape[0]:
        raise UserError(f"fake classes: {fake_counts.sum()} classes for {x.shape[0]} feature rows")
    lab = torch.as_tensor(
        np.asarray(fake_classes.cpu() if isinstance(fake_classes, torch.Tensor) else fake_classes)
    )
    out: dict[str, float] = {}
    small: list[str] = []
    empty: list[str] = []
    for c in range(num_classes):
        n = int(fake_counts[c])
        real_c = moments.get(c)
        out[fid_class_n_key(c)] = float(n)
        out[fid_class_n_real_key(c)] = float(real_c.n if real_c is not None and real_c.n is not None else 0)
        if n < 2 or real_c is None:
            sides = [f"{n} {fake_name}" if n < 2 else "", "under 2 real" if real_c is None else ""]
            empty.append(f"{c} ({', '.join(x for x in sides if x)})")
            continue
        n_real = int(real_c.n) if real_c.n is not None else d
        if n < d or n_real < d:
            small.append(f"{c} ({n} {fake_name}, {n_real} real)")
        stats = FeatureStats(d).update(x[(lab == c).to(x.device)])
        with warnings.catch_warnings():  # one summary warning below instead of one per class
            warnings.simplefilter("ignore")
            out[fid_class_key(c)] = fid_from_stats(real_c.mu, real_c.sigma, stats.mean(), stats.cov())["fid"]
    if empty:
        warnings.warn(
            f"per-class FID: no value for class {', '.join(empty)}: a covariance needs 2 or more samples",
            stacklevel=2,
        )
    if small:
        warnings.warn(
            f"per-class FID: fewer samples than the feature dimension {d} in class "
            f"{', '.join(small)}: those FIDs are biased upward",
            stacklevel=2,
        )
    return out
