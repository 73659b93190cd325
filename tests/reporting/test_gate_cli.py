"""`gan-eval gate` through the CLI: it names what it gated, refuses mixed rows with exit code 2 and one line,
warns about an unconstrained gate file, and --checkpoint / --save-baseline / --json / --fake agree with it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.reporting import load_baseline
from gan_eval.results.store import append_results

EXPECT = '[evaluation]\nextractor = "mnist-lenet"\nprotocol = "native"\nn_fake = 1000\n'


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def table(tmp_path, results_df, make_evaluation):
    """The synthetic run (epochs 1-3, mnist-lenet, 1000 samples), then an Inception tf1 FID of 100 samples of
    epoch 4 appended last (the issue's case)."""
    inception = make_evaluation(
        4,
        fid=100.0,
        is_mean=1.0,
        prec=0.1,
        extractor="inception",
        protocol="tf1",
        n_fake=100,
        timestamp="2025-01-01T00:00:09+00:00",
    )
    return append_results(pd.concat([results_df, inception], ignore_index=True), tmp_path / "results.csv")


def gate_file(tmp_path, text: str):
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


def test_mixed_rows_are_refused_with_one_line(tmp_path, table):
    cfg = gate_file(tmp_path, EXPECT + "[absolute]\nfid = { max = 1000 }\n")
    r = invoke("gate", "--config", cfg, "--results", table)
    assert r.exit_code == 2 and r.stdout == ""
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gan-eval: error: results: no evaluation of runs/demo/")
    assert (
        "extractor is inception, expected mnist-lenet" in err[0] and "n_fake is 100, expected 1000" in err[0]
    )


def test_checkpoint_option_selects_and_outputs_name_it(tmp_path, table, monkeypatch):
    cfg = gate_file(tmp_path, EXPECT + "[absolute]\nfid = { max = 11 }\nis_mean = { min = 8 }\n")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "gate.xml"
    r = invoke(
        "gate", "--config", cfg, "--results", table, "--checkpoint", "ckpt_epoch_002.pt", "--junit", junit
    )
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert first.startswith("gated: run demo, checkpoint ckpt_epoch_002.pt (epoch 2): extractor mnist-lenet")
    assert "protocol native, n_fake 1000 vs mnist" in first and r.stderr == ""
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert props["checkpoint"] == "ckpt_epoch_002.pt" and props["n_fake"] == "1000"
    assert "`ckpt_epoch_002.pt`" in summary.read_text()
    # epoch 3 (the run's latest lenet evaluation) fails fid <= 11
    r = invoke("gate", "--config", cfg, "--results", table, "--checkpoint", "runs/demo/ckpt_epoch_003.pt")
    assert r.exit_code == 1 and "checkpoint ckpt_epoch_003.pt" in r.stdout
    assert "gates failed (run demo, checkpoint ckpt_epoch_003.pt" in r.stderr


def test_unconstrained_gate_file_warns(tmp_path, table):
    cfg = gate_file(tmp_path, "[absolute]\nfid = { max = 1000 }\n")
    r = invoke("gate", "--config", cfg, "--results", table, "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("gan-eval: warning: gate config ") and "declares no [evaluation]" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["gated"]["extractor"] == "inception" and doc["gated"]["n_fake"] == 100  # what it gated
    assert doc["passed"] is True and doc["warnings"] and doc["gates"][0]["status"] == "PASS"


def test_save_baseline_stores_the_gated_evaluation(tmp_path, table):
    cfg = gate_file(tmp_path, EXPECT + "[absolute]\nfid = { max = 1000 }\n")
    out = tmp_path / "baseline.json"
    r = invoke(
        "gate",
        "--config",
        cfg,
        "--results",
        table,
        "--run",
        "demo",
        "--checkpoint",
        "ckpt_epoch_002.pt",
        "--save-baseline",
        out,
    )
    assert r.exit_code == 0, r.output
    base = load_baseline(out)
    assert base.values["fid"]["value"] == 10.0 and base.meta["checkpoint"] == "ckpt_epoch_002.pt"
    assert base.meta["extractor"] == "mnist-lenet" and base.meta["n_fake"] == 1000


def test_gate_fake_evaluates_as_the_gate_file_declares(tmp_path, tmp_cache, npz_pair):
    real, fake = npz_pair(120, 80, 16, 80)
    cfg = gate_file(
        tmp_path,
        '[evaluation]\nextractor = "dummy"\nprotocol = "dummy-8x8"\nn_fake = 80\n'
        "[absolute]\nfid = { max = 1e9 }\n",
    )
    r = invoke("gate", "--config", cfg, "--fake", fake, "--real", real, "--metrics", "fid", "-q")
    assert r.exit_code == 0, r.output
    assert "extractor dummy, protocol dummy-8x8, n_fake 80" in r.stdout.splitlines()[0]
    assert "run fake, fake " in r.stdout.splitlines()[0]  # the default run_id: the file's name
    # an option typed on the command line wins, and a mismatch is refused
    r = invoke(
        "gate", "--config", cfg, "--fake", fake, "--real", real, "-m", "fid", "-e", "dummy", "-n", "40", "-q"
    )
    assert r.exit_code == 0, r.output  # an image set has as many samples as it has: n applies to generators
    bad = gate_file(tmp_path, "[evaluation]\nn_fake = 50\n[absolute]\nfid = { max = 1e9 }\n")
    r = invoke("gate", "--config", bad, "--fake", fake, "--real", real, "-m", "fid", "-e", "dummy", "-q")
    assert r.exit_code == 2 and "n_fake is 80, expected 50" in r.stderr
