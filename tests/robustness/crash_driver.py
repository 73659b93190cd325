"""Kill -9 at random points of gan-eval's writes, and at chosen instants (run by test_crash_safety.py as a
subprocess).

``python crash_driver.py PLAN.json`` imports gan-eval once (no computation, so no thread pool exists yet),
then for each job forks a child that repeats one write forever - ``gan-eval stats -o``, a statistics-cache
entry, a training checkpoint, a results-table append - and kills it with SIGKILL after the job's delay,
counted from the fork, or (``after_ready``) from the end of the child's first write, so that kills also land
in the steady loop of a command whose first pass is slow. A ``cache-at-POINT-N-START`` job instead kills
itself at one instant of a cache-entry write: right before or right after (POINT) the N-th rename of a data
file onto its final name (1: the statistics, 2: the features), the instants between a file's rename and its
sidecar's writes, into an empty cache or over an older entry of the same key (START). It prints one JSON
line: per job, the temporary files found right after the kill (evidence that the kill landed inside a
write). The test then checks the files under their final names and runs each write once more.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from pathlib import Path


def _loop(kind: str, work: Path, ckpt_src: str, images: str, ready) -> None:  # in the child, until killed
    import numpy as np
    import torch

    torch.set_num_threads(1)
    if kind == "stats":
        from gan_eval.cli import app

        while True:
            app(
                ["stats", images, "-o", str(work / "stats.npz"), "-e", "mnist-lenet", "-q"],
                standalone_mode=False,
            )
            ready()
    elif kind == "cache":
        from gan_eval.stats import Moments
        from gan_eval.stats.reference import save_cached

        rng = np.random.default_rng(0)  # the same entry every time: any complete file verifies
        feats = rng.normal(size=(4000, 256)).astype(np.float32)
        moments = Moments(feats.mean(0).astype(np.float64), np.cov(feats.T), len(feats), {"spec": "crash"})
        while True:
            save_cached("c" * 64, moments, features=feats)
            ready()
    elif kind == "checkpoint":
        from gan_eval.train.checkpoint import save_checkpoint

        ckpt = torch.load(ckpt_src, map_location="cpu", weights_only=True)
        while True:
            save_checkpoint(ckpt, work / "ckpt_epoch_001.pt")
            ready()
    elif kind in ("results", "results-parquet"):
        from gan_eval.results import append_results, make_rows

        meta = {
            "real": "r",
            "fake": "f",
            "n_real": 1,
            "n_fake": 1,
            "extractor": "e",
            "protocol": "p",
            "precision": "fp32",
            "seed": 0,
            "device": "cpu",
        }
        rows = make_rows({"fid": 1.0, "kid_mean": 2.0}, meta=meta)  # 2 rows per append
        name = "results.csv" if kind == "results" else "results.parquet"
        while True:
            append_results(rows, work / name)
            ready()
    elif kind.startswith("cache-at-"):
        from gan_eval.stats import Moments
        from gan_eval.stats.reference import save_cached

        _, _, point, nth, start = kind.split("-")

        def entry(value: float) -> tuple[Moments, np.ndarray]:
            feats = np.full((50, 8), value, np.float32)
            return Moments(np.full(8, value), np.eye(8), 50, {"spec": f"crash {value}"}), feats

        if start == "replacing":
            old, old_feats = entry(0.0)
            save_cached(INSTANT_KEY, old, features=old_feats)
        new, new_feats = entry(1.0)
        _kill_at(point, int(nth))
        save_cached(INSTANT_KEY, new, features=new_feats)
        raise SystemExit(f"{kind}: the kill point was never reached")
    raise SystemExit(f"unknown kind {kind}")


INSTANT_KEY = "d" * 64


def _kill_at(point: str, nth: int) -> None:
    """From now on, SIGKILL this process right ``before`` or right ``after`` the ``nth`` rename of a data file
    (not a ``.sha256`` sidecar) onto its final name."""
    real_replace, seen = os.replace, [0]

    def replace(src, dst, **kwargs):
        hit = not os.fspath(dst).endswith(".sha256")
        seen[0] += hit
        hit = hit and seen[0] == nth
        if hit and point == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, **kwargs)
        if hit and point == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace


class _Ready:
    """Called after each write of the child's loop; tells the parent once that the first write is done."""

    def __init__(self, fd: int) -> None:
        self.fd, self.done = fd, False

    def __call__(self) -> None:
        if not self.done:
            os.write(self.fd, b"1")
            self.done = True


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    import gan_eval.cli  # noqa: F401 - imported once here, before forking (the children skip it)
    import gan_eval.results  # noqa: F401
    import gan_eval.stats.reference  # noqa: F401
    import gan_eval.train.checkpoint  # noqa: F401

    report = []
    for job in plan["jobs"]:
        work = Path(job["work"])
        work.mkdir(parents=True, exist_ok=True)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no return, no atexit handlers of the parent
            try:
                os.close(r)
                os.environ["GAN_EVAL_CACHE"] = str(work / "cache")
                _loop(job["kind"], work, plan["ckpt"], plan["images"], _Ready(w))
            finally:
                os._exit(3)
        os.close(w)
        if not job.get("self_kill"):  # (a self_kill child kills itself at its instant)
            if job.get("after_ready"):
                select.select([r], [], [], 120)
            time.sleep(job["delay"])
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(r)  # only now: a child writing to a closed pipe would die of SIGPIPE, not of our kill
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        temps = sorted(str(p) for p in work.rglob(".*.tmp"))
        report.append({**job, "killed": killed, "temps": temps})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
