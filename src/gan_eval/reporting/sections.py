"""The report's sections for the questions after FID: is the ranking the sample size talking (FID-inf,
IS-inf), what do precision and recall look like as a curve (PRD), how diverse is each set (Vendi), which
classes does the generator miss or blur (class distribution, per-class FID), is it copying its training set
(AuthPct, C_T, near-copies, the most-copied samples next to their nearest training images).

Values come from the results table; curves, distances and images from each evaluation's details file
(:mod:`gan_eval.results.details`), so the report draws exactly what the evaluation computed. Within a section
evaluations are shown per comparable setup (``results.groups``), never mixed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gan_eval.metrics.catalog import copy_key
from gan_eval.metrics.classwise import FID_CLASS_PREFIX
from gan_eval.results.details import load_details

Details = dict[str, dict[str, np.ndarray]]

#: Keys shown in their own section rather than in the summary tables and metric-vs-epoch plots.
SECTION_ONLY = re.compile(rf"^({FID_CLASS_PREFIX}\d+|.+_pixels|near_copies|class_coverage_frac)$")


def in_summary(metric: str) -> bool:
    """Whether a value key has a column in the summary tables (per-class and pixel-space values, and
    counts beside their fractions, are shown in their sections)."""
    return SECTION_ONLY.match(metric) is None


def _fmt(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _values(latest: pd.DataFrame, label: str) -> dict[str, float]:
    rows = latest[latest["label"] == label]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows["value"], strict=True)}


def load_all_details(latest: pd.DataFrame, results_path: Path | None) -> dict[str, Details]:
    """label -> its latest evaluation's details (empty when the table's folder lacks them)."""
    out: dict[str, Details] = {}
    if results_path is None:
        return out
    for label, rows in latest.groupby("label", sort=False):
        rels = [r for r in rows["details"].tolist() if r]
        if rels:
            out[str(label)] = load_details(results_path, rels[-1])
    return out


def beyond_fid_sections(
    groups: list[tuple[str, pd.DataFrame]],
    results_path: Path | None,
    assets: Path,
    rel: str,
    *,
    plots: dict[str, Callable[..., Path]],
    save_grid: Callable[..., Path],
) -> list[str]:
    """Markdown lines of the sections (each only when some evaluation has its metric), for ``groups``:
    (group name, its latest rows with a ``label`` column). ``plots``: the plotting functions by name
    (``fits``, ``prd``, ``histograms``); ``save_grid``: writes uint8 images [N, C, H, W] as a PNG grid."""
    lines: list[str] = []
    for name, latest in groups:
        details = load_all_details(latest, results_path)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
        metrics = set(latest["metric"])
        part: list[str] = []
        part += _fit_section(latest, details, metrics, assets / f"inf_{slug}", rel, name, plots["fits"])
        part += _prd_section(latest, details, metrics, assets / f"prd_{slug}.png", rel, name, plots["prd"])
        part += _vendi_section(latest, metrics)
        part += _class_section(latest, details, metrics)
        part += _copy_section(latest, details, assets, rel, slug, plots["histograms"], save_grid)
        if part:
            lines += [f"## Beyond FID: {name}", ""] + part
    return lines


def _labels(latest: pd.DataFrame, metric: str) -> list[str]:
    rows = latest[latest["metric"] == metric].sort_values(["epoch", "label"], na_position="last")
    return list(dict.fromkeys(rows["label"].astype(str)))


def _fit_section(latest, details, metrics, stem, rel, group, plot) -> list[str]:
    out: list[str] = []
    for metric in ("fid_inf", "is_inf"):
        if metric not in metrics:
            continue
        labels = _labels(latest, metric)
        fits = {
            lab: details[lab][f"{metric}/fit"] for lab in labels if f"{metric}/fit" in details.get(lab, {})
        }
        plain = "fid" if metric == "fid_inf" else "is_mean"
        table = [f"| evaluation | {plain} (N) | {metric} | slope | fit RMSE |", "|---|---|---|---|---|"]
        for lab in labels:
            v = _values(latest, lab)
            line = fits.get(lab, {}).get("line", np.full(3, np.nan))
            table.append(
                f"| {lab} | {_fmt(v.get(plain, math.nan))} | {_fmt(v[metric])} | {_fmt(float(line[1]))} | "
                f"{_fmt(float(line[2]))} |"
            )
        out += [f"### {metric}: the value at infinitely many samples", ""]
        out += [
            f"{plain} computed on subsets of the generated set, fitted against 1/N; the intercept is "
            f"{metric} (Chong & Forsyth, CVPR 2020). Rankings by {metric} do not depend on the sample count.",
            "",
            *table,
            "",
        ]
        if fits:
            png = plot(fits, f"{plain} at N samples", Path(f"{stem}_{metric}.png"), group=group)
            out += [f"![{metric} fit]({rel}{png.name})", ""]
    return out


def _prd_section(latest, details, metrics, png, rel, group, plot) -> list[str]:
    if "prd_f8" not in metrics:
        return []
    labels = _labels(latest, "prd_f8")
    table = ["| evaluation | F_8 (recall) ↑ | F_1/8 (precision) ↑ |", "|---|---|---|"]
    for lab in labels:
        v = _values(latest, lab)
        table.append(f"| {lab} | {_fmt(v.get('prd_f8', math.nan))} | {_fmt(v.get('prd_f1_8', math.nan))} |")
    curves = {lab: details[lab]["prd/curve"] for lab in labels if "prd/curve" in details.get(lab, {})}
    out = ["### Precision-recall curves (PRD)", ""]
    out += [
        "20 k-means clusters on real and generated features together, 10 runs averaged (Sajjadi et al., "
        "NeurIPS 2018); F_8 summarises recall (how much of the real distribution is covered), F_1/8 "
        "precision.",
        "",
        *table,
        "",
    ]
    if curves:
        plot(curves, png, group=group)
        out += [f"![PRD curves]({rel}{png.name})", ""]
    return out


def _vendi_section(latest, metrics) -> list[str]:
    if "vendi" not in metrics:
        return []
    table = ["| evaluation | Vendi (generated) ↑ | Vendi (real) | generated / real |", "|---|---|---|---|"]
    for lab in _labels(latest, "vendi"):
        v = _values(latest, lab)
        g, r = v.get("vendi", math.nan), v.get("vendi_real", math.nan)
        table.append(f"| {lab} | {_fmt(g)} | {_fmt(r)} | {_fmt(g / r if r else math.nan)} |")
    return [
        "### Diversity (Vendi score)",
        "",
        "The effective number of distinct samples of each set (Friedman & Dieng, TMLR 2023; cosine kernel "
        "on the features); a generator well below the real set's value produces too few distinct images.",
        "",
        *table,
        "",
    ]


def _class_section(latest, details, metrics) -> list[str]:
    out: list[str] = []
    if "class_kl" in metrics:
        table = [
            "| evaluation | KL(real ‖ generated) ↓ | total variation ↓ | classes covered ↑ |",
            "|---|---|---|---|",
        ]
        for lab in _labels(latest, "class_kl"):
            v = _values(latest, lab)
            table.append(
                f"| {lab} | {_fmt(v.get('class_kl', math.nan))} | {_fmt(v.get('class_tv', math.nan))} | "
                f"{_fmt(v.get('class_coverage', math.nan))} |"
            )
        out += ["### Class distribution", ""]
        out += [
            "The classifier's labels of the generated samples against the real class frequencies (a class is "
            "covered when its share is at least a quarter of its real share).",
            "",
            *table,
            "",
        ]
    per_class = sorted(
        {m for m in metrics if m.startswith(FID_CLASS_PREFIX)}, key=lambda m: int(m[len(FID_CLASS_PREFIX) :])
    )
    if per_class:
        labels = _labels(latest, per_class[0])
        head = "| class | " + " | ".join(labels) + " |"
        table = [head, "|---|" + "---|" * len(labels)]
        for m in per_class:
            cells = []
            for lab in labels:
                rows = latest[(latest["label"] == lab) & (latest["metric"] == m)]
                if rows.empty:
                    cells.append("")
                    continue
                r = rows.iloc[-1]
                cells.append(f"{_fmt(float(r['value']))} (n_real {int(r['n_real'])})")
            table.append(f"| {m[len(FID_CLASS_PREFIX) :]} | " + " | ".join(cells) + " |")
        out += ["### Per-class FID", ""]
        out += [
            "FID of the generated samples the classifier puts in class c against the real images of class "
            "c (among the real set's kept features; n_real per cell). Classes with fewer samples than the "
            "feature dimension are biased upward.",
            "",
            *table,
            "",
        ]
    return out


def _copy_section(latest, details, assets, rel, slug, plot_hist, save_grid) -> list[str]:
    labels = [
        lab
        for lab in dict.fromkeys(latest["label"].astype(str))
        if any(k.startswith("copy/") for k in details.get(lab, {}))
    ]
    if not labels:
        return []
    out = ["### Training-set copying", ""]
    out += [
        "Each generated sample against its nearest training images, with held-out real images as the "
        "baseline of new but realistic: AuthPct (Alaa et al., ICML 2022; % of samples farther from their "
        "nearest training image than that image is from its own neighbour, higher is better), C_T (Meehan "
        "et al., AISTATS 2020; about 0 is fine, below -3 flags copying), near-copies (nearest distance "
        "under a third of the mean to the next 49).",
        "",
        "| evaluation | space | AuthPct ↑ | C_T | near-copies ↓ |",
        "|---|---|---|---|---|",
    ]
    for lab in labels:
        v = _values(latest, lab)
        for space in ("pixels", "features"):
            if f"copy/copy_{space}" not in details[lab]:
                continue
            cells = [_fmt(v.get(copy_key(k, space), math.nan)) for k in ("auth_pct", "copying_ct")]
            frac = v.get(copy_key("near_copy_frac", space), math.nan)
            count = v.get(copy_key("near_copies", space), math.nan)
            out.append(
                f"| {lab} | {space} | {cells[0]} | {cells[1]} | {_fmt(count)} ({_fmt(100 * frac)} %) |"
            )
    out.append("")
    for lab in labels:
        for space in ("pixels", "features"):
            d = details[lab].get(f"copy/copy_{space}")
            if d is None:
                continue
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{lab}_{space}").strip("_")
            images = np.concatenate([d["gen_images"], d["train_images"]])
            grid = save_grid(images, assets / f"copies_{slug}_{name}.png", nrow=len(d["gen_images"]))
            hist = plot_hist(
                d["gen_nn_dist"],
                d["test_nn_dist"],
                assets / f"copydist_{slug}_{name}.png",
                title=f"{lab}: nearest training row ({space})",
            )
            ratios = ", ".join(_fmt(float(x)) for x in d["copy_ratio"][:16])
            out += [
                f"#### {lab} ({space})",
                "",
                f"The 16 most-copied samples (top row) above their nearest training images (bottom row), "
                f"by ratio d1 / mean(d2..d50): {ratios}.",
                "",
                f"![most-copied samples]({rel}{grid.name})",
                "",
                f"![distance histograms]({rel}{hist.name})",
                "",
            ]
    return out
