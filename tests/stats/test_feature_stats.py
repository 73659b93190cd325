"""FeatureStats against numpy's mean/cov (float64 brute force), merging, state and the .npz file."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from gan_eval.errors import UserError
from gan_eval.stats import FORMAT_VERSION, FeatureStats, Moments, load_moments, save_moments
from gan_eval.stats import feature_stats as fs_mod


def _data(n: int = 500, d: int = 12, offset: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ a + offset).astype(np.float64)


def _close(a: np.ndarray, b: np.ndarray, rtol: float) -> None:
    scale = np.abs(b).max()
    assert np.abs(a - b).max() <= rtol * scale, np.abs(a - b).max() / scale


def test_streaming_chunks_equal_one_shot_and_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _data()
    one = FeatureStats(x.shape[1]).update(x)
    monkeypatch.setattr(fs_mod, "ROW_CHUNK", 7)  # also exercise the row chunks inside one update
    streamed = FeatureStats(x.shape[1])
    for part in np.array_split(x, [1, 2, 50, 51, 333]):  # uneven, including 1-row batches
        streamed.update(torch.from_numpy(part))
    assert one.n == streamed.n == len(x)
    for s in (one, streamed):
        _close(s.mean(), x.mean(axis=0), 1e-10)
        _close(s.cov(), np.cov(x, rowvar=False), 1e-10)
    assert np.array_equal(streamed.cov(), streamed.cov().T)


def test_large_mean_offset_keeps_precision() -> None:
    # mean 1e6, unit-scale spread: the naive (S - n mu mu^T)/(n-1) in float64 loses ~12 digits
    x = _data(n=400, d=6, offset=1e6, seed=1)
    s = FeatureStats(6)
    for part in np.array_split(x, 9):
        s.update(part)
    ref = np.cov(x - x.mean(axis=0), rowvar=False)  # exact centring first
    _close(s.cov(), ref, 1e-9)
    naive_s = x.T @ x
    naive = (naive_s - len(x) * np.outer(x.mean(0), x.mean(0))) / (len(x) - 1)
    assert np.abs(naive - ref).max() > 1e-6 * np.abs(ref).max()  # the test data really defeats the naive form


def test_merge_equals_concatenation_and_keeps_inputs() -> None:
    x, y = _data(seed=2), _data(n=77, seed=3) + 3.0
    a = FeatureStats(12, keep_features=True).update(x)
    b = FeatureStats(12, keep_features=True).update(y)
    a_cov = a.cov().copy()
    m = a.merge(b)
    both = np.concatenate([x, y])
    _close(m.mean(), both.mean(0), 1e-10)
    _close(m.cov(), np.cov(both, rowvar=False), 1e-10)
    assert m.n == len(both)
    np.testing.assert_array_equal(m.features(), both.astype(np.float32))
    assert np.array_equal(a.cov(), a_cov) and a.n == len(x)  # merge() does not modify its inputs
    a.merge_(b)
    _close(a.cov(), np.cov(both, rowvar=False), 1e-10)


def test_merge_with_empty_and_dimension_mismatch() -> None:
    x = _data()
    s = FeatureStats(12).update(x).merge(FeatureStats(12))
    _close(s.cov(), np.cov(x, rowvar=False), 1e-12)
    s2 = FeatureStats(12).merge(FeatureStats(12).update(x))
    _close(s2.cov(), np.cov(x, rowvar=False), 1e-12)
    with pytest.raises(UserError):
        s.merge_(FeatureStats(3))


def test_keep_features_max_kept_and_float32() -> None:
    x = _data(n=50)
    s = FeatureStats(12, keep_features=True, max_kept=20)
    for part in np.array_split(x, 6):
        s.update(part)
    feats = s.features()
    assert feats is not None and feats.dtype == np.float32 and feats.shape == (20, 12)
    np.testing.assert_array_equal(feats, x[:20].astype(np.float32))
    assert s.n == 50
    assert FeatureStats(12).update(x).features() is None


def test_state_round_trip() -> None:
    x = _data(n=60)
    s = FeatureStats(12, keep_features=True, max_kept=40).update(x)
    state = s.to_state()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    r = FeatureStats.from_state({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    assert r.n == 60 and r.max_kept == 40 and r.keep_features
    np.testing.assert_array_equal(r.mean(), s.mean())
    np.testing.assert_array_equal(r.cov(), s.cov())
    np.testing.assert_array_equal(r.features(), s.features())


def test_user_errors() -> None:
    s = FeatureStats(4)
    with pytest.raises(UserError):
        s.mean()
    s.update(np.ones((1, 4)))
    with pytest.raises(UserError, match="at least 2"):
        s.cov()
    with pytest.raises(UserError, match="dimension"):
        s.update(np.ones((3, 5)))
    with pytest.raises(UserError, match="2-D"):
        s.update(np.ones(4))
    with pytest.raises(UserError, match="NaN"):
        s.update(np.full((2, 4), np.nan))


def test_save_load_round_trip(tmp_path) -> None:
    x = _data(n=100)
    s = FeatureStats(12).update(x)
    meta = {"extractor": "dummy", "n": 100, "protocol": "pytorch-fid"}
    path = s.save(tmp_path / "s.npz", meta)
    assert (tmp_path / "s.npz.sha256").exists()  # written through gan_eval.cache.atomic_write
    m = FeatureStats.load(path)
    assert isinstance(m, Moments) and m.n == 100 and m.metadata == meta and m.dim == 12
    np.testing.assert_array_equal(m.mu, s.mean())
    np.testing.assert_array_equal(m.sigma, s.cov())
    with np.load(path) as z:
        assert int(z["format_version"]) == FORMAT_VERSION and z["mu"].dtype == np.float64
        assert json.loads(str(z["metadata"])) == meta


def test_compact_save(tmp_path) -> None:
    s = FeatureStats(12).update(_data(n=100))
    m = load_moments(s.save(tmp_path / "c.npz", {}, compact=True))
    np.testing.assert_allclose(m.sigma, s.cov(), rtol=1e-6, atol=1e-7 * np.abs(s.cov()).max())
    np.testing.assert_array_equal(m.sigma, m.sigma.T)
    with np.load(tmp_path / "c.npz") as z:
        assert "sigma" not in z.files and z["sigma_triu"].dtype == np.float32


def test_pytorch_fid_style_file(tmp_path) -> None:
    x = _data(n=100)
    p = tmp_path / "pf.npz"
    np.savez(p, mu=x.mean(0).astype(np.float32), sigma=np.cov(x, rowvar=False))
    m = load_moments(p)
    assert m.n is None and m.metadata == {} and m.mu.dtype == np.float64
    np.testing.assert_allclose(m.sigma, np.cov(x, rowvar=False))


def test_corrupt_and_inconsistent_files(tmp_path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_moments(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(UserError, match="not a readable"):
        load_moments(bad)
    good = save_moments(tmp_path / "g.npz", Moments(np.zeros(3), np.eye(3), 5, {}))
    trunc = tmp_path / "t.npz"
    trunc.write_bytes(good.read_bytes()[:100])
    with pytest.raises(UserError):
        load_moments(trunc)
    wrong = tmp_path / "w.npz"
    np.savez(wrong, mu=np.zeros(3), sigma=np.eye(4))
    with pytest.raises(UserError, match="shape"):
        load_moments(wrong)
    nomu = tmp_path / "n.npz"
    np.savez(nomu, sigma=np.eye(4))
    with pytest.raises(UserError, match="'mu'"):
        load_moments(nomu)
    assert zipfile.is_zipfile(good)
