"""Quality gates: absolute and regression thresholds on metric values, for CI.

A gate config is a TOML file (example: ``configs/gates/mnist.toml``)::

    [evaluation]                     # what the thresholds were calibrated on; the gated rows must match
    extractor = "mnist-lenet"        # the extractor column
    protocol = "lenet-28"            # the protocol column (mnist-lenet has one: lenet-28)
    n_fake = 10000                   # number of generated samples
    real = "mnist:train"             # optional: the real set ("mnist" and "mnist:train" are the same set)
    precision = "fp32"               # optional
    # seed = 0                       # optional

    [absolute]                       # the value itself must lie within bounds
    fid = { max = 30.0 }             # fail when fid > 30
    is_mean = { min = 8.5 }          # fail when is_mean < 8.5
    precision = { min = 0.6, max = 1.0 }

    [regression]                     # the value must not get worse than a baseline's by more than a margin
    baseline = "reports/baseline.json"   # a baseline JSON file or a results table (.csv / .parquet)
    select = { run_id = "main" }     # results-table baseline only: which rows (column = value); the
                                     # latest evaluation among them is the baseline
    if_missing = "skip"              # "error" (default): a missing baseline file is an input error (exit 2);
                                     # "skip": the regression gates are reported as skipped
    require_ci_separation = true     # default false: fail only when the confidence intervals also separate
    fid = { margin = 2.0 }           # fail when fid is more than 2.0 worse (higher) than the baseline
    is_mean = { rel_margin = 0.05 }  # fail when is_mean is more than 5 % worse (lower) than the baseline
    recall = { margin = 0.02, require_ci_separation = false }   # per-metric override

Which evaluation is gated (``select_evaluation``):

1. The rows of the results table, filtered by ``run`` (``gan-eval gate --run``) and ``fake``
   (``--checkpoint``: the ``fake`` or ``checkpoint`` column), are ordered by timestamp, then file order.
2. The checkpoint (``fake``) of the latest row is the one gated: a gate never falls back silently to an
   older checkpoint.
3. Among that checkpoint's evaluations, the latest one whose columns match every key of ``[evaluation]``
   counts (for each metric, its latest row with that fingerprint). ``real`` compares data specs by meaning
   (``mnist`` = ``mnist:train``); the others compare values exactly.
4. When none matches, the gate refuses (``UserError``, exit code 2) with a message naming what differs
   (e.g. ``extractor is inception, expected mnist-lenet; n_fake is 100, expected 10000``) and, when the
   table holds a matching evaluation of another checkpoint, which one.

Keys of ``[evaluation]`` are columns of the results table (``gan_eval.results.groups.EXPECTABLE``):
``extractor``, ``protocol``, ``n_fake`` (why: each changes the number, FID is biased by the sample count),
and optionally ``real``, ``precision``, ``seed``. ``n_real`` is not a key: it differs per metric within one
evaluation (FID uses the whole real set, KID/PR a seeded subset of its features) and follows from ``real``.
A file without ``[evaluation]`` (or without one of extractor/protocol/n_fake) still works, but the gate
reports a warning (``GateRun.notes``) that it gated an unconstrained evaluation.

The verdicts (``GateRun``) name the gated evaluation - run, checkpoint, epoch, extractor, protocol, n_fake,
real set, precision, seed, fingerprint, timestamp - in the console table (``gate_table``), the JUnit XML
(``write_junit``: ``<properties>`` of the testsuite and each failure's text) and the GitHub step summary
(``append_github_summary`` / ``gates_markdown``).

Rules:

- Metric keys are the result keys of the results table (``fid``, ``is_mean``, ``kid_mean``, ``precision``,
  ``recall``, ``density``, ``coverage``). Whether lower or higher is better comes from
  ``gan_eval.metrics.registry.higher_is_better``.
- ``[absolute]``: each metric needs ``min`` and/or ``max``; both bounds are inclusive.
- ``[regression]``: each metric needs ``margin`` (in the metric's units) and/or ``rel_margin`` (a fraction of
  the baseline value); with both, the larger allowance applies. "Worse" follows the metric's direction.
  With ``require_ci_separation`` a regression beyond the margin fails only when the current and baseline
  confidence intervals (``ci_low``/``ci_high``; else value +- 1.96 std) do not overlap; without intervals
  the values alone decide and the message says so.
- Relative baseline paths are resolved against the current working directory (the repository root in CI).
- Baseline JSON: ``{"metrics": {"fid": {"value": 12.1, "ci_low": 11.8, "ci_high": 12.4}, "is_mean": 8.9},
  "meta": {"extractor": "mnist-lenet", "protocol": "...", "n_fake": 10000, ...}}`` (``save_baseline`` writes
  it; a flat ``{"fid": 12.1}`` works too). When ``meta`` is present it must match the current evaluation's
  fingerprint columns, as must a results-table baseline's; otherwise the gate refuses with a message
  naming what differs. A results-table baseline is selected like the current evaluation (steps 1-4, with
  ``select`` as the filter), so ``[evaluation]`` applies to it too.
- A metric the gates need but the current results lack fails its gate (it was not measured).

A missing or malformed config (bad TOML, unknown section, key or metric, a rule without a threshold) is a
``UserError`` (exit code 2); ``raise_if_failed`` raises ``GateFailed`` (exit code 1).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gan_eval.cache import atomic_write, atomic_write_bytes
from gan_eval.errors import GateFailed, UserError
from gan_eval.results.groups import EXPECTABLE, expectation_differences, matches_expectation
from gan_eval.results.table import FINGERPRINT_COLUMNS, load_results

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# The columns a baseline must share with the current evaluation (all fingerprint columns but the metric).
COMPARED_META: tuple[str, ...] = tuple(c for c in FINGERPRINT_COLUMNS if c != "metric")
_REGRESSION_KEYS = ("baseline", "select", "if_missing", "require_ci_separation")
#: The ``[evaluation]`` keys without which a gate warns that it gated an unconstrained evaluation.
REQUIRED_EXPECTATIONS: tuple[str, ...] = ("extractor", "protocol", "n_fake")
#: How the gated evaluation is named in every output, in this order.
GATED_FIELDS: tuple[str, ...] = (
    "run_id",
    "checkpoint",
    "fake",
    "epoch",
    "extractor",
    "protocol",
    "n_fake",
    "real",
    "precision",
    "seed",
    "fingerprint",
    "timestamp",
)
_Z95 = 1.959963984540054


def metric_direction(metric: str) -> bool | None:
    """True when higher values of result key ``metric`` are better, False when lower are, None when the key
    has no direction (stds, diagnostics, unknown keys)."""
    from gan_eval.metrics.registry import higher_is_better  # lazy: the registry imports torch

    try:
        return higher_is_better(metric)
    except UserError:
        return None


def _check_metric(metric: str, where: str) -> None:
    from gan_eval.metrics.registry import higher_is_better

    try:
        higher_is_better(metric)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


@dataclass(frozen=True)
class AbsoluteRule:
    """``min <= value <= max`` (either bound may be None)."""

    metric: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class RegressionRule:
    """The value may be worse than the baseline by at most ``max(margin, rel_margin * |baseline|)``."""

    metric: str
    margin: float | None = None
    rel_margin: float | None = None
    require_ci_separation: bool = False


@dataclass(frozen=True)
class GateConfig:
    """A parsed gate config file (see the module docstring for the format)."""

    path: Path
    absolute: tuple[AbsoluteRule, ...] = ()
    regression: tuple[RegressionRule, ...] = ()
    baseline: str | None = None
    select: Mapping[str, Any] = field(default_factory=dict)
    if_missing: str = "error"
    expect: Mapping[str, Any] = field(default_factory=dict)  # the [evaluation] table

    def unconstrained(self) -> tuple[str, ...]:
        """The keys of ``REQUIRED_EXPECTATIONS`` this file does not declare."""
        return tuple(k for k in REQUIRED_EXPECTATIONS if k not in self.expect)


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate. ``threshold`` is the limit the value was held against (for regression gates
    the baseline value plus the allowance); ``value`` is None when the metric was not measured."""

    metric: str
    rule: str  # "min", "max" or "regression"
    threshold: float | None
    value: float | None
    passed: bool
    message: str
    skipped: bool = False

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


# ---------------------------------------------------------------------------------------------- config


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def load_gate_config(path: Path | str) -> GateConfig:
    """Parse and validate a gate config TOML file; any problem is a UserError naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"gate config {path} does not exist; expected a TOML file like configs/gates/mnist.toml"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"gate config {path} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - {"evaluation", "absolute", "regression"})
    if unknown:
        raise UserError(
            f"gate config {path}: unknown section(s) {', '.join(unknown)}; "
            "expected [evaluation], [absolute], [regression]"
        )
    if not (set(data) - {"evaluation"}):
        raise UserError(f"gate config {path} defines no gates; expected [absolute] and/or [regression] rules")
    expect = _load_expectation(data.get("evaluation", {}), path)

    absolute = []
    for metric, rule in data.get("absolute", {}).items():
        where = f"{path} [absolute] {metric}"
        _check_metric(metric, f"{path} [absolute]")
        if not isinstance(rule, dict):
            raise UserError(f"{where} must be a table like {{ max = 30 }}, got {rule!r}")
        bad = sorted(set(rule) - {"min", "max"})
        if bad:
            raise UserError(f"{where}: unknown key(s) {', '.join(bad)}; expected min and/or max")
        if not rule:
            raise UserError(f"{where} has no threshold; give min and/or max")
        lo = _number(rule["min"], f"{where}.min") if "min" in rule else None
        hi = _number(rule["max"], f"{where}.max") if "max" in rule else None
        if lo is not None and hi is not None and lo > hi:
            raise UserError(f"{where}: min {lo} is greater than max {hi}")
        absolute.append(AbsoluteRule(metric, lo, hi))

    reg = data.get("regression", {})
    default_sep = reg.get("require_ci_separation", False)
    if not isinstance(default_sep, bool):
        raise UserError(
            f"{path} [regression] require_ci_separation must be true or false, got {default_sep!r}"
        )
    if_missing = reg.get("if_missing", "error")
    if if_missing not in ("error", "skip"):
        raise UserError(f'{path} [regression] if_missing must be "error" or "skip", got {if_missing!r}')
    baseline = reg.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline):
        raise UserError(f"{path} [regression] baseline must be a file path string, got {baseline!r}")
    select = reg.get("select", {})
    if not isinstance(select, dict):
        raise UserError(
            f'{path} [regression] select must be a table like {{ run_id = "main" }}, got {select!r}'
        )
    regression = []
    for metric, rule in reg.items():
        if metric in _REGRESSION_KEYS:
            continue
        where = f"{path} [regression] {metric}"
        _check_metric(metric, f"{path} [regression]")
        if not isinstance(rule, dict):
            raise UserError(f"{where} must be a table like {{ margin = 2.0 }}, got {rule!r}")
        bad = sorted(set(rule) - {"margin", "rel_margin", "require_ci_separation"})
        if bad:
            raise UserError(
                f"{where}: unknown key(s) {', '.join(bad)}; expected margin, rel_margin, "
                "require_ci_separation"
            )
        if "margin" not in rule and "rel_margin" not in rule:
            raise UserError(f"{where} has no threshold; give margin and/or rel_margin")
        margin = _number(rule["margin"], f"{where}.margin") if "margin" in rule else None
        rel = _number(rule["rel_margin"], f"{where}.rel_margin") if "rel_margin" in rule else None
        if (margin is not None and margin < 0) or (rel is not None and rel < 0):
            raise UserError(f"{where}: margins must not be negative")
        sep = rule.get("require_ci_separation", default_sep)
        if not isinstance(sep, bool):
            raise UserError(f"{where}.require_ci_separation must be true or false, got {sep!r}")
        regression.append(RegressionRule(metric, margin, rel, sep))
    if regression and baseline is None:
        raise UserError(f'{path} [regression] has rules but no baseline = "path"')
    return GateConfig(path, tuple(absolute), tuple(regression), baseline, dict(select), if_missing, expect)


def _load_expectation(table: Any, path: Path) -> dict[str, Any]:
    """Validate the ``[evaluation]`` table: known keys (``EXPECTABLE``), strings or non-negative integers."""
    where = f"{path} [evaluation]"
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table of column = value")
    bad = sorted(set(table) - set(EXPECTABLE))
    if bad:
        raise UserError(f"{where}: unknown key(s) {', '.join(bad)}; expected {', '.join(EXPECTABLE)}")
    out: dict[str, Any] = {}
    for key, kind in EXPECTABLE.items():
        if key not in table:
            continue
        v = table[key]
        if kind is int:
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "n_fake" else 0):
                least = "a positive" if key == "n_fake" else "a non-negative"
                raise UserError(f"{where}.{key} must be {least} integer, got {v!r}")
        elif not isinstance(v, str) or not v.strip():
            raise UserError(f'{where}.{key} must be a non-empty string like "{_EXAMPLE[key]}", got {v!r}')
        out[key] = v
    return out


_EXAMPLE = {"extractor": "mnist-lenet", "protocol": "lenet-28", "real": "mnist:train", "precision": "fp32"}


# ------------------------------------------------------------------------------------ current / baseline


def _as_entry(v: Any, where: str) -> dict[str, float]:
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


def select_evaluation(
    results: pd.DataFrame,
    *,
    run: str | None = None,
    fake: str | None = None,
    where: str = "results",
    expect: Mapping[str, Any] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Pick the evaluation to gate from a results table (steps 1-4 of the module docstring).

    ``run`` keeps the rows of that ``run_id``; ``fake`` those whose ``fake`` or ``checkpoint`` column equals
    it. The checkpoint (``fake``) of the latest remaining row is selected; among its evaluations the latest
    that satisfies ``expect`` (``[evaluation]`` keys -> values; None or empty: any) counts, and for each
    metric its latest row with that fingerprint. Returns (metric -> {value, std, ci_low, ci_high}, meta: the
    fingerprint columns, ``fingerprint``, ``fake``, ``checkpoint``, ``epoch``, ``run_id``, ``timestamp``).
    UserError (naming ``where``) when no row is left, or when no evaluation of the selected checkpoint
    satisfies ``expect`` (naming what differs).
    """
    df = results
    if run is not None:
        df = df[df["run_id"] == run]
    if fake is not None:
        df = df[(df["fake"] == fake) | (df["checkpoint"] == fake)]
    if df.empty:
        what = " and ".join(f"{k} {v!r}" for k, v in (("run", run), ("fake", fake)) if v is not None)
        raise UserError(f"{where} has no rows" + (f" for {what}" if what else ""))
    df = df.assign(_order=range(len(df))).sort_values(["timestamp", "_order"], kind="stable")
    scope = df[df["fake"] == df.iloc[-1]["fake"]]  # one checkpoint: the latest evaluated
    if expect:
        ok = matches_expectation(scope, expect)
        if not ok.any():
            raise UserError(_no_match(df, scope, expect, where))
        scope = scope[ok]
    pick = scope.iloc[-1]
    rows = scope[scope["fingerprint"] == pick["fingerprint"]].drop_duplicates("metric", keep="last")
    values = {
        str(r["metric"]): {k: float(r[k]) for k in ("value", "std", "ci_low", "ci_high")}
        for _, r in rows.iterrows()
    }
    meta_cols = [*COMPARED_META, "fingerprint", "fake", "checkpoint", "epoch", "run_id", "timestamp"]
    meta = {c: _plain(pick[c]) for c in meta_cols}
    return values, meta


def _plain(v: Any) -> Any:
    """A table cell as a plain Python value (None for missing; numpy scalars unwrapped)."""
    if v is None or pd.isna(v):
        return None
    return v.item() if hasattr(v, "item") else v


def _expect_text(expect: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in expect.items())


def _no_match(df: pd.DataFrame, scope: pd.DataFrame, expect: Mapping[str, Any], where: str) -> str:
    """The refusal message: the selected checkpoint's latest evaluation and what differs in it."""
    latest = scope.iloc[-1]
    n_evals = scope[["fingerprint", "timestamp"]].drop_duplicates().shape[0]
    diffs = expectation_differences({k: latest[k] for k in expect}, expect)
    msg = (
        f"{where}: no evaluation of {latest['fake']} (run {latest['run_id'] or '(none)'}) matches the "
        f"gate's [evaluation] ({_expect_text(expect)}); its latest ({latest['timestamp']}) differs: "
        + "; ".join(diffs)
    )
    if n_evals > 1:
        msg += f" ({n_evals - 1} earlier evaluation(s) of it do not match either)"
    others = df[matches_expectation(df, expect)]
    if not others.empty:
        o = others.iloc[-1]
        msg += (
            f". The latest matching evaluation there is of {o['fake']} (run {o['run_id'] or '(none)'}, "
            f"{o['timestamp']}); select it by run or checkpoint"
        )
    else:
        msg += ". Evaluate it as [evaluation] declares, or use a gate file calibrated for its evaluation"
    return msg


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
    values = {str(k): _as_entry(v, f"baseline {path} {k}") for k, v in metrics.items()}
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


# ---------------------------------------------------------------------------------------------- gates


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.4g}"


def _interval(e: Mapping[str, float]) -> tuple[float, float] | None:
    lo, hi = e.get("ci_low", math.nan), e.get("ci_high", math.nan)
    if not (math.isnan(lo) or math.isnan(hi)):
        return lo, hi
    std = e.get("std", math.nan)
    if not math.isnan(std):
        return e["value"] - _Z95 * std, e["value"] + _Z95 * std
    return None


def _absolute(rule: AbsoluteRule, entry: Mapping[str, float] | None) -> list[GateResult]:
    out = []
    for kind, limit in (("min", rule.min), ("max", rule.max)):
        if limit is None:
            continue
        if entry is None or math.isnan(entry["value"]):
            out.append(GateResult(rule.metric, kind, limit, None, False, f"{rule.metric} was not measured"))
            continue
        v = entry["value"]
        ok = v >= limit if kind == "min" else v <= limit
        op = (">=" if ok else "<") if kind == "min" else ("<=" if ok else ">")
        out.append(
            GateResult(
                rule.metric, kind, limit, v, ok, f"{rule.metric} = {_fmt(v)} {op} {kind} {_fmt(limit)}"
            )
        )
    return out


def _regression(
    rule: RegressionRule, entry: Mapping[str, float] | None, base: Mapping[str, float] | None, source: str
) -> GateResult:
    m = rule.metric
    higher = bool(metric_direction(m))
    if base is None or math.isnan(base["value"]):
        return GateResult(
            m,
            "regression",
            None,
            None if entry is None else entry["value"],
            False,
            f"baseline {source} has no value for {m}",
        )
    b = base["value"]
    allowed = max(rule.margin or 0.0, (rule.rel_margin or 0.0) * abs(b))
    limit = b - allowed if higher else b + allowed
    if entry is None or math.isnan(entry["value"]):
        return GateResult(m, "regression", limit, None, False, f"{m} was not measured")
    v = entry["value"]
    worse_by = (b - v) if higher else (v - b)
    beyond = worse_by > allowed
    change = f"{_fmt(abs(worse_by))} {'worse' if worse_by > 0 else 'better'} than" if worse_by else "equal to"
    msg = f"{m} = {_fmt(v)} is {change} baseline {_fmt(b)} (allowed {_fmt(allowed)} worse)"
    if not rule.require_ci_separation:
        return GateResult(m, "regression", limit, v, not beyond, msg)
    ci_cur, ci_base = _interval(entry), _interval(base)
    if ci_cur is None or ci_base is None:
        return GateResult(
            m,
            "regression",
            limit,
            v,
            not beyond,
            msg + "; no confidence intervals, so the values alone decide",
        )
    separated = ci_cur[1] < ci_base[0] if higher else ci_cur[0] > ci_base[1]
    verdict = "separate" if separated else "overlap"
    ci_text = (
        f"; intervals {verdict}: [{_fmt(ci_cur[0])}, {_fmt(ci_cur[1])}] vs "
        f"[{_fmt(ci_base[0])}, {_fmt(ci_base[1])}]"
    )
    return GateResult(m, "regression", limit, v, not (beyond and separated), msg + ci_text)


def evaluate_gates(
    current: Mapping[str, Any],
    config: GateConfig,
    baseline: Mapping[str, Any] | Baseline | None = None,
) -> list[GateResult]:
    """Hold ``current`` (metric -> {value, std, ci_low, ci_high} or a plain number) against ``config``.

    ``baseline`` (same shape, or a ``Baseline``) is needed by the regression rules; when it is None they are
    reported as skipped. Returns one GateResult per bound and per regression rule, in config order.
    """
    cur = {str(k): _as_entry(v, f"current value {k}") for k, v in current.items()}
    results: list[GateResult] = []
    for rule in config.absolute:
        results.extend(_absolute(rule, cur.get(rule.metric)))
    if not config.regression:
        return results
    if baseline is None:
        for r in config.regression:
            results.append(
                GateResult(
                    r.metric,
                    "regression",
                    None,
                    cur.get(r.metric, {}).get("value"),
                    True,
                    f"skipped: no baseline ({config.baseline} not found)",
                    skipped=True,
                )
            )
        return results
    if isinstance(baseline, Baseline):
        base_values, source = baseline.values, baseline.source
    else:
        base_values, source = baseline, "given"
    base = {str(k): _as_entry(v, f"baseline {source} {k}") for k, v in base_values.items()}
    for r in config.regression:
        results.append(_regression(r, cur.get(r.metric), base.get(r.metric), source))
    return results


@dataclass(frozen=True)
class GateRun:
    """The outcome of ``run_gates``: the verdicts and which evaluation they are about.

    ``gated``: the gated evaluation's meta (``select_evaluation``; keys include ``GATED_FIELDS``);
    ``values``: its metric values (metric -> {value, std, ci_low, ci_high}, e.g. for ``save_baseline``);
    ``notes``: warnings to show with the verdicts (an unconstrained gate file).
    """

    results: tuple[GateResult, ...]
    gated: Mapping[str, Any]
    values: Mapping[str, Mapping[str, float]]
    notes: tuple[str, ...] = ()
    baseline: Baseline | None = None

    @property
    def passed(self) -> bool:
        return gates_passed(self.results)


def run_gates(
    config: GateConfig,
    results: pd.DataFrame,
    *,
    run: str | None = None,
    fake: str | None = None,
    baseline: Baseline | None = None,
) -> GateRun:
    """Gate one evaluation in ``results``: select it (``select_evaluation`` with ``run``/``fake`` and the
    config's ``[evaluation]``), load the config's baseline (unless one is given; a results-table baseline is
    selected the same way), refuse with a UserError when the baseline's fingerprint differs, evaluate the
    gates. A config that does not declare extractor, protocol and n_fake adds a note saying so."""
    current, meta = select_evaluation(results, run=run, fake=fake, expect=config.expect)
    if baseline is None and config.regression and config.baseline is not None:
        if Path(config.baseline).is_file() or config.if_missing == "error":
            baseline = load_baseline(config.baseline, select=config.select, expect=config.expect)
    if baseline is not None:
        diffs = baseline_differences(meta, baseline.meta)
        if diffs:
            raise UserError(
                f"baseline {baseline.source} is not comparable with the current results: " + "; ".join(diffs)
            )
    notes: list[str] = []
    loose = config.unconstrained()
    if loose:
        what = "declares no [evaluation]" if not config.expect else f"[evaluation] omits {', '.join(loose)}"
        has = ", ".join(f"{k} {meta.get(k)}" for k in loose)
        notes.append(
            f"gate config {config.path.as_posix()} {what}, so the gated evaluation was not checked against "
            f"what the thresholds were calibrated on (it has {has}); declare {', '.join(loose)} under "
            "[evaluation] to refuse other rows"
        )
    outcome = evaluate_gates(current, config, baseline)
    return GateRun(tuple(outcome), meta, current, tuple(notes), baseline)


# ------------------------------------------------------------------------------------------- outputs

Outcome = GateRun | Sequence[GateResult]


def _unpack(outcome: Outcome) -> tuple[Sequence[GateResult], Mapping[str, Any] | None, tuple[str, ...]]:
    if isinstance(outcome, GateRun):
        return outcome.results, outcome.gated, outcome.notes
    return outcome, None, ()


def gated_fields(gated: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, value) pairs naming the gated evaluation, in ``GATED_FIELDS`` order; ``fake`` only when it is
    not a checkpoint, empty values left out."""
    out = []
    for k in GATED_FIELDS:
        v = gated.get(k)
        if k == "fake" and gated.get("checkpoint"):
            continue
        if v is None or v == "":
            continue
        out.append((k, str(v)))
    return out


def describe_gated(gated: Mapping[str, Any]) -> str:
    """One line naming the gated evaluation, e.g. ``run demo, checkpoint runs/demo/ckpt_epoch_005.pt (epoch
    5): mnist-lenet, protocol lenet-28, n_fake 10000 vs mnist, fp32, seed 0, fingerprint acc2873ac7ae28c5,
    evaluated 2025-01-01T00:00:00+00:00``."""
    g = dict(gated_fields(gated))
    what = f"checkpoint {g['checkpoint']}" if "checkpoint" in g else f"fake {g.get('fake', '?')}"
    head = f"run {g.get('run_id', '(none)')}, {what}" + (f" (epoch {g['epoch']})" if "epoch" in g else "")
    body = [
        f"extractor {g.get('extractor', '?')}",
        f"protocol {g.get('protocol', '?')}",
        f"n_fake {g.get('n_fake', '?')} vs {g.get('real', '?')}",
    ]
    body += [f"{k} {g[k]}" for k in ("precision", "seed", "fingerprint") if k in g]
    if "timestamp" in g:
        body.append(f"evaluated {g['timestamp']}")
    return f"{head}: " + ", ".join(body)


def gates_passed(results: Outcome) -> bool:
    return all(r.passed for r in _unpack(results)[0])


def _summary_line(results: Sequence[GateResult]) -> str:
    n_fail = sum(not r.passed for r in results)
    n_skip = sum(r.skipped for r in results)
    n_pass = len(results) - n_fail - n_skip
    verdict = "PASSED" if n_fail == 0 else "FAILED"
    return f"gates {verdict}: {n_pass} passed, {n_fail} failed, {n_skip} skipped"


def raise_if_failed(results: Outcome) -> None:
    """Raise GateFailed (exit code 1) naming the failed gates (and the gated evaluation), when any failed."""
    verdicts, gated, _ = _unpack(results)
    failed = [r for r in verdicts if not r.passed]
    if failed:
        about = f" ({describe_gated(gated)})" if gated else ""
        raise GateFailed(
            f"{len(failed)} of {len(verdicts)} gates failed{about}: " + "; ".join(r.message for r in failed)
        )


def _rows(results: Sequence[GateResult]) -> list[list[str]]:
    return [[r.status, r.metric, r.rule, _fmt(r.threshold), _fmt(r.value), r.message] for r in results]


_HEADERS = ["status", "metric", "rule", "threshold", "value", "message"]


def gate_table(results: Outcome) -> str:
    """A plain-text table of the verdicts for the terminal: a ``gated:`` line naming the evaluation (with a
    ``GateRun``), the table, a summary line. Notes (warnings) are not included: print them to stderr."""
    from tabulate import tabulate

    verdicts, gated, _ = _unpack(results)
    head = f"gated: {describe_gated(gated)}\n" if gated else ""
    return (
        head
        + tabulate(_rows(verdicts), headers=_HEADERS, tablefmt="simple", disable_numparse=True)
        + "\n"
        + _summary_line(verdicts)
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def gates_markdown(results: Outcome) -> str:
    """The verdicts as GitHub Markdown: a bold summary line, the gated evaluation (a one-row table of
    ``GATED_FIELDS``, with a ``GateRun``), its notes as a warning block, then the verdict table."""
    from tabulate import tabulate

    verdicts, gated, notes = _unpack(results)
    icon = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "SKIP": "⏭️ SKIP"}
    rows = [[icon[r[0]], *r[1:5], _md(r[5])] for r in _rows(verdicts)]
    head = _summary_line(verdicts)
    parts = [f"**{head[0].upper()}{head[1:]}**\n"]
    if gated:
        fields_ = gated_fields(gated)
        parts.append("Gated evaluation:\n")
        parts.append(
            tabulate(
                [[f"`{_md(v)}`" for _, v in fields_]],
                headers=[k for k, _ in fields_],
                tablefmt="github",
                disable_numparse=True,
            )
            + "\n"
        )
    if notes:
        parts.append("> [!WARNING]\n" + "\n".join(f"> {_md(n)}" for n in notes) + "\n")
    parts.append(tabulate(rows, headers=_HEADERS, tablefmt="github", disable_numparse=True) + "\n")
    return "\n".join(parts)


def write_junit(results: Outcome, path: Path | str, *, suite: str = "gan-eval gates") -> Path:
    """Write JUnit XML: one ``testcase`` per gate (``failure`` / ``skipped`` elements with the messages).

    With a ``GateRun`` the testsuite carries ``<properties>`` naming the gated evaluation (``GATED_FIELDS``,
    plus ``warning`` for each note) and a ``system-out`` line describing it; each failure's text names it
    too, so a CI test view shows what was gated."""
    import xml.etree.ElementTree as ET

    verdicts, gated, notes = _unpack(results)
    about = describe_gated(gated) if gated else ""
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite,
            "tests": str(len(verdicts)),
            "failures": str(sum(not r.passed for r in verdicts)),
            "errors": "0",
            "skipped": str(sum(r.skipped for r in verdicts)),
            "time": "0",
        },
    )
    if gated:
        props = ET.SubElement(ts, "properties")
        for k, v in gated_fields(gated):
            ET.SubElement(props, "property", {"name": k, "value": v})
        for n in notes:
            ET.SubElement(props, "property", {"name": "warning", "value": n})
    for r in verdicts:
        tc = ET.SubElement(
            ts, "testcase", {"classname": "gan_eval.gates", "name": f"{r.metric} {r.rule}", "time": "0"}
        )
        if r.skipped:
            ET.SubElement(tc, "skipped", {"message": r.message})
        elif not r.passed:
            fail = ET.SubElement(tc, "failure", {"message": r.message, "type": "GateFailed"})
            fail.text = f"threshold {_fmt(r.threshold)}, value {_fmt(r.value)}: {r.message}" + (
                f"\ngated: {about}" if about else ""
            )
        else:
            ET.SubElement(tc, "system-out").text = r.message
    if gated:
        lines = [f"gated: {about}", *(f"warning: {n}" for n in notes)]
        ET.SubElement(ts, "system-out").text = "\n".join(lines)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return atomic_write(
        Path(path), lambda tmp: tree.write(tmp, encoding="utf-8", xml_declaration=True), checksum=False
    )


def append_github_summary(results: Outcome, *, title: str = "gan-eval quality gates") -> bool:
    """Append the Markdown verdicts (``gates_markdown``) to ``$GITHUB_STEP_SUMMARY`` when it is set; returns
    whether it wrote."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as f:
        f.write(f"## {title}\n\n{gates_markdown(results)}\n")
    return True
