"""The real entry point (``python -m gan_eval`` in a subprocess): one line and exit 2, no traceback, unless
``GAN_EVAL_DEBUG=1`` (or ``--debug``) asks for it. Two subprocesses only: each costs a torch import (~3 s of
CPU); the cache-root and every other case run in this process (test_cli_cases.py)."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(ws, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "GAN_EVAL_DEBUG"}
    env.update({"PYTHONPATH": str(ws.root), **(env_extra or {})})
    fid = [
        "fid",
        "--real",
        str(ws["real"]),
        "--fake",
        "robust_gens:boom",
        "-e",
        "mnist-lenet",
        "--no-save",
        "-q",
    ]
    return subprocess.run(
        [sys.executable, "-m", "gan_eval", *args, *fid], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_failing_generator_is_one_line_from_the_entry_point(ws, tmp_path):
    r = _run(ws, env_extra={"GAN_EVAL_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip().splitlines() == [
        "gan-eval: error: robust_gens:boom: calling boom() failed "
        "(RuntimeError: weights file /nowhere/g.pt not found)"
    ]


def test_gan_eval_debug_shows_the_traceback_with_its_cause(ws, tmp_path):
    r = _run(ws, env_extra={"GAN_EVAL_CACHE": str(tmp_path / "cache"), "GAN_EVAL_DEBUG": "1"})
    assert r.returncode == 2
    assert "Traceback (most recent call last):" in r.stderr
    assert "RuntimeError: weights file /nowhere/g.pt not found" in r.stderr  # the user's own exception
    assert 'robust_gens.py", line' in r.stderr  # where in the user's code
    assert r.stderr.strip().splitlines()[-1].startswith("gan-eval: error: robust_gens:boom: calling boom()")


def test_the_debug_option_does_the_same(ws, tmp_cache, gens_on_path):
    """``--debug`` in this process (CliRunner): the traceback and its cause, then the one line."""
    from robust_helpers import invoke

    args = ["fid", "--real", ws["real"], "--fake", "robust_gens:boom", "-e", "dummy", "--no-save", "-q"]
    r = invoke(["--debug", *args])
    assert r.exit_code == 2
    assert "Traceback (most recent call last):" in r.stderr and "RuntimeError: weights file" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("gan-eval: error: robust_gens:boom")
    plain = invoke(args)
    assert "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
