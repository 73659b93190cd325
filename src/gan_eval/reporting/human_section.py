"""The report's section on human evaluation: for each study, every automatic metric's ranking of the arms
next to the people's, and how well they agree (:mod:`gan_eval.human.agreement`)."""

from __future__ import annotations

import math

import pandas as pd

from gan_eval.human.agreement import MIN_ARMS, StudyAgreement, smallest_p, study_agreements
from gan_eval.human.scoring import interval_label

_ARROW = {True: "↑", False: "↓"}


def _p(p: float) -> str:
    return "" if math.isnan(p) else f"{p:.3g}"


def _r(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.2f}"


def _ranks(values: dict[str, float], higher_is_better: bool) -> dict[str, int]:
    s = pd.Series(values, dtype="float64")
    return {k: int(r) for k, r in s.rank(ascending=not higher_is_better, method="min").items()}


def _study_lines(st: StudyAgreement) -> list[str]:
    lines = [f"## People vs metrics: {st.run_id}", ""]
    lines += [
        f"{st.n} arm(s) rated by people ({st.setup}): `hype_inf` is their error telling an arm's images "
        "from real ones (0.5: indistinguishable; higher is better). Each metric's ranking (1 = best) is "
        "shown beside theirs; correlations are oriented so that +1 means the metric ranks the arms exactly "
        "as people did. Only values of one comparable setup are correlated.",
        "",
    ]
    if st.n < MIN_ARMS:
        lines += [
            "> [!WARNING]",
            f"> With {st.n} arm(s) the smallest two-sided p-value any ranking can reach is 2/{st.n}! = "
            f"{smallest_p(st.n):.3g}: no correlation can be significant at the 5 % level, however well a "
            f"metric agrees. Rate at least {MIN_ARMS} arms to test agreement.",
            "",
        ]
    human_values = {k: v[0] for k, v in st.human.items()}
    human_rank = _ranks(human_values, True)
    setups = list(dict.fromkeys(m.setup for m in st.metrics))
    tag = {s: f" [{i + 1}]" if len(setups) > 1 else "" for i, s in enumerate(setups)}
    table: dict[str, list[str]] = {"arm": [st.arms[k] for k in st.arms]}
    table["hype_inf ↑ (rank)"] = []
    for k in st.arms:
        v, lo, hi, _ = st.human[k]
        ci = "" if math.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"
        table["hype_inf ↑ (rank)"].append(f"{v:.3f}{ci} ({human_rank[k]})")
    for m in st.metrics:
        ranks = _ranks(m.values, m.higher_is_better)
        col = f"{m.metric} {_ARROW[m.higher_is_better]}{tag[m.setup]} (rank)"
        table[col] = [f"{m.values[k]:.4g} ({ranks[k]})" for k in st.arms]
    lines += [pd.DataFrame(table).to_markdown(index=False, disable_numparse=True), ""]
    raters = sorted({v[3] for v in st.human.values()})
    several = [n for n in raters if n >= 2]
    notes = []
    if several:
        span = str(several[0]) if len(several) == 1 else f"{several[0]} to {several[-1]}"
        notes.append(f"bootstrap over the raters ({span} per arm)")
    if 1 in raters:
        notes.append(f"for arms with one rater, {interval_label(1)}")
    lines += ["Intervals: 95 %, " + "; ".join(notes) + ".", ""]
    if len(setups) > 1:
        lines += ["Setups: " + "; ".join(f"[{i + 1}] {s}" for i, s in enumerate(setups)) + ".", ""]
    if st.metrics:
        rows = [
            [
                m.metric,
                m.setup,
                _r(m.correlation.spearman),
                _p(m.correlation.spearman_p),
                _r(m.correlation.kendall),
                _p(m.correlation.kendall_p),
                str(m.correlation.n),
            ]
            for m in st.metrics
        ]
        cols = ["metric", "setup", "Spearman ρ", "p", "Kendall τ", "p ", "arms"]
        lines += [pd.DataFrame(rows, columns=cols).to_markdown(index=False, disable_numparse=True), ""]
        method = st.metrics[0].correlation.p_method
        lines += [
            f"p-values: two-sided, {'exact (every ranking enumerated)' if method == 'exact' else method} "
            "(scipy). "
            "n/a: a side ranks every arm the same.",
            "",
        ]
    else:
        lines += ["No automatic metric in the table measured every arm of this study in one setup.", ""]
    if st.skipped:
        lines += ["Left out (not every arm measured in that setup): " + "; ".join(st.skipped) + ".", ""]
    return lines


def agreement_sections(results: pd.DataFrame, runs: set[str] | None = None) -> list[str]:
    """Markdown lines: one section per human study in ``results`` (a results table: the automatic metrics
    are taken from all of it), only the studies whose run is in ``runs`` when given."""
    lines: list[str] = []
    for st in study_agreements(results):
        if runs is None or st.run_id in runs:
            lines += _study_lines(st)
    return lines
