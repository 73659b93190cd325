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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gan_eval.errors import UserError
from gan_eval.reporting.baseline import Baseline, as_entry, baseline_differences, load_baseline
from gan_eval.reporting.gate_config import (
    AbsoluteRule,
    GateConfig,
    RegressionRule,
    metric_direction,
)
from gan_eval.results.query import select_evaluation

_Z95 = 1.959963984540054


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


def fmt(x: float | None) -> str:
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
                rule.metric,
                kind,
                limit,
                v,
                ok,
                f"{rule.metric} = {fmt(v)} {op} {kind} {fmt(limit)}",
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
    change = f"{fmt(abs(worse_by))} {'worse' if worse_by > 0 else 'better'} than" if worse_by else "equal to"
    msg = f"{m} = {fmt(v)} is {change} baseline {fmt(b)} (allowed {fmt(allowed)} worse)"
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
        f"; intervals {verdict}: [{fmt(ci_cur[0])}, {fmt(ci_cur[1])}] vs "
        f"[{fmt(ci_base[0])}, {fmt(ci_base[1])}]"
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
    cur = {str(k): as_entry(v, f"current value {k}") for k, v in current.items()}
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
    base = {str(k): as_entry(v, f"baseline {source} {k}") for k, v in base_values.items()}
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


def gates_passed(results: GateRun | Sequence[GateResult]) -> bool:
    """True when no gate failed (skipped gates pass)."""
    verdicts = results.results if isinstance(results, GateRun) else results
    return all(r.passed for r in verdicts)
