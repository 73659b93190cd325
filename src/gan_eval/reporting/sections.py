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
from typing import Any

import numpy as np
import pandas as pd

from gan_eval.metrics.catalog import CLASS_VALUES, COPY_KEYS, copy_key
from gan_eval.metrics.classwise import CLASS_UNRECOGNISED, FID_CLASS_PREFIX
from gan_eval.reporting.summary import HEADLINE
from gan_eval.results.details import load_details

Details = dict[str, dict[str, np.ndarray]]

#: The value keys these sections show (every fid_class_<c> too); any other value that is not a headline
#: metric goes to "Other values", so the summary can leave it out without losing it.
SECTION_KEYS = frozenset(
    {"fid_inf", "is_inf", "prd_f8", "prd_f1_8", "vendi", "vendi_real", "density", "coverage"}
    | {CLASS_UNRECOGNISED, *CLASS_VALUES}
    | set(COPY_KEYS)
)


def in_a_section(metric: str) -> bool:
    return metric in SECTION_KEYS or re.fullmatch(rf"{FID_CLASS_PREFIX}\d+", metric) is not None


def _fmt(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _values(latest: pd.DataFrame, label: str, column: str = "value") -> dict[str, float]:
    rows = latest[latest["label"] == label]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows[column], strict=True)}


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
        part += _dc_section(latest, metrics)
        part += _class_section(latest, metrics)
        part += _copy_section(latest, details, assets, rel, slug, plots["histograms"], save_grid)
        part += _other_section(latest, metrics)
        if part:
            lines += [f"## Beyond FID: {name}", ""] + part
    return lines


def _labels(latest: pd.DataFrame, *metrics: str) -> list[str]:
    """The evaluations with a value of any of ``metrics``, by epoch."""
    rows = latest[latest["metric"].isin(metrics)].sort_values(["epoch", "label"], na_position="last")
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
            shown = _some(fits)
            png = plot(shown, f"{plain} at N samples", Path(f"{stem}_{metric}.png"), group=group)
            out += [*_which(shown, fits), f"![{metric} fit]({rel}{png.name})", ""]
    return out


PLOTTED = 6
"""At most this many evaluations in one plot of curves (the earliest, the latest, evenly spaced between)."""


def _some(by_label: dict[str, Any]) -> dict[str, Any]:
    """At most ``PLOTTED`` entries of ``by_label`` (in evaluation order: first, last, evenly spaced), keyed by
    short names (the file name, unless two evaluations share it)."""
    labels = list(by_label)
    if len(labels) > PLOTTED:
        picks = np.unique(np.linspace(0, len(labels) - 1, PLOTTED).round().astype(int))
        labels = [labels[i] for i in picks]
    names = {lab: Path(lab).name or lab for lab in labels}
    if len(set(names.values())) < len(names):
        names = {lab: lab for lab in labels}
    return {names[lab]: by_label[lab] for lab in labels}


def _which(shown: dict[str, Any], every: dict[str, Any]) -> list[str]:
    """A line naming the evaluations a plot shows, when it leaves some out."""
    if len(shown) == len(every):
        return []
    return [f"The plot shows {len(shown)} of the {len(every)} evaluations: {', '.join(shown)}.", ""]


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
        shown = _some(curves)
        plot(shown, png, group=group)
        out += [*_which(shown, curves), f"![PRD curves]({rel}{png.name})", ""]
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


def _dc_section(latest, metrics) -> list[str]:
    if not metrics & {"density", "coverage"}:
        return []
    table = ["| evaluation | density ↑ | coverage ↑ |", "|---|---|---|"]
    for lab in _labels(latest, "density", "coverage"):
        v = _values(latest, lab)
        table.append(f"| {lab} | {_fmt(v.get('density', math.nan))} | {_fmt(v.get('coverage', math.nan))} |")
    return [
        "### Density and coverage",
        "",
        "k-nearest-neighbour balls of the real features (k = 5; Naeem et al., ICML 2020): density counts the "
        "real balls a generated sample falls in (about 1 for samples like the real ones), coverage is the "
        "share of real balls that hold a generated sample.",
        "",
        *table,
        "",
    ]


def _class_section(latest, metrics) -> list[str]:
    out: list[str] = []
    keys = (CLASS_UNRECOGNISED, "class_kl", "class_tv", "class_coverage")
    if metrics & set(keys):
        table = [
            "| evaluation | not recognised ↓ | recognised samples | KL(real ‖ generated) ↓ "
            "| total variation ↓ | classes covered ↑ |",
            "|---|---|---|---|---|---|",
        ]
        for lab in _labels(latest, *keys):
            v, n_fake = _values(latest, lab), _values(latest, lab, "n_fake")
            unrec = v.get(CLASS_UNRECOGNISED)
            n_rec = n_fake.get("class_kl")
            if n_rec is None and unrec is not None:  # nothing recognised: no class values
                n_rec = round(n_fake[CLASS_UNRECOGNISED] * (1 - unrec))
            cells = [_fmt(v.get(k, math.nan)) for k in ("class_kl", "class_tv", "class_coverage")]
            share = "" if unrec is None else f"{100 * unrec:.1f} %"
            table.append(
                f"| {lab} | {share} | {'' if n_rec is None else int(n_rec)} | " + " | ".join(cells) + " |"
            )
        out += ["### Class distribution", ""]
        out += [
            "A generated sample counts toward a class only when the classifier recognises it as one of its "
            'classes at all (its recognition rule keeps 99 % of real test images; README, "Class metrics"); '
            '"not recognised" is the share it does not. KL, total variation and coverage compare the '
            "recognised samples' class frequencies with the real ones (a class is covered when its share is "
            "at least a quarter of its real share); empty when no sample is recognised.",
            "",
            *table,
            "",
        ]
    out += _per_class_section(latest, metrics)
    return out


def _per_class_section(latest, metrics) -> list[str]:
    per_class = {
        int(m[len(FID_CLASS_PREFIX) :]) for m in metrics if re.fullmatch(rf"{FID_CLASS_PREFIX}\d+", m)
    }
    if not per_class:
        return []
    classes = range(max(per_class) + 1)
    keys = [f"{FID_CLASS_PREFIX}{c}" for c in classes]
    labels = _labels(latest, *keys, CLASS_UNRECOGNISED)
    table = ["| evaluation | " + " | ".join(f"{c} ↓" for c in classes) + " |", "|---|" + "---|" * len(keys)]
    n_real: dict[int, set[int]] = {}
    missing = False
    for lab in labels:
        v, n_fake, nr = _values(latest, lab), _values(latest, lab, "n_fake"), _values(latest, lab, "n_real")
        cells = []
        for c, k in zip(classes, keys, strict=True):
            if k in v:
                cells.append(f"{_fmt(v[k])} ({int(n_fake[k])})")
                n_real.setdefault(c, set()).add(int(nr[k]))
            else:
                cells.append("–")
                missing = True
        table.append(f"| {lab} | " + " | ".join(cells) + " |")
    real = ", ".join(f"{c}: {'/'.join(str(n) for n in sorted(ns))}" for c, ns in sorted(n_real.items()))
    text = (
        "FID of the recognised generated samples the classifier puts in class c against the real images of "
        "class c; in brackets how many generated samples that is (fewer than the feature dimension bias the "
        f"FID upward). Real images per class: {real}."
    )
    if missing:
        text += (
            " –: no value, fewer than 2 recognised generated samples in that class (a covariance needs 2)."
        )
    return ["### Per-class FID", "", text, "", *table, ""]


def _other_section(latest, metrics) -> list[str]:
    others = sorted(m for m in metrics if m not in HEADLINE and not in_a_section(m))
    if not others:
        return []
    table = ["| evaluation | " + " | ".join(others) + " |", "|---|" + "---|" * len(others)]
    for lab in _labels(latest, *others):
        v = _values(latest, lab)
        table.append(f"| {lab} | " + " | ".join(_fmt(v.get(m, math.nan)) for m in others) + " |")
    return ["### Other values", "", *table, ""]


def _copy_section(latest, details, assets, rel, slug, plot_hist, save_grid) -> list[str]:
    spaces = {s: copy_key("auth_pct", s) for s in ("pixels", "features")}
    labels = _labels(latest, *spaces.values())
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
        for space, key in spaces.items():
            if key not in v:
                continue
            cells = [_fmt(v.get(copy_key(k, space), math.nan)) for k in ("auth_pct", "copying_ct")]
            frac = v.get(copy_key("near_copy_frac", space), math.nan)
            count = v.get(copy_key("near_copies", space), math.nan)
            out.append(
                f"| {lab} | {space} | {cells[0]} | {cells[1]} | {_fmt(count)} ({_fmt(100 * frac)} %) |"
            )
    out.append("")
    # the images of the latest evaluation and of the one that copies most (lowest AuthPct), not of every one
    shown = [lab for lab in labels if any(k.startswith("copy/") for k in details.get(lab, {}))]
    if len(shown) > 2:
        worst = min(shown, key=lambda lab: _values(latest, lab).get(spaces["features"], math.inf))
        shown = list(dict.fromkeys([worst, shown[-1]]))
        out += [f"Images of {' and '.join(shown)} (the most copying and the latest evaluation).", ""]
    for lab in shown:
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
