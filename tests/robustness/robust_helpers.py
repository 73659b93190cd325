"""Helpers of the robustness suite (imported by its tests; fixtures are in conftest.py).

``invoke``: the CLI in this process (typer's CliRunner: no torch import per case).
``assert_one_line_error``: exit code 2, exactly one stderr line that names the input, no traceback.
``tree``: a snapshot of every file under some folders (size and sha256), to prove that a failed command
created, changed and removed nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gan_eval.atomic import probe_writable
from gan_eval.cli import app

CKPT = Path(__file__).resolve().parents[1] / "data" / "mlp_gan_mnist.pt"  # a small real MLP GAN, z_dim 100
USER_CACHE = Path.home() / ".cache" / "gan-eval"

runner = CliRunner()


def invoke(args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_one_line_error(result, names: str | tuple[str, ...]) -> str:
    """Exit code 2, exactly one stderr line ``gan-eval: error: ...`` that contains each of ``names``, and
    no traceback anywhere. Returns the line."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("gan-eval: error: "), line
    for name in (names,) if isinstance(names, str) else names:
        assert name in line, (name, line)
    return line


def tree(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file (and empty folder) under ``roots``: path -> (size, sha256)."""
    out: dict[str, tuple[int, str]] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            if not dirnames and not filenames:
                out[dirpath + "/"] = (0, "")
            for name in filenames:
                p = Path(dirpath) / name
                data = p.read_bytes() if p.is_file() else b""
                out[str(p)] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def unwritable_folder(tmp_path: Path) -> Path:
    """An existing folder nobody can create files in: a 0o555 folder for a normal user; for root (whom
    permissions do not stop) /sys, where creating a file fails for everyone. Skips when neither works."""
    if os.geteuid() != 0:
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    if Path("/sys").is_dir() and probe_writable(Path("/sys")) is not None:
        return Path("/sys")
    pytest.skip("no folder that root cannot write to")


def seed_mnist_test(cache_root: Path) -> bool:
    """Copy the shared cache's verified mnist:test arrays into a private cache root (so a test does not
    download MNIST again); False when they are not there."""
    src = USER_CACHE / "datasets" / "mnist-test.npz"
    side = src.with_name(src.name + ".sha256")
    if not (src.is_file() and side.is_file()):
        return False
    dst = cache_root / "datasets"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst / src.name)
    shutil.copy(side, dst / side.name)
    return True
