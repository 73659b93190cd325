"""The Markdown report: summary tables, metric-vs-epoch plots, sample grids, class histograms, fingerprint,
environment and gate verdicts, written so that it renders on GitHub.

Rows are compared only within a *comparable group* (``gan_eval.results.groups``: same extractor, protocol,
precision, n_fake, seed, real set and fingerprint hash). The report has one summary table per group (a
``###`` heading with the group's name, a line with its full fingerprint and the real samples each headline
metric used, then one row per checkpoint and one column per headline metric: FID, IS, KID, precision, recall
and the human score, :mod:`gan_eval.reporting.summary`), and **bold** marks the best value of a metric within
its table - bold means nothing else in the report (flags are marked with ⚠). Every other value is in its
section (:mod:`gan_eval.reporting.sections`). Each plot shows one (headline metric, group) with the group's
name in its title and on its y axis, and the confidence intervals (else +- std) as error bars. A note at the
top says when the table holds several groups and what differs.

Layout on disk, for ``out = reports/demo.md``::

    reports/demo.md
    reports/demo_files/fid_vs_epoch_<group>.png   metric-vs-epoch plots, one per (metric, group)
    reports/demo_files/samples_<checkpoint>.png   copies of the caller's sample grids
    reports/demo_files/classes_<checkpoint>.png   class histograms (with the class-balance text beside)

All links in the Markdown are relative to the report's folder, so the folder can be moved or uploaded as a
CI artifact. Every file is written atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from gan_eval.atomic import atomic_write, atomic_write_bytes
from gan_eval.data.export import save_image_grid
from gan_eval.errors import UserError
from gan_eval.reporting.class_balance import COVERAGE_FRACTION, FLAG, IMBALANCE_RATIO, class_balance
from gan_eval.reporting.gate_config import load_gate_config, metric_direction
from gan_eval.reporting.gate_output import gates_markdown
from gan_eval.reporting.gates import run_gates
from gan_eval.reporting.human_section import agreement_sections
from gan_eval.reporting.plots import (
    plot_class_histogram,
    plot_distance_histograms,
    plot_inverse_n_fits,
    plot_metric_vs_epoch,
    plot_prd_curves,
)
from gan_eval.reporting.sections import beyond_fid_sections
from gan_eval.reporting.summary import (
    HEADLINE,
    counts_text,
    group_names,
    in_summary,
    latest_rows,
    metric_rank,
    summary_table,
)
from gan_eval.results.groups import comparable_groups
from gan_eval.results.query import COMPARED_META
from gan_eval.results.table import check_comparable


def class_balance_markdown(
    counts: np.ndarray, expected: np.ndarray | None = None, *, unrecognised: int | None = None
) -> list[str]:
    """The class-balance sentences (``class_balance``) and a table of the class shares, as Markdown lines:
    ``counts`` int [K] of the recognised samples, ``unrecognised`` beside them (None: no recognition rule).
    Flagged shares (not covered, over-produced) are marked with ⚠, never bold (bold is "best")."""
    cb = class_balance(counts, expected, unrecognised=unrecognised)

    def cells(shares: np.ndarray) -> list[str]:
        flagged = set(cb.not_covered) | ({cb.most_over} if cb.imbalanced else set())
        return [
            f"{FLAG} {100 * x:.1f} %" if i in flagged and not cb.mostly_unrecognised else f"{100 * x:.1f} %"
            for i, x in enumerate(shares)
        ]

    if unrecognised is None:
        table = pd.DataFrame([["share of samples", *cells(cb.shares)]], columns=["class", *cb.names])
    else:
        total = max(cb.total, 1)
        rows = [
            ["share of recognised samples", *cells(cb.shares), ""],
            [
                "share of all samples",
                *(f"{100 * c / total:.1f} %" for c in cb.counts),
                f"{100 * (cb.unrecognised or 0) / total:.1f} %",
            ],
        ]
        table = pd.DataFrame(rows, columns=["class", *cb.names, "unrecognised"])
    of = f"{cb.total} samples" + ("" if unrecognised is None else f", {cb.recognised} recognised")
    return [
        f"{cb.text()} ({of}; thresholds: covered at {COVERAGE_FRACTION:g}x, imbalanced above "
        f"{IMBALANCE_RATIO:g}x the {cb.reference} share; {FLAG} marks a flagged share.)",
        "",
        table.to_markdown(index=False, disable_numparse=True),
        "",
    ]


def _values_text(column: pd.Series) -> str:
    """The distinct values of a column, numbers in numeric order (``2, 10``, not ``10, 2``)."""
    values = {str(v) for v in column.tolist()}
    numeric = all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in values)
    return ", ".join(sorted(values, key=float if numeric else str))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


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
    class_unrecognised: Mapping[str, int] | None = None,
    title: str | None = None,
    results_path: Path | str | None = None,
) -> Path:
    """Write the Markdown report for ``results`` (a results table, e.g. from ``load_results``) to ``out``.

    ``run`` keeps only rows with that ``run_id``. ``sample_grids`` maps a checkpoint label (the
    ``checkpoint`` column, else ``fake``) to an image file, which is copied beside the report.
    ``class_histograms`` maps a label to the predicted-class counts of the recognised samples (int ``[10]``
    for ``mnist-lenet``) and ``class_unrecognised`` to the number of unrecognised ones (a label missing there:
    no recognition rule); each gets a plot and the class-balance text (``gan_eval.reporting.class_balance``).
    ``gate_config`` adds the verdicts of those gates (``run_gates``: the evaluation it selects is named;
    when it refuses, the report says why instead). A human study's rows (``gan-eval human score``) add a
    section ranking its arms by people and by each automatic metric of ``results`` (all of it, not only
    ``run``), with their agreement. ``results_path``: where the table was read from; the arrays behind its
    rows (curves, distances, images; the ``details`` column) are found next to it for the Beyond-FID
    sections. Returns ``out``.
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
    gate_cfg = load_gate_config(gate_config) if gate_config is not None else None  # a bad file fails first
    assets = out.parent / f"{out.stem}_files"
    assets.mkdir(parents=True, exist_ok=True)
    rel = f"{assets.name}/"
    title = title or (f"gan-eval report: {run}" if run else "gan-eval report")
    lines: list[str] = [f"# {title}", ""]

    groups = comparable_groups(df)
    names = group_names(df)
    if len(groups) > 1:
        lines += [
            "> [!NOTE]",
            f"> These results come from {len(groups)} evaluation setups that measure different things "
            f"({'; '.join(check_comparable(df)) or ' vs '.join(names[g] for g, _ in groups)}). Each setup "
            "has its own table and plots; values are compared, and the best marked, only within one setup.",
            "",
        ]

    lines += ["## Summary", ""]
    for g, rows in groups:
        _, formatted = summary_table(rows)
        n_real = counts_text(rows, "n_real", metrics=HEADLINE)
        used = f"; real samples used: {n_real}" if n_real else ""
        lines += [f"### {names[g]}", "", g.describe() + used + ".", ""]
        if len(formatted.columns.difference(["epoch", "step"])):
            lines += [formatted.reset_index().to_markdown(index=False, disable_numparse=True), ""]
        else:
            lines += ["No headline metric in this setup; its values are in the sections below.", ""]
    lines += [
        "Headline metrics (FID, IS, KID, precision, recall, and the human score when rated): mean ± std (or "
        "[confidence interval]) of the latest evaluation of each checkpoint in each setup. ↓ lower is "
        "better, ↑ higher is better; **bold** marks the best value of a metric within its table (and means "
        "nothing else in this report). Every other value is in its section below.",
        "",
    ]

    plots = []
    for g, rows in groups:
        latest = latest_rows(rows)
        parts = latest.groupby(["metric", "n_real"], sort=False, dropna=False)  # n_real may be unknown
        for (metric, n_real), sub in sorted(parts, key=lambda t: metric_rank(str(t[0][0]))):
            if sub["epoch"].dropna().nunique() < 2 or not in_summary(str(metric)):
                continue
            name = names[g]
            if latest[latest["metric"] == metric]["n_real"].nunique(dropna=False) > 1:
                name += f", n_real {'unknown' if pd.isna(n_real) else n_real}"
            series = {str(r): s for r, s in sub.groupby("run_id", sort=True)}
            if len(series) == 1:
                series = {str(metric): next(iter(series.values()))}
            png = assets / f"{_slug(str(metric))}_vs_epoch_{_slug(name)}.png"
            plot_metric_vs_epoch(
                series, str(metric), png, higher_is_better=metric_direction(str(metric)), group=name
            )
            plots.append(_image_link(f"{metric} vs epoch ({name})", rel + png.name))
    if plots:
        lines += ["## Metrics over training", ""] + [p + "\n" for p in plots]

    lines += beyond_fid_sections(
        [(names[g], latest_rows(rows)) for g, rows in groups],
        Path(results_path) if results_path is not None else None,
        assets,
        rel,
        plots={"fits": plot_inverse_n_fits, "prd": plot_prd_curves, "histograms": plot_distance_histograms},
        save_grid=save_image_grid,
    )

    lines += agreement_sections(results, runs=set(df["run_id"]))

    latest = latest_rows(df)
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
            unrec = (class_unrecognised or {}).get(label)
            png = assets / f"classes_{_slug(label)}.png"
            plot_class_histogram(counts, png, title=f"predicted classes: {label}", unrecognised=unrec)
            images.append(_image_link(f"class histogram {label}", rel + png.name))
            notes += class_balance_markdown(counts, unrecognised=unrec)
        if images:
            sections += [f"### {label}", "", " ".join(images), ""] + notes
    if sections:
        lines += ["## Samples and class histograms", ""] + sections

    lines += ["## Fingerprint and environment", ""]
    env_cols = [*COMPARED_META, "fingerprint", "gan_eval_version", "torch_version", "device"]
    env = [(c, _values_text(df[c])) for c in env_cols]
    env = [(c, counts_text(df, c) if c in ("n_real", "n_fake") else v) for c, v in env]
    env.append(("evaluated at", f"{df['timestamp'].min()} … {df['timestamp'].max()}"))
    env.append(("rows", str(len(df))))
    lines += [
        pd.DataFrame(env, columns=["field", "value"]).to_markdown(index=False, disable_numparse=True),
        "",
    ]

    if gate_cfg is not None:
        lines += [f"## Quality gates ({Path(str(gate_config)).as_posix()})", ""]
        try:
            lines.append(gates_markdown(run_gates(gate_cfg, df)))
        except UserError as e:  # the report still shows everything else, and why nothing was gated
            lines += ["> [!CAUTION]", "> Not gated: " + str(e).replace("|", "\\|"), ""]

    text = "\n".join(lines).rstrip() + "\n"
    return atomic_write_bytes(out, text.encode("utf-8"), checksum=False)
