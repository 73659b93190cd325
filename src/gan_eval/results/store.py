"""The results table on disk: one CSV (or Parquet) file, appended to under a lock, read back checked.

CSV appends are one ``O_APPEND`` write under an exclusive ``flock`` of the file itself, so several processes
can append at once without losing or interleaving rows, and no lock file is left behind; Parquet files are
rewritten atomically under a lock of their folder. :func:`check_results_target` tells, before any work,
whether a file can take rows. The schema itself is :mod:`gan_eval.results.table`.
"""

from __future__ import annotations

import csv
import fcntl
import importlib.util
import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from gan_eval.atomic import atomic_write, check_output_target
from gan_eval.errors import UserError
from gan_eval.results.table import ADDED_COLUMNS, COLUMNS, LEGACY_HEADERS, coerce_to_schema


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() == ".parquet"


def _require_pyarrow(path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise UserError(f"results file {path} is .parquet but pyarrow is not installed; pip install pyarrow")


@contextmanager
def _locked(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Lock the table (exclusive for writers, shared for readers) until the block ends; creates no file.

    Parquet: the folder is locked (``flock`` on the directory), because every append replaces the file, so
    its inode is no stable lock. CSV appends lock the file itself (:func:`append_results`); CSV readers take
    a shared lock on it here. A reader that cannot lock (e.g. no such folder) reads without it.
    """
    target = path.parent if _is_parquet(path) else path
    try:
        fd = os.open(target, os.O_RDONLY)
    except OSError:
        if not shared:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_results_target(path: Path | str) -> Path:
    """Check, before an evaluation, that its rows can be appended to ``path``: UserError (one line naming
    ``--results`` and the file) for a folder, a folder that cannot be written, a file that is not UTF-8 text
    or not a gan-eval table (another header, another parquet schema), or a CSV whose last row was cut short.
    Creates and changes nothing. Returns ``path``.
    """
    path = Path(path)
    where = f"--results {path}"
    if path.is_symlink() and not path.exists():
        raise UserError(f"{where}: is a broken symbolic link (to {os.readlink(path)}); remove it or fix it")
    if path.is_dir():
        raise UserError(f"{where}: is a folder; expected a .csv or .parquet file name")
    if _is_parquet(path):
        _require_pyarrow(path)
    if not path.exists():
        check_output_target(path, "--results")
        return path
    if not path.is_file():
        raise UserError(f"{where}: is not a regular file")
    if _is_parquet(path):
        check_output_target(path, "--results")  # the file is replaced: its folder must be writable
        _check_parquet_schema(path)
    else:
        try:
            with open(path, "ab"):  # opening for append changes nothing
                pass
        except OSError as e:
            raise UserError(f"{where}: cannot append to it ({e.strerror})") from None
        if not path.stat().st_size:
            return path
        _check_csv_header(path)  # the legacy header is accepted: the first append migrates it
    with _locked(path, shared=True):  # every row, as report and gate will read them (naming a bad line)
        _read(path)
    return path


def _check_parquet_schema(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise UserError(f"results file {path} is not a readable parquet file ({_first_line(e)})") from None
    missing = [c for c in COLUMNS if c not in names and c not in ADDED_COLUMNS]  # legacy tables are fine
    if missing:
        raise UserError(
            f"results file {path} does not have the gan-eval columns (lacks {', '.join(missing)}); "
            "append to a new file"
        )


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def append_results(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Append the rows of ``df`` (results-table schema) to ``path``; create the file when needed.

    CSV: one ``O_APPEND`` write of the rows (with a header when the file is new) under an exclusive
    ``flock`` of the file itself (no lock file is left behind). A last row that lacks only its line end (an
    editor) gets one first, so rows are never glued together; a last row cut short is refused (UserError) and
    the file is left as it is. A failed write is rolled back to the previous size.
    Parquet: read, concatenate and atomically replace the file under a lock of its folder. Returns ``path``.
    """
    path = Path(path)
    rows = coerce_to_schema(df, source="to append")
    if _is_parquet(path):
        _require_pyarrow(path)
        _make_parent(path)
        with _locked(path):
            if path.exists():
                _check_parquet_schema(path)
            table = pd.concat([_read(path), rows], ignore_index=True) if path.exists() else rows
            atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False), checksum=False)
            return path
    _make_parent(path)
    while True:  # at most twice: once more after migrating a legacy table (a new file under the name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as e:
            raise UserError(f"results file {path}: cannot append to it ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _same_file(fd, path):  # replaced (migrated) while we waited for the lock: reopen
                continue
            size = os.fstat(fd).st_size
            if size and _check_csv_header(path):
                _migrate_legacy_csv(path)  # atomically, under our lock; then append to the new file
                continue
            lead = b"\n" if size and _csv_tail(path) == "needs_newline" else b""
            buf = io.StringIO()
            rows.to_csv(buf, index=False, header=size == 0, lineterminator="\n")
            data = lead + buf.getvalue().encode()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as e:  # e.g. a full disk: no partial row stays behind
                os.ftruncate(fd, size)
                raise UserError(
                    f"results file {path}: the append failed ({e.strerror}); the file is unchanged"
                ) from None
            return path
        finally:
            os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open descriptor ``fd`` is still the file at ``path`` (not replaced by a rename)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    own = os.fstat(fd)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


def _migrate_legacy_csv(path: Path) -> None:
    """Replace a CSV with an earlier header (``LEGACY_HEADERS``) by the same rows under the full header,
    the newer columns empty, atomically (temp file and rename). The caller holds the old file's lock;
    appenders waiting on it notice the replacement (``_same_file``) and reopen."""
    table = _read(path)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, lineterminator="\n"), checksum=False)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"results file {path}: cannot create its folder ({e.strerror})") from None


def _read_text(path: Path) -> str:
    """The table's text; UserError naming the line of a byte that is not UTF-8 or a NUL byte."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"results file {path} cannot be read ({e.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(
            f"results file {path} is not UTF-8 text (line {line}, byte {e.start}); it is not a gan-eval "
            "results table"
        ) from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise UserError(
            f"results file {path}: line {line} holds a NUL byte (a damaged file); delete or fix it"
        )
    return text


def _check_csv_header(path: Path) -> bool:
    """UserError unless the first line is the gan-eval header; True when it is an earlier header (a table
    written before some of ``ADDED_COLUMNS`` existed: ``LEGACY_HEADERS``)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16)
    except OSError as e:
        raise UserError(f"results file {path} cannot be read ({e.strerror})") from None
    try:
        line = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise UserError(
            f"results file {path} is not UTF-8 text (byte {e.start}); it is not a gan-eval results table"
        ) from None
    try:
        header = next(csv.reader(io.StringIO(line)), [])
    except csv.Error:  # e.g. a stray carriage return: not our header either way
        header = [line]
    if tuple(header) in LEGACY_HEADERS:
        return True
    if header != list(COLUMNS):
        found = ", ".join(header)
        found = found[:200] + "..." if len(found) > 200 else found
        raise UserError(
            f"results file {path} does not have the gan-eval columns (found {found}); "
            "append to a new file or fix its header"
        )
    return False


def _csv_tail(path: Path, text: str | None = None) -> str:
    """``"ok"`` when the CSV ends with a line end (or is empty), ``"needs_newline"`` when its last row is
    complete but lacks its line end; UserError when the last row was cut short (fewer fields, an open quote,
    or values that do not fit the schema).

    A cut inside the last field (``n_raters``) leaves a shorter number that still parses: that one cannot
    be told from a complete row, and is kept.
    """
    if text is None:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return "ok"
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return "ok"
        text = _read_text(path)
    elif not text or text.endswith("\n"):
        return "ok"
    try:
        records = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        records = []
    lines = text.count("\n") + 1
    header = records[0] if records and tuple(records[0]) in (COLUMNS, *LEGACY_HEADERS) else list(COLUMNS)
    if len(records) >= 2 and len(records[-1]) == len(header):
        try:
            coerce_to_schema(pd.DataFrame([records[-1]], columns=header), source=str(path))
            return "needs_newline"
        except UserError:
            pass
    elif len(records) == 1 and records[0] == header:
        return "needs_newline"
    got = len(records[-1]) if records else 0
    raise UserError(
        f"results file {path}: its last line ({lines}) is an incomplete row ({got} of {len(header)} fields, "
        "or an open quote: a write was cut short or the file was truncated); delete or complete that line"
    )


def load_results(path: Path | str) -> pd.DataFrame:
    """Load a results table (CSV, or Parquet when the path ends in ``.parquet``) and check its schema.

    Raises UserError when the file is missing, unreadable, lacks columns, has values of the wrong type, or has
    a row with more or fewer fields than the header (rows glued together, a truncated last row). Extra
    columns are dropped; the columns come back in schema order with the schema's dtypes. Takes a shared
    lock, so it never sees a half-written append.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"results file {path} does not exist; run `gan-eval eval ... --results {path}` first")
    with _locked(path, shared=True):
        return _read(path)


def _read(path: Path) -> pd.DataFrame:
    if _is_parquet(path):
        _require_pyarrow(path)
        try:
            raw = pd.read_parquet(io.BytesIO(path.read_bytes()))
        except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a corrupt file
            raise UserError(
                f"results file {path} could not be read as a results table: {_first_line(e)}"
            ) from None
        return coerce_to_schema(raw, source=str(path))
    text = _read_text(path)
    if not text:  # created by an append that was killed before its first write: a table with no rows yet
        return coerce_to_schema(pd.DataFrame({c: pd.Series(dtype=str) for c in COLUMNS}), source=str(path))
    _csv_tail(path, text)
    lines = _row_lines(path, text)
    try:
        with warnings.catch_warnings():
            # index_col=False: a first row longer than the header is an error, not an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except Exception as e:  # noqa: BLE001 - pandas raises many types for a malformed file
        raise UserError(
            f"results file {path} could not be read as a results table: {_first_line(e)}"
        ) from None
    return coerce_to_schema(raw, source=str(path), lines=lines if len(lines) == len(raw) else None)


def _row_lines(path: Path, text: str) -> list[int]:
    """The line each row starts on (the header is line 1); UserError naming the first row with more or fewer
    fields than the header (rows glued together, a row cut short)."""
    reader = csv.reader(io.StringIO(text))
    lines: list[int] = []
    try:
        header = next(reader, [])
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != len(header):
                raise UserError(
                    f"results file {path}: line {start} has {len(record)} fields, the header "
                    f"{len(header)} (rows glued together or cut short); delete or fix that line"
                )
            if record:
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as e:
        raise UserError(f"results file {path}: line {reader.line_num} is not a CSV row ({e})") from None
    return lines
