"""The report's summary: the latest evaluation of each checkpoint per comparable setup, the headline metrics
(``HEADLINE``: FID, IS, KID, precision, recall, and the human score when present) one column each, the best
value of a column in bold; and how many samples each value used, in numbers (``counts_text``).

Every other value has its own section (:mod:`gan_eval.reporting.sections`), so the summary stays a table a
reviewer reads at a glance.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from gan_eval.reporting.gate_config import metric_direction
from gan_eval.results.groups import ComparableGroup, comparable_groups, distinguishing_fields, groups_of

HEADLINE: tuple[str, ...] = ("fid", "is_mean", "kid_mean", "precision", "recall", "hype_inf")
"""The summary's metrics, in this order; ``hype_inf`` is the human evaluation's score (higher is better)."""

_ARROW = {True: " ↑", False: " ↓", None: ""}
_PER_CLASS = re.compile(r"^(fid_class_)\d+$")


def in_summary(metric: str) -> bool:
    """Whether a value key has a column in the summary tables (the headline metrics; every other value is
    shown in its section)."""
    return metric in HEADLINE


def metric_rank(metric: str) -> int:
    """The summary's column order."""
    return HEADLINE.index(metric) if metric in HEADLINE else len(HEADLINE)


def _label(row: pd.Series) -> str:
    """How an evaluation is named in the report: its checkpoint file name, else its fake spec."""
    return str(row["checkpoint"]) if str(row["checkpoint"]) else str(row["fake"])


def group_names(results: pd.DataFrame) -> dict[ComparableGroup, str]:
    """The comparable groups of ``results`` (in ``comparable_groups`` order) -> their short names: extractor,
    protocol and n_fake, plus whatever else tells them apart (real set, precision, seed, fingerprint)."""
    groups = [g for g, _ in comparable_groups(results)]
    show = distinguishing_fields(groups)
    return {g: g.name(show) for g in groups}


def latest_rows(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (comparable group, run_id, evaluated data, metric, n_real): the latest by timestamp (then
    file order), with a ``label`` column (checkpoint name, else fake spec) and a ``group`` column (the
    group's name from ``group_names``)."""
    if results.empty:
        return results.assign(label=pd.Series(dtype=str), group=pd.Series(dtype=str))
    names = group_names(results)
    group = [names[g] for g in groups_of(results)]
    df = results.assign(group=group, _order=range(len(results)))
    df = df.sort_values(["timestamp", "_order"], kind="stable")
    df = df.drop_duplicates(["group", "run_id", "fake", "metric", "n_real"], keep="last").drop(
        columns="_order"
    )
    return df.assign(label=df.apply(_label, axis=1))


def _cell(value: float, std: float, lo: float, hi: float) -> str:
    text = f"{value:.4g}"
    if not math.isnan(std):
        text += f" ± {std:.2g}"
    elif not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{lo:.4g}, {hi:.4g}]"
    return text


def _columns(df: pd.DataFrame) -> list[str]:
    """The summary column of each row of ``latest_rows``: the metric, plus ``(n_real N)`` when one metric
    of a group has several real-sample counts, plus `` [group]`` when there are several groups."""
    several = df["group"].nunique() > 1
    n_real_counts = df.groupby(["group", "metric"])["n_real"].nunique(dropna=False)
    out = []
    for m, g, n in zip(df["metric"], df["group"], df["n_real"], strict=True):
        col = str(m)
        if n_real_counts[(g, m)] > 1:
            col += f" (n_real {'unknown' if pd.isna(n) else n})"
        if several:
            col += f" [{g}]"
        out.append(col)
    return out


def summary_table(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary as (numbers, formatted): one row per evaluated checkpoint/fake (ordered by run, epoch,
    step, label), one column per headline metric of each comparable group (named ``metric [group]`` when
    ``results`` holds several groups, so values of different setups never share a column). ``numbers`` holds
    the values; ``formatted`` holds display strings with ``± std`` (or ``[ci_low, ci_high]``), the best value
    per column in bold (only with 2+ values and a known direction), and metric headers with ↓ / ↑ for lower /
    higher is better. Evaluations without a headline value have no row."""
    df = latest_rows(results)
    df = df[[in_summary(str(m)) for m in df["metric"]]]  # every other value: its section
    df = df.assign(column=_columns(df))
    metric_of = dict(zip(df["column"], df["metric"], strict=True))
    metrics = sorted(dict.fromkeys(df["column"]), key=lambda c: metric_rank(metric_of[c]))
    keys = ["run_id", "label"]
    index = (
        df.groupby(keys, sort=False)
        .agg(epoch=("epoch", "max"), step=("step", "max"))
        .reset_index()
        .sort_values(["run_id", "epoch", "step", "label"], na_position="last", kind="stable")
    )
    numbers = index.set_index(keys)
    formatted = index.set_index(keys).astype(object)
    for col in ("epoch", "step"):
        formatted[col] = [("" if pd.isna(v) else str(int(v))) for v in numbers[col]]
    for m in metrics:
        sub = df[df["column"] == m].set_index(keys)
        numbers[m] = sub["value"].reindex(numbers.index)
        cells = []
        for k in numbers.index:
            if k in sub.index:
                r = sub.loc[k]
                cells.append(_cell(r["value"], r["std"], r["ci_low"], r["ci_high"]))
            else:
                cells.append("")
        formatted[m] = cells
        direction = metric_direction(metric_of[m])
        col = numbers[m]
        if direction is not None and col.notna().sum() >= 2:
            best = col.idxmax() if direction else col.idxmin()
            formatted.loc[best, m] = f"**{formatted.loc[best, m]}**"
    if numbers.index.get_level_values("run_id").nunique() <= 1:
        numbers = numbers.droplevel("run_id")
        formatted = formatted.droplevel("run_id")
    empty = [col for col in ("epoch", "step") if numbers[col].isna().all()]
    numbers, formatted = numbers.drop(columns=empty), formatted.drop(columns=empty)
    formatted = formatted.rename(columns={m: _with_arrow(m, metric_direction(metric_of[m])) for m in metrics})
    return numbers, formatted


def _with_arrow(column: str, direction: bool | None) -> str:
    """``fid [g]`` -> ``fid ↓ [g]``: the arrow right after the metric name."""
    head, sep, tail = column.partition(" ")
    return f"{head}{_ARROW[direction]}{sep}{tail}"


def counts_text(rows: pd.DataFrame, column: str, *, metrics: tuple[str, ...] | None = None) -> str:
    """How many samples the values of ``rows`` used, from ``column`` (``n_real`` or ``n_fake``), in numbers
    and per metric: ``"10000 (kid_mean, precision, recall); 60000 (fid)"``, smallest first; the per-class
    values as one entry (``"892 to 1135 (fid_class_<c>, per class)"``). ``metrics``: only these; counts of
    0 (values that use no real samples) are left out; an empty count (a statistics file that does not
    record it, e.g. pytorch-fid's) is ``"unknown (fid)"``, last."""
    spans: dict[str, set[int]] = {}
    unknown: list[str] = []
    for m, n in zip(rows["metric"].astype(str), rows[column], strict=True):
        if metrics is not None and m not in metrics:
            continue
        if pd.isna(n):
            unknown.append(m)
            continue
        if int(n) <= 0:
            continue
        spans.setdefault(_PER_CLASS.sub(r"\1<c>", m), set()).add(int(n))
    by_text: dict[tuple[int, int], list[str]] = {}
    for family, ns in spans.items():
        name = f"{family}, per class" if family.endswith("<c>") else family
        by_text.setdefault((min(ns), max(ns)), []).append(name)
    parts = [
        f"{lo if lo == hi else f'{lo} to {hi}'} ({', '.join(names)})"
        for (lo, hi), names in sorted(by_text.items())
    ]
    if unknown:
        parts.append(f"unknown ({', '.join(dict.fromkeys(unknown))})")
    return "; ".join(parts)
