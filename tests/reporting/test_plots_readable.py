"""The report's plots can be read: titles (long group names, long labels) and legends stay inside the figure,
and the x tick labels of the 1/N fits and of the class histogram do not overlap (issue 22: cut-off PRD and
FID-infinity titles, overlapping FID-infinity tick labels). Checked on the drawn figure, by the extents of its
text in display coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gan_eval.reporting import plots

GROUP = "mnist-lenet, lenet-28, n_fake 10000, real mnist:test, precision fp32, seed 3, fingerprint 0f35bf08"
LABELS = [f"/work/runs/a_long_run_name/ckpt_epoch_{e:03d}.pt" for e in (1, 4, 8, 12, 16, 20)]


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plotting functions save, drawn as saved."""
    figures = []
    save = plots._save

    def spy(fig, path):
        out = save(fig, path)
        fig.canvas.draw()
        figures.append(fig)
        return out

    monkeypatch.setattr(plots, "_save", spy)
    return figures


def _box(fig, artist):
    return artist.get_window_extent(fig.canvas.get_renderer())


def _inside(fig, artist) -> bool:
    b, f = _box(fig, artist), fig.bbox
    return b.x0 >= f.x0 - 1 and b.x1 <= f.x1 + 1 and b.y0 >= f.y0 - 1 and b.y1 <= f.y1 + 1


def _texts(fig):
    """Every text a reader sees: the figure's and the axes' titles, axis labels, legend entries, and the tick
    labels inside the axes' limits (matplotlib keeps a label for ticks beyond them, never drawn)."""
    found = [t for t in fig.texts if t.get_text()]
    for ax in fig.axes:
        found += [t for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
        legend = ax.get_legend()
        found += list(legend.get_texts()) if legend is not None else []
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        found += [t for t in ax.get_xticklabels() if t.get_text() and x0 <= t.get_position()[0] <= x1]
        found += [t for t in ax.get_yticklabels() if t.get_text() and y0 <= t.get_position()[1] <= y1]
    assert found
    return found


def _no_overlap(fig, ax) -> bool:
    x0, x1 = sorted(ax.get_xlim())
    ticks = [t for t in ax.get_xticklabels() if t.get_text() and x0 <= t.get_position()[0] <= x1]
    boxes = sorted((_box(fig, t) for t in ticks), key=lambda b: b.x0)
    return all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:], strict=False))


def test_fid_infinity_fits_fit_their_figure(tmp_path, drawn):
    n = np.array([5000, 6000, 7000, 8000, 9000, 10000])
    fits = {
        lab: {"n": n, "values": 50 + 2e4 / n + i, "line": np.array([50.0 + i, 2e4, 0.1])}
        for i, lab in enumerate(LABELS)
    }
    plots.plot_inverse_n_fits(fits, "fid at N samples", tmp_path / "f.png", group=GROUP)
    (fig,) = drawn
    assert all(_inside(fig, t) for t in _texts(fig)), [
        t.get_text() for t in _texts(fig) if not _inside(fig, t)
    ]
    for ax in fig.axes:
        assert _no_overlap(fig, ax), [t.get_text() for t in ax.get_xticklabels()]
        assert [t.get_text() for t in ax.get_xticklabels()][0] == "∞"


def test_prd_curves_fit_their_figure(tmp_path, drawn):
    recall = np.linspace(0, 1, 50)
    curves = {lab: {"recall": recall, "precision": 1 - recall**2} for lab in LABELS}
    plots.plot_prd_curves(curves, tmp_path / "p.png", group=GROUP)
    (fig,) = drawn
    assert all(_inside(fig, t) for t in _texts(fig)), [
        t.get_text() for t in _texts(fig) if not _inside(fig, t)
    ]


def test_metric_vs_epoch_and_class_histogram_fit_their_figures(tmp_path, drawn):
    frame = pd.DataFrame(
        {"epoch": [1, 2, 3], "value": [3.0, 2.0, 1.0], "ci_low": [2.5, 1.5, 0.5], "ci_high": [3.5, 2.5, 1.5]}
    )
    plots.plot_metric_vs_epoch({"fid": frame}, "fid", tmp_path / "m.png", higher_is_better=False, group=GROUP)
    counts = np.array([0, 1, 10, 21, 8, 0, 0, 0, 50, 19])
    plots.plot_class_histogram(
        counts, tmp_path / "c.png", title=f"predicted classes: {LABELS[0]}", unrecognised=91
    )
    for fig in drawn:
        texts = _texts(fig)
        assert all(_inside(fig, t) for t in texts), [t.get_text() for t in texts if not _inside(fig, t)]
    assert _no_overlap(drawn[1], drawn[1].axes[0])
    assert [t.get_text() for t in drawn[1].axes[0].get_xticklabels()][-1] == "not\nrecognised"
