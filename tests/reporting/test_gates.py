"""Quality gates: config parsing and its errors, absolute/regression verdicts, JUnit XML, step summary."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from gan_eval.errors import GateFailed, UserError
from gan_eval.reporting import (
    Baseline,
    append_github_summary,
    evaluate_gates,
    gate_table,
    load_baseline,
    load_gate_config,
    raise_if_failed,
    run_gates,
    save_baseline,
    select_evaluation,
    write_junit,
)
from gan_eval.results.store import append_results

REPO = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.toml"
    path.write_text(text)
    return path


def verdicts(results) -> dict[tuple[str, str], bool]:
    return {(r.metric, r.rule): r.passed for r in results}


def test_shipped_mnist_config_loads():
    cfg = load_gate_config(REPO / "configs/gates/mnist.toml")
    assert {r.metric for r in cfg.absolute} == {"fid", "is_mean"}
    assert cfg.baseline and cfg.if_missing == "skip" and cfg.regression


def test_absolute_gates_follow_bounds(tmp_path):
    cfg = load_gate_config(config(tmp_path, "[absolute]\nfid = { max = 30 }\nis_mean = { min = 8.5 }\n"))
    ok = evaluate_gates({"fid": {"value": 30.0}, "is_mean": 9.0}, cfg)
    assert verdicts(ok) == {("fid", "max"): True, ("is_mean", "min"): True}  # bounds are inclusive
    bad = evaluate_gates({"fid": 30.5, "is_mean": 8.4}, cfg)
    assert verdicts(bad) == {("fid", "max"): False, ("is_mean", "min"): False}
    assert "fid = 30.5 > max 30" in bad[0].message
    missing = evaluate_gates({"fid": 1.0}, cfg)
    assert verdicts(missing)[("is_mean", "min")] is False and "not measured" in missing[1].message


def test_regression_uses_metric_direction_and_margins(tmp_path):
    cfg = load_gate_config(
        config(
            tmp_path,
            ('[regression]\nbaseline = "b.json"\nfid = { margin = 2.0 }\nis_mean = { rel_margin = 0.1 }\n'),
        )
    )
    base = {"fid": 10.0, "is_mean": 9.0}
    # fid lower is better: +1.9 passes, +2.1 fails; is_mean higher is better: -0.8 passes, -1.0 fails
    assert all(r.passed for r in evaluate_gates({"fid": 11.9, "is_mean": 8.2}, cfg, base))
    res = evaluate_gates({"fid": 12.1, "is_mean": 8.0}, cfg, base)
    assert verdicts(res) == {("fid", "regression"): False, ("is_mean", "regression"): False}
    assert res[0].threshold == pytest.approx(12.0) and res[1].threshold == pytest.approx(8.1)
    # getting better by any amount never fails
    assert all(r.passed for r in evaluate_gates({"fid": 1.0, "is_mean": 10.0}, cfg, base))


def test_regression_with_ci_separation(tmp_path):
    cfg = load_gate_config(
        config(
            tmp_path,
            ('[regression]\nbaseline = "b.json"\nrequire_ci_separation = true\nfid = { margin = 1.0 }\n'),
        )
    )
    base = {"fid": {"value": 10.0, "ci_low": 9.0, "ci_high": 11.0}}
    overlap = evaluate_gates({"fid": {"value": 12.0, "ci_low": 10.5, "ci_high": 13.5}}, cfg, base)
    assert overlap[0].passed and "overlap" in overlap[0].message
    separate = evaluate_gates({"fid": {"value": 12.0, "ci_low": 11.5, "ci_high": 12.5}}, cfg, base)
    assert not separate[0].passed and "separate" in separate[0].message
    from_std = evaluate_gates({"fid": {"value": 12.0, "std": 0.1}}, cfg, base)  # value +- 1.96 std
    assert not from_std[0].passed
    no_ci = evaluate_gates({"fid": 12.0}, cfg, {"fid": 10.0})
    assert not no_ci[0].passed and "values alone decide" in no_ci[0].message


def test_regression_without_baseline_is_skipped(tmp_path):
    cfg = load_gate_config(config(tmp_path, '[regression]\nbaseline = "b.json"\nfid = { margin = 1 }\n'))
    res = evaluate_gates({"fid": 50.0}, cfg, None)
    assert res[0].skipped and res[0].passed and res[0].status == "SKIP"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[absolute\nfid = 1", "not a readable TOML"),
        ("[absolute]\nfrechet = { max = 3 }\n", "frechet"),
        ("[absolute]\nfid = {}\n", "no threshold"),
        ("[absolute]\nfid = { maximum = 3 }\n", "unknown key"),
        ('[absolute]\nfid = { max = "x" }\n', "must be a finite number"),
        ("[absolute]\nfid = { min = 5, max = 3 }\n", "greater than max"),
        ("[regression]\nfid = { margin = 1 }\n", "no baseline"),
        ('[regression]\nbaseline = "b.json"\nfid = { }\n', "no threshold"),
        ('[regression]\nbaseline = "b.json"\nif_missing = "maybe"\n', "if_missing"),
        ("[thresholds]\nfid = 1\n", "unknown section"),
        ("", "defines no gates"),
    ],
)
def test_bad_configs_are_user_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load_gate_config(config(tmp_path, text))


def test_missing_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_gate_config(tmp_path / "nope.toml")


def test_junit_is_valid_xml_with_one_case_per_gate(tmp_path):
    cfg = load_gate_config(
        config(
            tmp_path,
            (
                "[absolute]\nfid = { max = 30 }\nis_mean = { min = 8.5 }\n"
                '[regression]\nbaseline = "b.json"\nrecall = { margin = 0.1 }\n'
            ),
        )
    )
    res = evaluate_gates({"fid": 31.0, "is_mean": 9.0, "recall": 0.5}, cfg, None)
    path = write_junit(res, tmp_path / "out" / "gate.xml")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"fid max", "is_mean min", "recall regression"}
    assert "31" in cases["fid max"].find("failure").get("message")
    assert cases["recall regression"].find("skipped") is not None
    assert cases["is_mean min"].find("failure") is None


def test_table_summary_and_exit(tmp_path, monkeypatch):
    cfg = load_gate_config(config(tmp_path, "[absolute]\nfid = { max = 30 }\nis_mean = { min = 8.5 }\n"))
    res = evaluate_gates({"fid": 31.0, "is_mean": 9.0}, cfg)
    text = gate_table(res)
    assert "FAIL" in text and "PASS" in text and "1 passed, 1 failed" in text
    with pytest.raises(GateFailed, match="1 of 2 gates failed"):
        raise_if_failed(res)
    raise_if_failed(res[1:])

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_github_summary(res) is False
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_github_summary(res) is True
    body = summary.read_text()
    assert body.startswith("earlier step\n") and "| ❌ FAIL" in body and "| fid" in body


def test_select_evaluation_takes_latest(results_df):
    values, meta = select_evaluation(results_df)
    assert meta["checkpoint"] == "ckpt_epoch_003.pt" and values["fid"]["value"] == 12.0
    values, meta = select_evaluation(results_df, fake="ckpt_epoch_001.pt")
    assert (values["is_mean"]["value"], values["is_mean"]["std"]) == (6.0, 0.1)
    assert math.isnan(values["is_mean"]["ci_low"])
    with pytest.raises(UserError, match="no rows for run 'other'"):
        select_evaluation(results_df, run="other")


def test_run_gates_with_results_table_baseline(tmp_path, results_df, make_evaluation, monkeypatch):
    monkeypatch.chdir(tmp_path)
    append_results(results_df[results_df["epoch"] == 2], "baseline.csv")
    cfg = load_gate_config(
        config(
            tmp_path,
            (
                '[regression]\nbaseline = "baseline.csv"\n'
                "fid = { margin = 1.0 }\nprecision = { margin = 0.1 }\n"
            ),
        )
    )
    res = run_gates(cfg, results_df).results  # epoch 3: fid 12 vs 10 -> fail; precision 0.75 vs 0.70 -> pass
    assert verdicts(res) == {("fid", "regression"): False, ("precision", "regression"): True}

    other = make_evaluation(
        4, fid=9.0, is_mean=9.0, prec=0.8, n_fake=5000, timestamp="2025-01-01T00:00:09+00:00"
    )
    with pytest.raises(UserError, match=r"n_fake differs: 5000 \(current\) vs 1000 \(baseline\)"):
        run_gates(cfg, pd.concat([results_df, other], ignore_index=True))


def test_run_gates_missing_baseline(tmp_path, results_df, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = '[regression]\nbaseline = "nope.json"\nfid = { margin = 1.0 }\n'
    with pytest.raises(UserError, match="baseline nope.json does not exist"):
        run_gates(load_gate_config(config(tmp_path, text)), results_df)
    res = run_gates(load_gate_config(config(tmp_path, text + 'if_missing = "skip"\n')), results_df)
    assert [r.skipped for r in res.results] == [True]


def test_baseline_json_round_trip(tmp_path, results_df):
    values, meta = select_evaluation(results_df)
    path = save_baseline(values, meta, tmp_path / "baseline.json")
    json.loads(path.read_text())  # valid JSON (NaN written as null)
    base = load_baseline(path)
    assert isinstance(base, Baseline) and base.values["fid"]["value"] == 12.0
    assert base.meta["protocol"] == "native" and math.isnan(base.values["fid"]["std"])
    flat = tmp_path / "flat.json"
    flat.write_text('{"fid": 11.0}')
    assert load_baseline(flat).values["fid"]["value"] == 11.0
    flat.write_text('{"fid": "low"}')
    with pytest.raises(UserError, match="must be a number"):
        load_baseline(flat)
    flat.write_text("{oops")
    with pytest.raises(UserError, match="not valid JSON"):
        load_baseline(flat)


# ------------------------------------------------------------------- [evaluation]: never gate mixed rows

EXPECT = '[evaluation]\nextractor = "mnist-lenet"\nprotocol = "native"\nn_fake = 1000\n'


def test_evaluation_keys_are_parsed_and_checked(tmp_path):
    cfg = load_gate_config(
        config(
            tmp_path,
            EXPECT + 'real = "mnist:train"\nprecision = "fp32"\nseed = 3\n[absolute]\nfid = { max = 1 }\n',
        )
    )
    assert cfg.expect == {
        "extractor": "mnist-lenet",
        "protocol": "native",
        "n_fake": 1000,
        "real": "mnist:train",
        "precision": "fp32",
        "seed": 3,
    }
    assert cfg.unconstrained() == ()
    shipped = load_gate_config(REPO / "configs/gates/mnist.toml")
    assert shipped.expect == {
        "extractor": "mnist-lenet",
        "protocol": "lenet-28",  # mnist-lenet's one protocol, as its rows record it
        "n_fake": 10000,
        "real": "mnist:train",
        "precision": "fp32",
    }
    from gan_eval.features.lenet import PROTOCOL

    assert shipped.expect["protocol"] == PROTOCOL


@pytest.mark.parametrize(
    "text, message",
    [
        ('[evaluation]\nextractor = "x"\n', "defines no gates"),
        ("[evaluation]\nn = 5\n[absolute]\nfid = { max = 1 }\n", "unknown key"),
        (
            '[evaluation]\nn_fake = "10k"\n[absolute]\nfid = { max = 1 }\n',
            "n_fake must be a positive integer",
        ),
        ("[evaluation]\nn_fake = 0\n[absolute]\nfid = { max = 1 }\n", "n_fake must be a positive integer"),
        ("[evaluation]\nseed = -1\n[absolute]\nfid = { max = 1 }\n", "seed must be a non-negative integer"),
        (
            "[evaluation]\nprotocol = 3\n[absolute]\nfid = { max = 1 }\n",
            "protocol must be a non-empty string",
        ),
        ('[evaluation]\nextractor = ""\n[absolute]\nfid = { max = 1 }\n', "extractor must be a non-empty"),
    ],
)
def test_bad_evaluation_tables_are_user_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load_gate_config(config(tmp_path, text))


def test_gate_refuses_when_the_latest_checkpoint_has_no_matching_evaluation(
    tmp_path, results_df, make_evaluation
):
    """The issue's case: an Inception tf1 FID of 100 images appended last is never held against mnist-lenet
    thresholds; the refusal names what differs and where a matching evaluation is."""
    cfg = load_gate_config(config(tmp_path, EXPECT + "[absolute]\nfid = { max = 100 }\n"))
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
    mixed = pd.concat([results_df, inception], ignore_index=True)
    with pytest.raises(UserError) as e:
        run_gates(cfg, mixed)
    msg = str(e.value)
    assert "no evaluation of runs/demo/ckpt_epoch_004.pt (run demo) matches" in msg
    assert "extractor is inception, expected mnist-lenet" in msg
    assert "protocol is tf1, expected native" in msg and "n_fake is 100, expected 1000" in msg
    assert "latest matching evaluation there is of runs/demo/ckpt_epoch_003.pt" in msg
    # choosing the checkpoint gates it
    out = run_gates(cfg, mixed, fake="ckpt_epoch_003.pt")
    assert out.gated["checkpoint"] == "ckpt_epoch_003.pt" and out.values["fid"]["value"] == 12.0


def test_gate_takes_the_latest_matching_evaluation_of_the_latest_checkpoint(
    tmp_path, results_df, make_evaluation
):
    cfg = load_gate_config(config(tmp_path, EXPECT + "[absolute]\nfid = { max = 11 }\n"))
    # epoch 3 evaluated again later: once as configured (fid 10.5), then with other settings (fid 99)
    again = make_evaluation(3, fid=10.5, is_mean=9.0, prec=0.8, timestamp="2025-01-01T00:00:07+00:00")
    other = make_evaluation(
        3, fid=99.0, is_mean=9.0, prec=0.8, n_fake=5000, timestamp="2025-01-01T00:00:08+00:00"
    )
    out = run_gates(cfg, pd.concat([results_df, again, other], ignore_index=True))
    assert out.gated["n_fake"] == 1000 and out.gated["timestamp"] == "2025-01-01T00:00:07+00:00"
    assert out.values["fid"]["value"] == 10.5 and out.passed and out.notes == ()
    # without [evaluation] the latest evaluation counts, and the outcome says it was unconstrained
    loose = load_gate_config(config(tmp_path, "[absolute]\nfid = { max = 11 }\n"))
    out = run_gates(loose, pd.concat([results_df, again, other], ignore_index=True))
    assert out.gated["n_fake"] == 5000 and not out.passed
    assert len(out.notes) == 1 and "declares no [evaluation]" in out.notes[0]
    assert "extractor mnist-lenet, protocol native, n_fake 5000" in out.notes[0]
    partial = load_gate_config(
        config(tmp_path, '[evaluation]\nextractor = "mnist-lenet"\n[absolute]\nfid = { max = 11 }\n')
    )
    out = run_gates(partial, results_df)
    assert "[evaluation] omits protocol, n_fake" in out.notes[0]


def test_real_set_matches_by_meaning(tmp_path, results_df, make_evaluation):
    text = '[evaluation]\nreal = "mnist:train"\n[absolute]\nfid = { max = 100 }\n'
    cfg = load_gate_config(config(tmp_path, text))
    assert run_gates(cfg, results_df).gated["real"] == "mnist"  # "mnist" is the train split
    test_split = make_evaluation(4, fid=1.0, is_mean=9.0, prec=0.9, real="mnist:test")
    with pytest.raises(UserError, match="real is mnist:test, expected mnist:train"):
        run_gates(cfg, pd.concat([results_df, test_split], ignore_index=True))


def test_results_table_baseline_is_selected_with_the_same_expectation(
    tmp_path, results_df, make_evaluation, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    late_other = make_evaluation(
        2, fid=1.0, is_mean=9.0, prec=0.9, n_fake=100, timestamp="2025-01-01T00:00:09+00:00"
    )
    append_results(pd.concat([results_df[results_df["epoch"] == 2], late_other]), "baseline.csv")
    text = EXPECT + '[regression]\nbaseline = "baseline.csv"\nfid = { margin = 1.0 }\n'
    out = run_gates(load_gate_config(config(tmp_path, text)), results_df)
    # the baseline's 100-sample evaluation is passed over for its matching one (fid 10)
    assert out.baseline is not None and out.baseline.values["fid"]["value"] == 10.0
    assert verdicts(out.results) == {("fid", "regression"): False}  # 12 vs 10 + 1


def test_outputs_name_the_gated_evaluation(tmp_path, results_df, monkeypatch):
    cfg = load_gate_config(config(tmp_path, "[absolute]\nfid = { max = 11 }\n"))  # fails on epoch 3 (12)
    out = run_gates(cfg, results_df)
    expected = {
        "run_id": "demo",
        "checkpoint": "ckpt_epoch_003.pt",
        "epoch": "3",
        "extractor": "mnist-lenet",
        "protocol": "native",
        "n_fake": "1000",
        "real": "mnist",
        "fingerprint": out.gated["fingerprint"],
    }
    table = gate_table(out)
    assert table.splitlines()[0].startswith("gated: run demo, checkpoint ckpt_epoch_003.pt (epoch 3): ")
    assert "extractor mnist-lenet, protocol native, n_fake 1000 vs mnist" in table.splitlines()[0]

    suite = ET.parse(write_junit(out, tmp_path / "gate.xml")).getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert expected.items() <= props.items() and "warning" in props
    failure = suite.find("testcase").find("failure")
    assert "gated: run demo, checkpoint ckpt_epoch_003.pt" in failure.text

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_github_summary(out)
    body = summary.read_text()
    table_lines = [ln for ln in body.split("Gated evaluation:")[1].splitlines() if ln.startswith("|")]
    header, _, first = ([c.strip() for c in ln.strip("|").split("|")] for ln in table_lines[:3])
    gated_row = dict(zip(header, (c.strip("`") for c in first), strict=True))
    assert {k: gated_row[k] for k in expected} == expected
    assert "> [!WARNING]" in body and "declares no [evaluation]" in body
    with pytest.raises(GateFailed, match=r"gates failed \(run demo, checkpoint ckpt_epoch_003.pt"):
        raise_if_failed(out)
