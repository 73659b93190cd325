"""The one cache root and atomic, checksummed files in it.

Root: ``$GAN_EVAL_CACHE``, else ``~/.cache/gan-eval``; subfolders ``datasets``, ``weights``, ``stats``.
Every file is written to a temporary name in the same folder and renamed (``os.replace``), and gets a
``<name>.sha256`` sidecar. A file whose sidecar is missing or does not match is reported, removed and
rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

SUBFOLDERS = ("datasets", "weights", "stats", "compiled")  # compiled: torch.compile (inductor) artefacts


def cache_root() -> Path:
    env = os.environ.get("GAN_EVAL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gan-eval"


def cache_dir(kind: str) -> Path:
    if kind not in SUBFOLDERS:
        raise ValueError(f"unknown cache folder {kind!r}; expected one of {SUBFOLDERS}")
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def atomic_write(path: Path, write: Callable[[Path], None], *, checksum: bool = True) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file to ``path`` (and write its sha256 sidecar).

    Nothing is left half-written: on any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; cache files are ordinary files
        if checksum:
            digest = sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if checksum:
        atomic_write_bytes(_sidecar(path), f"{digest}  {path.name}\n".encode(), checksum=False)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, *, checksum: bool = True) -> Path:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return atomic_write(path, write, checksum=checksum)


def verified(path: Path) -> Path | None:
    """Return ``path`` if it exists and matches its sha256 sidecar; else remove it (with a warning) and
    return None so the caller rebuilds it."""
    path = Path(path)
    if not path.exists():
        return None
    return path if _matches_sidecar(path, sha256_file(path)) else None


def read_verified(path: Path) -> bytes | None:
    """:func:`verified` that returns the file's bytes: one read serves both the checksum and the caller."""
    path = Path(path)
    if not path.exists():
        return None
    data = path.read_bytes()
    return data if _matches_sidecar(path, hashlib.sha256(data).hexdigest()) else None


def _matches_sidecar(path: Path, digest: str) -> bool:
    side = _sidecar(path)
    expected = side.read_text().split()[0] if side.exists() else None
    if expected is not None and digest == expected:
        return True
    why = "has no checksum" if expected is None else "does not match its checksum (corrupt or truncated)"
    warnings.warn(f"cache file {path} {why}; removing it and rebuilding", stacklevel=3)
    path.unlink(missing_ok=True)
    side.unlink(missing_ok=True)
    return False


def remove(path: Path) -> None:
    Path(path).unlink(missing_ok=True)
    _sidecar(Path(path)).unlink(missing_ok=True)
