"""Queries of the results table: which evaluation a gate (or a baseline) is about."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from gan_eval.errors import UserError
from gan_eval.results.groups import expectation_differences, matches_expectation
from gan_eval.results.table import FINGERPRINT_COLUMNS, evaluation_n_fake

# The columns a baseline must share with the current evaluation (all fingerprint columns but the metric).
COMPARED_META: tuple[str, ...] = tuple(c for c in FINGERPRINT_COLUMNS if c != "metric")


def select_evaluation(
    results: pd.DataFrame,
    *,
    run: str | None = None,
    fake: str | None = None,
    where: str = "results",
    expect: Mapping[str, Any] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Pick the evaluation to gate from a results table (steps 1-4 of :mod:`gan_eval.reporting.gates`).

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
    # an evaluation's n_fake, not the part a class metric's row used (evaluation_n_fake)
    df = df.assign(n_fake=evaluation_n_fake(df), _order=range(len(df)))
    df = df.sort_values(["timestamp", "_order"], kind="stable")
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
