"""PNG plots for the Markdown report: metric vs epoch, and class histograms (mode collapse).

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global backend switch), so
they work headless and from threads; files are written atomically.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gan_eval.atomic import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    # imported here: `gan-eval gate` and the results table must not pay for importing matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110), checksum=False)


def _interval(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(low, high, kind) per row: the confidence interval where ``ci_low``/``ci_high`` are set, else value
    +- std; NaN where neither is known. ``kind`` names what the bars show ("CI", "± std", both, or None)."""
    y = frame["value"].to_numpy(dtype=float)
    lo, hi = frame["ci_low"].to_numpy(dtype=float), frame["ci_high"].to_numpy(dtype=float)
    std = frame["std"].to_numpy(dtype=float) if "std" in frame else np.full_like(y, np.nan)
    has_ci = ~(np.isnan(lo) | np.isnan(hi))
    use_std = ~has_ci & ~np.isnan(std)
    lo = np.where(has_ci, lo, np.where(use_std, y - std, np.nan))
    hi = np.where(has_ci, hi, np.where(use_std, y + std, np.nan))
    kinds = [k for k, used in (("confidence interval", has_ci.any()), ("± 1 std", use_std.any())) if used]
    return lo, hi, " or ".join(kinds) or None


def plot_metric_vs_epoch(
    series: Mapping[str, pd.DataFrame],
    metric: str,
    path: Path,
    *,
    higher_is_better: bool | None = None,
    group: str | None = None,
) -> Path:
    """Line plot of ``metric`` against training epoch, one line per entry of ``series`` (label -> frame with
    columns ``epoch``, ``value``, ``ci_low``, ``ci_high`` and optionally ``std``), for the rows of one
    comparable group named ``group`` (shown in the title and on the y axis).

    Error bars show each point's confidence interval (``ci_low`` .. ``ci_high``, drawn as given: a bootstrap
    interval need not contain the value), else value +- std; points with neither have no bar. The best
    point overall is starred when the direction is known. Writes a PNG to ``path`` and returns it."""
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    best: tuple[float, float] | None = None
    bar_kinds: set[str] = set()
    for label, frame in series.items():
        f = frame.dropna(subset=["epoch", "value"]).sort_values("epoch")
        x = f["epoch"].to_numpy(dtype=float)
        y = f["value"].to_numpy(dtype=float)
        (line,) = ax.plot(x, y, marker="o", label=label)
        lo, hi, kind = _interval(f)
        ok = ~(np.isnan(lo) | np.isnan(hi))
        if ok.any():
            ax.vlines(x[ok], lo[ok], hi[ok], color=line.get_color(), linewidth=1.5)
            ax.plot(x[ok], lo[ok], "_", x[ok], hi[ok], "_", color=line.get_color(), markersize=8)
            bar_kinds.update(kind.split(" or ") if kind else [])
        if higher_is_better is not None and len(y):
            i = int(np.argmax(y) if higher_is_better else np.argmin(y))
            if best is None or (y[i] > best[1] if higher_is_better else y[i] < best[1]):
                best = (x[i], y[i])
    if best is not None:
        ax.plot(
            [best[0]],
            [best[1]],
            marker="*",
            markersize=16,
            color="gold",
            markeredgecolor="black",
            linestyle="none",
            label="best",
            zorder=5,
        )
    direction = {True: " (higher is better)", False: " (lower is better)", None: ""}[higher_is_better]
    title = _title(f"{metric} vs epoch{direction}", group)
    if bar_kinds:
        title += f"\nbars: {' or '.join(sorted(bar_kinds))}"
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("epoch")
    ylabel = "\n".join(textwrap.wrap(f"{metric} ({group})", 40)) if group else metric
    ax.set_ylabel(ylabel, fontsize="small" if group else "medium")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_class_histogram(
    counts: np.ndarray, path: Path, *, title: str, unrecognised: int | None = None
) -> Path:
    """Bar plot of the predicted classes of generated samples: ``counts`` int/float ``[K]`` (non-negative,
    e.g. K = 10 digits from ``mnist-lenet``) of the samples the classifier recognises, and a grey
    "unrecognised" bar for the ``unrecognised`` ones (None: no recognition rule, no bar). Bars are fractions
    of all samples. Classes never predicted are labelled "missing" in red; a dashed line marks the uniform
    share of the recognised samples, dotted lines the coverage and imbalance thresholds of
    ``gan_eval.reporting.class_balance`` (a quarter of and twice that share); bars outside them are red (not
    covered) or orange (over-produced) - unless most samples are unrecognised, when there is no verdict and
    the title says so. Writes a PNG to ``path`` and returns it."""
    from gan_eval.reporting.class_balance import COVERAGE_FRACTION, IMBALANCE_RATIO, MOSTLY_UNRECOGNISED

    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any() or not np.isfinite(counts).all():
        raise ValueError(
            f"class counts must be a non-empty 1-D array of non-negative numbers, got {counts!r}"
        )
    unrec = float(unrecognised or 0)
    total = counts.sum() + unrec
    freq = counts / total if total > 0 else counts
    recognised = counts.sum() / total if total > 0 else 1.0
    verdict = unrecognised is None or unrec / max(total, 1.0) < MOSTLY_UNRECOGNISED
    k = counts.size
    fig = _figure(6.8, 3.4)
    ax = fig.add_subplot()
    uniform = recognised / k
    low, high = COVERAGE_FRACTION * uniform, IMBALANCE_RATIO * uniform
    if verdict:
        colors = ["tab:red" if f < low else "tab:orange" if f > high else "tab:blue" for f in freq]
    else:
        colors = ["tab:blue"] * k
    ax.bar(np.arange(k), freq, color=colors)
    ticks, where = [str(i) for i in range(k)], [float(i) for i in range(k)]
    tops = [float(freq.max()) if k else 0.0]
    if unrecognised is not None:  # set apart from the classes: it is not one
        ax.bar([k + 0.6], [unrec / total if total else 0.0], color="tab:gray")
        ax.axvline(k - 0.2, color="black", linewidth=0.8)
        ticks.append("not\nrecognised")
        where.append(k + 0.6)
        tops.append(unrec / total if total else 0.0)
    ref = "uniform" if unrecognised is None else "uniform share of recognised"
    ends = (-0.5, k - 0.5)  # the lines run over the classes only
    ax.hlines(uniform, *ends, color="gray", linestyle="--", linewidth=1, label=ref)
    if verdict:
        ax.hlines(
            low,
            *ends,
            color="tab:red",
            linestyle=":",
            linewidth=1,
            label=f"coverage ({COVERAGE_FRACTION:g}x)",
        )
        ax.hlines(
            high,
            *ends,
            color="tab:orange",
            linestyle=":",
            linewidth=1,
            label=f"imbalance ({IMBALANCE_RATIO:g}x)",
        )
    top = max(*tops, high) * 1.15 or 1.0
    for i in np.flatnonzero(counts == 0):
        ax.text(
            float(i),
            top * 0.02,
            "missing",
            rotation=90,
            ha="center",
            va="bottom",
            color="tab:red",
            fontsize=9,
        )
    ax.set_ylim(0, top)
    ax.set_xticks(where, ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("fraction of samples")
    title = _title(title, None, 70)
    if not verdict:
        title += f"\nmost samples unrecognised ({100 * unrec / total:.0f} %): no collapse verdict"
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _title(text: str, group: str | None, width: int = 58) -> str:
    """A plot title that fits its figure: ``text`` and the group's name on lines of their own, wrapped."""
    lines = textwrap.wrap(text, width)
    if group:
        lines += textwrap.wrap(group, width + 10)
    return "\n".join(lines)


def _inverse_n_ticks(ax: Any, n_min: float) -> None:
    """x ticks of a 1/N axis labelled with N (``inf`` at 0, then round sample counts down to ``n_min``):
    a handful that never overlap, instead of 1/N in scientific steps."""
    nice = [1_000_000, 100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10]
    inside = [n for n in nice if n >= n_min * 0.999]
    picked = inside[-3:] if len(inside) > 3 else inside  # the three largest 1/N: spread over the axis
    ticks = [0.0] + [1.0 / n for n in picked]
    labels = ["∞"] + [f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n) for n in picked]
    ax.set_xticks(ticks, labels)


def plot_inverse_n_fits(
    fits: Mapping[str, Mapping[str, np.ndarray]], metric: str, path: Path, *, group: str | None = None
) -> Path:
    """The 1/N extrapolation (Chong & Forsyth 2020) of ``metric``, one panel per evaluation (each its own y
    range: evaluations far apart would flatten each other's lines): label -> {"n": subset sizes int [P],
    "values": the metric on each float [P], "line": [intercept, slope, rmse]}; points at x = 1/N (ticks
    labelled with N) and the fitted line down to x = 0, where the intercept (``metric`` at N = infinity) is
    starred. At most 6 evaluations (the caller picks them)."""
    k = len(fits)
    cols = min(k, 3)
    rows = -(-k // cols)
    fig = _figure(3.2 * cols + 0.6, 2.5 * rows + 0.9)
    for i, (label, fit) in enumerate(fits.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        n = np.asarray(fit["n"], dtype=float)
        values = np.asarray(fit["values"], dtype=float)
        intercept, slope = (float(v) for v in np.asarray(fit["line"])[:2])
        ax.plot(1.0 / n, values, marker="o", markersize=4, linestyle="none", color="tab:blue")
        x = np.linspace(0.0, float(1.0 / n.min()), 50)
        ax.plot(x, intercept + slope * x, color="tab:blue", linewidth=1)
        ax.plot([0.0], [intercept], marker="*", markersize=12, color="tab:orange", linestyle="none")
        _inverse_n_ticks(ax, float(n.min()))
        ax.set_title(_title(f"{label}: {intercept:.4g} at ∞", None, 34), fontsize="small")
        ax.tick_params(labelsize="small")
        ax.grid(True, alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel(metric, fontsize="small")
        if i >= k - cols:
            ax.set_xlabel("N generated samples (axis: 1/N)", fontsize="small")
    fig.suptitle(_title(f"{metric} against 1/N, extrapolated to N = ∞ (star)", group, 70), fontsize="medium")
    return _save(fig, path)


def plot_prd_curves(
    curves: Mapping[str, Mapping[str, np.ndarray]], path: Path, *, group: str | None = None
) -> Path:
    """PRD curves (Sajjadi et al. 2018) of several evaluations on one plot: label -> {"precision",
    "recall"} float [A]; recall on x, precision on y, both in [0, 1]; colours in the order given (a
    sequential map: earlier evaluations lighter). At most 6 evaluations (the caller picks them)."""
    from matplotlib import colormaps

    fig = _figure(6.6, 4.4)
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    for i, (label, c) in enumerate(curves.items()):
        color = cmap(0.85 * (1 - i / max(len(curves) - 1, 1)))
        ax.plot(np.asarray(c["recall"]), np.asarray(c["precision"]), label=label, color=color)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    fig.suptitle(_title("precision-recall distributions (PRD)", group, 70), fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(fig, path)


def plot_distance_histograms(gen: np.ndarray, heldout: np.ndarray, path: Path, *, title: str) -> Path:
    """The two nearest-training-row distance histograms on one plot (density-normalised, shared bins):
    generated -> train and held-out real -> train. A generator that copies shifts the first to the left
    of the second."""
    gen, heldout = np.asarray(gen, dtype=float), np.asarray(heldout, dtype=float)
    fig = _figure(6.4, 3.4)
    ax = fig.add_subplot()
    both = np.concatenate([gen, heldout])
    bins = np.linspace(float(both.min()), float(both.max()) + 1e-12, 50).tolist()
    ax.hist(heldout, bins=bins, density=True, alpha=0.5, label=f"held-out real -> train (n={heldout.size})")
    ax.hist(gen, bins=bins, density=True, alpha=0.5, label=f"generated -> train (n={gen.size})")
    ax.set_xlabel("distance to the nearest training row")
    ax.set_ylabel("density")
    ax.set_title(_title(title, None, 70), fontsize="medium")
    ax.legend(fontsize="small")
    return _save(fig, path)
