"""Files written atomically, with sha256 sidecars, and output paths checked before the work starts.

Every file gan-eval writes goes to a temporary name in the same folder and is renamed (``os.replace``);
cached files also get a ``<name>.sha256`` sidecar, and a file whose sidecar is missing or does not match is
reported, removed and rebuilt, never used (:func:`verified`). The pair is kept consistent at every instant:
before the rename, the sidecar lists the checksums of both the file being replaced and the new one (one line
each); after it, the new one alone. A kill at any point leaves under the final name either no file, the old
file or the new one, each listed by its sidecar.

Interrupted writes (kill -9, power loss) can leave a temporary file ``.NAME.XXXXXXXX.tmp`` behind, never a
partial file under the final name. A writer holds an exclusive ``flock`` on its temporary file until the
rename, so a temporary file nobody has locked belongs to a dead writer. Such a file is *stale* once it is
also older than :data:`STALE_TMP_AGE_S` (both rules, so that a live writer's file is never removed, even in
the instant between creating and locking it, or on a file system without working locks); stale files of the
same target name are removed by the next write of that target, stale files in a cache folder by the first
use of that folder in a process (:mod:`gan_eval.cache`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from gan_eval.errors import UserError

STALE_TMP_AGE_S = 600.0
"""A temporary file must be at least this old (seconds since its last write), and unlocked, to be removed as
the leftover of an interrupted write."""

_TMP_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp's 8 random characters

# errno values that say "this output path cannot be written" (rather than a bug)
_PATH_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOENT,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EEXIST,
}
_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class OutputError(UserError):
    """A file could not be written where the user asked (a folder in the way, no permission, a full disk)."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


# ----------------------------------------------------------------------------- checksums
def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verified_sha256(path: Path, label: str, expected: str | None, remedy: str) -> str:
    """``path``'s sha256, checked against ``expected`` (a shipped file's) or else a ``.sha256`` sidecar when
    there is one: UserError ``"<label> <path>: sha256 ... does not match ... (corrupt or replaced file;
    <remedy>)"`` when it differs."""
    from gan_eval.errors import UserError

    digest = sha256_file(path)
    sidecar = _sidecar(path)
    if expected is None and sidecar.is_file():
        expected = sidecar.read_text().split()[0]
    if expected is not None and digest != expected:
        raise UserError(
            f"{label} {path}: sha256 {digest} does not match the recorded {expected} (corrupt or replaced "
            f"file; {remedy})"
        )
    return digest


# ----------------------------------------------------------------------------- atomic writes
def atomic_write(path: Path, write: Callable[[Path], None], *, checksum: bool = True) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file to ``path`` (and write its sha256 sidecar).

    Nothing is left half-written: on any error the temporary file is removed and ``path`` is untouched. The
    temporary file is locked while it is written, and stale temporary files of ``path`` (see the module
    docstring) are removed first. A target that cannot be written (a folder in the way, no permission, a full
    disk) raises :class:`OutputError` (a UserError) naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(path.parent, name=path.name)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _output_error(path, e) from e
    tmp = Path(tmp_name)
    previous: list[str] | None = None  # what the sidecar listed, once this write has changed it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # "a live writer": sweepers leave locked temporary files alone
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; cache files are ordinary files
        if checksum:  # the sidecar first accepts the file being replaced and the new one (module docstring)
            digest = sha256_file(tmp)
            old = listed_digests(path)
            _write_sidecar(path, [*old, digest])
            previous = old
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if previous is not None:  # the rename failed: the sidecar lists the file that is still there
            _restore_sidecar(path, previous)
        if isinstance(e, OSError) and _is_target_error(e, (tmp, path)):
            raise _output_error(path, e) from e
        raise
    finally:
        os.close(fd)
    if checksum:
        _write_sidecar(path, [digest])
    return path


def _restore_sidecar(path: Path, digests: list[str]) -> None:
    try:
        if digests:
            _write_sidecar(path, digests)
        else:
            _sidecar(path).unlink(missing_ok=True)
    except (OSError, UserError):  # best effort: the error being raised is the one to report
        pass


def _write_sidecar(path: Path, digests: list[str]) -> None:
    lines = "".join(f"{d}  {path.name}\n" for d in dict.fromkeys(digests))  # sha256sum's format, in order
    atomic_write_bytes(_sidecar(path), lines.encode(), checksum=False)


def listed_digests(path: Path) -> list[str]:
    """The sha256 checksums the sidecar of ``path`` accepts (one, or two while a write replaces the file);
    empty when it has none or cannot be read."""
    side = _sidecar(Path(path))
    try:
        text = side.read_text(encoding="ascii", errors="replace") if side.is_file() else ""
    except OSError:
        return []
    return [words[0] for words in (line.split() for line in text.splitlines()) if words]


def _is_target_error(e: OSError, ours: tuple[Path, ...]) -> bool:
    """An OSError about the output itself (its folder, the temporary file, space), not about some other file
    the ``write`` callback read (which may be a bug and must propagate)."""
    if e.errno in _SPACE_ERRNOS:
        return True
    names = {str(p) for p in ours}
    return e.errno in _PATH_ERRNOS and (e.filename is None or str(e.filename) in names)


def _output_error(path: Path, e: OSError) -> OutputError:
    why = {
        errno.EISDIR: "it is a folder",
        errno.ENOTDIR: "a part of its path is a file, not a folder",
        errno.EEXIST: "a part of its path is a file, not a folder",  # mkdir of a folder that is a file
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
    }.get(e.errno or 0, e.strerror or str(e))
    if e.errno == errno.EISDIR and not Path(path).is_dir():
        why = e.strerror or str(e)
    return OutputError(f"cannot write {path}: {why}", e.errno)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, *, checksum: bool = True) -> Path:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return atomic_write(path, write, checksum=checksum)


# ----------------------------------------------------------------------------- verified reads
def verified(path: Path) -> Path | None:
    """Return ``path`` if it exists and matches its sha256 sidecar; else remove it (with a warning) and
    return None so the caller rebuilds it."""
    path = Path(path)
    if not path.is_file():
        return None
    return path if _matches_sidecar(path, sha256_file(path)) else None


def read_verified(path: Path) -> bytes | None:
    """:func:`verified` that returns the file's bytes: one read serves both the checksum and the caller."""
    path = Path(path)
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if _matches_sidecar(path, hashlib.sha256(data).hexdigest()) else None


def _matches_sidecar(path: Path, digest: str) -> bool:
    expected = listed_digests(path)
    if digest in expected:
        return True
    why = "has no checksum" if not expected else "does not match its checksum (corrupt or truncated)"
    return discard(path, why, stacklevel=4)


def discard(path: Path, why: str, *, stacklevel: int = 2) -> bool:
    """A cache file that must not be used: removed with its sidecar (left when the cache is read-only), with
    one warning ``cache file PATH WHY; removing it and rebuilding``. Returns False."""
    side = _sidecar(path)
    try:
        path.unlink(missing_ok=True)
        side.unlink(missing_ok=True)
        action = "removing it and rebuilding"
    except OSError:  # a read-only cache: leave it, do not use it
        action = "ignoring it (the cache is read-only)"
    warnings.warn(f"cache file {path} {why}; {action}", stacklevel=stacklevel)
    return False


def remove(path: Path) -> None:
    Path(path).unlink(missing_ok=True)
    _sidecar(Path(path)).unlink(missing_ok=True)


# ---------------------------------------------------------------------- leftovers of interrupted writes
def temp_files(folder: Path, name: str | None = None) -> list[Path]:
    """Temporary files of atomic writes in ``folder`` (of target ``name`` only, when given), sorted."""
    try:
        entries = sorted(os.scandir(folder), key=lambda d: d.name)
    except OSError:
        return []
    out = []
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m and (name is None or m.group("name") == name) and entry.is_file(follow_symlinks=False):
            out.append(Path(entry.path))
    return out


def is_stale(tmp: Path, max_age: float = STALE_TMP_AGE_S) -> bool:
    """True when the temporary file ``tmp`` is older than ``max_age`` seconds and nobody holds its lock."""
    return _remove_if_stale(tmp, max_age, remove=False)


def _remove_if_stale(tmp: Path, max_age: float, *, remove: bool) -> bool:
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if time.time() - os.fstat(fd).st_mtime < max_age:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it
            return False
        if remove:
            try:
                tmp.unlink()
            except OSError:
                return False
        return True
    finally:
        os.close(fd)


def sweep_stale_temps(folder: Path, name: str | None = None, max_age: float = STALE_TMP_AGE_S) -> list[Path]:
    """Remove the stale temporary files in ``folder`` (of target ``name`` only, when given); returns them.

    Never raises: a folder that cannot be listed or written is left as it is.
    """
    return [t for t in temp_files(folder, name) if _remove_if_stale(t, max_age, remove=True)]


# ----------------------------------------------------------------------------- output targets
def probe_writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (tried: permissions alone do not tell for root, or on a
    read-only mount); else the reason, e.g. ``"Permission denied"``."""
    try:
        fd, name = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=folder)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    os.unlink(name)
    return None


def check_output_target(path: Path | str, option: str, *, allow_dir: bool = False) -> None:
    """Before any work: UserError naming ``option`` and ``path`` when ``path`` cannot be written.

    ``allow_dir``: a folder is a valid target (the output is written into it). Creates nothing: a missing
    folder is checked at its nearest existing parent.
    """
    path = Path(path)
    if path.is_dir():
        if not allow_dir:
            raise UserError(f"{option} {path}: is a folder; expected a file name")
        folder = path
    elif path.exists() and not path.is_file():
        raise UserError(f"{option} {path}: is not a regular file")
    else:
        folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, not a folder")
    reason = probe_writable(existing)
    if reason is not None:
        raise UserError(f"{option} {path}: cannot write into {existing} ({reason})")
