"""torchrun with 2 gloo processes on CPU gives the same numbers as one process, bit for bit.

Not to a tolerance: the float64 moments are reduced in an order fixed by the data alone (chunks of batches
folded in chunk order, see gan_eval.stats.extract), each rank extracts whole batches of the same shape as one
process does, and the kept features are gathered in global order, so both runs perform the same floating-point
operations in the same order on any CPU. (A tolerance would have to be loose: FID is not Lipschitz where the
covariance product has eigenvalues near 0, and a reordered sum moved it by 6e-9 relative.)"""

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.determinism
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
    assert b["values"] == a["values"]  # fid, kid_mean, precision, recall: exactly equal
    assert b["stds"] == a["stds"]
