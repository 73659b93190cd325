"""Real-set statistics: computed once, cached on disk (or shipped with gan-eval), read back by key.

An entry is keyed by a sha256 of *everything* that changes the numbers: the source identity (which holds the
content hash, subset size and seed), the extractor, its weights' sha256, protocol and feature dimension, the
precision, and the statistics format version. It is a statistics file (``save_moments``: mu float64 [D],
sigma float64 [D, D], n, metadata) plus, when a metric needed them, ``<key>.features.npz`` with a
seeded subset
of the features float32 [K, D] and the logits float32 [M, C]. Files are written atomically with a sha256
sidecar (``gan_eval.cache``); a corrupt entry is removed and recomputed.

Shipped entries (``gan_eval/assets/stats/<key>.npz``, produced by ``gan-eval stats SPEC --compact -o
src/gan_eval/assets/stats/``) are looked up by the
same key, so the first FID against MNIST does not spend an hour of CPU on the real set.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch

from gan_eval import atomic, cache
from gan_eval.data.base import Source
from gan_eval.stats.extract import Extracted, extract
from gan_eval.stats.feature_stats import FORMAT_VERSION, Moments, load_moments, save_moments


def stats_key(fields: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``fields`` plus the statistics format version."""
    payload = json.dumps({**fields, "stats_format": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class CachedStats:
    moments: Moments
    features: np.ndarray | None = None
    logits: np.ndarray | None = None
    path: Path | None = None


def shipped_stats_dir() -> Path:
    return Path(str(resources.files("gan_eval") / "assets" / "stats"))


def entry_name(key: str) -> str:
    return f"{key[:32]}.npz"


def _extras_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(".npz")] + ".features.npz")


def _shipped_ok(path: Path) -> Path | None:
    """A shipped entry that matches its recorded sha256 (never deleted: it belongs to the installation)."""
    side = path.with_name(path.name + ".sha256")
    if not path.is_file() or not side.is_file():
        return None
    if atomic.sha256_file(path) not in atomic.listed_digests(path):
        warnings.warn(f"shipped statistics {path} do not match their sha256; ignoring them", stacklevel=3)
        return None
    return path


def _holds_key(path: Path, stored: Any, key: str, removable: bool) -> bool:
    """Whether the entry ``path`` holds the statistics of ``key`` (the key stored inside it). One that holds
    another key's (a file copied or renamed into the cache, with its sidecar) is never used: a cache file is
    discarded, a shipped one ignored."""
    if stored == key:
        return True
    why = f"holds the statistics of another key ({str(stored)[:16]}..., not {key[:16]}...)"
    if removable:
        atomic.discard(path, why, stacklevel=4)
    else:
        warnings.warn(f"shipped statistics {path} {why}; ignoring them", stacklevel=4)
    return False


def load_cached(key: str, *, need_features: bool = False, need_logits: bool = False) -> CachedStats | None:
    """The cached (or shipped) entry for ``key``, or None; one lacking requested extras is a miss."""
    for folder, check in ((cache.cache_dir("stats"), True), (shipped_stats_dir(), False)):
        path = folder / entry_name(key)
        if (atomic.verified(path) if check else _shipped_ok(path)) is None:
            continue
        entry = CachedStats(load_moments(path), path=path)
        if not _holds_key(path, entry.moments.metadata.get("key"), key, check):
            continue
        if need_features or need_logits:
            extras = _extras_path(path)
            if (atomic.verified(extras) if check else (extras if extras.is_file() else None)) is None:
                continue
            with np.load(extras, allow_pickle=False) as z:
                stored = str(z["key"]) if "key" in z.files else key  # files written before the key was kept
                entry.features = z["features"] if "features" in z.files else None
                entry.logits = z["logits"] if "logits" in z.files else None
            if not _holds_key(extras, stored, key, check):
                continue
            if (need_features and entry.features is None) or (need_logits and entry.logits is None):
                continue
        return entry
    return None


@overload
def save_cached(
    key: str,
    moments: Moments,
    *,
    features: np.ndarray | None = ...,
    logits: np.ndarray | None = ...,
    folder: Path,
    compact: bool = ...,
) -> Path: ...


@overload
def save_cached(
    key: str,
    moments: Moments,
    *,
    features: np.ndarray | None = ...,
    logits: np.ndarray | None = ...,
    folder: None = ...,
    compact: bool = ...,
) -> Path | None: ...


def save_cached(
    key: str,
    moments: Moments,
    *,
    features: np.ndarray | None = None,
    logits: np.ndarray | None = None,
    folder: Path | None = None,
    compact: bool = False,
) -> Path | None:
    """Write an entry atomically into the cache (or ``folder``); returns the statistics file's path.

    Into the cache: None when the cache is read-only (warned once by ``gan_eval.cache``; the caller goes on
    without caching). Into ``folder``: a folder that cannot be written raises UserError.
    """
    if folder is None:
        if not cache.writable("stats"):
            return None
        try:
            return _save_entry(cache.cache_dir("stats"), key, moments, features, logits, compact)
        except atomic.OutputError as e:
            cache.note_unwritable(cache.cache_dir("stats"), str(e))
            return None
    return _save_entry(folder, key, moments, features, logits, compact)


def _save_entry(
    folder: Path,
    key: str,
    moments: Moments,
    features: np.ndarray | None,
    logits: np.ndarray | None,
    compact: bool,
) -> Path:
    path = folder / entry_name(key)
    save_moments(
        path, Moments(moments.mu, moments.sigma, moments.n, {**moments.metadata, "key": key}), compact=compact
    )
    if features is not None or logits is not None:
        arrays = {
            k: v.astype(np.float32) for k, v in (("features", features), ("logits", logits)) if v is not None
        }
        arrays["key"] = np.asarray(key)  # checked against the name it is read under

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]

        atomic.atomic_write(_extras_path(path), write)
    return path


# ----------------------------------------------------------------------------- the real set
def real_stats_key(source: Source, extractor: Any, precision: str) -> dict[str, Any]:
    """The fields that decide a real set's statistics (hashed by :func:`stats_key`)."""
    return {
        "source": source.identity,
        "n": len(source),
        **extractor.fingerprint(),
        "precision": precision,
    }


def real_stats_cached(source: Source, extractor: Any, precision: str) -> bool:
    """Whether the moments of ``source`` are in the cache or shipped (a file exists under the key; it is
    verified when read): for time estimates, which need no certainty."""
    name = entry_name(stats_key(real_stats_key(source, extractor, precision)))
    return any((folder / name).is_file() for folder in (cache.cache_dir("stats"), shipped_stats_dir()))


def real_statistics(
    source: Source,
    extractor: Any,
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
            return Extracted.from_moments(m.mu, m.sigma, int(m.n or 0), hit.features, hit.logits)
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
