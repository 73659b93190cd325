"""The one cache root: ``$GAN_EVAL_CACHE``, else ``~/.cache/gan-eval``; subfolders ``datasets``,
``weights``, ``stats`` and ``compiled``. Files in it are written with :mod:`gan_eval.atomic` (atomic, with a
sha256 sidecar) and read back verified.

A cache root that is a regular file is a UserError naming it. A read-only cache is not: reads still work
(datasets, weights and statistics already there, and the shipped statistics), writes are skipped, and one
warning says so (:func:`cache_write`). The first use of a writable cache folder in a process removes the
stale temporary files of interrupted writes there; ``gan-eval cache ls`` lists temporary files,
``gan-eval cache clear`` removes the stale ones.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gan_eval.atomic import (
    OutputError,
    atomic_write,
    is_stale,
    probe_writable,
    sweep_stale_temps,
    temp_files,
)
from gan_eval.errors import UserError

SUBFOLDERS = ("datasets", "weights", "stats", "compiled")  # compiled: torch.compile (inductor) artefacts
ENV_VAR = "GAN_EVAL_CACHE"

_unwritable: dict[Path, str] = {}  # cache folder -> why it cannot be written (this process)
_checked: set[Path] = set()  # cache folders found writable (and swept) in this process
_warned_roots: set[Path] = set()


# ----------------------------------------------------------------------------- the cache root
def cache_root() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gan-eval"


def _root_label(root: Path) -> str:
    return f"${ENV_VAR}={root}" if os.environ.get(ENV_VAR) else f"the cache folder {root}"


def _check_root(root: Path) -> None:
    """UserError when the cache root, or a folder above it, is not a folder."""
    p = root
    while not p.exists() and p != p.parent:
        if p.is_symlink():  # a dangling link
            raise UserError(f"{_root_label(root)}: {p} is a broken link; point ${ENV_VAR} at a folder")
        p = p.parent
    if not p.is_dir():
        where = "is a file" if p == root else f"lies under {p}, which is a file"
        raise UserError(
            f"{_root_label(root)}: {where}, not a folder; point ${ENV_VAR} at a folder (or unset it)"
        )


def cache_dir(kind: str) -> Path:
    """``<cache root>/<kind>``, created when possible.

    A read-only cache is usable for reading: the folder is returned even when it cannot be created or
    written (one warning; :func:`cache_write` then skips writes). The first use of a writable folder in a
    process removes its stale temporary files.
    """
    if kind not in SUBFOLDERS:
        raise ValueError(f"unknown cache folder {kind!r}; expected one of {SUBFOLDERS}")
    root = cache_root()
    path = root / kind
    if path in _checked or path in _unwritable:
        return path
    _check_root(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(
            f"{_root_label(root)}: {path} is a file, not a folder; remove it or move the cache"
        ) from None
    except OSError as e:
        note_unwritable(path, e.strerror or str(e))
        return path
    reason = probe_writable(path)
    if reason is not None:
        note_unwritable(path, reason)
        return path
    _checked.add(path)
    sweep_stale_temps(path)
    return path


def note_unwritable(folder: Path, reason: str) -> None:
    """Record that the cache folder ``folder`` cannot be written; warn once per cache root."""
    _unwritable[Path(folder)] = reason
    root = cache_root()
    if root not in _warned_roots:
        _warned_roots.add(root)
        warnings.warn(
            f"{_root_label(root)} is not writable ({reason}); computing without caching", stacklevel=3
        )


def writable(kind: str) -> bool:
    """Whether files can be cached in ``<cache root>/<kind>`` (False for a read-only cache)."""
    return cache_dir(kind) not in _unwritable


def cache_write(path: Path, write: Callable[[Path], None], *, checksum: bool = True) -> Path | None:
    """:func:`atomic_write` of a cache file; None (nothing written) when its cache folder is read-only or
    the write fails for want of space or permission (one warning per cache root)."""
    path = Path(path)
    if path.parent in _unwritable:
        return None
    try:
        return atomic_write(path, write, checksum=checksum)
    except OutputError as e:
        note_unwritable(path.parent, str(e))
        return None


# ----------------------------------------------------------------------------- `gan-eval cache ls | clear`
def cache_listing() -> list[dict[str, Any]]:
    """Rows ``{kind, file, size_mb, note}`` for ``gan-eval cache ls``; temporary files of interrupted (or
    running) writes are listed with the note ``"temporary: interrupted write"`` or ``"temporary: being
    written"``."""
    root = cache_root()
    _check_root(root)
    rows: list[dict[str, Any]] = []
    for kind in SUBFOLDERS:
        folder = root / kind
        if not folder.is_dir():
            continue
        temps = set(temp_files(folder))
        for p in sorted(folder.iterdir()):
            if p.name.endswith(".sha256") or (p.name.startswith(".") and p not in temps):
                continue
            try:
                size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*"))
            except OSError:
                size = 0
            note = ""
            if p in temps:
                note = "temporary: interrupted write" if is_stale(p) else "temporary: being written"
            rows.append({"kind": kind, "file": p.name, "size_mb": round(size / 1e6, 2), "note": note})
    return rows


def clear_cache(kinds: tuple[str, ...]) -> list[Path]:
    """Remove the cache folders ``kinds``, and the stale temporary files of every other cache folder.
    Returns what was removed.

    A folder that cannot be emptied (a read-only cache) is a UserError naming it, before anything is
    removed; a file that still cannot be removed is a UserError too (the folder is not reported removed).
    """
    root = cache_root()
    _check_root(root)
    for kind in kinds:
        folder = root / kind
        for where in (folder, root) if folder.exists() else ():  # its entries, and the folder itself
            reason = probe_writable(where)
            if reason is not None:
                raise UserError(
                    f"{_root_label(root)}: cannot remove {folder} ({where} is not writable: {reason}); "
                    "nothing was removed"
                )
    removed: list[Path] = []
    for kind in SUBFOLDERS:
        folder = root / kind
        if kind in kinds:
            if folder.exists():
                _remove_tree(folder)
                removed.append(folder)
            _checked.discard(folder)
        elif folder.is_dir():
            removed += sweep_stale_temps(folder)
    return removed


def _remove_tree(folder: Path) -> None:
    failed: list[tuple[str, BaseException]] = []

    def note(_func: Any, path: str, exc: Any) -> None:
        failed.append((path, exc[1] if isinstance(exc, tuple) else exc))

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=note)
    else:  # onerror: deprecated from Python 3.12 on
        shutil.rmtree(folder, onerror=note)
    if failed:
        path, e = failed[0]
        why = getattr(e, "strerror", None) or str(e)
        left = sum(1 for p in folder.rglob("*") if not p.is_dir())
        raise UserError(f"cannot remove {path} ({why}); {left} file(s) under {folder} are left")
