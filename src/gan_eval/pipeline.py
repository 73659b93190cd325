"""The one place that glues the stages: sources -> extractor -> statistics -> metrics -> result.

``evaluate(real=..., fake=..., metrics=[...])`` makes one pass over each image set, however many metrics are
asked for, and returns an :class:`EvalResult` (values, stds, confidence intervals, fingerprint) that the
results table, reports and gates consume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval import __version__
from gan_eval.cache import sha256_file
from gan_eval.data import Source, parse_source
from gan_eval.data.base import subset_indices
from gan_eval.data.spec import is_stats_file
from gan_eval.distributed import all_gather, init_from_env, rank_world
from gan_eval.errors import UserError
from gan_eval.features import Extractor, build_extractor, protocols
from gan_eval.metrics.registry import STD_OF, get_metric
from gan_eval.stats import FeatureStats, Moments, load_moments, save_moments
from gan_eval.stats.cache import load_cached, save_cached, stats_key

PRECISIONS = ("fp32", "tf32", "bf16")
KNN_METRICS = ("pr", "dc")  # no bootstrap intervals for these (see bootstrap_cis)
DEFAULT_PROTOCOL = {"inception": protocols.DEFAULT_PROTOCOL}  # other extractors carry a fixed protocol


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides an evaluation. Field names match the CLI options."""

    real: str
    fake: str
    metrics: tuple[str, ...] = ("fid",)
    extractor: str = "inception"
    protocol: str | None = None  # None: the extractor's default
    n: int = 10_000  # samples drawn from a generator source
    real_limit: int | None = None  # seeded subset of the real set (None: the whole split)
    fake_limit: int | None = None  # seeded subset of a fake image set
    seed: int = 0  # generator noise and subset seed
    batch_size: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    weights: str | None = None
    data_root: str | None = None
    value_range: tuple[float, float] | None = None
    use_cache: bool = True
    max_real_features: int = 10_000  # real features kept for kid/pr/dc (seeded subset)
    bootstrap: int = 0  # bootstrap resamples of the generated set for confidence intervals (0: none)
    compile: bool = False
    use_ema: bool = True
    z_dim: int | None = None
    progress: bool = True


@dataclass
class EvalResult:
    values: dict[str, float]
    stds: dict[str, float]
    cis: dict[str, tuple[float, float]]
    fingerprint: dict[str, Any]
    n_real: dict[str, int]  # per metric key: how many real samples it used
    n_fake: int
    duration_s: float
    diagnostics: dict[str, Any] = field(default_factory=dict)
    class_counts: np.ndarray | None = None  # argmax histogram of the fake logits (mode collapse check)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_counts"] = None if self.class_counts is None else self.class_counts.tolist()
        return d


@dataclass
class Extracted:
    """What one pass over a source gives: float64 moments, kept features [K, D], logits [M, C]."""

    stats: FeatureStats | None
    mu: np.ndarray
    sigma: np.ndarray | None
    n: int
    features: np.ndarray | None
    logits: np.ndarray | None
    from_cache: bool = False


# ----------------------------------------------------------------------------- devices and precision
def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise UserError(f"--device {device}: expected auto, cpu or cuda[:k]")
    return torch.device(device)


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """fp32: exact (TF32 off); tf32: TF32 matmuls/convs on CUDA; bf16: autocast to bfloat16."""
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if precision == "bf16":
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def default_batch_size(extractor: Extractor, device: torch.device) -> int:
    if extractor.name == "inception":
        return 256 if device.type == "cuda" else 32
    return 1000


# ----------------------------------------------------------------------------- progress
def _progress(total: int, label: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


# ----------------------------------------------------------------------------- feature extraction
def extract(
    source: Source,
    extractor: Extractor,
    *,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int | None = None,
    keep_features: int | None = 0,
    keep_logits: bool = False,
    subset_seed: int = 0,
    progress: bool = True,
    label: str = "features",
) -> Extracted:
    """One pass of ``extractor`` over ``source``.

    Args:
        keep_features: 0 keeps none; None keeps all; k keeps a seeded subset of k feature rows
            (float32 [k, D]).
        keep_logits: keep the logits of every image (float32 [N, C]); needs a classifier head.
    Returns float64 moments over all N images plus what was kept.
    """
    n_total = len(source)
    if n_total == 0:
        raise UserError(f"{source.spec}: no images")
    bs = batch_size or default_batch_size(extractor, device)
    keep_idx: np.ndarray | None
    if keep_features == 0:
        keep_mask = None
    else:
        keep_idx = subset_indices(n_total, keep_features, subset_seed) if keep_features else None
        keep_mask = np.ones(n_total, bool) if keep_idx is None else np.isin(np.arange(n_total), keep_idx)
    rank, world = rank_world()
    stats = FeatureStats(extractor.feature_dim)
    kept: list[tuple[np.ndarray, np.ndarray]] = []  # (global indices, features float32 [k, D])
    logits: list[tuple[np.ndarray, np.ndarray]] = []  # (global indices, logits float32 [b, C])
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)  # checked once at the end: no sync per batch
    # One batch shape only: a compiled extractor would recompile for the last, shorter batch, and cuDNN's
    # benchmark mode would time every convolution again for it (seconds per new shape on an H200).
    pad_to = bs if _is_compiled(extractor) or device.type == "cuda" else None
    seen = 0
    t0 = time.perf_counter()
    with _progress(n_total, label, progress and n_total > bs and rank == 0) as bar, torch.inference_mode():
        task = bar.add_task(label, total=n_total, rate="") if bar is not None else None
        counted = _Numbered(source.batches(bs))
        mine = (b for i, b in enumerate(counted) if i % world == rank)  # torchrun: batch i -> rank i % world
        for start, n_b, x in _on_device(mine, device, pad_to):
            seen = max(seen, start + n_b)
            with precision_context(precision, device):
                out = extractor(x)
            feats = out["features"][:n_b].float()
            nonfinite |= ~torch.isfinite(feats).all()
            stats.update(feats, check_finite=False)
            idx = np.arange(start, start + n_b)
            if keep_mask is not None:
                sel = keep_mask[start : start + n_b]
                if sel.any():
                    kept.append((idx[sel], feats[torch.from_numpy(sel).to(feats.device)].cpu().numpy()))
            if keep_logits:
                logits.append((idx, out["logits"][:n_b].float().cpu().numpy()))
            if bar is not None:
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.update(task, completed=seen, rate=f"{rate:,.0f} img/s")
    if bool(nonfinite):
        raise UserError(f"{source.spec}: the {extractor.name} features contain NaN or infinite values")
    if counted.total != n_total:
        raise RuntimeError(f"{source.spec}: expected {n_total} images, got {counted.total}")
    if world > 1:  # merge the ranks' float64 moments in rank order; reorder kept rows by global index
        states = all_gather(stats.to_state())
        stats = FeatureStats.from_state(states[0])
        for st in states[1:]:
            stats.merge_(FeatureStats.from_state(st))
        kept = [part for parts in all_gather(kept) for part in parts]
        logits = [part for parts in all_gather(logits) for part in parts]
    features = _ordered(kept)
    return Extracted(
        stats=stats,
        mu=stats.mean(),
        sigma=stats.cov() if stats.n > 1 else None,
        n=stats.n,
        features=features,
        logits=_ordered(logits),
    )


class _Numbered:
    """Iterates (global index of the first image, batch); ``total`` counts the images seen so far."""

    def __init__(self, batches: Iterator[torch.Tensor]) -> None:
        self.batches = batches
        self.total = 0

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        for b in self.batches:
            start, self.total = self.total, self.total + len(b)
            yield start, b


def _is_compiled(module: Any) -> bool:
    return hasattr(module, "_orig_mod")


def _on_device(
    batches: Iterator[tuple[int, torch.Tensor]], device: torch.device, pad_to: int | None
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(start, valid rows, batch on ``device``). On CUDA each batch is pinned and its copy queued one batch
    ahead (``non_blocking``), so the transfer overlaps the previous batch's forward. ``pad_to``: repeat the
    last row up to that many rows (the caller drops the padded outputs)."""

    def put(start: int, b: torch.Tensor) -> tuple[int, int, torch.Tensor]:
        n = int(b.shape[0])
        if pad_to is not None and n < pad_to:
            b = torch.cat([b, b[-1:].expand(pad_to - n, *b.shape[1:])])
        if device.type == "cuda":
            b = (b if b.is_cuda else b.pin_memory()).to(device, non_blocking=True)
        else:
            b = b.to(device)
        return start, n, b

    ahead: tuple[int, int, torch.Tensor] | None = None
    for start, b in batches:
        nxt = put(start, b)
        if ahead is not None:
            yield ahead
        ahead = nxt
    if ahead is not None:
        yield ahead


def _ordered(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Concatenate (global indices, rows) parts in global index order."""
    if not parts:
        return None
    idx = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    return rows[np.argsort(idx, kind="stable")]


# ----------------------------------------------------------------------------- the real set (cached)
def real_stats_key(source: Source, extractor: Extractor, precision: str) -> dict[str, Any]:
    return {
        "source": source.identity,
        "n": len(source),
        **extractor.fingerprint(),
        "precision": precision,
    }


def real_statistics(
    source: Source,
    extractor: Extractor,
    *,
    device: torch.device,
    precision: str,
    batch_size: int | None,
    need_features: int | None,
    need_logits: bool,
    use_cache: bool,
    seed: int,
    progress: bool,
) -> Extracted:
    """Statistics of the real set, from the cache (or the shipped statistics) when an entry exists.

    The moments are keyed by :func:`real_stats_key`; an entry that also holds a seeded subset of the features
    (for kid/pr/dc) is keyed additionally by the subset size and seed.
    """
    base = real_stats_key(source, extractor, precision)
    extra = {"kept_features": need_features, "subset_seed": seed} if need_features or need_logits else {}
    key = stats_key({**base, **extra})
    if use_cache:
        hit = load_cached(key, need_features=bool(need_features), need_logits=need_logits)
        if hit is not None:
            m = hit.moments
            return Extracted(None, m.mu, m.sigma, int(m.n or 0), hit.features, hit.logits, from_cache=True)
    ex = extract(
        source,
        extractor,
        device=device,
        precision=precision,
        batch_size=batch_size,
        keep_features=need_features or 0,
        keep_logits=need_logits,
        subset_seed=seed,
        progress=progress,
        label=f"real {source.spec}",
    )
    if use_cache and ex.sigma is not None:
        moments = Moments(ex.mu, ex.sigma, ex.n, {**base, **extra, "spec": source.spec})
        save_cached(key, moments, features=ex.features, logits=ex.logits)
        if extra:  # the moments alone also serve later FID-only runs
            save_cached(stats_key(base), Moments(ex.mu, ex.sigma, ex.n, {**base, "spec": source.spec}))
    return ex


def _load_stats_file(path: str) -> Extracted:
    m = load_moments(path)
    return Extracted(None, m.mu, m.sigma, int(m.n or 0), None, None, from_cache=True)


def compute_stats_file(
    spec: str,
    out: os.PathLike | str,
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
    under its
    key's name is found by every later evaluation of the same set (that is how the shipped MNIST statistics
    are made: ``gan-eval stats mnist:test --compact -o src/gan_eval/assets/stats/``).
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
    ext = build_for(cfg, dev)
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


# ----------------------------------------------------------------------------- evaluate
def _fingerprint(
    cfg: EvalConfig, extractor: Extractor, device: torch.device, n_fake: int, real_id: str
) -> dict:
    fp = {
        **extractor.fingerprint(),
        "real": real_id,
        "n_fake": n_fake,
        "seed": cfg.seed,
        "precision": cfg.precision,
        "device": device.type,
        "gan_eval_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
    }
    fp["fingerprint"] = hashlib.sha256(
        json.dumps(
            {
                k: fp[k]
                for k in ("extractor", "protocol", "weights_sha256", "real", "n_fake", "seed", "precision")
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    return fp


def inception_channels_last(device: torch.device, precision: str) -> bool:
    """The faster memory layout for the Inception forward, measured (benchmarks/RESULTS.md): channels_last on
    the CPU (1.4x) and for tf32/bf16 on CUDA (1.1x); NCHW for exact fp32 on CUDA (channels_last 16% slower on
    an H200). Features agree to ~1e-6 either way."""
    return not (device.type == "cuda" and precision == "fp32")


def build_for(cfg: EvalConfig, device: torch.device) -> Extractor:
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


def evaluate(
    real: str | None = None,
    fake: str | None = None,
    metrics: Sequence[str] = ("fid",),
    *,
    config: EvalConfig | None = None,
    extractor_module: Extractor | None = None,
    fake_source: Source | None = None,
    **options: Any,
) -> EvalResult:
    """Compute several metrics from one pass over the real and the fake images.

    Example::

        r = gan_eval.evaluate(real="mnist", fake="runs/mlp/ckpt_epoch_020.pt",
                              metrics=["fid", "is", "kid", "pr"], extractor="mnist-lenet")
        r.values["fid"], r.fingerprint
    """
    if config is None:
        if real is None or fake is None:
            raise UserError("evaluate needs real= and fake=")
        config = EvalConfig(real=real, fake=fake, metrics=tuple(metrics), **options)
    cfg = config
    t0 = time.perf_counter()
    init_from_env()
    specs = [get_metric(m) for m in cfg.metrics]
    device = resolve_device(cfg.device)
    need_logits = any("logits" in s.needs for s in specs)
    need_features = any("features" in s.needs for s in specs)

    # fake first: a broken checkpoint should fail before minutes are spent on weights or the real set
    fsrc = fake_source or parse_source(
        cfg.fake,
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
    ext = extractor_module if extractor_module is not None else build_for(cfg, device)
    if need_logits and ext.num_classes is None:
        raise UserError(
            f"the {ext.name} weights in use have no 1008-class head, "
            "so the Inception Score cannot be computed: "
            "get pytorch-fid's pt_inception-2015-12-05-6726825d.pth (`gan-eval weights fetch` with internet, "
            "or --weights FILE), or use --extractor mnist-lenet for MNIST"
        )
    real_is_stats = is_stats_file(cfg.real)
    if real_is_stats and need_features:  # before the fake pass: no minutes spent on a doomed evaluation
        raise UserError(
            f"{cfg.real}: a statistics file holds no features; kid, pr and dc need a real image set"
        )
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
    if real_is_stats:
        real_ex = _load_stats_file(cfg.real)
        real_id = f"stats:{sha256_file(Path(cfg.real))[:16]}"
    else:
        rsrc = parse_source(
            cfg.real,
            data_root=cfg.data_root,
            limit=cfg.real_limit,
            seed=cfg.seed,
            value_range=cfg.value_range,
            limit_option="--real-limit",
        )
        real_ex = real_statistics(
            rsrc,
            ext,
            device=device,
            precision=cfg.precision,
            batch_size=cfg.batch_size,
            need_features=cfg.max_real_features if need_features else 0,
            need_logits=False,  # IS reads the generated set's logits only
            use_cache=cfg.use_cache,
            seed=cfg.seed,
            progress=cfg.progress,
        )
        real_id = rsrc.identity

    values: dict[str, float] = {}
    stds: dict[str, float] = {}
    n_real: dict[str, int] = {}
    diagnostics: dict[str, Any] = {"real_from_cache": real_ex.from_cache}
    std_key_of = {std: value for value, std in STD_OF.items()}
    for spec in specs:
        out = run_metric(spec, real_ex, fake_ex)
        for k, v in out.items():
            if k in std_key_of:
                stds[std_key_of[k]] = float(v)
            elif k in spec.keys:
                values[k] = float(v)
                n_real[k] = (
                    0
                    if not spec.needs_real
                    else real_ex.n
                    if "stats" in spec.needs
                    else 0
                    if real_ex.features is None
                    else len(real_ex.features)
                )
            else:
                diagnostics[k] = v.item() if isinstance(v, np.generic) else v
    cis: dict[str, tuple[float, float]] = {}
    if cfg.bootstrap and fake_ex.features is not None:
        cis = bootstrap_cis(specs, real_ex, fake_ex, cfg.bootstrap, cfg.seed)
    counts = None
    if fake_ex.logits is not None:
        counts = np.bincount(fake_ex.logits.argmax(1), minlength=fake_ex.logits.shape[1])
    return EvalResult(
        values=values,
        stds=stds,
        cis=cis,
        fingerprint=_fingerprint(cfg, ext, device, fake_ex.n, real_id),
        n_real=n_real,
        n_fake=fake_ex.n,
        duration_s=time.perf_counter() - t0,
        diagnostics=diagnostics,
        class_counts=counts,
    )


def run_metric(spec: Any, real: Extracted, fake: Extracted) -> dict[str, Any]:
    """Call one metric with what it needs from the two passes (``Extracted``: mu/sigma/n/features/logits)."""
    return spec.compute(real if spec.needs_real else None, fake)


def bootstrap_cis(specs, real_ex: Extracted, fake_ex: Extracted, b: int, seed: int, level: float = 0.95):
    """Percentile bootstrap over the generated samples (resampled with replacement), real set fixed."""
    assert fake_ex.features is not None
    # k-NN metrics (pr, dc) are not bootstrapped: resampling with replacement duplicates samples, whose
    # zero-distance neighbours shrink the k-NN radii and bias the intervals (recall's fell below its value)
    specs = [s for s in specs if s.name not in KNN_METRICS]
    rng = np.random.default_rng(seed + 1)
    n = fake_ex.n
    draws: dict[str, list[float]] = {}
    for _ in range(b):
        idx = rng.integers(0, n, size=n)
        feats = fake_ex.features[idx]
        st = FeatureStats(feats.shape[1])
        st.update(feats)
        boot = Extracted(
            st, st.mean(), st.cov(), n, feats, None if fake_ex.logits is None else fake_ex.logits[idx]
        )
        for spec in specs:
            for k, v in run_metric(spec, real_ex, boot).items():
                if k in spec.keys and k not in STD_OF.values():
                    draws.setdefault(k, []).append(float(v))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: (float(np.percentile(v, lo)), float(np.percentile(v, hi))) for k, v in draws.items()}


def environment() -> dict[str, str]:
    return {
        "gan_eval": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


__all__ = ["EvalConfig", "EvalResult", "evaluate", "extract", "environment"]


# ----------------------------------------------------------------------------- results rows
def checkpoint_info(spec: str) -> dict[str, Any]:
    """epoch / step of a gan-eval checkpoint spec (empty for other sources)."""
    path = Path(spec)
    if path.suffix.lower() not in (".pt", ".pth", ".ckpt") or not path.is_file():
        return {}
    from gan_eval.data.checkpoints import load_checkpoint

    try:
        ckpt = load_checkpoint(path)
    except UserError:
        return {}  # TorchScript generators carry no epoch
    return {
        "checkpoint": str(path),
        "epoch": ckpt.get("epoch"),
        "step": ckpt.get("step", ckpt.get("global_step")),
    }


def result_rows(
    res: EvalResult, cfg: EvalConfig, *, run_id: str = "", info: dict[str, Any] | None = None
) -> Any:
    """The results-table rows (pandas, one per metric value) of one evaluation.

    ``info``: the fake's :func:`checkpoint_info`, when the caller already has it.
    """
    from gan_eval.results import make_rows

    fp = res.fingerprint
    info = checkpoint_info(cfg.fake) if info is None else info
    frames = []
    # n_real may differ per metric (FID uses the whole real set, kid/pr/dc a seeded subset of its features)
    for n_real in sorted(set(res.n_real.values())):
        keys = [k for k in res.values if res.n_real.get(k) == n_real]
        meta = {
            "real": cfg.real,
            "fake": cfg.fake,
            "n_real": n_real,
            "n_fake": res.n_fake,
            "extractor": fp["extractor"],
            "protocol": fp["protocol"],
            "precision": cfg.precision,
            "seed": cfg.seed,
            "device": fp["device"],
            "run_id": run_id,
            "duration_s": res.duration_s,
            # one evaluation, one fingerprint: the rows of every metric share it (gates select by it)
            "fingerprint": fp["fingerprint"],
            **info,
        }
        frames.append(
            make_rows(
                {k: res.values[k] for k in keys},
                stds={k: v for k, v in res.stds.items() if k in keys},
                cis={k: v for k, v in res.cis.items() if k in keys},
                meta=meta,
                fingerprint_extra={"weights_sha256": fp["weights_sha256"]},
            )
        )
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- compare
@dataclass
class Comparison:
    """``gan-eval compare``: one row per checkpoint, ranked by the first metric, best first."""

    primary: str
    rows: list[dict[str, Any]]
    verdict: str
    results: list[EvalResult]

    def as_dict(self) -> dict[str, Any]:
        return {"primary": self.primary, "ranking": self.rows, "verdict": self.verdict}


def compare_checkpoints(
    checkpoints: Sequence[str],
    *,
    real: str = "mnist",
    metrics: Sequence[str] = ("fid",),
    bootstrap: int = 50,
    results: str | Path | None = None,
    run_id: str = "",
    **options: Any,
) -> Comparison:
    """Evaluate every checkpoint against the same (cached) real statistics with the same noise seed, rank them
    by the first metric (direction from ``higher_is_better``) and say whether the best is separated from the
    runner-up beyond noise (non-overlapping bootstrap percentile intervals over the generated samples)."""
    from gan_eval.metrics.registry import higher_is_better

    if not checkpoints:
        raise UserError("compare needs at least one checkpoint")
    missing = [c for c in checkpoints if not Path(c).exists()]
    if missing:
        raise UserError(f"no such checkpoint: {missing[0]}")
    evaluated: list[tuple[str, EvalResult]] = []
    infos = {ck: checkpoint_info(ck) for ck in checkpoints}  # each file read once for epoch/step
    for ck in checkpoints:
        cfg = EvalConfig(real=real, fake=ck, metrics=tuple(metrics), bootstrap=bootstrap, **options)
        res = evaluate(config=cfg)
        evaluated.append((ck, res))
        if results is not None:
            from gan_eval.results import append_results

            append_results(result_rows(res, cfg, run_id=run_id, info=infos[ck]), results)
    primary = next(iter(evaluated[0][1].values))
    better_high = higher_is_better(primary)
    ranked = sorted(evaluated, key=lambda t: t[1].values[primary], reverse=better_high)
    rows: list[dict[str, Any]] = []
    for rank, (ck, res) in enumerate(ranked, 1):
        row: dict[str, Any] = {
            "rank": rank,
            "checkpoint": Path(ck).name,
            "epoch": infos[ck].get("epoch"),
        }
        for k, v in res.values.items():
            row[k] = v
            if k in res.cis:
                row[f"{k}_ci"] = f"[{res.cis[k][0]:.4g}, {res.cis[k][1]:.4g}]"
        row["best"] = "*" if rank == 1 else ""
        rows.append(row)
    verdict = f"best: {Path(ranked[0][0]).name} ({primary} = {ranked[0][1].values[primary]:.4g})"
    if len(ranked) > 1:
        a, b = ranked[0][1], ranked[1][1]
        if primary in a.cis and primary in b.cis:
            (alo, ahi), (blo, bhi) = a.cis[primary], b.cis[primary]
            separated = ahi < blo if not better_high else alo > bhi
            verdict += (
                f"; separated from the runner-up {Path(ranked[1][0]).name} beyond noise "
                f"({bootstrap} bootstrap resamples, 95% intervals do not overlap)"
                if separated
                else f"; NOT separated from the runner-up {Path(ranked[1][0]).name}: their 95% bootstrap "
                "intervals overlap, so the ranking between them is within noise"
            )
        else:
            verdict += "; no confidence intervals (use --bootstrap N) to tell whether it beats the runner-up"
    return Comparison(primary=primary, rows=rows, verdict=verdict, results=[r for _, r in ranked])


# ----------------------------------------------------------------------------- report assets
def report_assets(
    checkpoints: Sequence[str], folder: Path, *, n: int = 1000, seed: int = 0, device: str = "cpu"
) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """Sample grids (64 images) and mnist-lenet class histograms (``n`` samples) of checkpoints on disk.

    Keys are the checkpoint strings as they appear in the results table.
    """
    from gan_eval.data.checkpoints import generator_source, sample_grid

    grids: dict[str, Path] = {}
    hists: dict[str, np.ndarray] = {}
    lenet = build_extractor("mnist-lenet", device=device).eval()
    for ck in checkpoints:
        if not Path(ck).is_file():
            continue
        grids[ck] = sample_grid(ck, n=64, out=folder / f"grid_{Path(ck).stem}.png", seed=seed, device=device)
        src = generator_source(ck, n=n, seed=seed, device=device)
        counts = np.zeros(10, dtype=np.int64)
        with torch.inference_mode():
            for batch in src.batches(500):
                counts += np.bincount(lenet(batch)["logits"].argmax(1).numpy(), minlength=10)
        hists[ck] = counts
    return grids, hists


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
        res = evaluate(config=cfg)
        if results is not None:
            from gan_eval.results import append_results

            append_results(result_rows(res, cfg, run_id=run_id), results)
        return {f"{k}_{extractor}": v for k, v in res.values.items()}

    return hook
