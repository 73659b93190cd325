"""The long-format results table: one row per metric value, appended by every evaluation.

The table lives in one file (``reports/results.csv`` by default; ``.parquet`` when the path ends so and
pyarrow is installed). Appends take an exclusive ``flock`` (of the CSV itself; of the folder for parquet,
whose file is replaced on every append), so several processes can append at once without losing or
interleaving rows, and no lock file is left behind. ``load_results`` checks the schema and gives a pandas
DataFrame.

Schema (columns in this order; the table below is the one in the README):

| column | dtype | description |
|---|---|---|
| run_id | str | name of the run or experiment the evaluated samples come from (e.g. the `runs/NAME` folder) |
| timestamp | str | when the evaluation finished, ISO 8601 in UTC (`2025-01-31T12:00:00+00:00`) |
| real | str | the reference data spec (`mnist`, `stats.npz`, a folder) |
| fake | str | the evaluated data spec (a checkpoint, a folder, an array file) |
| checkpoint | str | checkpoint file name when `fake` is a generator checkpoint, else empty |
| epoch | Int64 | training epoch of the checkpoint, empty when unknown |
| step | Int64 | training step of the checkpoint, empty when unknown |
| metric | str | result key, e.g. `fid`, `is_mean`, `kid_mean`, `precision`, `recall`, `density`, `coverage` |
| value | float64 | the metric value |
| std | float64 | its standard deviation (IS/KID splits, bootstrap), empty when not computed |
| ci_low | float64 | lower end of the confidence interval, empty when not computed |
| ci_high | float64 | upper end of the confidence interval, empty when not computed |
| n_real | int64 | number of real images the statistics use |
| n_fake | int64 | number of generated/evaluated images |
| extractor | str | feature extractor (`inception`, `mnist-lenet`) |
| protocol | str | preprocessing protocol (`pytorch-fid`, `tf1`, `clean`) |
| precision | str | numeric precision of the extractor (`fp32`, `tf32`, `bf16`) |
| seed | int64 | seed of the generator noise and of any subsampling |
| fingerprint | str | sha256 (16 hex digits) of everything that changes the number (see below) |
| gan_eval_version | str | gan-eval version that computed the row |
| torch_version | str | torch version that computed the row |
| device | str | device the features were computed on (`cpu`, `cuda:0`) |
| duration_s | float64 | wall time of the whole evaluation in seconds, empty when unknown |

The fingerprint hashes the ``FINGERPRINT_COLUMNS`` except ``metric`` (so all rows of one evaluation share
it) plus what the caller adds, e.g. the extractor weights' sha256. Rows whose ``FINGERPRINT_COLUMNS``
differ measure different things; ``check_comparable`` names the differences so that ``compare``, ``report``
and ``gate`` can refuse or warn instead of comparing silently.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import importlib.util
import io
import json
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from gan_eval.cache import atomic_write, check_output_target
from gan_eval.errors import UserError


@dataclass(frozen=True)
class Column:
    """One column of the results table: its pandas dtype and what it holds."""

    dtype: str  # "str", "Int64" (nullable integer), "int64" or "float64"
    description: str


SCHEMA: dict[str, Column] = {
    "run_id": Column("str", "name of the run or experiment the evaluated samples come from"),
    "timestamp": Column("str", "when the evaluation finished, ISO 8601 in UTC"),
    "real": Column("str", "the reference data spec"),
    "fake": Column("str", "the evaluated data spec"),
    "checkpoint": Column("str", "checkpoint file name when fake is a generator checkpoint, else empty"),
    "epoch": Column("Int64", "training epoch of the checkpoint, empty when unknown"),
    "step": Column("Int64", "training step of the checkpoint, empty when unknown"),
    "metric": Column("str", "result key, e.g. fid, is_mean, kid_mean, precision, recall"),
    "value": Column("float64", "the metric value"),
    "std": Column("float64", "standard deviation of the value, empty when not computed"),
    "ci_low": Column("float64", "lower end of the confidence interval, empty when not computed"),
    "ci_high": Column("float64", "upper end of the confidence interval, empty when not computed"),
    "n_real": Column("int64", "number of real images the statistics use"),
    "n_fake": Column("int64", "number of generated/evaluated images"),
    "extractor": Column("str", "feature extractor"),
    "protocol": Column("str", "preprocessing protocol"),
    "precision": Column("str", "numeric precision of the extractor"),
    "seed": Column("int64", "seed of the generator noise and of any subsampling"),
    "fingerprint": Column("str", "sha256 prefix of everything that changes the number"),
    "gan_eval_version": Column("str", "gan-eval version that computed the row"),
    "torch_version": Column("str", "torch version that computed the row"),
    "device": Column("str", "device the features were computed on"),
    "duration_s": Column("float64", "wall time of the whole evaluation in seconds, empty when unknown"),
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)

# The columns that change the number: rows are comparable only when these agree (``metric`` included, so
# comparisons are always per metric).
FINGERPRINT_COLUMNS: tuple[str, ...] = (
    "metric",
    "extractor",
    "protocol",
    "precision",
    "n_real",
    "n_fake",
    "seed",
    "real",
)

_REQUIRED_META = ("real", "fake", "n_real", "n_fake", "extractor", "protocol", "precision", "seed", "device")
_OPTIONAL_META = (
    "run_id",
    "timestamp",
    "checkpoint",
    "epoch",
    "step",
    "fingerprint",
    "gan_eval_version",
    "torch_version",
    "duration_s",
)


def fingerprint_columns() -> tuple[str, ...]:
    """The columns whose values change the number (see ``FINGERPRINT_COLUMNS``)."""
    return FINGERPRINT_COLUMNS


def compute_fingerprint(meta: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """sha256 (first 16 hex digits) of the fingerprint columns in ``meta`` (``metric`` excluded, so all rows
    of one evaluation share it) plus ``extra`` (e.g. ``{"weights_sha256": ...}`` from the extractor)."""
    keys = [c for c in FINGERPRINT_COLUMNS if c != "metric"]
    payload = {k: _jsonable(meta[k]) for k in keys if k in meta}
    payload.update({f"extra.{k}": _jsonable(v) for k, v in (extra or {}).items()})
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def make_rows(
    values: Mapping[str, float],
    *,
    stds: Mapping[str, float] | None = None,
    cis: Mapping[str, tuple[float, float]] | None = None,
    meta: Mapping[str, Any],
    fingerprint_extra: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Rows of the results table for one evaluation: one row per entry of ``values``.

    ``values``: metric key -> value; ``stds``: metric key -> standard deviation; ``cis``: metric key ->
    (low, high). ``meta`` must hold ``real, fake, n_real, n_fake, extractor, protocol, precision, seed,
    device`` and may hold ``run_id, timestamp, checkpoint, epoch, step, fingerprint, gan_eval_version,
    torch_version, duration_s``; the missing optional ones get defaults (now, installed versions, a computed
    fingerprint over the fingerprint columns plus ``fingerprint_extra``).
    """
    missing = [k for k in _REQUIRED_META if k not in meta]
    unknown = [k for k in meta if k not in _REQUIRED_META and k not in _OPTIONAL_META]
    if missing or unknown:
        raise ValueError(f"make_rows meta: missing keys {missing}, unknown keys {unknown}")
    stds, cis = stds or {}, cis or {}
    common: dict[str, Any] = {
        "run_id": "",
        "checkpoint": "",
        "epoch": None,
        "step": None,
        "duration_s": math.nan,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gan_eval_version": _package_version("gan-eval"),
        "torch_version": _package_version("torch"),
        **dict(meta),
    }
    if not common.get("fingerprint"):
        common["fingerprint"] = compute_fingerprint(common, fingerprint_extra)
    records = []
    for metric, value in values.items():
        low, high = cis.get(metric, (math.nan, math.nan))
        records.append(
            {
                **common,
                "metric": metric,
                "value": float(value),
                "std": float(stds.get(metric, math.nan)),
                "ci_low": float(low),
                "ci_high": float(high),
            }
        )
    columns: dict[str, pd.Series] = {}
    for name, col in SCHEMA.items():
        cells = [r[name] for r in records]
        if col.dtype == "str":
            columns[name] = pd.Series(["" if v is None else str(v) for v in cells], dtype="str")
        elif col.dtype == "float64":
            columns[name] = pd.Series([math.nan if v is None else float(v) for v in cells], dtype="float64")
        else:
            columns[name] = pd.Series([None if v is None else int(v) for v in cells], dtype=col.dtype)
    return pd.DataFrame(columns)


def _has_schema(df: pd.DataFrame) -> bool:
    """Fast path: the columns already have the schema's dtypes (and strings have no missing values)."""
    for name, col in SCHEMA.items():
        s = df[name]
        if col.dtype == "str":
            if not (pd.api.types.is_string_dtype(s) and s.dtype != object) or s.isna().any():
                return False
        elif str(s.dtype) != col.dtype:
            return False
    return True


def _coerce(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Return ``df`` with exactly the schema's columns, in order, with the schema's dtypes.

    Raises UserError naming the missing columns or the columns whose values do not fit their dtype.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise UserError(
            f"results table {source} lacks columns {', '.join(missing)}; expected the gan-eval schema "
            f"({', '.join(COLUMNS)})"
        )
    if _has_schema(df):
        return df.loc[:, list(COLUMNS)].reset_index(drop=True)
    out = {}
    bad: list[str] = []
    for name, col in SCHEMA.items():
        s = df[name]
        if col.dtype == "str":
            out[name] = s.astype(object).where(s.notna(), "").astype(str)
            continue
        if pd.api.types.is_bool_dtype(s):
            bad.append(f"{name} (expected {col.dtype}, got booleans)")
            continue
        blank = s.isna() | (s.astype(str).str.strip() == "")
        num = pd.to_numeric(s.where(~blank, None), errors="coerce")
        if (num.isna() & ~blank).any():
            example = s[num.isna() & ~blank].iloc[0]
            bad.append(f"{name} (expected {col.dtype}, got {example!r})")
            continue
        if col.dtype == "float64":
            out[name] = num.astype("float64")
            continue
        if (num.dropna() % 1 != 0).any():
            bad.append(f"{name} (expected integers, got {num[num % 1 != 0].iloc[0]!r})")
            continue
        if col.dtype == "int64" and num.isna().any():
            bad.append(f"{name} (expected int64, got empty values)")
            continue
        out[name] = num.astype(col.dtype)
    if bad:
        raise UserError(f"results table {source} has columns of the wrong type: {'; '.join(bad)}")
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


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
        return path
    try:
        with open(path, "ab"):  # opening for append changes nothing
            pass
    except OSError as e:
        raise UserError(f"{where}: cannot append to it ({e.strerror})") from None
    if path.stat().st_size:
        _check_csv_header(path)
        _csv_tail(path)
    return path


def _check_parquet_schema(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise UserError(f"results file {path} is not a readable parquet file ({_first_line(e)})") from None
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise UserError(
            f"results file {path} does not have the gan-eval columns (lacks {', '.join(missing)}); "
            "append to a new file"
        )


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def append_results(df: pd.DataFrame, path: Path | str) -> Path:
    """Append the rows of ``df`` (results-table schema) to ``path``; create the file when needed.

    CSV: one ``O_APPEND`` write of the rows (with a header when the file is new) under an exclusive
    ``flock`` of the file itself (no lock file is left behind). A last row that lacks only its line end (an
    editor) gets one first, so rows are never glued together; a last row cut short is refused (UserError) and
    the file is left as it is. A failed write is rolled back to the previous size.
    Parquet: read, concatenate and atomically replace the file under a lock of its folder. Returns ``path``.
    """
    path = Path(path)
    rows = _coerce(df, source="to append")
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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise UserError(f"results file {path}: cannot append to it ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        lead = b""
        if size:
            _check_csv_header(path)
            lead = b"\n" if _csv_tail(path) == "needs_newline" else b""
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
    finally:
        os.close(fd)  # releases the lock
    return path


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"results file {path}: cannot create its folder ({e.strerror})") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(
            f"results file {path} is not UTF-8 text (byte {e.start}); it is not a gan-eval results table"
        ) from None
    except OSError as e:
        raise UserError(f"results file {path} cannot be read ({e.strerror})") from None


def _check_csv_header(path: Path) -> None:
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
    if header != list(COLUMNS):
        found = ", ".join(header)
        found = found[:200] + "..." if len(found) > 200 else found
        raise UserError(
            f"results file {path} does not have the gan-eval columns (found {found}); "
            "append to a new file or fix its header"
        )


def _csv_tail(path: Path, text: str | None = None) -> str:
    """``"ok"`` when the CSV ends with a line end (or is empty), ``"needs_newline"`` when its last row is
    complete but lacks its line end; UserError when the last row was cut short (fewer fields, an open quote,
    or values that do not fit the schema).

    A cut inside the last field (``duration_s``) leaves a shorter number that still parses: that one cannot
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
    if len(records) >= 2 and len(records[-1]) == len(COLUMNS):
        try:
            _coerce(pd.DataFrame([records[-1]], columns=list(COLUMNS)), source=str(path))
            return "needs_newline"
        except UserError:
            pass
    elif len(records) == 1 and records[0] == list(COLUMNS):
        return "needs_newline"
    got = len(records[-1]) if records else 0
    raise UserError(
        f"results file {path}: its last line ({lines}) is an incomplete row ({got} of {len(COLUMNS)} fields, "
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
        return _coerce(raw, source=str(path))
    text = _read_text(path)
    _csv_tail(path, text)
    try:
        with warnings.catch_warnings():
            # index_col=False: a first row longer than the header is an error, not an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except Exception as e:  # noqa: BLE001 - pandas raises many types for a malformed file
        raise UserError(
            f"results file {path} could not be read as a results table: {_bad_row(text, e)}"
        ) from None
    return _coerce(raw, source=str(path))


def _bad_row(text: str, e: BaseException) -> str:
    """The first record whose field count differs from the header's, or pandas' own message."""
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
        for record in reader:
            if record and len(record) != len(header):
                return (
                    f"line {reader.line_num} has {len(record)} fields, the header {len(header)} "
                    "(rows glued together or cut short)"
                )
    except (csv.Error, StopIteration):
        pass
    return _first_line(e)


def check_comparable(df: pd.DataFrame) -> list[str]:
    """Name what differs between rows that would be compared with each other (rows of the same metric).

    Returns one message per differing column, e.g. ``"protocol differs: pytorch-fid vs tf1"``; empty when
    all rows are comparable. Differences in ``fingerprint`` alone (e.g. other extractor weights) are
    reported too.
    """
    messages: list[str] = []
    if df.empty:
        return messages
    checked = [c for c in FINGERPRINT_COLUMNS if c != "metric"] + ["fingerprint"]
    seen: set[str] = set()
    for _, group in df.groupby("metric", sort=True):
        for col in checked:
            if col == "fingerprint" and seen:
                continue  # a named column already explains the different hashes
            vals = sorted({str(v) for v in group[col].tolist()})
            if len(vals) > 1:
                msg = f"{col} differs: {' vs '.join(vals)}"
                if msg not in messages:
                    messages.append(msg)
                seen.add(col)
    return messages
