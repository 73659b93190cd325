"""kill -9 at random points of every kind of write, and at the instants around a cache file's rename;
afterwards each file under its final name is complete (it loads, and its sha256 sidecar exists and lists
it) or absent, and the next run succeeds and removes the temporary files the kills left behind.

One subprocess (crash_driver.py) imports gan-eval once and forks a child per kill: ``gan-eval stats -o``
(which also writes the statistics cache), a statistics-cache entry with features (4 MB), a training
checkpoint, and results-table appends (CSV and parquet), each killed after a seeded random delay, several
seeds per kind; and cache-entry writes killed right before and right after the rename of each of their two
files, into an empty cache and over an older entry (issue 22 section 5 item 10: a kill after the rename used
to leave a complete file with no sidecar). Evidence that kills land inside writes: temporary files found
right after some kills.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import CKPT, invoke

from gan_eval import atomic
from gan_eval.atomic import STALE_TMP_AGE_S, sha256_file

KINDS = {  # kind -> kill delay range in seconds, from the fork
    "stats": (0.5, 4.0),  # the first pass loads the extractor, computes and caches the real statistics
    "cache": (0.05, 0.8),
    "checkpoint": (0.05, 0.6),
    "results": (0.05, 0.5),
    "results-parquet": (0.1, 0.8),
}
SEEDS = range(4)
#: kinds killed at one instant (crash_driver.py): before/after the rename of file 1 or 2 of a cache entry
INSTANT_KINDS = [
    f"cache-at-{point}-{nth}-{start}"
    for point in ("before", "after")
    for nth in (1, 2)
    for start in ("fresh", "replacing")
]
AFTER_READY = {"stats": (0.0, 0.3)}  # odd seeds of these kinds: the delay counts from the first write's end
DRIVER = Path(__file__).with_name("crash_driver.py")


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """Run the driver: one kill per (kind, seed). Returns the driver's report (one dict per kill)."""
    root = tmp_path_factory.mktemp("crash")
    images = root / "images.npz"
    np.savez(images, images=np.random.default_rng(0).integers(0, 256, (300, 1, 28, 28), dtype=np.uint8))
    jobs = []
    for kind, (lo, hi) in KINDS.items():
        for seed in SEEDS:
            after_ready = kind in AFTER_READY and seed % 2 == 1
            lo, hi = AFTER_READY[kind] if after_ready else (lo, hi)
            delay = float(np.random.default_rng([seed, len(kind)]).uniform(lo, hi))
            work = str(root / f"{kind}-{seed}")
            jobs.append(
                {"kind": kind, "seed": seed, "delay": delay, "after_ready": after_ready, "work": work}
            )
    for kind in INSTANT_KINDS:
        jobs.append({"kind": kind, "seed": 0, "delay": 0.0, "self_kill": True, "work": str(root / kind)})
    plan = root / "plan.json"
    plan.write_text(json.dumps({"jobs": jobs, "ckpt": str(CKPT), "images": str(images)}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(plan)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"images": images, "jobs": report}


def _jobs(crashed, kind):
    return [j for j in crashed["jobs"] if j["kind"] == kind]


def _sidecar_ok(path: Path) -> None:
    """Every file under its final name has a sidecar that lists its checksum (two are listed while a write
    replaces the file), at every instant of a write."""
    side = path.with_name(path.name + ".sha256")
    assert side.exists(), f"{path}: a complete file without its sidecar"
    listed = [line.split()[0] for line in side.read_text().splitlines()]
    assert sha256_file(path) in listed, f"{path}: its sidecar does not list it"


def _check_final_files(kind: str, work: Path) -> None:
    from gan_eval.data.checkpoint_format import load_checkpoint
    from gan_eval.results import load_results
    from gan_eval.stats import load_moments

    finals = [p for p in work.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for p in finals:
        if p.suffix == ".sha256":  # checked with its file
            continue
        if (kind in ("stats", "cache") or kind.startswith("cache-at-")) and p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:  # every array readable: the file is complete
                for k in z.files:
                    z[k]
            if not p.name.endswith(".features.npz"):
                load_moments(p)
            _sidecar_ok(p)
        elif kind == "checkpoint":
            assert {"generator", "latent"} <= set(load_checkpoint(p))
        elif kind.startswith("results"):
            df = load_results(p)
            assert len(df) % 2 == 0, f"{p}: an append was split ({len(df)} rows)"
            if p.suffix == ".csv":
                assert p.read_bytes().endswith(b"\n")
    assert not list(work.glob("*.lock")), "no lock files next to results tables"


@pytest.mark.parametrize("kind", list(KINDS))
def test_kill_9_leaves_each_final_file_complete_or_absent(crashed, kind):
    jobs = _jobs(crashed, kind)
    assert len(jobs) == len(SEEDS) and all(j["killed"] for j in jobs)
    for job in jobs:
        _check_final_files(kind, Path(job["work"]))


@pytest.mark.parametrize("kind", INSTANT_KINDS)
def test_a_kill_around_a_cache_files_rename_leaves_an_entry_that_is_used_or_absent(
    crashed, kind, monkeypatch
):
    """Each file of the entry is the old or the new one, listed by its sidecar: read back without a warning
    (a file without a sidecar, or a sidecar that does not list it, would be reported and rebuilt)."""
    import warnings

    from crash_driver import INSTANT_KEY

    from gan_eval.stats.reference import load_cached

    (job,) = _jobs(crashed, kind)
    assert job["killed"], job
    work = Path(job["work"])
    _check_final_files(kind, work)
    monkeypatch.setenv("GAN_EVAL_CACHE", str(work / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entry = load_cached(INSTANT_KEY)
        with_features = load_cached(INSTANT_KEY, need_features=True)
    replacing, point, nth = kind.endswith("replacing"), kind.split("-")[2], int(kind.split("-")[3])
    assert (entry is not None) == (replacing or point == "after" or nth == 2)
    assert (with_features is not None) == (replacing or (point, nth) == ("after", 2))
    if entry is not None:  # the statistics are the new ones once their rename happened
        assert entry.moments.mu[0] == (1.0 if (point, nth) != ("before", 1) else 0.0)


def test_some_kills_landed_inside_a_write(crashed):
    """Without this the test above could pass by killing only between writes. The cache and checkpoint
    loops spend about half their time inside a write (measured), so with 12 kills of the atomic-write kinds,
    fewer than two inside a write has odds below 1/1000; and every kind must have finished some write."""
    atomic = [j for j in crashed["jobs"] if j["kind"] in ("cache", "checkpoint", "results-parquet")]
    assert sum(bool(j["temps"]) for j in atomic) >= 2, atomic
    before = [j for j in crashed["jobs"] if j["kind"].startswith("cache-at-before")]
    assert all(j["temps"] for j in before), before  # killed with the new file written, not yet renamed
    for kind in KINDS:
        assert any(any(Path(j["work"]).rglob("*.*")) for j in _jobs(crashed, kind)), (
            f"{kind}: nothing written"
        )


def _rerun(kind: str, work: Path, images: Path) -> None:
    """The same write once more, in this process, after the crash."""
    import torch

    if kind == "stats":
        r = invoke(["stats", images, "-o", work / "stats.npz", "-e", "mnist-lenet", "-q"])
        assert r.exit_code == 0, r.output
    elif kind == "cache" or kind.startswith("cache-at-"):
        from gan_eval.stats import Moments
        from gan_eval.stats.reference import load_cached, save_cached

        mu, sigma = np.zeros(4), np.eye(4)
        assert save_cached("c" * 64, Moments(mu, sigma, 10, {}), features=np.ones((3, 4), np.float32))
        assert load_cached("c" * 64, need_features=True) is not None
    elif kind == "checkpoint":
        from gan_eval.data.checkpoint_format import load_checkpoint
        from gan_eval.train.checkpoint import save_checkpoint

        path = save_checkpoint(torch.load(CKPT, weights_only=True), work / "ckpt_epoch_001.pt")
        load_checkpoint(path)
    else:
        from gan_eval.results import append_results, load_results, make_rows

        meta = {"real": "r", "fake": "f", "n_real": 1, "n_fake": 1, "extractor": "e", "protocol": "p"}
        meta |= {"precision": "fp32", "seed": 0, "device": "cpu"}
        path = work / ("results.csv" if kind == "results" else "results.parquet")
        n = len(load_results(path)) if path.exists() else 0
        append_results(make_rows({"fid": 3.0, "kid_mean": 4.0}, meta=meta), path)
        assert len(load_results(path)) == n + 2


@pytest.mark.parametrize("kind", [*KINDS, *INSTANT_KINDS])
def test_the_next_run_succeeds_and_removes_stale_temporary_files(crashed, kind, monkeypatch):
    from gan_eval import cache

    monkeypatch.setattr(cache, "_checked", set())  # the next run is a new process: it sweeps each folder anew
    for job in _jobs(crashed, kind):
        work = Path(job["work"])
        monkeypatch.setenv("GAN_EVAL_CACHE", str(work / "cache"))
        old = time.time() - 2 * STALE_TMP_AGE_S
        temps = [Path(t) for t in job["temps"]]
        for t in temps:  # as if the crash was long ago
            os.utime(t, (old, old))
        _rerun(kind, work, crashed["images"])
        left = sorted(str(p) for p in work.rglob(".*.tmp"))
        assert left == [], left
        _check_final_files(kind, work)


def test_fresh_temporary_files_are_never_removed(tmp_path):
    """The age rule and the lock rule each protect a live writer's temporary file."""
    import fcntl

    fresh = tmp_path / ".out.npz.abcd1234.tmp"
    fresh.write_bytes(b"being written")
    locked = tmp_path / ".out.npz.efgh5678.tmp"
    locked.write_bytes(b"being written, for a long time")
    old = time.time() - 2 * STALE_TMP_AGE_S
    os.utime(locked, (old, old))
    fd = os.open(locked, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # flock locks belong to the open file description: a second open in this process conflicts like
        # another process would
        assert atomic.sweep_stale_temps(tmp_path) == []
        assert fresh.exists() and locked.exists()
    finally:
        os.close(fd)
    assert atomic.sweep_stale_temps(tmp_path) == [locked]
    assert fresh.exists()
