"""Issue 22, sections 2 and 3: a statistics file carries its setup (used when not chosen, refused when chosen
otherwise, before any extraction), two statistics files give their FID, and the CLI's shared behaviour: one
default per option, gate's defaults, the Inception-on-CPU estimate, help without artefacts, suggestions only
where they are right."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import gan_eval
from gan_eval.cli import app
from gan_eval.errors import UserError
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.runtime import announce_slow_pass
from gan_eval.stats.feature_stats import Moments, load_moments, save_moments


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def sets(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("a", 300), ("b", 250)):
        np.savez(tmp_path / f"{name}.npz", images=rng.integers(0, 256, size=(n, 1, 12, 12), dtype=np.uint8))
    return tmp_path


def test_a_stats_file_brings_its_extractor_and_a_different_one_is_refused_before_any_pass(
    sets, tmp_cache, monkeypatch
):
    r = cli("stats", sets / "a.npz", "-e", "dummy", "-o", sets / "a_stats.npz", "-q")
    assert r.exit_code == 0, r.output
    assert load_moments(sets / "a_stats.npz").metadata["extractor"] == "dummy"
    r = cli("fid", "--real", sets / "a_stats.npz", "--fake", sets / "b.npz", "--no-save", "--json")
    assert r.exit_code == 0, r.output  # no -e: the file's extractor (Inception would be 2048-d)
    assert "using the setup the statistics file was made with: extractor dummy" in r.stderr
    direct = gan_eval.evaluate(
        real=str(sets / "a.npz"), fake=str(sets / "b.npz"), extractor="dummy", progress=False
    )
    assert (
        json.loads(r.stdout)["values"]["fid"] == direct.values["fid"]
    )  # the file holds exact float64 moments

    def no_pass(*a, **k):
        raise AssertionError("an extraction ran")

    monkeypatch.setattr("gan_eval.pipeline.extract", no_pass)
    monkeypatch.setattr("gan_eval.stages.open_extractor", no_pass)
    r = cli("fid", "--real", sets / "a_stats.npz", "--fake", sets / "b.npz", "-e", "mnist-lenet", "--no-save")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "made with extractor dummy, but --extractor mnist-lenet was given" in r.stderr
    r = cli(
        "fid", "--real", sets / "a_stats.npz", "--fake", sets / "b.npz", "--precision", "bf16", "--no-save"
    )
    assert r.exit_code == 2 and "made with precision fp32, but --precision bf16 was given" in r.stderr


def test_two_statistics_files_give_their_fid_and_must_agree(sets, tmp_cache):
    for name in ("a", "b"):
        assert (
            cli("stats", sets / f"{name}.npz", "-e", "dummy", "-o", sets / f"{name}_s.npz", "-q").exit_code
            == 0
        )
    a, b = load_moments(sets / "a_s.npz"), load_moments(sets / "b_s.npz")
    res = gan_eval.evaluate(real=str(sets / "a_s.npz"), fake=str(sets / "b_s.npz"), progress=False)
    assert res.values["fid"] == fid_from_stats(a.mu, a.sigma, b.mu, b.sigma)["fid"]
    assert res.n_fake == 250 and res.fingerprint["extractor"] == "dummy"
    with pytest.raises(UserError, match="holds moments only.*fid alone"):
        gan_eval.evaluate(real=str(sets / "a.npz"), fake=str(sets / "b_s.npz"), metrics=["fid", "kid"])
    other = Moments(b.mu, b.sigma, b.n, {**b.metadata, "extractor": "mnist-lenet"})
    save_moments(sets / "c_s.npz", other)
    with pytest.raises(UserError, match="c_s.npz was made with extractor mnist-lenet, .*a_s.npz with dummy"):
        gan_eval.evaluate(real=str(sets / "a_s.npz"), fake=str(sets / "c_s.npz"))


def test_a_pytorch_fid_stats_file_has_an_unknown_sample_count(sets, tmp_cache):
    """pytorch-fid's --save-stats writes mu and sigma only: n_real is unknown (empty in the row, "unknown"
    in the report and the terminal), never "0 samples"."""
    from gan_eval.results import load_results

    assert cli("stats", sets / "a.npz", "-e", "dummy", "-o", sets / "a_s.npz", "-q").exit_code == 0
    ours = load_moments(sets / "a_s.npz")
    np.savez(sets / "pf.npz", mu=ours.mu, sigma=ours.sigma)  # as pytorch-fid saves them
    table = sets / "r.csv"
    r = cli("fid", "--real", sets / "pf.npz", "--fake", sets / "b.npz", "-e", "dummy", "--results", table)
    assert r.exit_code == 0, r.output
    assert "0 samples" not in r.stderr and "come from" not in r.stderr
    assert "unknown" in r.stdout
    rows = load_results(table)
    assert rows["n_real"].isna().all() and list(rows["n_fake"]) == [250]
    with_count = gan_eval.evaluate(
        real=str(sets / "a_s.npz"), fake=str(sets / "b.npz"), extractor="dummy", progress=False
    )
    assert rows["value"].iloc[0] == with_count.values["fid"]  # the same moments, the same number
    assert with_count.n_real["fid"] == 300
    r = cli("report", "--results", table, "-o", sets / "rep.md")
    assert r.exit_code == 0, r.output
    text = (sets / "rep.md").read_text()
    assert "real samples used: unknown (fid)" in text and "| n_real" in text and "0 samples" not in text


def test_gate_defaults_results_table_and_gated_metrics(tmp_path, monkeypatch, sets, tmp_cache):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "gate.toml"
    cfg.write_text(
        '[evaluation]\nextractor = "dummy"\n[absolute]\nfid = { max = 1e9 }\nis_mean = { min = 0 }\n'
    )
    r = cli("gate", "--config", cfg)
    assert r.exit_code == 2 and "reports/results.csv" in r.stderr  # the default table, as everywhere
    r = cli(
        "gate",
        "--config",
        cfg,
        "--fake",
        sets / "b.npz",
        "--real",
        sets / "a.npz",
        "--json",
        "--bootstrap",
        "0",
    )
    assert r.exit_code == 0, r.output
    assert '"fid"' in r.stdout and '"is_mean"' in r.stdout  # --metrics defaulted to the gated fid, is
    r = cli("gate", "--config", cfg, "--fake", sets / "b.npz", "--results", tmp_path / "x.csv")
    assert r.exit_code == 2 and "one of --results" in r.stderr


def test_sample_and_eval_share_device_and_seed_defaults():
    from gan_eval.cli.options import EVAL_OPTIONS

    for command in ("sample", "fid", "eval"):
        r = cli(command, "--help")
        assert "--device" in r.stdout and "--seed" in r.stdout
    assert EVAL_OPTIONS["device"][1] == "auto"


def test_help_has_no_bool_artefact_and_suggestions_are_right():
    for args in (["--help"], ["fid", "--help"], ["train", "--help"], ["weights", "--help"]):
        r = cli(*args)
        assert r.exit_code == 0 and "<bool>" not in r.stdout, args
    r = cli("fid", "--batchsize", "3")
    assert r.exit_code == 2 and "did you mean --batch-size?" in r.stderr
    for wrong, not_suggested in (("--dims", "--z-dim"), ("--gpu", "--run")):
        r = cli("fid", wrong, "1")
        assert r.exit_code == 2 and not_suggested not in r.stderr, r.stderr
    assert (
        "--device cuda" in cli("fid", "--gpu", "0").stderr and "2048-d" in cli("fid", "--dims", "64").stderr
    )


def test_no_real_set_message_is_grammatical(sets):
    with pytest.raises(UserError, match="no real set: fid needs real images"):
        gan_eval.evaluate(fake=str(sets / "b.npz"), extractor="dummy")


def test_inception_on_the_cpu_is_announced_with_the_faster_choices(capsys):
    cpu = torch.device("cpu")
    line = announce_slow_pass("inception", cpu, 10_000)
    assert "about" in line and "min for 10,000 images" in line and "-e mnist-lenet" in line
    assert line in capsys.readouterr().err
    assert announce_slow_pass("mnist-lenet", cpu, 10_000) == ""
    assert announce_slow_pass("inception", cpu, 100) == ""  # seconds: nothing to say
    assert announce_slow_pass("inception", cpu, 10_000, enabled=False) == ""
