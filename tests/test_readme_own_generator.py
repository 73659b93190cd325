"""Every command of the README's "Your own generator" section, run as written (slow: it trains the tutorial's
MLP GAN for an epoch on MNIST), and the four routes to the same FID agree to the last digit: the class and
its weights on the command line, the exported samples, the module in memory, and the tracker."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECTION = "## Your own generator"


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return text[start:end]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), flags=re.S)


def _commands() -> list[list[str]]:
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                out.append(shlex.split(line))
    return out


def test_the_section_has_the_walkthrough():
    tools = [c[0] for c in _commands()]
    assert tools.count("gan-eval") >= 4 and "python" in tools and "tensorboard" in tools
    assert any("--weights" in c and "examples/mlp_gan.py:Generator" in c for c in _commands())
    assert len(_blocks("python")) == 2


def _tensorboard(cmd: list[str], cwd: Path) -> dict:
    """Run ``tensorboard --logdir ...`` as written, read its scalar tags over HTTP, stop it."""
    proc = subprocess.Popen([str(BIN / "tensorboard"), *cmd[1:]], cwd=cwd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://localhost:6006/data/plugin/scalars/tags", timeout=2) as r:
                    return json.load(r)
            except OSError:
                time.sleep(1)
        raise AssertionError("tensorboard did not answer on localhost:6006")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_readme_walkthrough_runs_and_the_routes_agree(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    tags = None
    for cmd in _commands():
        if cmd[0] == "tensorboard":
            tags = _tensorboard(cmd, tmp_path)
            continue
        exe = {"gan-eval": str(BIN / "gan-eval"), "python": sys.executable}[cmd[0]]
        r = subprocess.run(
            [exe, *cmd[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
        )
        assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
    assert tags is not None and "gan_eval/fid" in json.dumps(tags)
    rows = pd.read_csv(tmp_path / "tutorial" / "results.csv")
    fid = rows[(rows["metric"] == "fid") & (rows["n_fake"] == 10000)]
    assert len(fid) == 2 and fid["value"].nunique() == 1  # class + weights == its exported samples
    assert fid["fake"].iloc[0].startswith("examples/mlp_gan.py:Generator weights=tutorial/g.pt")
    tracked = rows[(rows["n_fake"] == 5000) & (rows["epoch"] == 1)]
    assert len(tracked) == 1 and tracked["step"].iloc[0] == 938 and tracked["run_id"].iloc[0] == "tutorial"
    # the module in memory and the tracker lines (the README's Python blocks), and a tracker at the same n
    module_block, tracker_block = _blocks("python")
    probe = (
        module_block.replace('print(r.values["fid"])', "print(repr(r.values['fid']))")
        + "epoch, step = 1, 938\n"
        + tracker_block  # the README's two tracker lines, as written
        + "t = gan_eval.Tracker(real='mnist:test', metrics=['fid'], extractor='mnist-lenet', n=10000)\n"
        + "print(repr(t(G)['fid']))\n"
    )
    r = subprocess.run(
        [sys.executable, "-"], input=probe, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    module_fid, tracker_fid = (float(x) for x in r.stdout.split()[-2:])
    assert module_fid == tracker_fid == float(fid["value"].iloc[0])
