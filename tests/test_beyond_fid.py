"""Issue 12 end to end: the new metrics through evaluate, the CLI (--metrics all), the results table (values
and details files), compare's bootstrap reasons, gates and the report's sections - with the dummy extractor
(16-d features, a 10-class head) on small random image sets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.pipeline import evaluate
from gan_eval.results import load_results
from gan_eval.results.details import load_details


@pytest.fixture
def sets(tmp_path, rng):
    """real (300), fake (200), train (400) and held-out (150) uint8 [N, 1, 16, 16] image sets."""
    paths = {}
    for name, n in (("real", 300), ("fake", 200), ("train", 400), ("heldout", 150)):
        arr = rng.integers(0, 256, size=(n, 1, 16, 16), dtype=np.uint8)
        np.savez(tmp_path / f"{name}.npz", images=arr)
        paths[name] = str(tmp_path / f"{name}.npz")
    return paths


ALL = {
    "fid", "is_mean", "kid_mean", "precision", "recall", "density", "coverage", "fid_inf", "is_inf",
    "prd_f8", "prd_f1_8", "vendi", "vendi_real", "class_kl", "class_tv", "class_coverage",
    "class_coverage_frac",
}  # fmt: skip


def test_all_runs_every_metric_the_inputs_allow(sets, tmp_cache):
    """No training set is known for an .npz real set, so --metrics all leaves copy out; the dummy
    extractor's 10-class head counts as a classifier of the data's classes, so the class metrics run, with
    the real images labelled by it (npz files carry no labels)."""
    r = evaluate(real=sets["real"], fake=sets["fake"], metrics=["all"], extractor="dummy", progress=False)
    per_class = {k for k in r.values if k.startswith("fid_class_")}
    assert set(r.values) - per_class == ALL and per_class
    assert sum(r.n_real[k] for k in per_class) <= 300 and max(r.n_real[k] for k in per_class) > 0
    assert {"fid_inf/fit", "is_inf/fit", "prd/curve", "classes/counts"} <= set(r.details)
    counts = r.details["classes/counts"]
    assert counts["fake"].sum() == 200 and counts["real"].sum() == 300


def test_copy_flags_a_generator_that_returns_its_training_images(sets, tmp_path, tmp_cache):
    """The fake set made of training images, verbatim: AuthPct 0 and every sample a near-copy, in both
    spaces; a fresh random set is not flagged."""
    train = np.load(sets["train"])["images"]
    np.savez(tmp_path / "copier.npz", images=train[:200])
    common = dict(metrics=["copy"], extractor="dummy", progress=False, train=sets["train"])
    copier = evaluate(real=None, fake=str(tmp_path / "copier.npz"), heldout=sets["heldout"], **common)
    for space in ("", "_pixels"):
        assert copier.values[f"auth_pct{space}"] == 0.0
        assert copier.values[f"near_copies{space}"] == 200
        assert copier.n_real[f"auth_pct{space}"] == 400  # the training rows
    fresh = evaluate(real=None, fake=sets["fake"], heldout=sets["heldout"], **common)
    assert fresh.values["near_copies_pixels"] == 0 and fresh.values["auth_pct_pixels"] > 50
    d = copier.details["copy/copy_pixels"]
    assert np.array_equal(d["gen_images"], d["train_images"])  # the most-copied are the training images


def test_copy_needs_a_training_set(sets, tmp_cache):
    from gan_eval.errors import UserError

    with pytest.raises(UserError, match="--train and --heldout"):
        evaluate(real=sets["real"], fake=sets["fake"], metrics=["copy"], extractor="dummy", progress=False)


def test_cli_all_writes_rows_details_and_the_report_sections(sets, tmp_path, tmp_cache):
    results = tmp_path / "r.csv"
    args = ["eval", sets["real"], sets["fake"], "--metrics", "all", "-e", "dummy", "-q", "--results"]
    r = CliRunner().invoke(app, [*args, str(results), "--train", sets["train"], "--heldout", sets["heldout"]])
    assert r.exit_code == 0, r.output
    df = load_results(results)
    assert {"auth_pct", "copying_ct_pixels", "fid_inf", "prd_f8", "vendi"} <= set(df["metric"])
    per_class = df[df["metric"].str.startswith("fid_class_")]
    assert len(per_class) and (per_class["n_fake"] < 200).all()  # each class's own generated samples
    rel = df["details"].iloc[0]
    assert rel and (df["details"] == rel).all()  # one evaluation, one details file
    details = load_details(results, rel)
    assert {"copy/copy_features", "copy/copy_pixels", "prd/curve", "fid_inf/fit"} <= set(details)
    assert (df["weights_sha256"] == "0" * 64).all()
    report = tmp_path / "rep" / "r.md"
    r = CliRunner().invoke(app, ["report", "--results", str(results), "-o", str(report), "--no-samples"])
    assert r.exit_code == 0, r.output
    text = report.read_text()
    for heading in ("fid_inf", "Precision-recall curves", "Diversity", "Class distribution", "Per-class FID"):
        assert heading in text
    assert "Training-set copying" in text and "most-copied samples" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((report.parent / link).is_file() for link in links)
    header = text.split("## Beyond FID")[0]
    first_class = str(per_class["metric"].iloc[0])
    assert first_class not in header and "auth_pct_pixels" not in header  # their own sections


def test_json_and_bootstrap_reasons(sets, tmp_cache):
    """k-means, extrapolation and k-NN metrics get no bootstrap interval (each states why); fid and kid do."""
    r = CliRunner().invoke(
        app,
        [
            "eval",
            sets["real"],
            sets["fake"],
            "-m",
            "fid,kid,prd,fid_inf,vendi",
            "-e",
            "dummy",
            "--bootstrap",
            "5",
        ]
        + ["-q", "--no-save", "--json"],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc["cis"]) == {"fid", "kid_mean"}
    from gan_eval.metrics import get_metric

    for name in ("prd", "fid_inf", "vendi", "copy", "pr", "dc"):
        assert len(get_metric(name).no_bootstrap or "") > 20


def test_gates_take_the_new_keys(tmp_path):
    """Absolute bounds work on any value (C_T has no direction: about 0 is right); a regression margin
    needs a direction."""
    from gan_eval.errors import UserError
    from gan_eval.reporting import load_gate_config

    ok = tmp_path / "ok.toml"
    ok.write_text(
        "[absolute]\ncopying_ct = { min = -3 }\nauth_pct = { min = 50 }\nfid_class_3 = { max = 40 }\n"
    )
    cfg = load_gate_config(ok)
    assert [r.metric for r in cfg.absolute] == ["copying_ct", "auth_pct", "fid_class_3"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[regression]\nbaseline = "b.json"\ncopying_ct = { margin = 1 }\n')
    with pytest.raises(UserError, match="no single good direction"):
        load_gate_config(bad)
