"""The Markdown report: tables parse, images exist relative to the report and are PNGs, sections appear."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gan_eval.errors import UserError
from gan_eval.reporting.markdown import summary_table, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def md_tables(text: str) -> list[pd.DataFrame]:
    """Parse every pipe table of a Markdown document (header, separator, rows)."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in block]
            assert all(set(c) <= set(":- ") for c in cells[1]), f"no separator row in {block[:2]}"
            tables.append(pd.DataFrame(cells[2:], columns=cells[0]))
        block = []
    return tables


def image_links(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)


def sample_png(path: Path) -> Path:
    Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)).save(path)
    return path


@pytest.fixture
def gate_toml(tmp_path) -> Path:
    path = tmp_path / "gates.toml"
    path.write_text("[absolute]\nfid = { max = 11 }\nis_mean = { min = 8.5 }\n")
    return path


def test_report_tables_images_and_sections(tmp_path, results_df, gate_toml):
    grid = sample_png(tmp_path / "grid one.png")
    collapsed = np.array([100, 0, 90, 110, 0, 95, 100, 105, 98, 102])
    healthy = np.full(10, 100)
    out = write_report(
        results_df,
        tmp_path / "reports" / "demo.md",
        run="demo",
        gate_config=gate_toml,
        sample_grids={"ckpt_epoch_001.pt": grid, "ckpt_epoch_003.pt": grid},
        class_histograms={"ckpt_epoch_001.pt": collapsed, "ckpt_epoch_003.pt": healthy},
    )
    text = out.read_text()
    assert text.startswith("# gan-eval report: demo\n")
    tables = md_tables(text)

    summary = tables[0]
    assert list(summary.columns) == ["label", "epoch", "fid ↓", "is_mean ↑", "precision ↑"]
    assert list(summary["label"]) == [f"ckpt_epoch_00{e}.pt" for e in (1, 2, 3)]
    assert list(summary["epoch"]) == ["1", "2", "3"]
    assert list(summary["fid ↓"]) == ["40 [39.5, 40.5]", "**10 [9.5, 10.5]**", "12 [11.5, 12.5]"]
    assert list(summary["is_mean ↑"]) == ["6 ± 0.1", "**9 ± 0.1**", "8.8 ± 0.1"]
    assert [c.startswith("**") for c in summary["precision ↑"]] == [False, False, True]

    shares = [t for t in tables if list(t.columns[:2]) == ["class", "0"]]
    # the numbers beside the plot: each class's share, uncovered classes flagged with ⚠ (bold means best)
    expected = [f"{100 * c / 800:.1f} %" if c else "⚠ 0.0 %" for c in collapsed]
    assert len(shares) == 2 and list(shares[0].iloc[0]) == ["share of samples", *expected]
    env_table = next(t for t in tables if list(t.columns) == ["field", "value"])
    env = dict(zip(env_table["field"], env_table["value"], strict=True))
    assert env["protocol"] == "native" and env["n_fake"] == "1000 (fid, is_mean, precision)"
    assert env["device"] == "cpu"
    assert env["torch_version"] and len(env["fingerprint"]) == 16

    gates = tables[-1]  # gates on the latest evaluation (epoch 3): fid 12 > 11 fails, is_mean 8.8 passes
    assert list(gates["metric"]) == ["fid", "is_mean"]
    assert [s.split()[-1] for s in gates["status"]] == ["FAIL", "PASS"]
    assert "Gates FAILED" in text and "ckpt_epoch_003.pt" in text

    links = image_links(text)
    assert links, "no images in the report"
    for link in links:
        assert not Path(link).is_absolute() and " " not in link
        target = out.parent / link
        assert target.is_file(), link
        assert target.read_bytes()[:8] == PNG_MAGIC, link
    names = {Path(link).name for link in links}
    group = "mnist-lenet_native_n_fake_1000"  # one plot per (metric, comparable group), named after both
    assert {f"{m}_vs_epoch_{group}.png" for m in ("fid", "is_mean", "precision")} <= names
    assert {
        "samples_ckpt_epoch_001.pt.png",
        "classes_ckpt_epoch_001.pt.png",
        "classes_ckpt_epoch_003.pt.png",
    } <= names
    assert "Coverage 8 of 10 classes (not covered: 1 at 0 %, 4 at 0 %;" in text
    assert "(never predicted: 1, 4)" in text
    assert "Coverage 10 of 10 classes. Largest class 0: 10 % of samples" in text
    assert not list(out.parent.rglob("*.tmp"))


def test_report_groups_incomparable_rows(tmp_path, results_df, make_evaluation):
    """Rows of another setup get their own table: the note says what differs, and the best value is marked
    within each table only (the tf1 fid of 5 is lower than every native one but is not compared with them)."""
    other = make_evaluation(4, fid=5.0, is_mean=9.5, prec=0.9, protocol="tf1")
    other_2 = make_evaluation(5, fid=7.0, is_mean=9.9, prec=0.95, protocol="tf1")
    out = write_report(pd.concat([results_df, other, other_2], ignore_index=True), tmp_path / "r.md")
    text = out.read_text()
    assert "[!NOTE]" in text and "protocol differs: native vs tf1" in text
    assert "### mnist-lenet, native, n_fake 1000\n" in text and "### mnist-lenet, tf1, n_fake 1000\n" in text
    native, tf1 = md_tables(text)[:2]
    assert list(native["label"]) == [f"ckpt_epoch_00{e}.pt" for e in (1, 2, 3)]
    assert list(tf1["label"]) == ["ckpt_epoch_004.pt", "ckpt_epoch_005.pt"]
    assert [c for c in native["fid ↓"] if c.startswith("**")] == ["**10 [9.5, 10.5]**"]
    assert [c for c in tf1["fid ↓"] if c.startswith("**")] == ["**5 [4.5, 5.5]**"]
    assert [c for c in tf1["is_mean ↑"] if c.startswith("**")] == ["**9.9 ± 0.1**"]


def test_plots_are_one_per_metric_and_group(tmp_path, results_df, make_evaluation, monkeypatch):
    """Each plot holds one (metric, group): its name goes to the title/axis, its runs are the lines."""
    import gan_eval.reporting.markdown as md

    calls = []
    real_plot = md.plot_metric_vs_epoch

    def spy(series, metric, path, *, higher_is_better=None, group=None):
        calls.append((metric, group, sorted(series), {k: sorted(v["value"]) for k, v in series.items()}))
        return real_plot(series, metric, path, higher_is_better=higher_is_better, group=group)

    monkeypatch.setattr(md, "plot_metric_vs_epoch", spy)
    rows = [results_df]
    rows += [
        make_evaluation(e, fid=f + 3, is_mean=i, prec=p, run_id="b")
        for e, (f, i, p) in {1: (40, 6, 0.5), 2: (10, 9, 0.7)}.items()
    ]
    rows += [
        make_evaluation(e, fid=f * 10, is_mean=i, prec=p, extractor="inception", protocol="tf1", n_fake=100)
        for e, (f, i, p) in {1: (40, 6, 0.5), 2: (10, 9, 0.7)}.items()
    ]
    out = write_report(pd.concat(rows, ignore_index=True), tmp_path / "r.md")
    lenet, incep = "mnist-lenet, native, n_fake 1000", "inception, tf1, n_fake 100"
    assert {(m, g) for m, g, _, _ in calls} == {
        (m, g) for m in ("fid", "is_mean", "precision") for g in (lenet, incep)
    }
    fid_lenet = next(c for c in calls if c[:2] == ("fid", lenet))
    assert fid_lenet[2] == ["b", "demo"] and fid_lenet[3] == {"b": [13.0, 43.0], "demo": [10.0, 12.0, 40.0]}
    fid_incep = next(c for c in calls if c[:2] == ("fid", incep))
    assert fid_incep[2] == ["fid"] and fid_incep[3] == {"fid": [100.0, 400.0]}  # one run: one unnamed line
    links = image_links(out.read_text())
    assert len(links) == len(calls) == len(set(links))
    assert (
        "![fid vs epoch (inception, tf1, n_fake 100)](r_files/fid_vs_epoch_inception_tf1_n_fake_100.png)"
        in out.read_text()
    )


def test_error_bars_use_the_interval_else_the_std():
    from gan_eval.reporting.plots import _interval

    nan = float("nan")
    frame = pd.DataFrame(
        {
            "value": [10.0, 8.0, 5.0],
            "ci_low": [9.0, nan, nan],
            "ci_high": [12.0, nan, nan],
            "std": [0.1, 0.5, nan],
        }
    )
    lo, hi, kind = _interval(frame)
    np.testing.assert_array_equal(lo[:2], [9.0, 7.5])
    np.testing.assert_array_equal(hi[:2], [12.0, 8.5])
    assert np.isnan(lo[2]) and np.isnan(hi[2])
    assert kind == "confidence interval or ± 1 std"
    # a bootstrap interval that does not contain the value is drawn as given, not clipped
    lo, hi, _ = _interval(pd.DataFrame({"value": [10.0], "ci_low": [10.5], "ci_high": [11.0], "std": [nan]}))
    assert (lo[0], hi[0]) == (10.5, 11.0)


def test_report_gate_refusal_is_shown_not_raised(tmp_path, results_df, make_evaluation):
    gates = tmp_path / "g.toml"
    gates.write_text(
        '[evaluation]\nextractor = "mnist-lenet"\nn_fake = 1000\nprotocol = "native"\n'
        "[absolute]\nfid = { max = 50 }\n"
    )
    late = make_evaluation(
        4, fid=1.0, is_mean=9.0, prec=0.9, n_fake=50, timestamp="2025-01-01T00:00:09+00:00"
    )
    out = write_report(pd.concat([results_df, late], ignore_index=True), tmp_path / "r.md", gate_config=gates)
    text = out.read_text()
    assert "> [!CAUTION]\n> Not gated: results: no evaluation of runs/demo/ckpt_epoch_004.pt" in text
    assert "n_fake is 50, expected 1000" in text
    with pytest.raises(UserError, match="does not exist"):  # a bad gate file is still an input error
        write_report(results_df, tmp_path / "r.md", gate_config=tmp_path / "missing.toml")


def test_report_bad_inputs(tmp_path, results_df):
    with pytest.raises(UserError, match="no rows for run 'nope'; runs present: demo"):
        write_report(results_df, tmp_path / "r.md", run="nope")
    with pytest.raises(UserError, match="sample grid for ckpt_epoch_001.pt not found"):
        write_report(results_df, tmp_path / "r.md", sample_grids={"ckpt_epoch_001.pt": tmp_path / "x.png"})
    with pytest.raises(UserError, match="empty"):
        write_report(results_df.iloc[:0], tmp_path / "r.md")


def test_summary_table_single_evaluation_marks_nothing(results_df):
    numbers, formatted = summary_table(results_df[results_df["epoch"] == 2])
    assert numbers.loc["ckpt_epoch_002.pt", "fid"] == 10.0
    assert not any(str(v).startswith("**") for v in formatted.to_numpy().ravel())


def test_values_of_different_extractors_get_their_own_columns(results_df, make_evaluation):
    inception = make_evaluation(3, fid=120.0, is_mean=2.0, prec=0.1, extractor="inception", run_id="demo")
    numbers, formatted = summary_table(pd.concat([results_df, inception], ignore_index=True))
    lenet, incep = "fid [mnist-lenet, native, n_fake 1000]", "fid [inception, native, n_fake 1000]"
    assert lenet in numbers.columns and incep in numbers.columns
    # best marking stays within one group's column: 10.0 (epoch 2) is best among the lenet values
    assert [v for v in formatted["fid ↓ [mnist-lenet, native, n_fake 1000]"] if v.startswith("**")] == [
        "**10 [9.5, 10.5]**"
    ]
    assert numbers[incep].dropna().tolist() == [120.0]
    assert not any(v.startswith("**") for v in formatted["fid ↓ [inception, native, n_fake 1000]"])


def test_one_metric_with_several_real_sample_counts_is_split(results_df, make_evaluation):
    """Without a fingerprint hash to tell them apart (hand-made tables), n_real still separates columns."""
    df = pd.concat([results_df, make_evaluation(4, fid=1.0, is_mean=9.0, prec=0.9, n_real=500)])
    df["fingerprint"] = ""
    numbers, _ = summary_table(df)
    assert "fid (n_real 60000)" in numbers.columns and "fid (n_real 500)" in numbers.columns


def test_class_histograms_show_the_unrecognised_samples(tmp_path, results_df):
    """With a recognition rule: an "unrecognised" column beside the class shares, the verdict of the
    recognised samples only when most are recognised, flags marked with ⚠ (bold means best)."""
    mostly_noise = np.array([0, 1, 10, 21, 8, 0, 0, 0, 50, 19])
    out = write_report(
        results_df,
        tmp_path / "r.md",
        class_histograms={"ckpt_epoch_001.pt": mostly_noise, "ckpt_epoch_002.pt": np.full(10, 90)},
        class_unrecognised={"ckpt_epoch_001.pt": 1891, "ckpt_epoch_002.pt": 100},
    )
    text = out.read_text()
    shares = [t for t in md_tables(text) if list(t.columns[:2]) == ["class", "0"]]
    assert [list(t.columns)[-1] for t in shares] == ["unrecognised", "unrecognised"]
    noise, fine = shares
    assert list(noise["class"]) == ["share of recognised samples", "share of all samples"]
    assert noise.iloc[1, -1] == "94.5 %" and noise.iloc[0, 9] == "45.9 %"  # 50 of 109, no flag: no verdict
    assert fine.iloc[1, -1] == "10.0 %" and fine.iloc[0, 1] == "10.0 %"
    assert "⚠ Most samples are not recognisable as digits (95 %, 1891 of 2000)" in text
    assert "Unrecognised: 10 % of samples (not counted in the class shares). Coverage 10 of 10" in text
    assert "possible mode collapse" not in text
    section = text.split("## Samples and class histograms")[1]
    assert "**" not in section
    for png in ("classes_ckpt_epoch_001.pt.png", "classes_ckpt_epoch_002.pt.png"):
        assert (tmp_path / "r_files" / png).read_bytes()[:8] == PNG_MAGIC


def test_summary_holds_the_headline_metrics_and_the_sections_the_rest(tmp_path):
    """The summary has FID, IS, KID, precision and recall (hype_inf when rated); every other value is in a
    section, an unknown one under "Other values"; counts render in numeric order and name their metrics."""
    from gan_eval.results.table import make_rows

    meta = dict(real="mnist", n_fake=1000, extractor="mnist-lenet", protocol="lenet-28", precision="fp32")
    meta |= dict(seed=0, device="cpu", run_id="r")
    frames = []
    for epoch in (1, 2):
        ck = dict(fake=f"runs/r/ckpt_epoch_00{epoch}.pt", checkpoint=f"ckpt_epoch_00{epoch}.pt", epoch=epoch)
        common = {**meta, **ck, "timestamp": f"2025-01-01T00:00:0{epoch}+00:00", "fingerprint": "f" * 16}
        values = {
            60000: {"fid": 30.0 / epoch},
            10000: {"kid_mean": 0.1, "precision": 0.5, "recall": 0.4, "density": 0.9, "coverage": 0.8},
            0: {"is_mean": 2.0 * epoch, "vendi": 5.0, "new_metric": 1.5},
            920: {"fid_class_3": 40.0},
            1012: {"fid_class_7": 30.0},
        }
        for n_real, vals in values.items():
            frames.append(make_rows(vals, meta={**common, "n_real": n_real}))
        # per-class rows carry their class's generated samples; the group is still n_fake 1000
        frames.append(make_rows({"class_kl": 0.2}, meta={**common, "n_real": 60000, "n_fake": 900}))
    df = pd.concat(frames, ignore_index=True)
    text = write_report(df, tmp_path / "r.md").read_text()
    summary = md_tables(text)[0]
    assert list(summary.columns) == [
        "label",
        "epoch",
        "fid ↓",
        "is_mean ↑",
        "kid_mean ↓",
        "precision ↑",
        "recall ↑",
    ]
    assert text.count("\n### ") >= 5 and "### mnist-lenet, lenet-28, n_fake 1000\n" in text  # one group
    assert "real samples used: 10000 (kid_mean, precision, recall); 60000 (fid)." in text
    for heading in (
        "### Density and coverage",
        "### Class distribution",
        "### Per-class FID",
        "### Other values",
    ):
        assert heading in text
    other = next(t for t in md_tables(text) if "new_metric" in t.columns)
    assert list(other["new_metric"]) == ["1.5", "1.5"]
    per_class = next(t for t in md_tables(text) if "3 ↓" in t.columns)
    assert list(per_class["3 ↓"]) == ["40 (1000)", "40 (1000)"] and list(per_class["0 ↓"]) == ["–", "–"]
    assert "–: no value, fewer than 2 recognised generated samples in that class" in text  # one line why
    env = dict(next(t for t in md_tables(text) if list(t.columns) == ["field", "value"]).to_numpy())
    assert env["n_real"] == (
        "920 to 1012 (fid_class_<c>, per class); 10000 (kid_mean, precision, recall, density, coverage); "
        "60000 (fid, class_kl)"
    )
    assert (
        env["n_fake"]
        == "900 (class_kl); 1000 (fid, kid_mean, precision, recall, density, coverage, is_mean, "
        "vendi, new_metric, fid_class_<c>, per class)"
    )
    assert "**" not in text.split("## Beyond FID")[1]  # bold: the best summary values only


def test_a_setup_without_a_real_set_says_so(tmp_path, make_evaluation):
    df = make_evaluation(1, fid=1.0, is_mean=9.0, prec=0.5, real="")
    df = df[df["metric"] == "is_mean"].assign(n_real=0)
    text = write_report(df, tmp_path / "r.md").read_text()
    assert "vs ``" not in text and "(no real set: metrics of the generated samples alone)" in text
    assert "real samples used" not in text
