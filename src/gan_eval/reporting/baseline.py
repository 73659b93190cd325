"""Regression baselines for the gates: a baseline JSON file or a results table, loaded, saved and checked
for comparability with the current evaluation (format in :mod:`gan_eval.reporting.gates`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import UserError
from gan_eval.results.query import COMPARED_META, select_evaluation
from gan_eval.results.store import load_results


def as_entry(v: Any, where: str) -> dict[str, float]:
    """Normalise a metric value given as a number or a {value, std, ci_low, ci_high} mapping."""
    if isinstance(v, Mapping):
        if "value" not in v:
            raise UserError(f"{where} has no 'value'")
        raw = {k: v.get(k) for k in ("value", "std", "ci_low", "ci_high")}
    else:
        raw = {"value": v}
    out: dict[str, float] = {}
    for k, x in raw.items():
        if x is None or (isinstance(x, float) and math.isnan(x)):
            out[k] = math.nan
            continue
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise UserError(f"{where}.{k} must be a number, got {x!r}")
        out[k] = float(x)
    return out


@dataclass(frozen=True)
class Baseline:
    """Baseline values (metric -> {value, std, ci_low, ci_high}), their fingerprint meta (may be empty) and
    where they came from."""

    values: Mapping[str, Mapping[str, float]]
    meta: Mapping[str, Any]
    source: str


def load_baseline(
    spec: Path | str, *, select: Mapping[str, Any] | None = None, expect: Mapping[str, Any] | None = None
) -> Baseline:
    """Load a baseline from a JSON file or from a results table (.csv/.parquet; ``select`` filters rows by
    column = value, then ``select_evaluation`` picks the evaluation, with ``expect`` as the gate's
    ``[evaluation]``)."""
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"baseline {path} does not exist; expected a baseline JSON file or a results table")
    if path.suffix.lower() in (".csv", ".parquet"):
        df = load_results(path)
        for col, want in (select or {}).items():
            if col not in df.columns:
                raise UserError(
                    f"baseline select key {col!r} is not a results column ({', '.join(df.columns)})"
                )
            df = df[df[col].astype(str) == str(want)]
        values, meta = select_evaluation(
            df, where=f"baseline {path} (select {dict(select or {})})", expect=expect
        )
        return Baseline(values, meta, str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"baseline {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"baseline {path} must hold a JSON object of metric values")
    metrics = data["metrics"] if isinstance(data.get("metrics"), dict) else data
    meta = data.get("meta", {}) if metrics is not data else {}
    if not isinstance(meta, dict):
        raise UserError(f"baseline {path}: 'meta' must be an object")
    values = {str(k): as_entry(v, f"baseline {path} {k}") for k, v in metrics.items()}
    return Baseline(values, meta, str(path))


def save_baseline(
    values: Mapping[str, Mapping[str, float]], meta: Mapping[str, Any], path: Path | str
) -> Path:
    """Write a baseline JSON file (format in the module docstring) atomically; returns its path."""
    clean = {
        m: {k: (None if isinstance(x, float) and math.isnan(x) else x) for k, x in v.items()}
        for m, v in values.items()
    }
    keep = {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items()}
    doc = {"metrics": clean, "meta": keep}
    return atomic_write_bytes(
        Path(path), (json.dumps(doc, indent=2, default=str) + "\n").encode(), checksum=False
    )


def baseline_differences(current_meta: Mapping[str, Any], baseline_meta: Mapping[str, Any]) -> list[str]:
    """What differs between the current evaluation and the baseline among ``COMPARED_META`` (only keys
    present on both sides), e.g. ``["n_fake differs: 10000 (current) vs 5000 (baseline)"]``."""
    out = []
    for col in COMPARED_META:
        if col in current_meta and col in baseline_meta:
            a, b = current_meta[col], baseline_meta[col]
            if a is not None and b is not None and str(a) != str(b):
                out.append(f"{col} differs: {a} (current) vs {b} (baseline)")
    return out
