"""torchrun with 2 gloo processes on CPU gives the same numbers as one process."""

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(
    shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None, reason="no torchrun"
)
def test_two_gloo_ranks_equal_one_process(tmp_path, npz_pair):
    real_npz, fake_npz = npz_pair(700, 500, 28, 90)
    args = [
        "eval",
        "--real",
        str(real_npz),
        "--fake",
        str(fake_npz),
        "--metrics",
        "fid,kid,pr",
        "--extractor",
        "mnist-lenet",
        "--batch-size",
        "64",
        "--no-cache",
        "--no-save",
        "--json",
        "--quiet",
    ]
    env = {**os.environ, "GAN_EVAL_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "gan_eval", *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert one.returncode == 0, one.stderr
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    two = subprocess.run(
        [torchrun, "--nproc_per_node=2", "--master_port=29533", "-m", "gan_eval", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)  # rank 0 alone printed one document
    assert a["n_fake"] == b["n_fake"] == 500
    assert b["values"]["fid"] == pytest.approx(a["values"]["fid"], rel=1e-9)
    for key in ("kid_mean", "precision", "recall"):
        assert b["values"][key] == pytest.approx(a["values"][key], rel=1e-9)
