"""The cache root (a file, read-only), atomic writes to paths that cannot be written, and the temporary files
interrupted writes leave behind (issue 15 items 8, 11 and 12)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gan_eval import atomic, cache
from gan_eval.cli import app
from gan_eval.errors import UserError
from gan_eval.stats import Moments
from gan_eval.stats.reference import load_cached, save_cached, shipped_stats_dir, stats_key

runner = CliRunner()
OLD = 2 * atomic.STALE_TMP_AGE_S


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def _moments(d: int = 4) -> Moments:
    return Moments(np.arange(float(d)), np.eye(d), 10, {"spec": "t"})


# ---------------------------------------------------------------- the root
@pytest.mark.parametrize("below", [False, True])
def test_a_cache_root_that_is_a_file_is_one_user_error(tmp_path, monkeypatch, below):
    (tmp_path / "f").write_text("x")
    root = tmp_path / "f" / "sub" if below else tmp_path / "f"
    monkeypatch.setenv("GAN_EVAL_CACHE", str(root))
    with pytest.raises(UserError, match=r"^\$GAN_EVAL_CACHE=.*f.*not a folder") as info:
        cache.cache_dir("stats")
    assert "\n" not in str(info.value)


def _read_only_root(tmp_path: Path, monkeypatch) -> Path:
    """A cache root that cannot be written. Root ignores permission bits, so for root the test makes every
    write probe and every temporary file under it fail as a read-only mount would (EROFS)."""
    root = tmp_path / f"ro-{uuid.uuid4().hex[:8]}"  # a fresh root: the warning is once per root and process
    root.mkdir()
    if os.geteuid() != 0:
        root.chmod(0o555)
        return root
    import errno
    import tempfile

    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and Path(dir).resolve().is_relative_to(root.resolve()):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return root


def test_a_read_only_cache_is_read_warned_about_once_and_never_written(tmp_path, monkeypatch):
    """Item 8: a read-only cache used to be a traceback. Entries already there are used, nothing is written,
    one warning says so; a corrupt entry there is ignored (it cannot be removed)."""
    writable = tmp_path / "rw"
    monkeypatch.setenv("GAN_EVAL_CACHE", str(writable))
    save_cached("a" * 64, _moments(), features=np.ones((3, 4), np.float32))
    save_cached("b" * 64, _moments())
    ro = _read_only_root(tmp_path, monkeypatch)
    for p in (writable / "stats").iterdir():
        (ro / "stats").mkdir(exist_ok=True)
        (ro / "stats" / p.name).write_bytes(p.read_bytes())
    bad = ro / "stats" / f"{'b' * 32}.npz"
    bad.write_bytes(bad.read_bytes()[:-7])  # corrupt: its sidecar no longer matches
    monkeypatch.setenv("GAN_EVAL_CACHE", str(ro))
    before = sorted((p.name, p.stat().st_size) for p in (ro / "stats").iterdir())
    with pytest.warns(UserWarning, match="is not writable .*computing without caching") as caught:
        hit = load_cached("a" * 64, need_features=True)
        assert hit is not None and hit.features is not None
        assert save_cached("c" * 64, _moments()) is None
        assert save_cached("d" * 64, _moments()) is None
    assert sum("not writable" in str(w.message) for w in caught) == 1
    if os.geteuid() == 0:  # the simulated read-only mount: removing the corrupt entry fails too
        monkeypatch.setattr(
            Path, "unlink", lambda self, missing_ok=False: (_ for _ in ()).throw(PermissionError())
        )
    with pytest.warns(UserWarning, match="ignoring it \\(the cache is read-only\\)|removing it"):
        assert load_cached("b" * 64) is None
    if os.geteuid() == 0:
        assert sorted((p.name, p.stat().st_size) for p in (ro / "stats").iterdir()) == before


def test_a_read_only_cache_still_finds_the_shipped_statistics(tmp_path, monkeypatch):
    from gan_eval.stats import load_moments

    shipped = sorted(shipped_stats_dir().glob("*.npz"))[0]
    meta = load_moments(shipped).metadata
    fields = ("source", "n", "extractor", "protocol", "weights_sha256", "feature_dim", "precision")
    key = stats_key({k: meta[k] for k in fields})
    ro = _read_only_root(tmp_path, monkeypatch)
    monkeypatch.setenv("GAN_EVAL_CACHE", str(ro / "not-even-there"))
    with pytest.warns(UserWarning, match="not writable"):
        hit = load_cached(key)
    assert hit is not None and hit.path == shipped


def test_the_cli_runs_on_a_read_only_cache_with_one_warning_line(npz_pair, tmp_path, monkeypatch):
    real, fake = npz_pair(60, 40, 16, 60)
    ro = _read_only_root(tmp_path, monkeypatch)
    args = ["fid", "--real", str(real), "--fake", str(fake), "-e", "dummy", "--no-save", "--json", "-q"]
    r = runner.invoke(app, args, env={"GAN_EVAL_CACHE": str(ro)})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["values"]["fid"] > 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith("gan-eval: warning: $GAN_EVAL_CACHE=") and str(ro) in lines[0]
    )
    assert not any(ro.rglob("*.npz"))


# ---------------------------------------------------------------- outputs that cannot be written
def test_atomic_write_to_an_unwritable_target_is_a_user_error_naming_it(tmp_path):
    """Item 11 (and every other output): one line naming the file, no temporary file left."""
    (tmp_path / "adir").mkdir()
    with pytest.raises(atomic.OutputError, match=r"cannot write .*adir: it is a folder"):
        atomic.atomic_write_bytes(tmp_path / "adir", b"x")
    (tmp_path / "f").write_text("x")
    with pytest.raises(atomic.OutputError, match=r"cannot write .*f/out\.png: a part of its path is a file"):
        atomic.atomic_write_bytes(tmp_path / "f" / "out.png", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "f"] and not any(
        (tmp_path / "adir").iterdir()
    )


def test_an_oserror_about_another_file_inside_write_still_raises(tmp_path):
    """Bugs still raise: only errors about the output itself become UserErrors."""

    def write(tmp: Path) -> None:
        tmp.write_bytes((tmp_path / "missing-input").read_bytes())

    with pytest.raises(FileNotFoundError):
        atomic.atomic_write(tmp_path / "out", write)


def test_check_output_target_creates_nothing(tmp_path):
    atomic.check_output_target(tmp_path / "a" / "b" / "c.npz", "-o")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "d").mkdir()
    atomic.check_output_target(tmp_path / "d", "-o", allow_dir=True)
    with pytest.raises(UserError, match="-o .*d: is a folder"):
        atomic.check_output_target(tmp_path / "d", "-o")


# ---------------------------------------------------------------- temporary files of interrupted writes
def _tmp(folder: Path, name: str, age: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    p.write_bytes(b"partial")
    _age(p, age)
    return p


def test_the_next_write_of_a_target_removes_its_stale_temporary_files(tmp_path):
    """Item 12, next to -o outputs: stale files of the same name go; fresh ones and other names stay."""
    stale = _tmp(tmp_path, "out.npz", OLD)
    fresh = _tmp(tmp_path, "out.npz", 5)
    other = _tmp(tmp_path, "other.npz", OLD)
    atomic.atomic_write_bytes(tmp_path / "out.npz", b"data")
    assert not stale.exists() and fresh.exists() and other.exists()


def test_first_use_of_a_cache_folder_removes_its_stale_temporary_files(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    stale = [_tmp(root / "stats", "x.npz", OLD), _tmp(root / "stats", "y.features.npz.sha256", OLD)]
    fresh = _tmp(root / "stats", "z.npz", 5)
    monkeypatch.setenv("GAN_EVAL_CACHE", str(root))
    cache.cache_dir("stats")
    assert not any(p.exists() for p in stale) and fresh.exists()


def test_cache_ls_lists_temporary_files_and_cache_clear_removes_the_stale_ones(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("GAN_EVAL_CACHE", str(root))
    save_cached("e" * 64, _moments())
    stale_ds = _tmp(root / "datasets", "mnist-test.npz", OLD)
    fresh_ds = _tmp(root / "datasets", "mnist-train.npz", 5)
    _tmp(root / "stats", "q.npz", OLD)
    listing = json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout)["files"]
    notes = {f["file"]: f["note"] for f in listing}
    assert notes[stale_ds.name] == "temporary: interrupted write"
    assert notes[fresh_ds.name] == "temporary: being written"
    assert notes[f"{'e' * 32}.npz"] == ""
    r = runner.invoke(app, ["cache", "clear", "stats", "--yes"])
    assert r.exit_code == 0, r.output
    assert not (root / "stats").exists() and not stale_ds.exists() and fresh_ds.exists()
    assert str(stale_ds) in r.stdout
