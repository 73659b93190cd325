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

    env = dict(zip(tables[1]["field"], tables[1]["value"], strict=True))
    assert env["protocol"] == "native" and env["n_fake"] == "1000" and env["device"] == "cpu"
    assert env["torch_version"] and len(env["fingerprint"]) == 16

    gates = tables[2]  # gates on the latest evaluation (epoch 3): fid 12 > 11 fails, is_mean 8.8 passes
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
    assert {"fid_vs_epoch.png", "is_mean_vs_epoch.png", "precision_vs_epoch.png"} <= names
    assert {
        "samples_ckpt_epoch_001.pt.png",
        "classes_ckpt_epoch_001.pt.png",
        "classes_ckpt_epoch_003.pt.png",
    } <= names
    assert "Missing classes: 1, 4" in text and "All 10 classes present" in text
    assert not list(out.parent.rglob("*.tmp"))


def test_report_warns_about_incomparable_rows(tmp_path, results_df, make_evaluation):
    other = make_evaluation(4, fid=5.0, is_mean=9.5, prec=0.9, protocol="tf1")
    out = write_report(pd.concat([results_df, other], ignore_index=True), tmp_path / "r.md")
    text = out.read_text()
    assert "[!WARNING]" in text and "protocol differs: native vs tf1" in text


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
    import pandas as pd

    from gan_eval.reporting.markdown import summary_table

    inception = make_evaluation(3, fid=120.0, is_mean=2.0, prec=0.1, extractor="inception", run_id="demo")
    numbers, formatted = summary_table(pd.concat([results_df, inception], ignore_index=True))
    assert "fid [inception]" in numbers.columns and "fid [mnist-lenet]" in numbers.columns
    # best marking stays within one extractor's column: 10.0 (epoch 2) is best among the lenet values
    lenet_col = [c for c in formatted.columns if c.startswith("fid [mnist-lenet]")][0]
    assert [v for v in formatted[lenet_col] if v.startswith("**")] == ["**10 [9.5, 10.5]**"]
    assert numbers["fid [inception]"].dropna().tolist() == [120.0]
