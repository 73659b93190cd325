"""The baseline-table row tool: its one-pass FIDs are the evaluator's FIDs, number for number."""

from __future__ import annotations

import numpy as np
import pytest
from test_train import blobs, small  # (pytest puts this folder on sys.path)

from gan_eval import evaluate
from gan_eval.train import train
from gan_eval.train.quality import N_SAMPLES, fids_from_one_pass, training_cost


@pytest.fixture
def checkpoint(tmp_path):
    return train(
        small("dcgan_best", epochs=2), out=tmp_path / "run", device="cpu", progress=False, images=blobs(128)
    )


def test_one_pass_fids_equal_the_evaluators(checkpoint, tmp_path, tmp_cache):
    """Statistics of the samples computed once, compared with two real sets = two full evaluations (same
    10,000 samples, seed 0, EMA generator): equal to float64 rounding."""
    reals = {}
    for name, seed in (("a", 1), ("b", 2)):
        np.savez(tmp_path / f"{name}.npz", images=blobs(300, seed=seed).numpy())
        reals[name] = str(tmp_path / f"{name}.npz")
    got = fids_from_one_pass(checkpoint, reals, extractor="dummy")
    for name, spec in reals.items():
        ref = evaluate(
            real=spec, fake=str(checkpoint), metrics=["fid"], extractor="dummy", n=N_SAMPLES, seed=0
        )
        assert got[f"fid_{name}"] == pytest.approx(ref.values["fid"], rel=1e-9, abs=1e-9)
    assert got["fid_a"] != got["fid_b"]


def test_training_cost_sums_the_epochs_up_to_the_checkpoint(checkpoint):
    first = checkpoint.parent / "ckpt_epoch_001.pt"
    one, two = training_cost(first), training_cost(checkpoint)
    assert (one["epoch"], two["epoch"]) == (1, 2)
    assert 0 < one["wall_s"] < two["wall_s"] and 0 < one["cpu_s"] < two["cpu_s"]


@pytest.mark.parametrize(
    ("against", "expected"),
    [
        ("both", {"test": "mnist:test", "train": "mnist:train"}),
        ("test", {"test": "mnist:test"}),
        ("train", {"train": "mnist:train"}),
    ],
)
def test_against_chooses_the_real_sets_of_the_inception_fid(
    against, expected, checkpoint, monkeypatch, capsys
):
    """`--against test` asks for mnist:test only (with tf1, no 60,000-image pass over mnist:train); the row
    carries exactly the FIDs asked for, with the protocol named."""
    import json

    from gan_eval.train import quality

    seen = {}

    def fake_fids(ckpt, reals, **kw):
        seen.update(reals=reals, **kw)
        return {f"fid_{name}": 1.0 + i for i, name in enumerate(reals)}

    shares = np.full(10, 0.1)
    monkeypatch.setattr(
        quality, "lenet_figures", lambda ckpt, **kw: {"lenet_fid": 2.0, "class_shares": shares}
    )
    monkeypatch.setattr(quality, "fids_from_one_pass", fake_fids)
    quality.main([str(checkpoint), "--protocol", "tf1", "--against", against])
    row = json.loads(capsys.readouterr().out)
    assert seen["reals"] == expected and seen["protocol"] == "tf1"
    assert {k for k in row if k.startswith("fid_")} == {f"fid_{k}" for k in expected}
    assert row["protocol"] == "tf1" and row["epoch"] == 2


def test_against_rejects_an_unknown_real_set(checkpoint, capsys):
    from gan_eval.train import quality

    with pytest.raises(SystemExit) as exc:
        quality.main([str(checkpoint), "--against", "validation"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    """A missing or corrupt checkpoint: one error line, exit code 2, no traceback (as `gan-eval` does); an
    unknown protocol is refused before any work."""
    from gan_eval.train import quality

    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    for argv in ([str(tmp_path / "missing.pt")], [str(bad)], [str(bad), "--protocol", "tf2"]):
        with pytest.raises(SystemExit) as exc:
            quality.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, argv
        assert "Traceback" not in err, err
        # the error itself is the last line (argparse puts its usage lines before an invalid choice)
        assert err.strip().splitlines()[-1].startswith("python -m gan_eval.train.quality: error: "), err
    assert "no such checkpoint" in quality_error([str(tmp_path / "missing.pt")], capsys)


def quality_error(argv, capsys):
    from gan_eval.train import quality

    with pytest.raises(SystemExit):
        quality.main(argv)
    return capsys.readouterr().err
