"""`gan-eval compare` speed: what the bootstrap intervals cost on top of the feature passes, and the command.

    .venv/bin/python -m benchmarks.bench_compare [--checkpoints 'runs/bench/ckpt_epoch_*.pt'] [--n 10000]
        [--bootstrap 50] [--repeats 3] [--reference-resamples 3] [--no-memory]

(a) The command a user runs, in fresh processes (interpreter start and imports counted), alternating:

        gan-eval compare CKPT... --real mnist --extractor mnist-lenet --metrics fid,is,kid --n 10000 \\
            --bootstrap 50 --json --quiet --no-save

    and the same with ``--bootstrap 0``. Overhead = (t_50 - t_0) / t_0 (target <= 20%); the ``--bootstrap
    50`` wall time is the command's figure (target <= 60 s for 5 checkpoints). Best of ``--repeats`` each.
(b) In process, on the first checkpoint's features: the fast bootstrap (gan_eval.metrics.bootstrap, per
    metric) next to the bootstrap before issue 11 (every metric rerun on every resample:
    ``reference_replicates``), timed for ``--reference-resamples`` resamples and scaled to ``--bootstrap``
    (every resample costs the same); the shared first resamples' FID and IS replicates must agree.
(c) Peak RSS added by the fast bootstrap (fid, is, kid) at 10,000 and 50,000 generated samples (D = 128,
    10,000 kept real features; synthetic), each in a fresh process (Linux /proc).

Checkpoints: the five of ``gan-eval train --config configs/train/mlp_gan.toml --epochs 5 --out runs/bench``
(trained here first when the glob matches nothing; ~40 s). The real statistics come from the user's cache
(a warm-up run fills it). The machine is shared: the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, Row

TARGET_S = 60.0
TARGET_OVERHEAD = 0.20
MEMORY_TARGET_MIB = 300
DEFAULT_GLOB = "runs/bench/ckpt_epoch_*.pt"


def gan_eval_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("gan-eval")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gan_eval"]


def compare_args(checkpoints: list[str], n: int, bootstrap: int) -> list[str]:
    return [
        "compare",
        *checkpoints,
        "--real",
        "mnist",
        "--extractor",
        "mnist-lenet",
        "--metrics",
        "fid,is,kid",
        "--n",
        str(n),
        "--bootstrap",
        str(bootstrap),
        "--json",
        "--quiet",
        "--no-save",
    ]


def run_compare(args: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds (user + sys), --json output) of ``gan-eval ARGS`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(gan_eval_cmd() + args, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"gan-eval {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(p.stdout)


def checkpoints_for(pattern: str) -> list[str]:
    found = sorted(glob.glob(str(ROOT / pattern)) if not Path(pattern).is_absolute() else glob.glob(pattern))
    if found:
        return [os.path.relpath(p, ROOT) for p in found]
    if pattern != DEFAULT_GLOB:
        raise SystemExit(f"no checkpoints match {pattern}")
    print("training the benchmark checkpoints (gan-eval train ... --epochs 5 --out runs/bench)", flush=True)
    cmd = [
        "train",
        "--config",
        "configs/train/mlp_gan.toml",
        "--epochs",
        "5",
        "--out",
        "runs/bench",
        "--quiet",
    ]
    subprocess.run(gan_eval_cmd() + cmd, check=True, cwd=ROOT)
    return checkpoints_for(pattern)


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


# ----------------------------------------------------------------------------------------------- (b)
def in_process(checkpoint: str, n: int, bootstrap: int, ref_resamples: int) -> dict[str, float]:
    """Stage times of one checkpoint's evaluation, the fast bootstrap per metric and the reference's."""
    import torch

    from gan_eval.metrics.bootstrap import bootstrap_intervals, reference_replicates
    from gan_eval.metrics.registry import get_metric
    from gan_eval.pipeline import EvalConfig
    from gan_eval.stages import open_extractor, open_fake_source, real_side
    from gan_eval.stats.extract import extract

    out: dict[str, float] = {}
    cfg = EvalConfig(
        real="mnist", fake=checkpoint, metrics=("fid", "is", "kid"), extractor="mnist-lenet", n=n
    )
    device = torch.device("cpu")
    t = time.perf_counter()
    ext = open_extractor(cfg, device)
    src = open_fake_source(checkpoint, cfg, device)
    fake = extract(src, ext, device=device, keep_features=None, keep_logits=True, progress=False)
    out["fake pass (sample + mnist-lenet)"] = time.perf_counter() - t
    t = time.perf_counter()
    real = real_side(cfg, ext, device, need_features=True).stats
    out["real statistics (cache)"] = time.perf_counter() - t
    reported: dict[str, float] = {}
    for name in ("fid", "is", "kid"):
        t = time.perf_counter()
        reported.update(get_metric(name).compute(real if name != "is" else None, fake))
        out[f"point estimate {name}"] = time.perf_counter() - t
    inputs = dict(
        fake_logits=fake.logits, real_mu=real.mu, real_sigma=real.sigma, real_features=real.features
    )
    fast = {}
    for name in ("fid", "is", "kid"):
        t = time.perf_counter()
        fast[name] = bootstrap_intervals(
            [name], fake.features, reported=reported, n_resamples=bootstrap, seed=0, **inputs
        )
        out[f"fast bootstrap {name}"] = time.perf_counter() - t
    t = time.perf_counter()
    ref = reference_replicates(
        ["fid", "is", "kid"], fake.features, n_resamples=ref_resamples, seed=0, **inputs
    )
    out["reference bootstrap per resample"] = (time.perf_counter() - t) / ref_resamples
    out["fid replicates max rel diff"] = float(
        np.max(np.abs(fast["fid"].replicates["fid"][:ref_resamples] / ref["fid"] - 1))
    )
    out["is replicates max rel diff"] = float(
        np.max(np.abs(fast["is"].replicates["is_mean"][:ref_resamples] / ref["is_mean"] - 1))
    )
    lo, hi = fast["kid"].intervals["kid_mean"]
    out["kid"], out["kid lo"], out["kid hi"] = reported["kid_mean"], lo, hi
    out["kid reference first replicates mean"] = float(np.mean(ref["kid_mean"]))
    return out


# ----------------------------------------------------------------------------------------------- (c)
MEMORY_PROBE = """
import sys, time, numpy as np
from pathlib import Path
from gan_eval.metrics.bootstrap import bootstrap_intervals
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
n, d, m, b = (int(a) for a in sys.argv[1:5])
rng = np.random.default_rng(0)
fake = rng.normal(size=(n, d)).astype(np.float32)
real = rng.normal(size=(m, d)).astype(np.float32)
logits = rng.normal(size=(n, 10)).astype(np.float32)
mu, sigma = real.mean(0).astype(np.float64), np.cov(real.T)
rep = {"kid_mean": 0.0, "kid_subsets": 100, "kid_subset_size": 1000}
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # peak RSS (VmHWM) := the current RSS
t = time.perf_counter()
bootstrap_intervals(["fid", "is", "kid"], fake, fake_logits=logits, real_mu=mu, real_sigma=sigma,
                    real_features=real, reported=rep, n_resamples=b)
print(before, status("VmHWM"), time.perf_counter() - t)
"""


def memory(n: int, d: int, m: int, b: int) -> tuple[float, float, float]:
    """(RSS before, peak RSS during in MiB, seconds) of the fast bootstrap in a fresh process (Linux: the
    peak is reset after the set-up through /proc/self/clear_refs; ``ru_maxrss`` would carry the peak of
    the forking parent)."""
    p = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(n), str(d), str(m), str(b)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if p.returncode != 0:
        raise RuntimeError(f"memory probe failed: {p.stderr[-2000:]}")
    before, after, secs = (float(v) for v in p.stdout.split())
    return before, after, secs


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", default=DEFAULT_GLOB, help="glob of the checkpoints to compare")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--bootstrap", type=int, default=50, help="compare's default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reference-resamples", type=int, default=3, help="resamples timed on the slow path")
    ap.add_argument("--no-memory", action="store_true", help="skip (c)")
    args = ap.parse_args(argv)
    cks = checkpoints_for(args.checkpoints)
    print(f"{len(cks)} checkpoints: {' '.join(cks)}")
    wall, _, _ = run_compare(compare_args(cks[:1], 1000, 0))  # fills the real statistics cache when empty
    print(f"warm-up {wall:.1f} s ({load()})")
    walls: dict[int, list[float]] = {args.bootstrap: [], 0: []}
    cpus: dict[int, list[float]] = {args.bootstrap: [], 0: []}
    result: dict = {}
    for r in range(args.repeats):
        for b in (args.bootstrap, 0):
            before = load()
            wall, cpu, result[b] = run_compare(compare_args(cks, args.n, b))
            walls[b].append(wall)
            cpus[b].append(cpu)
            print(
                f"  round {r + 1}/{args.repeats} --bootstrap {b:<3d} {wall:7.1f} s wall, {cpu:7.1f} s CPU "
                f"({before} -> {load()})"
            )
    t_boot, t_none = min(walls[args.bootstrap]), min(walls[0])
    overhead = (t_boot - t_none) / t_none
    paired = [a / b - 1 for a, b in zip(walls[args.bootstrap], walls[0], strict=True)]
    cpu_overhead = min(cpus[args.bootstrap]) / min(cpus[0]) - 1
    print(
        f"compare --bootstrap {args.bootstrap}: {t_boot:.1f} s; --bootstrap 0: {t_none:.1f} s (best of "
        f"{args.repeats}); overhead {overhead * 100:+.1f}% (per round: "
        f"{', '.join(f'{p * 100:+.0f}%' for p in paired)}; CPU time {cpu_overhead * 100:+.1f}%)"
    )
    print(result[args.bootstrap]["verdict"])

    stages = in_process(cks[-1], args.n, args.bootstrap, args.reference_resamples)
    for k, v in stages.items():
        print(f"  {k:<40s} {v:10.4g}")
    fast_s = sum(v for k, v in stages.items() if k.startswith("fast bootstrap"))
    ref_s = stages["reference bootstrap per resample"] * args.bootstrap
    print(
        f"one checkpoint's bootstrap ({args.bootstrap} resamples): fast {fast_s:.2f} s, reference "
        f"{ref_s:.1f} s (from {args.reference_resamples} resamples) ({load()})"
    )

    cmd = "gan-eval " + " ".join(compare_args(["runs/bench/ckpt_epoch_00{1..5}.pt"], args.n, args.bootstrap))
    rows = [
        Row(
            f"compare, {len(cks)} checkpoints x {args.n} samples, mnist-lenet, fid,is,kid, "
            f"--bootstrap {args.bootstrap}: the whole command",
            f"{cmd}  (python -m benchmarks.bench_compare)",
            f"{t_boot:.1f} s",
            "-",
            None,
            f"<= {TARGET_S:.0f} s",
            t_boot <= TARGET_S,
            [f"best of {args.repeats}, fresh processes; load average at the end: {load()}"],
        ),
        Row(
            f"compare: --bootstrap {args.bootstrap} vs --bootstrap 0 (what the intervals cost)",
            f"{cmd}  vs  --bootstrap 0",
            f"{t_boot:.1f} s",
            f"{t_none:.1f} s",
            None,
            f"<= +{TARGET_OVERHEAD * 100:.0f}%",
            overhead <= TARGET_OVERHEAD,
            [
                f"overhead {overhead * 100:+.1f}% ({t_boot - t_none:+.1f} s for {len(cks)} checkpoints; best "
                f"of {args.repeats} each); per alternating round "
                f"{', '.join(f'{p * 100:+.0f}%' for p in paired)} (median "
                f"{statistics.median(paired) * 100:+.0f}%); CPU time (user + sys) {cpu_overhead * 100:+.1f}%"
            ],
        ),
        Row(
            f"bootstrap of one checkpoint ({args.bootstrap} resamples, fid+is+kid, {args.n} samples): fast "
            "vs the per-resample rerun it replaces",
            "python -m benchmarks.bench_compare (in process)",
            f"{fast_s:.2f} s",
            f"{ref_s:.0f} s",
            ref_s / fast_s,
            "(side figure)",
            None,
            [
                "fast: fid {:.2f} s, is {:.2f} s, kid {:.2f} s; reference timed on {} resamples and scaled; "
                "same resamples: FID replicates within {:.1e}, IS within {:.1e} (relative); feature pass "
                "{:.1f} s, point estimates fid {:.2f} s, is {:.2f} s, kid {:.2f} s".format(
                    stages["fast bootstrap fid"],
                    stages["fast bootstrap is"],
                    stages["fast bootstrap kid"],
                    args.reference_resamples,
                    stages["fid replicates max rel diff"],
                    stages["is replicates max rel diff"],
                    stages["fake pass (sample + mnist-lenet)"],
                    stages["point estimate fid"],
                    stages["point estimate is"],
                    stages["point estimate kid"],
                )
            ],
        ),
    ]
    if not args.no_memory:
        added, notes = {}, []
        for n in (10_000, 50_000):
            before, after, secs = memory(n, 128, 10_000, args.bootstrap)
            added[n] = after - before
            notes.append(f"n = {n}: +{added[n]:.0f} MiB ({before:.0f} -> {after:.0f} MiB), {secs:.1f} s")
            print(f"  memory {notes[-1]} ({load()})")
        rows.append(
            Row(
                f"Peak RSS added by the fast bootstrap (fid, is, kid; D = 128, {args.bootstrap} resamples), "
                "10,000 vs 50,000 generated samples",
                "python -m benchmarks.bench_compare (fresh process per size, synthetic features)",
                f"+{added[50_000]:.0f} MiB at 50k",
                f"+{added[10_000]:.0f} MiB at 10k",
                None,
                f"<= {MEMORY_TARGET_MIB} MiB at 10k; 50k runs",
                added[10_000] <= MEMORY_TARGET_MIB,
                notes,
            )
        )
    return rows


if __name__ == "__main__":
    main()
