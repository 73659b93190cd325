"""The default run_id: the runs/NAME folder of a checkpoint, else its run folder or name; and its hookup in
the rows every evaluation appends (``results.rows.result_rows``, the CLI's ``--run`` default)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gan_eval.results.run_id import _CALLABLE_RE, _DATASET_RE, default_run_id


@pytest.mark.parametrize(
    "spec, expected",
    [
        # a runs/NAME folder anywhere above the evaluated file or folder names the run
        ("runs/demo/ckpt_epoch_005.pt", "demo"),
        ("./runs/demo/ckpt_epoch_005.pt", "demo"),
        ("/home/u/project/runs/mlp/checkpoints/last.pt", "mlp"),
        ("runs/demo/samples/", "demo"),
        ("runs/demo/samples.zip", "demo"),
        ("runs/demo", "demo"),  # the run folder itself (a folder of images)
        ("runs/outer/runs/inner/ckpt_epoch_001.pt", "inner"),  # the innermost one
        ("C:\\work\\runs\\win\\ckpt_epoch_001.pt", "win"),
        # a generic checkpoint name outside runs/: its run folder (generic folders skipped)
        ("exp/dcgan/ckpt_epoch_005.pt", "dcgan"),
        ("exp/dcgan/checkpoints/last.pt", "dcgan"),
        ("exp/sg/network-snapshot-000400.pt", "sg"),
        ("exp/sg/G_ema.pt", "sg"),
        ("checkpoint_100000.pt", "checkpoint_100000"),  # no folder to name it: its own stem
        # a named file names itself
        ("tests/data/mlp_gan_mnist.pt", "mlp_gan_mnist"),
        ("models/dcgan_epoch_10.pt", "dcgan_epoch_10"),
        # image sets: folder name or file stem
        ("samples/", "samples"),
        ("samples", "samples"),
        ("out/gen.zip", "gen"),
        ("gen.npz", "gen"),
        ("gen.npy", "gen"),
        ("out/v1.2/", "v1.2"),  # a dotted folder name is a folder, not a suffix
        # datasets and callables name themselves
        ("mnist:test", "mnist:test"),
        ("MNIST", "mnist:train"),
        ("fashion-mnist", "fashion-mnist:train"),
        ("mypkg.models:make_generator", "mypkg.models:make_generator"),
        ("  ", ""),
    ],
)
def test_default_run_id(spec, expected):
    assert default_run_id(spec) == expected


def test_spec_forms_agree_with_the_source_parser():
    """run_id.py repeats data/spec.py's dataset and callable patterns (to stay torch-free): they agree."""
    from gan_eval.data import spec

    assert _DATASET_RE.pattern == spec.DATASET_RE.pattern
    assert _CALLABLE_RE.pattern == spec.CALLABLE_RE.pattern


def test_evaluations_record_the_default_run_id(npz_pair, tmp_cache, tmp_path):
    """`eval` without --run records the runs/NAME folder of --fake; with --run, the given name."""
    import shutil

    from gan_eval.cli import app
    from gan_eval.results import load_results

    real, fake = npz_pair(60, 40, 16, 80)
    run_dir = tmp_path / "runs" / "exp7"
    run_dir.mkdir(parents=True)
    in_run = run_dir / "samples.npz"
    shutil.copy(fake, in_run)
    results = tmp_path / "results.csv"
    runner = CliRunner()
    common = ["--real", str(real), "-e", "dummy", "--results", str(results), "-q"]
    assert runner.invoke(app, ["fid", "--fake", str(in_run), *common]).exit_code == 0
    assert runner.invoke(app, ["fid", "--fake", str(fake), *common]).exit_code == 0
    assert runner.invoke(app, ["fid", "--fake", str(fake), "--run", "mine", *common]).exit_code == 0
    assert list(load_results(results)["run_id"]) == ["exp7", "fake", "mine"]
