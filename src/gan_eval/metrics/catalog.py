"""Every metric gan-eval computes, registered (``--metrics NAME``): what it needs from the two passes, its
value keys and their directions, and whether a bootstrap interval is valid for it.

Each entry adapts one pure function of its metric module to the uniform ``compute(real, fake, **context)``:
``real`` / ``fake`` carry ``mu``, ``sigma``, ``n``, ``features`` (float32 [N, D]), ``logits`` (float32
[N, K]); the real side also ``labels`` (int64 [K] of its kept feature rows) and ``class_counts`` (int64 [C]
over the whole real set); the generated side also ``pixels`` (uint8 [N, C*H*W]). The memorization metric
reads ``context["train"]`` (:class:`CopyContext`). A compute returns floats (values, stds, diagnostics) and,
under keys starting with ``_``, arrays the report draws (never written to the results table). Options
(``compute(real, fake, subsets=50)``) go to the metric's function.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gan_eval.errors import UserError
from gan_eval.metrics import classwise, fid_infinity, memorization, prd, vendi
from gan_eval.metrics.density_coverage import density_coverage
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.keys import (
    COVERAGE,
    DENSITY,
    FID,
    HYPE_CATCH_PASS,
    HYPE_FAKE_ERROR,
    HYPE_FLAGGED,
    HYPE_INF,
    HYPE_REAL_ERROR,
    IS_MEAN,
    IS_STD,
    KID_MEAN,
    KID_STD,
    PRECISION,
    RECALL,
)
from gan_eval.metrics.kid import kid
from gan_eval.metrics.precision_recall import precision_recall
from gan_eval.metrics.registry import MetricInputs, moments_of, register_metric, require

KNN_REASON = (
    "k-NN metric: resampling with replacement duplicates samples, whose zero-distance neighbours shrink the "
    "k-NN radii and bias the intervals"
)
SPACES = ("features", "pixels")
"""The spaces the memorization metrics compare in: the extractor's features, or the images' pixels."""


def copy_key(key: str, space: str) -> str:
    """The result key of memorization value ``key`` in ``space`` (features: the plain key; pixels: ``_pixels``
    appended), e.g. ``auth_pct`` and ``auth_pct_pixels``."""
    return key if space == "features" else f"{key}_{space}"


COPY_VALUES = dict(memorization.HIGHER_IS_BETTER)
COPY_KEYS = tuple(copy_key(k, s) for s in SPACES for k in COPY_VALUES)


# -- the classics ------------------------------------------------------------------------------------------


@register_metric(
    "fid",
    higher_is_better=False,
    needs={"stats"},
    keys=(FID,),
    description="Frechet distance of feature Gaussians (Heusel et al. 2017)",
)
def _fid(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    r = moments_of(real, "fid", "real")
    f = moments_of(fake, "fid", "fake")
    names = ("the real set's statistics", "the generated set's statistics")
    return fid_from_stats(r.mu, r.sigma, f.mu, f.sigma, n1=r.n, n2=f.n, names=names, **options)


@register_metric(
    "is",
    higher_is_better=True,
    needs={"logits"},
    keys=(IS_MEAN, IS_STD),
    needs_real=False,
    description="Inception Score (Salimans et al. 2016; torch-fidelity's definition)",
)
def _is(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return inception_score(require(fake, "logits", "is", "fake"), **options)


@register_metric(
    "kid",
    higher_is_better=False,
    needs={"features"},
    keys=(KID_MEAN, KID_STD),
    description="Kernel Inception Distance (Binkowski et al. 2018)",
)
def _kid(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return kid(require(real, "features", "kid", "real"), require(fake, "features", "kid", "fake"), **options)


@register_metric(
    "pr",
    higher_is_better=True,
    needs={"features"},
    keys=(PRECISION, RECALL),
    description="Improved precision and recall (Kynkaanniemi et al. 2019)",
    no_bootstrap=KNN_REASON,
)
def _pr(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, float]:
    return precision_recall(
        require(real, "features", "pr", "real"), require(fake, "features", "pr", "fake"), **options
    )


@register_metric(
    "dc",
    higher_is_better=True,
    needs={"features"},
    keys=(DENSITY, COVERAGE),
    description="Density and coverage (Naeem et al. 2020)",
    no_bootstrap=KNN_REASON,
)
def _dc(real: MetricInputs | None, fake: MetricInputs, **_: Any) -> dict[str, float]:
    return density_coverage(require(real, "features", "dc", "real"), require(fake, "features", "dc", "fake"))


# -- beyond FID --------------------------------------------------------------------------------------------


@register_metric(
    "fid_inf",
    higher_is_better=False,
    needs={"stats", "features"},
    keys=(fid_infinity.FID_INF,),
    description="FID extrapolated to infinitely many samples (Chong & Forsyth 2020)",
    no_bootstrap="an extrapolation over subsets of the generated set; its fit residual is reported instead",
)
def _fid_inf(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, Any]:
    r = moments_of(real, "fid_inf", "real")
    fit = fid_infinity.fid_infinity_details(
        r.mu, r.sigma, require(fake, "features", "fid_inf", "fake"), real_n=r.n, **options
    )
    return {**fit.as_dict(fid_infinity.FID_INF), "_fit": _fit_arrays(fit)}


@register_metric(
    "is_inf",
    higher_is_better=True,
    needs={"logits"},
    keys=(fid_infinity.IS_INF,),
    needs_real=False,
    description="IS extrapolated to infinitely many samples (Chong & Forsyth 2020)",
    no_bootstrap="an extrapolation over subsets of the generated set; its fit residual is reported instead",
)
def _is_inf(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, Any]:
    fit = fid_infinity.is_infinity_details(require(fake, "logits", "is_inf", "fake"), **options)
    return {**fit.as_dict(fid_infinity.IS_INF), "_fit": _fit_arrays(fit)}


def _fit_arrays(fit: fid_infinity.ExtrapolationFit) -> dict[str, np.ndarray]:
    return {
        "n": np.asarray(fit.n),
        "values": np.asarray(fit.values),
        "line": np.asarray([fit.intercept, fit.slope, fit.rmse]),
    }


@register_metric(
    "prd",
    higher_is_better=True,
    needs={"features"},
    keys=(prd.PRD_F8, prd.PRD_F1_8),
    description="Precision-recall distributions, F_8 / F_1/8 (Sajjadi et al. 2018)",
    no_bootstrap="k-means on every resample would cost minutes, and duplicated samples shift the clusters",
)
def _prd(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, Any]:
    res = prd.prd_details(
        require(real, "features", "prd", "real"), require(fake, "features", "prd", "fake"), **options
    )
    return {**res.values, "_curve": {"precision": res.precision, "recall": res.recall}}


@register_metric(
    "vendi",
    higher_is_better=True,
    needs={"features"},
    keys=(vendi.VENDI, vendi.VENDI_REAL),
    description="Vendi score: effective number of distinct samples (Friedman & Dieng 2023)",
    no_bootstrap="resampling with replacement duplicates samples, which lowers the score by itself",
)
def _vendi(real: MetricInputs | None, fake: MetricInputs, **_: Any) -> dict[str, float]:
    return vendi.vendi(require(fake, "features", "vendi", "fake"), require(real, "features", "vendi", "real"))


def _real_class_counts(real: MetricInputs | None, metric: str, num_classes: int) -> np.ndarray:
    counts = getattr(real, "class_counts", None)
    if counts is None:
        raise UserError(
            f"metric {metric!r} needs the real set's class labels (a labelled dataset such as mnist, or "
            "real images the classifier labels); none are available"
        )
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape[0] != num_classes:
        raise UserError(
            f"metric {metric!r}: the real set has {counts.shape[0]} classes, the extractor's classifier "
            f"{num_classes}; use the classifier trained on the real set's classes (mnist-lenet for MNIST)"
        )
    return counts


def _recognised(fake: MetricInputs, metric: str) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(predicted classes int64 [M] of the recognised generated samples, the mask bool [N] or None without a
    recognition rule, K classes)."""
    logits = require(fake, "logits", metric, "fake")
    classes, keep = classwise.recognised_classes(logits, getattr(fake, "recognised", None))
    return classes, keep, int(np.asarray(logits).shape[1])


def _unrecognised(keep: np.ndarray | None, n_used: int) -> dict[str, float]:
    """``class_unrecognised`` and the generated counts behind it (nothing without a recognition rule)."""
    if keep is None:
        return {}
    u = classwise.CLASS_UNRECOGNISED
    return {u: float(1 - n_used / len(keep)), f"{u}_n_fake": float(len(keep)), f"{u}_n_real": 0.0}


CLASS_VALUES = (
    classwise.CLASS_KL,
    classwise.CLASS_TV,
    classwise.CLASS_COVERAGE,
    classwise.CLASS_COVERAGE_FRAC,
)


@register_metric(
    "classes",
    higher_is_better=dict(classwise.HIGHER_IS_BETTER),
    needs={"logits", "labels"},
    keys=tuple(classwise.HIGHER_IS_BETTER),
    description="Generated vs real class distribution (recognised samples): KL, total variation, coverage",
    no_bootstrap="a function of class counts; the report shows the counts themselves",
)
def _classes(real: MetricInputs | None, fake: MetricInputs, **options: Any) -> dict[str, Any]:
    classes, keep, k = _recognised(fake, "classes")
    real_counts = _real_class_counts(real, "classes", k)
    fake_counts = classwise.class_counts(classes, k)
    n_unrec = 0 if keep is None else int((~keep).sum())
    out: dict[str, Any] = {
        **_unrecognised(keep, len(classes)),
        "_counts": {"real": real_counts, "fake": fake_counts, "unrecognised": np.asarray(n_unrec)},
    }
    if not len(classes):
        warnings.warn(
            f"class metrics: none of the {n_unrec} generated samples is recognised as one of the "
            "classifier's classes, so class_kl, class_tv and class_coverage have no value",
            stacklevel=2,
        )
        return out
    res = classwise.class_distribution_details(real_counts, fake_counts, **options)
    for key in CLASS_VALUES:  # what each value used: the recognised samples, the whole real set's labels
        out[f"{key}_n_fake"] = float(len(classes))
        out[f"{key}_n_real"] = float(real_counts.sum())
    return {**res.values, **out}


@register_metric(
    "fid_class",
    higher_is_better={classwise.CLASS_UNRECOGNISED: False},
    needs={"features", "logits", "labels"},
    keys=(classwise.CLASS_UNRECOGNISED,),
    key_prefixes={classwise.FID_CLASS_PREFIX: False},
    description="Per-class FID: recognised generated samples the classifier puts in class c vs real class c",
    no_bootstrap="per-class FIDs of a few hundred samples each; their per-class counts are reported",
)
def _fid_class(real: MetricInputs | None, fake: MetricInputs) -> dict[str, Any]:
    classes, keep, k = _recognised(fake, "fid_class")
    labels = require(real, "labels", "fid_class", "real")
    real_features = require(real, "features", "fid_class", "real")
    if int(np.max(labels)) >= k:
        raise UserError(
            f"metric 'fid_class': the real labels go up to {int(np.max(labels))}, the classifier has {k} "
            "classes; use the classifier trained on the real set's classes (mnist-lenet for MNIST)"
        )
    fake_features = np.asarray(require(fake, "features", "fid_class", "fake"))
    if keep is not None and len(fake_features) != len(keep):
        raise UserError(f"metric 'fid_class': {len(fake_features)} feature rows for {len(keep)} samples")
    return {  # its FIDs leave the unrecognised samples out: their share is part of its answer
        **_unrecognised(keep, len(classes)),
        **classwise.per_class_fid(
            (real_features, labels),
            fake_features if keep is None else fake_features[keep],
            classes,
            k,
            fake_name="generated" if keep is None else "recognised generated",
        ),
    }


@register_metric(
    "hype",
    higher_is_better={
        HYPE_INF: True,
        HYPE_FAKE_ERROR: True,
        HYPE_REAL_ERROR: True,
        HYPE_CATCH_PASS: None,  # how attentive the raters were, not how good the model is
        HYPE_FLAGGED: None,
    },
    needs={"ratings"},
    keys=(HYPE_INF, HYPE_FAKE_ERROR, HYPE_REAL_ERROR, HYPE_CATCH_PASS, HYPE_FLAGGED),
    description="HYPE-infinity: people's error telling generated from real images (Zhou et al. 2019)",
    no_bootstrap="people's answers, not features: `gan-eval human score` bootstraps over the raters",
)
def _hype(real: MetricInputs | None, fake: MetricInputs, **_: Any) -> dict[str, float]:
    raise UserError(
        "metric 'hype' is measured by people: `gan-eval human new`, `human serve`, `human score` (README)"
    )


@dataclass(frozen=True, eq=False)
class CopyContext:
    """The training side of the memorization metrics, per space (``features`` and/or ``pixels``): the
    training rows (float32 [M, D] features, or uint8 [M, C*H*W] flattened images) and their cached
    :class:`~gan_eval.metrics.memorization.TrainingReference` (held-out baseline, cells, train-to-train
    distances); ``train_pixels`` uint8 [M, C, H, W] for the report's nearest-training-image grid."""

    rows: Mapping[str, Any]
    references: Mapping[str, memorization.TrainingReference]
    train_pixels: Any
    train_spec: str
    heldout_spec: str


@register_metric(
    "copy",
    higher_is_better={copy_key(k, s): d for s in SPACES for k, d in COPY_VALUES.items()},
    needs={"features", "pixels", "train"},
    keys=COPY_KEYS,
    needs_real=False,  # it compares with the training and held-out sets (``context["train"]``)
    description="Training-set copying: AuthPct, the C_T test and near-copies, in feature and pixel space",
    no_bootstrap=KNN_REASON,
)
def _copy(
    real: MetricInputs | None, fake: MetricInputs, train: CopyContext | None = None, **options: Any
) -> dict[str, Any]:
    ctx = train
    if not isinstance(ctx, CopyContext):
        raise UserError("metric 'copy' needs a training set (--train) and a held-out set (--heldout)")
    out: dict[str, Any] = {}
    images = require(fake, "pixels", "copy", "fake")  # uint8 [N, C, H, W]
    for space, rows in ctx.rows.items():
        if space == "pixels":
            gen = np.asarray(images).reshape(len(images), -1)
        else:
            gen = require(fake, "features", "copy", "fake")
        det = memorization.memorization_details(rows, gen, ctx.references[space], **options)
        out.update({copy_key(k, space): v for k, v in det.values.items()})
        out.update({f"{copy_key(k, space)}_n_real": float(len(rows)) for k in COPY_VALUES})
        gen_idx, train_idx = det.most_copied(16)
        out[f"_copy_{space}"] = {
            "gen_nn_dist": det.gen_nn_dist,
            "test_nn_dist": det.test_nn_dist,
            "most_copied": gen_idx,
            "nearest_train": train_idx,
            "copy_ratio": det.copy_ratio[gen_idx],
            "distance": det.gen_nn_dist[gen_idx],
            "gen_images": np.asarray(images)[gen_idx],
            "train_images": np.asarray(ctx.train_pixels)[train_idx],
        }
    return out
