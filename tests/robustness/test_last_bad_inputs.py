"""Bad inputs of issue 22 section 5 that the table of test_cli_cases.py cannot hold: a training run that
diverges, a zip far larger than its members' use, a read-only cache to clear, cache entries swapped or
half-written. Each ends in one UserError (exit code 2 through the CLI) and writes nothing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import assert_one_line_error, invoke, tree

from gan_eval.atomic import probe_writable
from gan_eval.errors import UserError
from gan_eval.train import load_train_config, train
from gan_eval.train.config import TrainConfig

REPO_CONFIG = "configs/train/mlp_gan.toml"


def _tiny_config(**changes) -> TrainConfig:
    from robust_helpers import CKPT

    config = load_train_config(CKPT.parents[2] / REPO_CONFIG)
    return dataclasses.replace(config, epochs=1, batch_size=32, **changes)


def _images(n: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)


# ---------------------------------------------------------------- item 4: no empty --out on any failure
def test_a_diverging_run_is_one_user_error_and_leaves_no_run_folder(tmp_path):
    """lr_g = 1e30 used to end in BCELoss's RuntimeError, leaving an empty run folder."""
    out = tmp_path / "runs" / "lr"
    with pytest.raises(UserError, match="training diverged in epoch 1.*last good checkpoint is none"):
        train(_tiny_config(lr_g=1e30), out=out, images=_images(), progress=False, device="cpu")
    assert list(tmp_path.iterdir()) == []  # neither runs/lr nor runs/


def test_a_failed_run_keeps_a_folder_it_did_not_create(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    before = tree(tmp_path)
    with pytest.raises(UserError, match="diverged"):
        train(_tiny_config(lr_g=1e30), out=out, images=_images(), progress=False, device="cpu")
    assert tree(tmp_path) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="diverged"):
        train(_tiny_config(lr_g=1e30), out=empty, images=_images(), progress=False, device="cpu")
    assert empty.is_dir()


def test_a_network_too_large_to_build_is_refused_before_any_allocation(tmp_path):
    """Every size within its bound, the product not: counted on the meta device, then refused (item 2), when
    the config is made and again when train() builds it for images of another shape."""
    with pytest.raises(UserError, match=r"discriminator 'mlp' would have 4,346,544,129 parameters"):
        _tiny_config(discriminator_args={"hidden": [65_536, 65_536]})
    config = _tiny_config(generator_args={"hidden": 60_000})  # 47 M parameters for 28x28 images
    big = np.zeros((64, 3, 128, 128), np.uint8)  # 2.9 G for 3x128x128 ones
    with pytest.raises(UserError, match=r"generator 'mlp' would have 2,955,\d{3},\d{3} parameters"):
        train(config, out=tmp_path / "run", images=big, progress=False, device="cpu")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- item 3: every count has a stated bound
def _commands(typer_app, path=()):
    for command in typer_app.registered_commands:
        yield (*path, command.name or command.callback.__name__), command.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, (*path, group.name))


def test_every_integer_option_of_every_command_states_and_checks_an_upper_bound():
    """Item 3: a count beyond what a machine can do is refused at parse time, and the help says where the
    bound is. An integer option added without a bound in gan_eval.limits.COUNTS fails here."""
    import inspect
    import typing

    from gan_eval.cli import app
    from gan_eval.limits import COUNTS, count_key, show

    seen = 0
    for path, callback in _commands(app):
        for p in inspect.signature(callback, eval_str=True).parameters.values():
            if typing.get_origin(p.annotation) is not typing.Annotated:
                continue
            base, *meta = typing.get_args(p.annotation)
            if not (base is int or int in typing.get_args(base)):
                continue
            info = meta[0]
            key = count_key(p.name)
            assert key in COUNTS, (path, p.name)
            assert info.callback is not None and info.help.endswith(f"..{show(COUNTS[key][1])}]"), (
                path,
                p.name,
            )
            seen += 1
    assert seen >= 40  # every evaluation command's --n, --seed, --batch-size, ... and the trainers'


# ---------------------------------------------------------------- item 7: zips are streamed, member by member
def _padded_png_zip(path, members: int, padding: int) -> int:
    """A zip of ``members`` 16x16 PNGs, each carrying ``padding`` zero bytes in a private chunk (deflated to
    almost nothing); returns the bytes its members declare in all."""
    import io
    import zipfile

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add(b"zzZz", b"\0" * padding)
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(buf, "PNG", pnginfo=info)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            zf.writestr(f"{i:04d}.png", buf.getvalue())
    return members * len(buf.getvalue())


@pytest.mark.parametrize("limit", [20, None])
def test_a_zip_is_read_member_by_member_in_bounded_memory(tmp_path, limit):
    """A 3 MB zip of 3 GiB used 6.9 GB; 30,000 members with --fake-limit 200, 818 MB: the whole zip was
    decompressed into memory. Now the peak of Python's own allocations (tracemalloc: the same on any
    machine) while opening, hashing and reading every batch stays under 16 MB for 200 MB of members."""
    import tracemalloc

    from gan_eval.data.files import ZipSource

    declared = _padded_png_zip(tmp_path / "many.zip", members=500, padding=400_000)
    assert declared > 200e6 and (tmp_path / "many.zip").stat().st_size < 2e6
    tracemalloc.start()
    try:
        src = ZipSource(tmp_path / "many.zip", spec="many.zip", limit=limit, workers=2)
        n = sum(len(b) for b in src.batches(50))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == (limit or 500)
    assert peak < 16e6, f"peak {peak / 1e6:.1f} MB"


def test_a_zip_member_that_declares_too_many_bytes_is_refused_unread(tmp_path):
    import struct

    from gan_eval.data.files import ZIP_MEMBER_MAX_BYTES, ZipSource

    _padded_png_zip(tmp_path / "x.zip", members=2, padding=10)
    data = bytearray((tmp_path / "x.zip").read_bytes())
    entry = data.rfind(b"PK\x01\x02")  # the last member's central directory entry: uncompressed size at +24
    struct.pack_into("<I", data, entry + 24, 3 * 2**30)
    (tmp_path / "x.zip").write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"x\.zip: member 0001\.png declares 3,221,225,472 bytes"):
        ZipSource(tmp_path / "x.zip", spec="x.zip")
    assert ZIP_MEMBER_MAX_BYTES < 3 * 2**30


# ---------------------------------------------------------------- item 8: clearing a read-only cache
@contextmanager
def _read_only(folder: Path):
    """``folder`` read-only for this process: 0o555 folders for a normal user; for root (whom permissions do
    not stop) a read-only bind mount of it, as a read-only file system would be. Skips when neither works."""
    if os.geteuid() != 0:
        folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
        for p in folders:
            p.chmod(0o555)
        try:
            yield
        finally:
            for p in folders:
                p.chmod(0o755)
        return
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"root, and no read-only bind mount here ({done.stderr.decode().strip()})")
    try:
        if probe_writable(folder) is None:
            pytest.skip("the bind mount is not read-only")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _filled_cache(root: Path) -> None:
    from gan_eval.stats import Moments
    from gan_eval.stats.reference import save_cached

    for key in ("a" * 64, "b" * 64):
        assert save_cached(key, Moments(np.zeros(4), np.eye(4), 10, {}), features=np.ones((3, 4), np.float32))
    (root / "compiled" / "sub").mkdir(parents=True)
    (root / "compiled" / "sub" / "kernel.so").write_bytes(b"x")


@pytest.mark.parametrize("kind", ["stats", "all"])
def test_clearing_a_read_only_cache_is_one_error_line_and_removes_nothing(tmp_cache, kind):
    """It printed "removed" and exit 0 while every file was still there (shutil.rmtree ignored errors)."""
    _filled_cache(tmp_cache)
    before = tree(tmp_cache)
    with _read_only(tmp_cache):
        result = invoke(["cache", "clear", kind, "--yes"])
        assert "removed" not in result.stdout
        assert_one_line_error(result, ("cannot remove", str(tmp_cache / "stats"), "nothing was removed"))
        assert tree(tmp_cache) == before


def test_a_file_that_cannot_be_removed_is_reported_not_counted_as_removed(tmp_cache):
    _filled_cache(tmp_cache)
    with _read_only(tmp_cache / "compiled" / "sub"):
        result = invoke(["cache", "clear", "compiled", "--yes"])
        assert "removed" not in result.stdout
        assert_one_line_error(result, ("cannot remove", "kernel.so", "1 file(s)", "compiled"))
        assert (tmp_cache / "compiled" / "sub" / "kernel.so").is_file()
    assert len(list((tmp_cache / "stats").iterdir())) == 8  # the other kinds are untouched


# ---------------------------------------------------------------- item 10: a cache entry under another's name
def test_a_cache_entry_swapped_for_another_valid_one_is_not_used(tmp_cache):
    """Another key's statistics file copied over an entry, with its own (matching) sidecar, passed the
    checksum and was used: the key stored inside is now compared with the name it is read under."""
    import shutil

    from gan_eval.stats import Moments
    from gan_eval.stats.reference import entry_name, load_cached, save_cached

    a, b = "a" * 64, "b" * 64
    for key, value in ((a, 0.0), (b, 1.0)):
        feats = np.full((5, 4), value, np.float32)
        save_cached(key, Moments(np.full(4, value), np.eye(4), 5, {}), features=feats)
    stats = tmp_cache / "stats"
    for suffix in (".npz", ".features.npz"):
        for ext in ("", ".sha256"):
            name = entry_name(a).replace(".npz", suffix) + ext
            shutil.copy(stats / (entry_name(b).replace(".npz", suffix) + ext), stats / name)
    with pytest.warns(UserWarning, match=r"holds the statistics of another key \(bbbbbbbb.*removing it"):
        assert load_cached(a) is None
    assert not (stats / entry_name(a)).exists()
    assert load_cached(b, need_features=True).moments.mu[0] == 1.0  # the real owner is untouched
    save_cached(a, Moments(np.zeros(4), np.eye(4), 5, {}), features=np.zeros((5, 4), np.float32))
    (stats / entry_name(a).replace(".npz", ".features.npz")).unlink()  # now only the features are swapped
    for ext in ("", ".sha256"):
        name = entry_name(b).replace(".npz", ".features.npz") + ext
        shutil.copy(stats / name, stats / name.replace("b" * 32, "a" * 32))
    with pytest.warns(UserWarning, match="features.npz holds the statistics of another key"):
        assert load_cached(a, need_features=True) is None
    assert load_cached(a).moments.mu[0] == 0.0


def test_the_cli_recomputes_a_swapped_real_set_entry_with_one_warning(ws, tmp_cache, tmp_path):
    import json
    import shutil

    args = ["fid", "--real", ws["real"], "--fake", ws["fake"], "-e", "dummy", "--no-save", "--json", "-q"]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    (entry,) = (tmp_cache / "stats").glob("*.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros((30, 1, 16, 16), np.uint8) + 3)
    other = invoke(
        ["fid", "--real", tmp_path / "other.npz", "--fake", ws["fake"], "-e", "dummy", "--no-save", "-q"]
    )
    assert other.exit_code == 0, other.output
    (foreign,) = set((tmp_cache / "stats").glob("*.npz")) - {entry}
    for ext in ("", ".sha256"):
        shutil.copy(f"{foreign}{ext}", f"{entry}{ext}")
    again = invoke(args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["values"]["fid"] == json.loads(first.stdout)["values"]["fid"]
    (line,) = [ln for ln in again.stderr.splitlines() if ln.strip()]
    assert line.startswith("gan-eval: warning: cache file") and "another key" in line, line
