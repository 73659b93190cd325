"""Peak RSS of an mnist-lenet FID at N = 5,000 and N = 50,000 generated samples: it must not grow with N.

    .venv/bin/python -m benchmarks.bench_memory [--small 5000] [--large 50000] [--cache-dir DIR]

Measures, each in a fresh process, with ``/usr/bin/time -v`` (``apt-get install -y time``; without it, the
peak RSS of the child from ``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process):

    gan-eval fid --real mnist --fake tests/data/mlp_gan_mnist.pt --extractor mnist-lenet --n N \
        --json --quiet --no-save

Both runs read the mnist:train statistics from the same cache (a warm-up run at N = 1,000 fills it when it is
empty), so the difference is the generated side alone. Target: peak RSS at 50k within 10% (+ 50 MiB) of 5k.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_lenet import isolated_cache, run_cli
from benchmarks.common import CHECKPOINT, ROOT, Row


def fid_args(n: int) -> list[str]:
    fake = str(CHECKPOINT.relative_to(ROOT))
    return ["fid", "--real", "mnist", "--fake", fake, "--extractor", "mnist-lenet", "--n", str(n)] + [
        "--json",
        "--quiet",
        "--no-save",
    ]


def peak_rss(args: list[str], cache: Path) -> tuple[float, float, str]:
    """(peak RSS in MiB, wall seconds, how it was measured) of ``gan-eval ARGS`` in a fresh process."""
    exe = Path(sys.executable).with_name("gan-eval")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "gan_eval"]) + args
    env = {**os.environ, "GAN_EVAL_CACHE": str(cache)}
    t0 = time.perf_counter()
    if Path("/usr/bin/time").exists():
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        if p.returncode != 0 or m is None:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
        return int(m.group(1)) / 1024, wall, "/usr/bin/time -v"
    wrapper = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    p = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env, cwd=ROOT
    )
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return int(p.stdout.split()[-1]) / 1024, wall, "getrusage(RUSAGE_CHILDREN)"


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=5_000)
    ap.add_argument("--large", type=int, default=50_000)
    ap.add_argument("--cache-dir", type=Path, default=None, help="statistics cache (warmed here if empty)")
    args = ap.parse_args(argv)
    if shutil.which("time") is None and not Path("/usr/bin/time").exists():
        print("/usr/bin/time not found (apt-get install -y time); using getrusage")
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as t:
        cache = isolated_cache(args.cache_dir or Path(t) / "cache")
        _, warm = run_cli(fid_args(1000), cache)  # fills the cache when empty; no-op otherwise
        print(f"warm-up (N = 1000): real_from_cache {warm['diagnostics']['real_from_cache']}")
        res = {}
        for n in (args.small, args.large):
            rss, wall, how = peak_rss(fid_args(n), cache)
            res[n] = rss
            print(f"N = {n:>6}: peak RSS {rss:7.1f} MiB, {wall:6.1f} s wall ({how})")
    small, large = res[args.small], res[args.large]
    ok = large <= small * 1.10 + 50
    return [
        Row(
            f"Peak RSS of an mnist-lenet FID, N = {args.small} vs {args.large} generated samples",
            "gan-eval " + " ".join(fid_args(args.large)) + f"  ({how}; python -m benchmarks.bench_memory)",
            f"{large:.0f} MiB at {args.large // 1000}k",
            f"{small:.0f} MiB at {args.small // 1000}k",
            None,
            "does not grow with N (<= +10% + 50 MiB)",
            ok,
            [
                f"growth {large - small:+.0f} MiB ({(large / small - 1) * 100:+.1f}%) "
                f"for {args.large / args.small:.0f}x N"
            ],
        )
    ]


if __name__ == "__main__":
    main()
