"""The long-format results table: one row per metric value, appended by every evaluation.

The table lives in one file (``reports/results.csv`` by default; ``.parquet`` when the path ends so and
pyarrow is installed), appended to and read back by :mod:`gan_eval.results.store`; ``load_results`` checks the
schema below and gives a pandas DataFrame.

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
| n_real | Int64 | real images the statistics use; empty when unknown (pytorch-fid's `--save-stats` file) |
| n_fake | int64 | generated/evaluated images the value used (class metrics: the recognised ones) |
| extractor | str | feature extractor (`inception`, `mnist-lenet`) |
| protocol | str | preprocessing protocol (`pytorch-fid`, `tf1`, `clean`) |
| precision | str | numeric precision of the extractor (`fp32`, `tf32`, `bf16`) |
| seed | int64 | seed of the generator noise and of any subsampling |
| fingerprint | str | sha256 (16 hex digits) of everything that changes the number (see below) |
| gan_eval_version | str | gan-eval version that computed the row |
| torch_version | str | torch version that computed the row |
| device | str | device the features were computed on (`cpu`, `cuda:0`) |
| duration_s | float64 | wall time of the whole evaluation in seconds, empty when unknown |
| weights_sha256 | str | sha256 of the extractor's weights (part of the fingerprint), empty when unknown |
| details | str | `.npz` of the arrays behind the row (curves, distances), relative to the table's folder |
| n_ratings | Int64 | human evaluation: the scored answers behind the value, empty for computed metrics |
| n_raters | Int64 | human evaluation: the raters (sessions) behind the value, empty for computed metrics |

Tables written before the newer columns existed (``LEGACY_HEADERS``: without ``weights_sha256`` and
``details``, or without ``n_ratings`` and ``n_raters``) are read with them empty, and an append rewrites
such a CSV once with the full header.

Human ratings (:mod:`gan_eval.human`) keep ``n_real`` / ``n_fake`` for what they mean everywhere else, the
images (the study's real and generated pools), and record how many answers and raters stand behind a value in
``n_ratings`` / ``n_raters``: those change the interval, not the number, so they are not fingerprint columns
(arms rated by different numbers of people stay comparable).

The fingerprint is :func:`compute_fingerprint` of the ``FINGERPRINT_KEYS`` (extractor, protocol, weights
sha256, real set, n_fake, seed, precision), so all rows of one evaluation share it. Rows whose
``FINGERPRINT_COLUMNS`` differ measure different things; ``check_comparable`` names the differences so
that ``compare``, ``report`` and ``gate`` can refuse or warn instead of comparing silently.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import pandas as pd

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
    "n_real": Column("Int64", "number of real images the statistics use, empty when unknown"),
    "n_fake": Column("int64", "number of generated/evaluated images the value used"),
    "extractor": Column("str", "feature extractor"),
    "protocol": Column("str", "preprocessing protocol"),
    "precision": Column("str", "numeric precision of the extractor"),
    "seed": Column("int64", "seed of the generator noise and of any subsampling"),
    "fingerprint": Column("str", "sha256 prefix of everything that changes the number"),
    "gan_eval_version": Column("str", "gan-eval version that computed the row"),
    "torch_version": Column("str", "torch version that computed the row"),
    "device": Column("str", "device the features were computed on"),
    "duration_s": Column("float64", "wall time of the whole evaluation in seconds, empty when unknown"),
    "weights_sha256": Column("str", "sha256 of the extractor's weights, empty when unknown"),
    "details": Column("str", "the .npz of arrays behind the row, relative to the results file's folder"),
    "n_ratings": Column("Int64", "human evaluation: scored answers behind the value, empty otherwise"),
    "n_raters": Column("Int64", "human evaluation: raters (sessions) behind the value, empty otherwise"),
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)
ADDED_COLUMNS: tuple[str, ...] = ("weights_sha256", "details", "n_ratings", "n_raters")
"""Columns added after the first release of the schema, in the order they were added (each at the end;
empty when unknown)."""
LEGACY_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in ADDED_COLUMNS)
"""The first release's header (23 columns)."""
LEGACY_HEADERS: tuple[tuple[str, ...], ...] = (LEGACY_COLUMNS, (*LEGACY_COLUMNS, "weights_sha256", "details"))
"""Every earlier header a table may have been written with (each a prefix of ``COLUMNS``): read with the
newer columns empty, rewritten once with the full header by the next append."""

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
    "weights_sha256",
    "details",
    "n_ratings",
    "n_raters",
)


def fingerprint_columns() -> tuple[str, ...]:
    """The columns whose values change the number (see ``FINGERPRINT_COLUMNS``)."""
    return FINGERPRINT_COLUMNS


FINGERPRINT_KEYS: tuple[str, ...] = (
    "extractor",
    "protocol",
    "weights_sha256",
    "real",
    "n_fake",
    "seed",
    "precision",
    "value_range",
)
"""What the ``fingerprint`` hashes: the extractor, its preprocessing protocol and weights (sha256), the
real set (its content identity when the evaluator knows it, e.g. ``mnist:train@741c...``; else its spec),
the number of generated/evaluated images, the seed, the numeric precision, and the value range that
generated float images were quantized from (generators and float arrays only: a source of uint8 images has
none, and its fingerprint does not hash one). Not the evaluated data itself
(the rows of two checkpoints measured the same way share a fingerprint: that is what makes them
comparable), nor anything that does not change the number (batch size, device, run id, time)."""


def compute_fingerprint(fields: Mapping[str, Any]) -> str:
    """The one fingerprint function: sha256 (first 16 hex digits) of the ``FINGERPRINT_KEYS`` in ``fields``
    (keys absent from ``fields`` hash as absent; other keys are ignored). Every row of one evaluation shares
    it."""
    payload = {k: _jsonable(fields[k]) for k in FINGERPRINT_KEYS if k in fields}
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
    torch_version, duration_s, weights_sha256, details, n_ratings, n_raters``; the missing optional ones
    get defaults (now, installed versions, :func:`compute_fingerprint` of ``meta`` plus
    ``fingerprint_extra``, e.g. ``{"weights_sha256": ...}``).
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
        "weights_sha256": (fingerprint_extra or {}).get("weights_sha256", ""),
        "details": "",
        "n_ratings": None,
        "n_raters": None,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gan_eval_version": _package_version("gan-eval"),
        "torch_version": _package_version("torch"),
        **dict(meta),
    }
    if not common.get("fingerprint"):
        common["fingerprint"] = compute_fingerprint({**common, **(fingerprint_extra or {})})
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


def coerce_to_schema(df: pd.DataFrame, *, source: str, lines: Sequence[int] | None = None) -> pd.DataFrame:
    """Return ``df`` with exactly the schema's columns, in order, with the schema's dtypes.

    Raises UserError naming the missing columns or the columns whose values do not fit their dtype, with
    the line of the first such value when ``lines`` (the file's line of each row) is given.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing and set(missing) <= set(ADDED_COLUMNS):  # a table from before these columns: they are empty
        df = df.assign(**{c: "" for c in missing})
        missing = []
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
        wrong = num.isna() & ~blank
        if wrong.any():
            at = f" on line {lines[int(wrong.to_numpy().argmax())]}" if lines is not None else ""
            bad.append(f"{name} (expected {col.dtype}, got {s[wrong].iloc[0]!r}){at}")
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


def evaluation_n_fake(df: pd.DataFrame) -> pd.Series:
    """Per row, the number of generated images its evaluation drew: the largest ``n_fake`` among the rows
    sharing its fingerprint. A value computed on part of them (the class metrics' recognised samples, one
    class's samples) carries that part's count in its own ``n_fake``; the fingerprint hashes the whole count,
    so rows of evaluations with different counts never share one. (An evaluation whose rows are all per
    class, ``--metrics fid_class`` with a classifier that has no recognition rule, shows its largest class;
    a row without a fingerprint keeps its own count.)"""
    if df.empty:
        return pd.Series(dtype="int64", index=df.index)
    largest = df.groupby("fingerprint", sort=False)["n_fake"].transform("max")
    return largest.where(df["fingerprint"].astype(str) != "", df["n_fake"]).astype("int64")


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
    df = df.assign(n_fake=evaluation_n_fake(df))  # a class's own count is not a different setup
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
