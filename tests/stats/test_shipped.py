"""The Inception statistics shipped in gan_eval/assets/stats: intact, keyed by their own metadata, and giving
the recorded FID between mnist:train and mnist:test."""

from __future__ import annotations

import numpy as np

from gan_eval.atomic import sha256_file
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.stats import load_moments
from gan_eval.stats.reference import shipped_stats_dir, stats_key

FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
KEY_FIELDS = ("source", "n", "extractor", "protocol", "weights_sha256", "feature_dim", "precision")
EXPECTED_N = {"mnist:train": 60_000, "mnist:test": 10_000}


def _shipped() -> dict[str, object]:
    out = {}
    for f in sorted(shipped_stats_dir().glob("*.npz")):
        recorded = (f.parent / (f.name + ".sha256")).read_text().split()[0]
        assert sha256_file(f) == recorded, f"{f.name}: content differs from its .sha256 sidecar"
        m = load_moments(f)
        out[m.metadata["spec"]] = (f, m)
    return out


def test_shipped_files_match_their_keys_and_sidecars():
    shipped = _shipped()
    assert set(shipped) == set(EXPECTED_N)
    for spec, (f, m) in shipped.items():
        meta = m.metadata
        key = stats_key({k: meta[k] for k in KEY_FIELDS})
        assert key == meta["key"] and f.stem == key[:32], f"{f.name}: not stored under its own key"
        assert (meta["extractor"], meta["protocol"], meta["precision"]) == (
            "inception",
            "pytorch-fid",
            "fp32",
        )
        assert meta["weights_sha256"] == FID_HELPER_SHA256
        assert m.n == EXPECTED_N[spec] and meta["n"] == EXPECTED_N[spec]
        assert meta["command"].startswith(f"gan-eval stats {spec} ")
        assert m.mu.dtype == np.float64 and m.mu.shape == (2048,)
        assert m.sigma.shape == (2048, 2048) and np.array_equal(m.sigma, m.sigma.T)
        assert np.linalg.eigvalsh(m.sigma).min() > -1e-6  # a covariance (float32 storage rounding only)


def test_fid_between_the_shipped_splits():
    """Recorded when the mnist:train statistics were made (benchmarks/RESULTS_GPU.md): 1.0309931; the float32
    storage of sigma moves it by far less than 1e-6."""
    shipped = _shipped()
    (_, tr), (_, te) = shipped["mnist:train"], shipped["mnist:test"]
    fid = fid_from_stats(tr.mu, tr.sigma, te.mu, te.sigma, n1=tr.n, n2=te.n)["fid"]
    assert abs(fid - 1.0309931) < 1e-6
