"""The pipeline glue with the dummy extractor (tests/conftest.py): one pass, cache, stats files, errors."""

import numpy as np
import pytest
import scipy.linalg

import gan_eval
from gan_eval.errors import UserError
from gan_eval.pipeline import EvalConfig, compute_stats_file, evaluate


@pytest.fixture
def sets(npz_pair):
    real, fake = npz_pair(300, 200, 16, 60)
    return str(real), str(fake)


def _fid_reference(a, b):
    """float64 scipy sqrtm reference (pytorch-fid's formula)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _features(path):
    import torch

    from gan_eval.features import build_extractor

    x = torch.from_numpy(np.load(path)["images"])
    return build_extractor("dummy")(x)["features"].double().numpy()


def test_one_pass_several_metrics_match_references(sets, tmp_cache):
    real, fake = sets
    r = gan_eval.evaluate(
        real=real, fake=fake, metrics=["fid", "is", "kid", "pr", "dc"], extractor="dummy", progress=False
    )
    assert set(r.values) == {"fid", "is_mean", "kid_mean", "precision", "recall", "density", "coverage"}
    assert set(r.stds) == {"is_mean", "kid_mean"}
    ref = _fid_reference(_features(real), _features(fake))
    assert r.values["fid"] == pytest.approx(ref, rel=1e-6)
    assert r.n_fake == 200 and r.n_real["fid"] == 300 and r.n_real["is_mean"] == 0
    assert r.fingerprint["extractor"] == "dummy" and len(r.fingerprint["fingerprint"]) == 16
    assert r.class_counts is not None and r.class_counts.sum() == 200


def test_real_statistics_are_cached(sets, tmp_cache, monkeypatch):
    real, fake = sets
    first = evaluate(real=real, fake=fake, metrics=["fid", "kid"], extractor="dummy", progress=False)
    assert first.diagnostics["real_from_cache"] is False
    import gan_eval.pipeline as pl
    import gan_eval.stats.reference as ref

    calls = []
    original = pl.extract
    for module in (pl, ref):  # the fake pass (pipeline) and the real pass (stats.reference)
        monkeypatch.setattr(
            module, "extract", lambda src, *a, **k: calls.append(src.spec) or original(src, *a, **k)
        )
    second = evaluate(real=real, fake=fake, metrics=["fid", "kid"], extractor="dummy", progress=False)
    assert second.diagnostics["real_from_cache"] is True
    assert calls == [fake]  # the real set was not extracted again
    assert second.values == first.values
    # FID alone is served by the same pass too
    third = evaluate(real=real, fake=fake, metrics=["fid"], extractor="dummy", progress=False)
    assert third.diagnostics["real_from_cache"] is True and third.values["fid"] == first.values["fid"]


def test_stats_file_round_trip(sets, tmp_cache, tmp_path):
    real, fake = sets
    info = compute_stats_file(real, tmp_path / "real_stats.npz", extractor="dummy", progress=False)
    assert info["n"] == 300 and info["dim"] == 16
    a = evaluate(real=real, fake=fake, metrics=["fid"], extractor="dummy", progress=False, use_cache=False)
    b = evaluate(real=info["path"], fake=fake, metrics=["fid"], extractor="dummy", progress=False)
    assert b.values["fid"] == pytest.approx(a.values["fid"], rel=1e-12)
    with pytest.raises(UserError, match="holds no features"):
        evaluate(real=info["path"], fake=fake, metrics=["kid"], extractor="dummy", progress=False)


def test_bootstrap_intervals_bracket_the_value(sets, tmp_cache):
    real, fake = sets
    r = evaluate(
        config=EvalConfig(
            real=real, fake=fake, metrics=("fid", "pr", "is"), extractor="dummy", bootstrap=20, progress=False
        )
    )
    lo, hi = r.cis["fid"]
    assert lo < hi and set(r.cis) == {"fid", "is_mean"}  # k-NN metrics get no (biased) bootstrap interval


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metrics": ["nope"]}, "unknown metric"),
        ({"extractor": "nope"}, "unknown extractor"),
        ({"precision": "fp8"}, "--precision"),
        ({"device": "tpu"}, "--device"),
    ],
)
def test_bad_options(sets, tmp_cache, kwargs, message):
    real, fake = sets
    opts = {"metrics": ["fid"], "extractor": "dummy", "progress": False, **kwargs}
    with pytest.raises(UserError, match=message):
        evaluate(real=real, fake=fake, **opts)


def test_shipped_statistics_are_used_and_checked(sets, tmp_path, monkeypatch):
    """`gan-eval stats SPEC -o assets/stats/` writes an entry under its key; a fresh cache then uses it."""
    import gan_eval.stats.reference as sc

    real, fake = sets
    shipped = tmp_path / "assets_stats"
    shipped.mkdir()
    monkeypatch.setattr(sc, "shipped_stats_dir", lambda: shipped)
    monkeypatch.setenv("GAN_EVAL_CACHE", str(tmp_path / "cache_a"))
    info = compute_stats_file(real, shipped, extractor="dummy", compact=True, progress=False)
    assert info["path"].startswith(str(shipped))
    reference = evaluate(
        real=real, fake=fake, metrics=["fid"], extractor="dummy", progress=False, use_cache=False
    )
    monkeypatch.setenv("GAN_EVAL_CACHE", str(tmp_path / "cache_b"))  # empty: only the shipped entry exists
    hit = evaluate(real=real, fake=fake, metrics=["fid"], extractor="dummy", progress=False)
    assert hit.diagnostics["real_from_cache"] is True
    assert hit.values["fid"] == pytest.approx(reference.values["fid"], rel=1e-5)  # sigma stored as float32
    path = shipped / info["path"].split("/")[-1]
    path.write_bytes(path.read_bytes()[:-10])  # corrupt the shipped file: ignored, recomputed, never used
    monkeypatch.setenv("GAN_EVAL_CACHE", str(tmp_path / "cache_c"))
    with pytest.warns(UserWarning, match="do not match their sha256"):
        again = evaluate(real=real, fake=fake, metrics=["fid"], extractor="dummy", progress=False)
    assert again.diagnostics["real_from_cache"] is False
    assert again.values["fid"] == pytest.approx(reference.values["fid"], rel=1e-9)


def test_compact_statistics_are_accepted_as_real(sets, tmp_cache, tmp_path):
    """Issue 15 item 6: ``gan-eval stats --compact`` files (and the shipped ones) were refused as --real
    ("no image array found"). The compact file stores sigma as float32, so FID moves a little; the bound:
    sqrt(FID) is the W2 distance of the Gaussians, a metric, so |sqrt(FID_compact) - sqrt(FID_full)| <=
    W2(N(mu, S), N(mu, S')) <= ||S^1/2 - S'^1/2||_F <= sqrt(||S - S'||_trace) (Powers-Stormer), with S - S'
    read from the two files; plus 1e-9 relative for float64 rounding."""
    from gan_eval.data.spec import is_stats_file
    from gan_eval.stats import load_moments
    from gan_eval.stats.reference import shipped_stats_dir

    real, fake = sets
    full = compute_stats_file(real, tmp_path / "full.npz", extractor="dummy", progress=False)["path"]
    compact = compute_stats_file(real, tmp_path / "c.npz", extractor="dummy", compact=True, progress=False)[
        "path"
    ]
    assert is_stats_file(compact)
    a = evaluate(real=full, fake=fake, metrics=["fid", "is"], extractor="dummy", progress=False)
    b = evaluate(real=compact, fake=fake, metrics=["fid", "is"], extractor="dummy", progress=False)
    e = load_moments(full).sigma - load_moments(compact).sigma
    bound = np.sqrt(np.abs(np.linalg.eigvalsh(e)).sum()) + 1e-9 * np.sqrt(a.values["fid"])
    assert abs(np.sqrt(b.values["fid"]) - np.sqrt(a.values["fid"])) <= bound
    assert b.values["is_mean"] == a.values["is_mean"]  # IS reads the fake set only
    for metric in ("kid", "pr", "dc"):  # the metrics that need real features refuse clearly
        with pytest.raises(UserError, match="holds no features"):
            evaluate(real=compact, fake=fake, metrics=[metric], extractor="dummy", progress=False)
    shipped = sorted(shipped_stats_dir().glob("*.npz"))
    assert shipped and all(is_stats_file(str(p)) for p in shipped)
    # the shipped file records Inception: -e dummy is refused before any pass (not a dimension error later)
    with pytest.raises(UserError, match="made with extractor inception, but --extractor dummy was given"):
        evaluate(real=str(shipped[0]), fake=fake, metrics=["fid"], extractor="dummy", progress=False)


def test_the_fid_walk_reads_the_checkpoint_once(tmp_cache, monkeypatch):
    """`gan-eval fid --real mnist:test --fake ckpt.pt`: the checkpoint file is read once - its bytes give the
    format check, the dict, the sha256 of the source identity, and the epoch/step of the results rows (no
    second read for the rows, no separate hash of the file)."""
    from pathlib import Path

    from typer.testing import CliRunner

    import gan_eval.atomic as atomic
    import gan_eval.data.checkpoint_format as fmt
    from gan_eval.cli import app

    ckpt = Path("tests/data/mlp_gan_mnist.pt").resolve()
    reads: list[Path] = []
    original_read_bytes = Path.read_bytes

    def counting_read_bytes(self):
        if self.resolve() == ckpt:
            reads.append(self)
        return original_read_bytes(self)

    hashed: list[Path] = []
    original_sha = atomic.sha256_file
    monkeypatch.setattr(Path, "read_bytes", counting_read_bytes)
    monkeypatch.setattr(atomic, "sha256_file", lambda p, *a: hashed.append(Path(p)) or original_sha(p, *a))
    loads: list[object] = []
    original_load = fmt.torch.load
    monkeypatch.setattr(fmt.torch, "load", lambda *a, **k: loads.append(a[0]) or original_load(*a, **k))
    results = tmp_cache.parent / "r.csv"
    r = CliRunner().invoke(
        app,
        ["fid", "--real", "mnist:test", "--fake", str(ckpt), "-e", "mnist-lenet", "--n", "200", "-q"]
        + ["--results", str(results)],
    )
    assert r.exit_code == 0, r.output
    assert len(reads) == 1
    assert len([x for x in loads if not str(x).endswith("mnist_lenet.pt")]) == 1  # the extractor's own file
    assert ckpt not in [p.resolve() for p in hashed]
    from gan_eval.results import load_results

    row = load_results(results).iloc[0]
    assert row["checkpoint"] == str(ckpt) and int(row["epoch"]) == 20
