"""Eval configs (configs/eval/*.toml -> EvalConfig) and `gan-eval eval --config`: file values, command-line
overrides, and one-line errors for bad files."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.config import EvalConfig, load_eval_config
from gan_eval.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def write(tmp_path, text, name="eval.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_file_values_and_overrides(tmp_path):
    p = write(
        tmp_path,
        'real = "mnist:test"\nmetrics = ["fid", "kid"]\nextractor = "mnist-lenet"\nn = 500\n'
        "value_range = [-1, 1]\ncompile = false\n",
    )
    cfg = load_eval_config(p, fake="ckpt.pt", n=100)
    assert cfg == EvalConfig(
        real="mnist:test",
        fake="ckpt.pt",
        metrics=("fid", "kid"),
        extractor="mnist-lenet",
        n=100,
        value_range=(-1.0, 1.0),
    )


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "eval").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_eval_configs_load(path):
    cfg = load_eval_config(path, fake="runs/x/ckpt_epoch_001.pt")
    assert cfg.real == "mnist" and cfg.metrics and cfg.fake == "runs/x/ckpt_epoch_001.pt"


@pytest.mark.parametrize(
    "text, message",
    [
        ('real = "mnist"\nfake = "x"\nbogus = 1\n', "unknown key"),
        ('real = "mnist"\nfake = "x"\nn = "many"\n', "n must be an integer"),
        ('real = "mnist"\nfake = "x"\ncompile = 1\n', "compile must be true or false"),
        ('real = "mnist"\nfake = "x"\nvalue_range = [0, 1, 2]\n', "value_range must have 2 entries"),
        ('real = "mnist"\n', "no fake set"),
        ('[eval]\nreal = "mnist"\nfake = "x"\n', "flat keys only"),
        ("real = [", "not a readable TOML"),
    ],
)
def test_bad_files(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load_eval_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such eval config"):
        load_eval_config(tmp_path / "nope.toml")


def test_cli_eval_with_config(npz_pair, tmp_cache, tmp_path):
    real, fake = npz_pair(120, 80, 16, 80)
    p = write(tmp_path, f'real = "{real}"\nmetrics = ["fid", "kid"]\nextractor = "dummy"\nseed = 3\n')
    r = runner.invoke(app, ["eval", "--config", str(p), "--fake", str(fake), "--no-save", "--json", "-q"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["values"]) == {"fid", "kid_mean"} and out["fingerprint"]["seed"] == 3
    # an option typed on the command line wins over the file; the single-metric commands keep their metric
    r = runner.invoke(
        app, ["fid", "--config", str(p), "--fake", str(fake), "--seed", "5", "--no-save", "--json", "-q"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["values"]) == {"fid"} and out["fingerprint"]["seed"] == 5


def test_cli_without_real_is_one_line_exit_2(npz_pair, tmp_cache):
    _, fake = npz_pair(20, 20, 16, 80)
    r = runner.invoke(app, ["fid", "--fake", str(fake), "-e", "dummy"])
    assert r.exit_code == 2 and "no real set" in r.output
