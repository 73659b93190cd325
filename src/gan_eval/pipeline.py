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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval import __version__
from gan_eval.config import EvalConfig
from gan_eval.data import Source, parse_source
from gan_eval.data.spec import is_stats_file
from gan_eval.distributed import init_from_env, is_main
from gan_eval.errors import UserError
from gan_eval.features import Extractor, build_extractor, protocols
from gan_eval.metrics.bootstrap import bootstrap_cis
from gan_eval.metrics.keys import STD_OF
from gan_eval.metrics.registry import MetricSpec, get_metric
from gan_eval.results.rows import EvalResult, fingerprint_fields
from gan_eval.runtime import (
    Progress,
    check_precision,
    inception_channels_last,
    resolve_device,
)
from gan_eval.stats import Moments, save_moments
from gan_eval.stats.extract import Extracted, extract
from gan_eval.stats.reference import (
    load_stats_file,
    real_statistics,
    real_stats_key,
    save_cached,
    stats_key,
)

DEFAULT_PROTOCOL = {"inception": protocols.DEFAULT_PROTOCOL}  # other extractors carry a fixed protocol

__all__ = ["EvalConfig", "EvalResult", "evaluate", "compute_stats_file"]


# ----------------------------------------------------------------------------- the stages' inputs
def open_extractor(cfg: EvalConfig, device: torch.device) -> Extractor:
    """The extractor ``cfg`` asks for, on ``device``, in eval mode (compiled with ``cfg.compile``)."""
    check_precision(cfg.precision)
    options: dict[str, Any] = {"device": str(device)}
    protocol = cfg.protocol or DEFAULT_PROTOCOL.get(cfg.extractor)
    if protocol is not None:
        options["protocol"] = protocol
    if cfg.weights is not None:
        options["weights"] = cfg.weights
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
    """The generated (evaluated) set ``spec`` as ``cfg`` asks for it; a generator is loaded and probed."""
    return parse_source(
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
        limit_option="--fake-limit",
    )


@dataclass
class RealSide:
    """The real set's statistics (moments, kept features) and its identity (what the fingerprint hashes)."""

    stats: Extracted
    identity: str


def real_side(
    cfg: EvalConfig, extractor: Extractor, device: torch.device, *, specs: Sequence[MetricSpec] | None = None
) -> RealSide:
    """Statistics of ``cfg.real`` for ``specs`` (default: ``cfg.metrics``): a statistics file, or the real
    image set's statistics from the cache, the shipped files, or one pass."""
    if cfg.real is None:
        raise UserError("no real set: give --real (only the Inception Score works without one)")
    specs = specs if specs is not None else [get_metric(m) for m in cfg.metrics]
    need_features = any("features" in s.needs for s in specs if s.needs_real)
    if is_stats_file(cfg.real):
        from gan_eval.atomic import sha256_file

        if need_features:
            raise UserError(
                f"{cfg.real}: a statistics file holds no features; kid, pr and dc need a real image set"
            )
        return RealSide(load_stats_file(cfg.real), f"stats:{sha256_file(Path(cfg.real))[:16]}")
    rsrc = _real_source(cfg)
    stats = real_statistics(
        rsrc,
        extractor,
        device=device,
        precision=cfg.precision,
        batch_size=cfg.batch_size,
        need_features=cfg.max_real_features if need_features else 0,
        need_logits=False,  # IS reads the generated set's logits only
        use_cache=cfg.use_cache,
        seed=cfg.seed,
        progress=cfg.progress,
    )
    return RealSide(stats, rsrc.identity)


def _real_source(cfg: EvalConfig) -> Source:
    assert cfg.real is not None
    return parse_source(
        cfg.real,
        data_root=cfg.data_root,
        limit=cfg.real_limit,
        seed=cfg.seed,
        value_range=cfg.value_range,
        limit_option="--real-limit",
    )


# ----------------------------------------------------------------------------- evaluate
def evaluate(
    real: str | None = None,
    fake: str | None = None,
    metrics: Sequence[str] = ("fid",),
    *,
    config: EvalConfig | None = None,
    extractor_module: Extractor | None = None,
    fake_source: Source | None = None,
    real_stats: RealSide | None = None,
    results: str | os.PathLike[str] | None = None,
    run_id: str = "",
    **options: Any,
) -> EvalResult:
    """Compute several metrics from one pass over the real and the fake images.

    ``real`` may be None for metrics of the generated set alone (``is``). ``results``: a results table
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
        config = EvalConfig(real=real, fake=fake, metrics=tuple(metrics), **options)
    cfg = config
    t0 = time.perf_counter()
    init_from_env()
    specs = [get_metric(m) for m in cfg.metrics]
    device = resolve_device(cfg.device)
    check_precision(cfg.precision)
    need_real = any(s.needs_real for s in specs)
    need_logits = any("logits" in s.needs for s in specs)
    need_features = any("features" in s.needs for s in specs)
    if need_real and cfg.real is None and real_stats is None:
        names = ", ".join(s.name for s in specs if s.needs_real)
        raise UserError(
            f"no real set: {names} compare the generated images with real ones; give --real (or REAL FAKE "
            "as two paths); only is needs none"
        )
    if results is not None:
        from gan_eval.results.store import check_results_target

        check_results_target(Path(results))  # before minutes of work: a table that cannot take rows fails
    # inputs first, cheapest first: a broken checkpoint or real spec fails before minutes are spent
    fsrc = fake_source if fake_source is not None else open_fake_source(cfg.fake, cfg, device)
    if need_real and real_stats is None and cfg.real is not None and not is_stats_file(cfg.real):
        _real_source(cfg)  # parse (and verify) the real spec now; its statistics come after the fake pass
    ext = extractor_module if extractor_module is not None else open_extractor(cfg, device)
    if need_logits and ext.num_classes is None:
        raise UserError(
            f"the {ext.name} weights in use have no 1008-class head, "
            "so the Inception Score cannot be computed: "
            "get pytorch-fid's pt_inception-2015-12-05-6726825d.pth (`gan-eval weights fetch` with internet, "
            "or --weights FILE), or use --extractor mnist-lenet for MNIST"
        )
    if need_real and real_stats is None and cfg.real is not None and is_stats_file(cfg.real):
        real_stats = real_side(cfg, ext, device, specs=specs)  # a file: read (and refused) before the pass
    fake_ex = extract(
        fsrc,
        ext,
        device=device,
        precision=cfg.precision,
        batch_size=cfg.batch_size,
        keep_features=None if (need_features or cfg.bootstrap) else 0,
        keep_logits=need_logits,
        subset_seed=cfg.seed,
        progress=cfg.progress,
        label=f"fake {cfg.fake}",
    )
    if need_real and real_stats is None:
        real_stats = real_side(cfg, ext, device, specs=specs)
    real_ex = real_stats.stats if real_stats is not None else None

    values: dict[str, float] = {}
    stds: dict[str, float] = {}
    n_real: dict[str, int] = {}
    diagnostics: dict[str, Any] = {"real_from_cache": bool(real_ex is not None and real_ex.from_cache)}
    std_key_of = {std: value for value, std in STD_OF.items()}
    for spec in specs:
        out = spec.compute(real_ex if spec.needs_real else None, fake_ex)
        for k, v in out.items():
            if k in std_key_of:
                stds[std_key_of[k]] = float(v)
            elif k in spec.keys:
                values[k] = float(v)
                n_real[k] = _n_real_used(spec, real_ex)
            else:
                diagnostics[k] = v.item() if isinstance(v, np.generic) else v
    cis: dict[str, tuple[float, float]] = {}
    if cfg.bootstrap and fake_ex.features is not None:
        with Progress(f"bootstrap {cfg.fake}", cfg.bootstrap, unit="resamples", enabled=cfg.progress) as bar:
            cis = bootstrap_cis(
                specs, real_ex, fake_ex, cfg.bootstrap, cfg.seed, progress=lambda i, _: bar.update(i)
            )
    counts = None
    if fake_ex.logits is not None:
        counts = np.bincount(fake_ex.logits.argmax(1), minlength=fake_ex.logits.shape[1])
    res = EvalResult(
        values=values,
        stds=stds,
        cis=cis,
        fingerprint=fingerprint_fields(
            ext.fingerprint(),
            real=real_stats.identity if real_stats is not None else "",
            n_fake=fake_ex.n,
            seed=cfg.seed,
            precision=cfg.precision,
            device=device.type,
        ),
        n_real=n_real,
        n_fake=fake_ex.n,
        duration_s=time.perf_counter() - t0,
        diagnostics=diagnostics,
        class_counts=counts,
        source_info=dict(getattr(fsrc, "info", {})),  # a checkpoint's path, epoch, step: read with it
    )
    if results is not None and is_main():
        from gan_eval.results import append_results
        from gan_eval.results.rows import result_rows

        append_results(result_rows(res, cfg, run_id=run_id), results)
    return res


def _n_real_used(spec: MetricSpec, real: Extracted | None) -> int:
    """How many real samples a metric's value used: all of them for statistics, the kept subset for
    feature metrics, none for metrics of the generated set alone."""
    if not spec.needs_real or real is None:
        return 0
    if "stats" in spec.needs:
        return real.n
    return 0 if real.features is None else len(real.features)


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
