"""The glue of the stages: sources -> extractor -> statistics -> metrics -> result (-> results table).

``evaluate(real=..., fake=..., metrics=[...])`` makes one pass over each image set, however many metrics are
asked for, and returns an :class:`~gan_eval.results.rows.EvalResult` (values, stds, confidence intervals,
fingerprint) that the results table, reports and gates consume. The stages themselves live in their own
packages: ``data`` (sources), ``features`` (extractors and protocols), ``stats`` (the streaming pass and the
real-set cache), ``metrics``, ``results``; device and precision handling in ``runtime``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval import __version__
from gan_eval.config import EvalConfig, load_eval_config
from gan_eval.data import Source, parse_source
from gan_eval.data.memory import is_in_memory, memory_source
from gan_eval.data.spec import is_stats_file
from gan_eval.distributed import init_from_env, is_main
from gan_eval.errors import UserError
from gan_eval.features import Extractor
from gan_eval.metrics.bootstrap import bootstrap_cis
from gan_eval.metrics.plan import check_computable, run_metrics
from gan_eval.results.rows import EvalResult, fingerprint_fields
from gan_eval.runtime import (
    Progress,
    announce_slow_pass,
    check_precision,
    resolve_device,
)
from gan_eval.stages import (
    RealSide,
    check_image_sizes,
    copy_sets,
    open_extractor,
    open_fake_source,
    plan_for,
    real_side,
    real_source,
    stats_file_extracted,
)
from gan_eval.stats import Moments, save_moments
from gan_eval.stats.extract import extract
from gan_eval.stats.reference import (
    real_statistics,
    real_stats_cached,
    real_stats_key,
    save_cached,
    stats_key,
)

__all__ = ["EvalConfig", "EvalResult", "evaluate", "compute_stats_file"]


# ----------------------------------------------------------------------------- evaluate
def evaluate(
    real: str | os.PathLike[str] | None = None,
    fake: Any = None,
    metrics: Sequence[str] = ("fid",),
    *,
    config: EvalConfig | None = None,
    extractor_module: Extractor | None = None,
    fake_source: Source | None = None,
    real_stats: RealSide | None = None,
    results: str | os.PathLike[str] | None = None,
    run_id: str = "",
    announce: bool = True,
    **options: Any,
) -> EvalResult:
    """Compute several metrics from one pass over the real and the fake images.

    ``fake``: a spec (a checkpoint, ``FILE.py:Generator`` with ``weights=``, a folder, ...) or an object in
    memory: an ``nn.Module`` generator (``z_dim=`` or inferred), a callable ``z -> images``, a tensor or
    array of images, or an iterable of image batches (:mod:`gan_eval.data.memory`); the results table's
    ``fake`` column says which. ``real`` may be None for metrics of the generated set alone (``is``).
    ``announce``: a line up front when the passes are estimated to take over a minute (Inception on the CPU;
    ``compare`` says it once for all its checkpoints). ``results``: a results table
    (.csv/.parquet) to append the rows to (default None: nothing is written; the CLI's default is
    ``reports/results.csv``), with ``run_id``. ``extractor_module``, ``fake_source`` and ``real_stats`` let a
    caller that evaluates several sets the same way (``compare``) reuse what it already has.

    Example::

        r = gan_eval.evaluate(real="mnist", fake="runs/mlp/ckpt_epoch_020.pt",
                              metrics=["fid", "is", "kid", "pr"], extractor="mnist-lenet")
        r.values["fid"], r.fingerprint
    """
    if config is None:
        if fake is None:
            raise UserError("evaluate needs fake= (and real= for every metric but is)")
        if is_in_memory(fake) and fake_source is None:
            fake_source = memory_source(
                fake,
                n=options.get("n"),
                seed=options.get("seed", 0),
                value_range=options.get("value_range"),
                z_dim=options.get("z_dim"),
                limit=options.get("fake_limit"),
            )
            fake = fake_source.spec
        real = os.fspath(real) if real is not None else None
        config = load_eval_config(
            None, explicit=set(options), real=real, fake=os.fspath(fake), metrics=tuple(metrics), **options
        )
    cfg = config
    check_computable(cfg.metrics)  # a metric measured by people fails before weights or data are fetched
    t0 = time.perf_counter()
    init_from_env()
    device = resolve_device(cfg.device)
    check_precision(cfg.precision)
    train, heldout = copy_sets(cfg)
    if results is not None:
        from gan_eval.results.store import check_results_target

        check_results_target(Path(results))  # before minutes of work: a table that cannot take rows fails
    # inputs first, cheapest first: a broken checkpoint or real spec fails before minutes are spent
    fake_is_stats = fake_source is None and is_stats_file(cfg.fake)  # FID of two statistics files
    fsrc = (
        fake_source if fake_source is not None or fake_is_stats else open_fake_source(cfg.fake, cfg, device)
    )
    real_given = real_stats is not None or cfg.real is not None
    rsrc = None
    if real_stats is None and cfg.real is not None and not is_stats_file(cfg.real):
        rsrc = real_source(cfg)  # parsed (and verified) now, once; its statistics come after the fake pass
        if fsrc is not None:
            check_image_sizes(fsrc, rsrc)
    ext = extractor_module if extractor_module is not None else open_extractor(cfg, device)
    plan = plan_for(cfg, ext, real_given=real_given, train=train)
    if plan.need_real and real_stats is None and is_stats_file(str(cfg.real)):
        # a statistics file: read (and refused for the metrics that need features) before the pass
        real_stats = real_side(cfg, ext, device, need_features=plan.need_real_features)
    if fsrc is None:
        if (
            plan.need_fake_features
            or plan.need_logits
            or plan.need_pixels
            or plan.need_labels
            or cfg.bootstrap
        ):
            raise UserError(
                f"{cfg.fake}: a statistics file holds moments only (no features, logits or images): of "
                f"{', '.join(plan.names)} it serves fid alone, without --bootstrap"
            )
        fake_ex = stats_file_extracted(cfg.fake, ext)
    else:
        if announce and cfg.progress:
            real_pass = rsrc is not None and not (
                cfg.use_cache and real_stats_cached(rsrc, ext, cfg.precision)
            )
            announce_slow_pass(ext.name, device, len(fsrc) + (len(rsrc) if real_pass and rsrc else 0))
        fake_ex = extract(
            fsrc,
            ext,
            device=device,
            precision=cfg.precision,
            batch_size=cfg.batch_size,
            keep_features=None if (plan.need_fake_features or cfg.bootstrap) else 0,
            keep_logits=plan.need_logits,
            keep_pixels=plan.need_pixels,
            subset_seed=cfg.seed,
            progress=cfg.progress,
            label=f"fake {cfg.fake}",
        )
    if fake_ex.sigma is None and any("stats" in s.needs for s in plan.specs):
        names = ", ".join(s.name for s in plan.specs if "stats" in s.needs)
        raise UserError(f"{cfg.fake}: {fake_ex.n} image(s); at least 2 are needed for {names} (a covariance)")
    if plan.need_real and real_stats is None:
        real_stats = real_side(
            cfg,
            ext,
            device,
            need_features=plan.need_real_features,
            need_labels=plan.need_labels,
            source=rsrc,
        )
    real_ex = real_stats.stats if real_stats is not None else None
    context: dict[str, Any] = {}
    if plan.need_train:
        assert train is not None and heldout is not None
        from gan_eval.stats.training import copy_context

        context["train"] = copy_context(
            train=train,
            heldout=heldout,
            spaces=("features", "pixels") if cfg.copy_space == "both" else (cfg.copy_space,),
            extractor=ext,
            device=device,
            precision=cfg.precision,
            batch_size=cfg.batch_size,
            data_root=cfg.data_root,
            use_cache=cfg.use_cache,
            progress=cfg.progress,
        )
    out = run_metrics(plan, real_ex, fake_ex, progress=cfg.progress, **context)
    out.diagnostics["real_from_cache"] = bool(real_ex is not None and real_ex.from_cache)
    cis: dict[str, tuple[float, float]] = {}
    if cfg.bootstrap and fake_ex.features is not None:
        with Progress(f"bootstrap {cfg.fake}", cfg.bootstrap, unit="steps", enabled=cfg.progress) as bar:
            reported = {**out.values, **out.diagnostics}  # KID's mean, subsets and subset size
            cis = bootstrap_cis(
                plan.specs,
                real_ex,
                fake_ex,
                cfg.bootstrap,
                cfg.seed,
                reported=reported,
                progress=lambda done, total: bar.update(done, total=total),
            )
    counts, unrecognised = None, None
    if fake_ex.logits is not None:  # the samples the classifier recognises, by class (mode collapse)
        rec = fake_ex.recognised
        classes = fake_ex.logits.argmax(1)
        counts = np.bincount(classes if rec is None else classes[rec], minlength=fake_ex.logits.shape[1])
        unrecognised = None if rec is None else int((~rec).sum())
    # a generated-side statistics file without its count (pytorch-fid's) keeps n_fake 0 (a required column)
    n_fake = 0 if fake_ex.n is None else fake_ex.n
    res = EvalResult(
        values=out.values,
        stds=out.stds,
        cis=cis,
        fingerprint=fingerprint_fields(
            ext.fingerprint(),
            real=real_stats.identity if real_stats is not None else "",
            n_fake=n_fake,
            seed=cfg.seed,
            precision=cfg.precision,
            device=device.type,
            value_range=fsrc.value_range if fsrc is not None else None,
        ),
        n_real=out.n_real,
        n_fake=n_fake,
        duration_s=time.perf_counter() - t0,
        diagnostics=out.diagnostics,
        class_counts=counts,
        unrecognised=unrecognised,
        n_fake_used=out.n_fake,
        source_info=dict(getattr(fsrc, "info", {})),  # a checkpoint's path, epoch, step: read with it
        details=out.details,
    )
    if results is not None and is_main():
        from gan_eval.results import append_results
        from gan_eval.results.details import save_details
        from gan_eval.results.rows import result_rows

        rel = save_details(res, Path(results), cfg.fake) if res.details else ""
        append_results(result_rows(res, cfg, run_id=run_id, details=rel), results)
    return res


# ----------------------------------------------------------------------------- gan-eval stats
def compute_stats_file(
    spec: str,
    out: os.PathLike[str] | str,
    *,
    extractor: str = "inception",
    protocol: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    data_root: str | None = None,
    weights: str | None = None,
    compact: bool = False,
    progress: bool = True,
    use_cache: bool = True,
) -> dict[str, Any]:
    """``gan-eval stats``: moments of an image set written to ``out`` (usable as ``--real out.npz``).

    The file's metadata records the cache key fields, so a file written into ``gan_eval/assets/stats``
    under its key's name is found by every later evaluation of the same set (that is how the shipped MNIST
    statistics are made: ``gan-eval stats mnist:test --compact -o src/gan_eval/assets/stats/``).
    """
    cfg = EvalConfig(
        real=spec,
        fake=spec,
        extractor=extractor,
        protocol=protocol,
        real_limit=limit,
        seed=seed,
        batch_size=batch_size,
        device=device,
        precision=precision,
        data_root=data_root,
        weights=weights,
        use_cache=use_cache,
        progress=progress,
    )
    dev = resolve_device(device)
    src = parse_source(spec, data_root=data_root, limit=limit, seed=seed)  # bad specs fail before any model
    ext = open_extractor(cfg, dev)
    ex = real_statistics(
        src,
        ext,
        device=dev,
        precision=precision,
        batch_size=batch_size,
        need_features=0,
        need_logits=False,
        use_cache=use_cache,
        seed=seed,
        progress=progress,
    )
    if ex.sigma is None:
        raise UserError(f"{spec}: statistics need at least 2 images, got {ex.n}")
    fields = real_stats_key(src, ext, precision)
    key = stats_key(fields)
    meta = {
        **fields,
        "spec": spec,
        "gan_eval_version": __version__,
        "torch_version": torch.__version__,
        "command": "gan-eval " + " ".join(sys.argv[1:]) if _run_from_cli() else "",
    }
    out_path = Path(out)
    if out_path.is_dir():
        out_path = save_cached(key, Moments(ex.mu, ex.sigma, ex.n, meta), folder=out_path, compact=compact)
    else:
        save_moments(out_path, Moments(ex.mu, ex.sigma, ex.n, {**meta, "key": key}), compact=compact)
    return {"path": str(out_path), "n": ex.n, "dim": int(ex.mu.shape[0]), "key": key, "cached": ex.from_cache}


def _run_from_cli() -> bool:
    """True under the ``gan-eval`` script or ``python -m gan_eval``."""
    prog = sys.argv[0] if sys.argv else ""
    return "gan-eval" in prog or prog.replace("\\", "/").endswith("gan_eval/__main__.py")


# ----------------------------------------------------------------------------- in-training evaluation
def training_eval_hook(
    *,
    real: str = "mnist",
    metrics: Sequence[str] = ("fid",),
    extractor: str = "mnist-lenet",
    n: int = 5000,
    results: str | Path | None = None,
    run_id: str = "",
) -> Any:
    """An ``eval_hook(epoch, ckpt_path) -> dict`` for ``gan_eval.train.train``: cheap mnist-lenet metrics
    of each checkpoint, appended to the same results table the evaluator writes; the values become
    epochs.csv columns."""

    def hook(epoch: int, ckpt_path: Path) -> dict[str, float]:
        cfg = EvalConfig(
            real=real, fake=str(ckpt_path), metrics=tuple(metrics), extractor=extractor, n=n, progress=False
        )
        res = evaluate(config=cfg, results=results, run_id=run_id)
        return {f"{k}_{extractor}": v for k, v in res.values.items()}

    return hook
