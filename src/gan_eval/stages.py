"""The inputs of the stages, as an evaluation config asks for them: the extractor, the generated set, the
real set's statistics (a file, the cache, or a pass) with its labels, the metric plan, and the training and
held-out sets of the memorization metrics. :func:`gan_eval.pipeline.evaluate` glues them together;
``compare`` opens them once for all its checkpoints.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.config import EvalConfig
from gan_eval.data import Source, parse_source
from gan_eval.data.base import subset_indices
from gan_eval.data.spec import is_stats_file
from gan_eval.errors import UserError
from gan_eval.features import Extractor, build_extractor, protocols
from gan_eval.metrics.plan import DOMAIN_CLASSIFIER_MAX_CLASSES, MetricPlan, plan_metrics
from gan_eval.runtime import (
    check_precision,
    inception_channels_last,
)
from gan_eval.stats.extract import Extracted
from gan_eval.stats.feature_stats import load_moments
from gan_eval.stats.reference import real_statistics

DEFAULT_PROTOCOL = {"inception": protocols.DEFAULT_PROTOCOL}  # other extractors carry a fixed protocol


def open_extractor(cfg: EvalConfig, device: torch.device) -> Extractor:
    """The extractor ``cfg`` asks for, on ``device``, in eval mode (compiled with ``cfg.compile``)."""
    check_precision(cfg.precision)
    options: dict[str, Any] = {"device": str(device)}
    protocol = cfg.protocol or DEFAULT_PROTOCOL.get(cfg.extractor)
    if protocol is not None:
        options["protocol"] = protocol
    if cfg.extractor_weights is not None:
        options["weights"] = cfg.extractor_weights
    if cfg.extractor == "inception":
        options["channels_last"] = inception_channels_last(device, cfg.precision)
    if device.type == "cuda":  # cuDNN picks the fastest kernels for the (fixed) batch shapes
        torch.backends.cudnn.benchmark = True
    ext = build_extractor(cfg.extractor, **options).to(device).eval()
    if cfg.compile:  # one static batch shape (extract pads the last batch)
        from gan_eval.cache import cache_dir, writable

        # inductor's compiled kernels go to gan-eval's cache (kept across reboots, unlike its /tmp default),
        # so a later run with the same model and batch shape skips most of the compile; a user's setting wins;
        # a read-only cache leaves inductor its own default
        if writable("compiled"):
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir("compiled")))
        ext = torch.compile(ext, dynamic=False)  # type: ignore[assignment]
    return ext


def open_fake_source(spec: str, cfg: EvalConfig, device: torch.device) -> Source:
    """The generated (evaluated) set ``spec`` as ``cfg`` asks for it; a generator is loaded and probed. An
    option that does nothing for this kind of source gets one warning line."""
    src = parse_source(
        spec,
        data_root=cfg.data_root,
        limit=cfg.fake_limit,
        seed=cfg.seed,
        value_range=cfg.value_range,
        n=cfg.n,
        sample_seed=cfg.seed,
        device=str(device),
        use_ema=cfg.use_ema,
        z_dim=cfg.z_dim,
        weights=cfg.weights,
        weights_key=cfg.weights_key,
        arch_args=cfg.arch_args,
        limit_option="--fake-limit",
    )
    if src.kind == "generator" and cfg.fake_limit is not None:
        warnings.warn(
            f"--fake-limit is ignored: {spec} is a generator; --n sets how many it draws", stacklevel=2
        )
    if src.kind != "generator":
        ignored = [o for o, v in (("--n", cfg.n), ("--z-dim", cfg.z_dim)) if v is not None]
        if ignored:
            warnings.warn(
                f"{' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored: {spec} is a set of "
                f"images, not a generator (--fake-limit takes a seeded subset)",
                stacklevel=2,
            )
    return src


@dataclass
class RealSide:
    """The real set's statistics (moments, kept features) and its identity (what the fingerprint hashes)."""

    stats: Extracted
    identity: str


def real_side(
    cfg: EvalConfig,
    extractor: Extractor,
    device: torch.device,
    *,
    need_features: bool,
    need_labels: bool = False,
    source: Source | None = None,
) -> RealSide:
    """Statistics of ``cfg.real``: a statistics file, or the real image set's statistics from the cache,
    the shipped files, or one pass. ``need_features``: keep a seeded subset of ``cfg.max_real_features``
    feature rows (kid, pr, dc, prd, vendi); ``need_labels``: the class labels of those rows and the class
    counts of the whole set (the dataset's labels, else the classifier's predictions); ``source``: the
    image set ``real_source(cfg)`` already opened, if any (not opened again)."""
    if cfg.real is None:
        raise UserError("no real set: give --real (only the Inception Score works without one)")
    if is_stats_file(cfg.real):
        from gan_eval.atomic import sha256_file

        if need_features or need_labels:
            raise UserError(
                f"{cfg.real}: a statistics file holds no features; kid, pr, dc, prd, vendi and the class "
                "metrics need a real image set"
            )
        return RealSide(
            stats_file_extracted(cfg.real, extractor), f"stats:{sha256_file(Path(cfg.real))[:16]}"
        )
    rsrc = source if source is not None else real_source(cfg)
    true_labels = getattr(rsrc, "labels", None) if need_labels else None
    stats = real_statistics(
        rsrc,
        extractor,
        device=device,
        precision=cfg.precision,
        batch_size=cfg.batch_size,
        need_features=cfg.max_real_features if (need_features or need_labels) else 0,
        need_logits=need_labels and true_labels is None,  # unlabelled images: the classifier labels them
        use_cache=cfg.use_cache,
        seed=cfg.seed,
        progress=cfg.progress,
    )
    if need_labels:
        keep = subset_indices(len(rsrc), cfg.max_real_features, cfg.seed)
        if true_labels is not None:
            labels = np.asarray(true_labels, dtype=np.int64)
        elif stats.logits is not None:
            labels = stats.logits.argmax(1).astype(np.int64)
        else:
            raise UserError(f"{cfg.real}: no class labels and no classifier logits for the class metrics")
        stats.labels = labels if keep is None else labels[keep]
        stats.class_counts = np.bincount(labels, minlength=extractor.num_classes or 0)
    return RealSide(stats, rsrc.identity)


def check_image_sizes(fake: Source, real: Source) -> None:
    """One warning when the generated images' size differs from the real set's: they are still scored (the
    extractor resizes both), but FID then also measures the resize; sizes that look like torchvision sample
    grids (k images and 2-pixel padding a side, ``make_grid``'s default) are named as such."""
    (_, fh, fw), (_, rh, rw) = fake.shape, real.shape
    if (fh, fw) == (rh, rw):
        return
    grid = ""
    for pad in (2, 0):
        k_h, k_w = (fh - pad) / (rh + pad), (fw - pad) / (rw + pad)
        if k_h == int(k_h) and k_w == int(k_w) and int(k_h) * int(k_w) >= 2:
            grid = (
                f"; {fw}x{fh} is a grid of {int(k_w)}x{int(k_h)} {rw}x{rh} images (like torchvision's "
                "save_image or `gan-eval sample -o X.png`): score single images (`sample -o DIR/`)"
            )
            break
    warnings.warn(
        f"{fake.spec}: images are {fw}x{fh}, the real set's ({real.spec}) are {rw}x{rh}: scored anyway (both "
        f"are resized to the extractor's input), but the number then also measures the size difference{grid}",
        stacklevel=2,
    )


def stats_file_extracted(path: str, extractor: Extractor) -> Extracted:
    """A statistics file's moments as the result of a pass (no features, logits or images). Its feature
    dimension must be the extractor's (the setup itself was matched when the config was loaded:
    :func:`gan_eval.config.stats_file_setup`); other extractor weights than those it records get a warning."""
    m = load_moments(path)
    dim = getattr(extractor, "feature_dim", None)
    if dim is not None and m.dim != dim:
        raise UserError(
            f"{path}: statistics of {m.dim}-d features, but extractor {extractor.name} gives {dim}-d "
            "features (made with another extractor: pass its -e, or recompute the file with `gan-eval stats`)"
        )
    made_with = m.metadata.get("weights_sha256")
    ours = extractor.fingerprint().get("weights_sha256")
    if made_with and ours and made_with != ours:
        warnings.warn(
            f"{path} was made with other {extractor.name} weights (sha256 {str(made_with)[:12]}) than these "
            f"({str(ours)[:12]}): the numbers do not compare exactly",
            stacklevel=2,
        )
    return Extracted.from_moments(m.mu, m.sigma, m.n)  # n None: unknown (pytorch-fid's --save-stats)


def real_source(cfg: EvalConfig) -> Source:
    assert cfg.real is not None
    return parse_source(
        cfg.real,
        data_root=cfg.data_root,
        limit=cfg.real_limit,
        seed=cfg.seed,
        value_range=cfg.value_range,
        limit_option="--real-limit",
    )


def plan_for(cfg: EvalConfig, ext: Extractor, *, real_given: bool, train: str | None) -> MetricPlan:
    """The metrics ``cfg`` asks for (``all`` expanded for these inputs), checked: one clear line for a
    metric the inputs cannot serve, before any pass."""
    classes = ext.num_classes
    plan = plan_metrics(
        cfg.metrics,
        logits=classes is not None,
        classifier=classes is not None and classes <= DOMAIN_CLASSIFIER_MAX_CLASSES,
        real=real_given,
        train=train is not None,
    )
    _check_plan(plan, ext, real_given, train)
    return plan


def copy_sets(cfg: EvalConfig) -> tuple[str | None, str | None]:
    """The training and held-out sets of the memorization metrics: as given, else the real dataset's train
    and test splits; (None, None) when neither is known."""
    from gan_eval.stats.training import default_split

    train = cfg.train or default_split(cfg.real, "train")
    heldout = cfg.heldout or default_split(cfg.real, "test")
    if cfg.copy_space not in ("features", "pixels", "both"):
        raise UserError(f"--copy-space {cfg.copy_space}: expected features, pixels or both")
    return (train, heldout) if train and heldout else (None, None)


def _check_plan(plan: MetricPlan, ext: Extractor, real_given: bool, train: Any) -> None:
    if plan.need_real and not real_given:
        needing = [s.name for s in plan.specs if s.needs_real]
        verb = "needs" if len(needing) == 1 else "need"
        raise UserError(
            f"no real set: {', '.join(needing)} {verb} real images to compare the generated ones with; give "
            "--real (or REAL FAKE as two paths); is, is_inf and copy need none"
        )
    if plan.need_logits and ext.num_classes is None:
        raise UserError(
            f"the {ext.name} weights in use have no 1008-class head, so {', '.join(plan.names)} cannot be "
            "computed: get pytorch-fid's pt_inception-2015-12-05-6726825d.pth (`gan-eval weights fetch` with "
            "internet, or --extractor-weights FILE), or use --extractor mnist-lenet for MNIST"
        )
    if plan.need_train and train is None:
        raise UserError(
            "metric copy needs a training set and held-out real images: give --train and --heldout (they "
            "default to the train and test splits when --real is mnist or fashion-mnist)"
        )
