"""The Markdown report: summary table, metric-vs-epoch plots, sample grids, class histograms, fingerprint,
environment and gate verdicts, written so that it renders on GitHub.

Layout on disk, for ``out = reports/demo.md``::

    reports/demo.md
    reports/demo_files/fid_vs_epoch.png         metric-vs-epoch plots
    reports/demo_files/samples_<checkpoint>.png copies of the caller's sample grids
    reports/demo_files/classes_<checkpoint>.png class histograms

All links in the Markdown are relative to the report's folder, so the folder can be moved or uploaded as a
CI artifact. Every file is written atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from gan_eval.cache import atomic_write, atomic_write_bytes
from gan_eval.errors import UserError
from gan_eval.reporting.gates import (
    COMPARED_META,
    gates_markdown,
    load_gate_config,
    metric_direction,
    run_gates,
)
from gan_eval.reporting.plots import plot_class_histogram, plot_metric_vs_epoch
from gan_eval.results.table import check_comparable

_ARROW = {True: " ↑", False: " ↓", None: ""}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


def _label(row: pd.Series) -> str:
    """How an evaluation is named in the report: its checkpoint file name, else its fake spec."""
    return str(row["checkpoint"]) if str(row["checkpoint"]) else str(row["fake"])


def latest_rows(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (run_id, evaluated data, metric): the latest by timestamp (then file order), with a
    ``label`` column (checkpoint name, else fake spec)."""
    if results.empty:
        return results.assign(label=pd.Series(dtype=str))
    df = results.assign(_order=range(len(results))).sort_values(["timestamp", "_order"], kind="stable")
    df = df.drop_duplicates(["run_id", "fake", "metric", "extractor"], keep="last").drop(columns="_order")
    return df.assign(label=df.apply(_label, axis=1))


def _cell(value: float, std: float, lo: float, hi: float) -> str:
    text = f"{value:.4g}"
    if not math.isnan(std):
        text += f" ± {std:.2g}"
    elif not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{lo:.4g}, {hi:.4g}]"
    return text


def summary_table(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary as (numbers, formatted): one row per evaluated checkpoint/fake (ordered by run, epoch,
    step, label), one column per metric. ``numbers`` holds the values; ``formatted`` holds display strings
    with ``± std`` (or ``[ci_low, ci_high]``), the best value per metric in bold (only with 2+ rows and a
    known direction), and metric headers with ↓ / ↑ for lower / higher is better."""
    df = latest_rows(results)
    # values of different extractors are different quantities: with several, each gets its own column
    several = df["extractor"].nunique() > 1
    pairs = zip(df["metric"], df["extractor"], strict=True)
    df = df.assign(column=[f"{m} [{e}]" if several else m for m, e in pairs])
    metric_of = dict(zip(df["column"], df["metric"], strict=True))
    metrics = list(dict.fromkeys(df["column"]))
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
    formatted = formatted.rename(columns={m: f"{m}{_ARROW[metric_direction(metric_of[m])]}" for m in metrics})
    return numbers, formatted


def _image_link(alt: str, rel: str) -> str:
    return f"![{alt}]({rel})"


def _copy(src: Path, dst: Path) -> Path:
    def write(tmp: Path) -> None:
        shutil.copyfile(src, tmp)

    return atomic_write(dst, write, checksum=False)


def write_report(
    results: pd.DataFrame,
    out: Path | str,
    *,
    run: str | None = None,
    gate_config: Path | str | None = None,
    sample_grids: Mapping[str, Path | str] | None = None,
    class_histograms: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
) -> Path:
    """Write the Markdown report for ``results`` (a results table, e.g. from ``load_results``) to ``out``.

    ``run`` keeps only rows with that ``run_id``. ``sample_grids`` maps a checkpoint label (the
    ``checkpoint`` column, else ``fake``) to an image file, which is copied beside the report.
    ``class_histograms`` maps a label to the predicted-class counts (int ``[10]`` for ``mnist-lenet``).
    ``gate_config`` adds the verdicts of those gates on the latest evaluation. Returns ``out``.
    """
    out = Path(out)
    df = results
    if run is not None:
        df = df[df["run_id"] == run]
        if df.empty:
            runs = ", ".join(sorted(set(results["run_id"]))) or "none"
            raise UserError(f"results have no rows for run {run!r}; runs present: {runs}")
    if df.empty:
        raise UserError("results table is empty; nothing to report")
    assets = out.parent / f"{out.stem}_files"
    assets.mkdir(parents=True, exist_ok=True)
    rel = f"{assets.name}/"
    title = title or (f"gan-eval report: {run}" if run else "gan-eval report")
    lines: list[str] = [f"# {title}", ""]

    diffs = check_comparable(df)
    if diffs:
        lines += ["> [!WARNING]", "> These rows measure different things and are not directly comparable:"]
        lines += [f"> - {d}" for d in diffs] + [""]

    latest = latest_rows(df)
    _, formatted = summary_table(df)
    lines += ["## Summary", ""]
    lines += [formatted.reset_index().to_markdown(index=False, disable_numparse=True), ""]
    lines += [
        "Values are mean ± std (or [confidence interval]) of the latest evaluation of each checkpoint. "
        "↓ lower is better, ↑ higher is better; **bold** marks the best value per metric.",
        "",
    ]

    plots = []
    for metric in dict.fromkeys(latest["metric"]):
        sub = latest[latest["metric"] == metric]
        if sub["epoch"].dropna().nunique() < 2:
            continue
        series = {str(r): g for r, g in sub.groupby("run_id", sort=True)}
        if len(series) == 1:
            series = {metric: next(iter(series.values()))}
        png = assets / f"{_slug(metric)}_vs_epoch.png"
        plot_metric_vs_epoch(series, metric, png, higher_is_better=metric_direction(metric))
        plots.append(_image_link(f"{metric} vs epoch", rel + png.name))
    if plots:
        lines += ["## Metrics over training", ""] + [p + "\n" for p in plots]

    labels = list(
        dict.fromkeys(
            [
                *latest.sort_values(["epoch", "label"])["label"],
                *(sample_grids or {}),
                *(class_histograms or {}),
            ]
        )
    )
    sections = []
    for label in labels:
        images, notes = [], []
        if sample_grids and label in sample_grids:
            src = Path(sample_grids[label])
            if not src.is_file():
                raise UserError(f"sample grid for {label} not found: {src}")
            dst = assets / f"samples_{_slug(label)}{src.suffix.lower() or '.png'}"
            _copy(src, dst)
            images.append(_image_link(f"samples {label}", rel + dst.name))
        if class_histograms and label in class_histograms:
            counts = np.asarray(class_histograms[label])
            png = assets / f"classes_{_slug(label)}.png"
            plot_class_histogram(counts, png, title=f"predicted classes: {label}")
            images.append(_image_link(f"class histogram {label}", rel + png.name))
            missing = [str(i) for i in np.flatnonzero(counts == 0)]
            if missing:
                notes.append(f"**Missing classes: {', '.join(missing)}** (possible mode collapse)")
            else:
                nz = counts[counts > 0]
                notes.append(
                    f"All {counts.size} classes present; most/least frequent ratio {nz.max() / nz.min():.2g}"
                )
        if images:
            sections += [f"### {label}", "", " ".join(images), ""] + [n + "\n" for n in notes]
    if sections:
        lines += ["## Samples and class histograms", ""] + sections

    lines += ["## Fingerprint and environment", ""]
    env_cols = [*COMPARED_META, "fingerprint", "gan_eval_version", "torch_version", "device"]
    env = [(c, ", ".join(sorted({str(v) for v in df[c].tolist()}))) for c in env_cols]
    env.append(("evaluated at", f"{df['timestamp'].min()} … {df['timestamp'].max()}"))
    env.append(("rows", str(len(df))))
    lines += [
        pd.DataFrame(env, columns=["field", "value"]).to_markdown(index=False, disable_numparse=True),
        "",
    ]

    if gate_config is not None:
        gated = latest.sort_values("timestamp", kind="stable").iloc[-1]["label"]
        gate_results = run_gates(load_gate_config(gate_config), df)
        lines += [
            f"## Quality gates ({Path(gate_config).as_posix()})",
            "",
            f"Latest evaluation: `{gated}`.",
            "",
            gates_markdown(gate_results),
        ]

    text = "\n".join(lines).rstrip() + "\n"
    return atomic_write_bytes(out, text.encode("utf-8"), checksum=False)
