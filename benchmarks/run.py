"""``make bench``: every benchmark of issue 6 in sequence, side by side with the libraries people use instead;
prints the table of ratios and rewrites benchmarks/RESULTS.md.

    .venv/bin/python -m benchmarks.run                 # default sizes (~10-15 min on 2 busy CPU cores)
    .venv/bin/python -m benchmarks.run --full          # the issue's sizes (2,000 + 2,000 PNGs: ~1 h)
    .venv/bin/python -m benchmarks.run --only inception,fid_stats --no-write

Benchmarks (each also runs alone: ``python -m benchmarks.bench_<name> --help``):
inception (end to end vs pytorch-fid, torch-fidelity, torchmetrics; forward alone), fid_stats (FID from
statistics at d = 2048), lenet (mnist-lenet full evaluation; cached real statistics), memory (peak RSS at 5k
and 50k samples), compare (`gan-eval compare` of 5 checkpoints with and without bootstrap intervals; the fast
bootstrap vs the per-resample rerun it replaced; its memory), new_metrics (issue 12's memorization, FID_inf,
PRD, Vendi and per-class metrics at 10,000 x 60,000, vs dgm-eval's AuthPct, the FID_inf/PRD reference
procedures and vendi-score), tracker (one `gan_eval.Tracker` call in a training loop at 5,000 and 10,000
samples vs torchmetrics' FID with the same LeNet), train (reference training loop vs ours), gpu
(per-precision Inception throughput and training on a CUDA device; skipped without one, see
RESULTS_GPU.md). A benchmark that fails is recorded as a failed row and the others still run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import ROOT, Row, machine, other_load

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
ALL = ("inception", "fid_stats", "lenet", "memory", "compare", "new_metrics", "tracker", "train", "gpu")


def run_inception(full: bool, images: int | None) -> list[Row]:
    from benchmarks import bench_inception

    n = images or (2000 if full else 64)
    return bench_inception.main(["--images", str(n)])


def run_fid_stats(full: bool, images: int | None) -> list[Row]:
    from benchmarks import bench_fid_stats

    r = bench_fid_stats.main(["--repeats", "2"])
    ok = r["ratio"] >= 5 and r["rel_diff"] <= 1e-9
    return [
        Row(
            "FID from statistics, d = 2048: fid_from_stats vs pytorch-fid calculate_frechet_distance",
            "python benchmarks/bench_fid_stats.py --repeats 2",
            f"{r['wall_gan_eval']:.2f} s",
            f"{r['wall_pytorch_fid']:.2f} s",
            r["ratio"],
            ">= 5x, value within 1e-9",
            ok,
            [
                f"FID {r['fid_gan_eval']:.12g} vs {r['fid_pytorch_fid']:.12g}: relative difference "
                f"{r['rel_diff']:.1e}; CPU-time ratio {r['cpu_ratio']:.2f}x"
            ],
        )
    ]


def run_lenet(full: bool, images: int | None, cache: Path) -> list[Row]:
    from benchmarks import bench_lenet

    return bench_lenet.main(["--cache-dir", str(cache)])


def run_memory(full: bool, images: int | None, cache: Path) -> list[Row]:
    from benchmarks import bench_memory

    return bench_memory.main(["--cache-dir", str(cache)])


def run_compare(full: bool, images: int | None) -> list[Row]:
    from benchmarks import bench_compare

    return bench_compare.main([])


def run_new_metrics(full: bool, images: int | None) -> list[Row]:
    from benchmarks import bench_new_metrics

    return bench_new_metrics.main([])


def run_tracker(full: bool, images: int | None) -> list[Row]:
    from benchmarks import bench_tracker

    return bench_tracker.main([])


def run_gpu(full: bool, images: int | None) -> list[Row]:
    import torch

    if not torch.cuda.is_available():
        return [
            Row(
                "GPU benchmarks (Inception end to end per precision mode, training): skipped, no CUDA device",
                "python -m benchmarks.bench_gpu",
                "-",
                notes=["the last GPU figures are in benchmarks/RESULTS_GPU.md"],
            )
        ]
    from benchmarks import bench_gpu

    return bench_gpu.main([])


def run_train(full: bool, images: int | None) -> list[Row]:
    from benchmarks import bench_train

    r = bench_train.main([])
    return [
        Row(
            "Training, one MNIST epoch of the MLP GAN: gan-eval trainer vs the reference article's loop",
            "python -m benchmarks.bench_train",
            f"{r['ours_s']:.1f} s/epoch",
            f"{r['reference_s']:.1f} s/epoch",
            r["ratio"],
            ">= 3x",
            r["ratio"] >= 3,
            [
                f"whole train() call incl. data, sample grid, logs, checkpoint; best epoch of each side over "
                f"{r['rounds']:.0f} alternating rounds (epoch loop alone {r['ours_loop_s']:.1f} s: "
                f"{r['loop_ratio']:.2f}x); per-round ratios: median {r['median_ratio']:.2f}x, range "
                f"{r['ratio_min']:.2f}-{r['ratio_max']:.2f}x (rounds in this VM's slow phases are lower, see "
                f"bench_train's docstring); {r['threads']:.0f} torch threads"
            ],
        )
    ]


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def fmt_met(m: bool | None) -> str:
    return "-" if m is None else ("yes" if m else "**no**")


def table(rows: list[Row]) -> list[str]:
    out = ["| # | benchmark | ours | theirs | ratio | target | met? |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        out.append(
            f"| {i} | {r.name} | {r.ours} | {r.theirs} | {fmt_ratio(r.ratio)} | {r.target} "
            f"| {fmt_met(r.met)} |"
        )
    return out


HAND_NOTES = "## Notes added by hand"


def hand_notes(path: Path) -> list[str]:
    """The section of ``path`` from its ``## Notes added by hand`` heading to the end (kept on a rewrite)."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(HAND_NOTES):
            return lines[i:]
    return []


def write_results(path: Path, rows: list[Row], info: dict[str, str], command: str, log: list[str]) -> None:
    """Rewrite ``path`` with this run's table, commands and log; a hand-written notes section is kept."""
    notes = hand_notes(path)
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks.run`); rerun it to refresh. Each ratio is measured "
        "side by side in one run (the sides alternate; best or mean of the runs as each line says), so "
        "machine load hits both sides. *ours* is gan-eval; *theirs* the library named in the row; ratio = "
        "speed-up of gan-eval (theirs' time / ours, or ours' images/s / theirs').",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['cpus']} CPUs (`nproc`), {info['cpu']}; GPU: {info['gpu']}",
        f"- software: torch {info['torch']} ({info['torch_threads']} threads), "
        f"Python {sys.version.split()[0]}, {info['versions']}",
        f"- load at the start: {info['load_start']}",
        f"- load at the end: {info['load_end']}",
        f"- command: `{command}` ({info['elapsed']})",
        "",
        *table(rows),
        "",
        "## Commands and notes",
        "",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(f"{i}. `{r.command}`" + ("; " + "; ".join(r.notes) if r.notes else ""))
    lines += ["", "## Log", "", "```", *log, "```", ""]
    if notes:
        lines += [*notes, ""]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, path)


class Tee:
    """Copies stdout into a list of lines (for the log section of RESULTS.md)."""

    def __init__(self, stream):  # type: ignore[no-untyped-def]
        self.stream, self.buf = stream, ""

    def write(self, s: str) -> int:
        self.buf += s
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("gan-eval", "pytorch-fid", "torch-fidelity", "torchmetrics", "numpy", "scipy"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the issue's sizes (2,000 + 2,000 PNGs)")
    ap.add_argument("--images", type=int, default=None, help="PNGs per folder for the Inception end to end")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {','.join(ALL)}")

    tee = Tee(sys.stdout)
    sys.stdout = tee  # type: ignore[assignment]
    t_start = time.perf_counter()
    info = machine()
    info["versions"] = versions()
    info["load_start"] = other_load()
    print(f"{info['date']}; {info['cpus']} CPUs, {info['cpu']}; torch {info['torch']}; {info['load_start']}")
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench_cache_") as t:
            cache = Path(t) / "cache"  # lenet fills it; memory then reads mnist:train from it
            benches: dict[str, Callable[[], list[Row]]] = {
                "inception": lambda: run_inception(args.full, args.images),
                "fid_stats": lambda: run_fid_stats(args.full, args.images),
                "lenet": lambda: run_lenet(args.full, args.images, cache),
                "memory": lambda: run_memory(args.full, args.images, cache),
                "compare": lambda: run_compare(args.full, args.images),
                "new_metrics": lambda: run_new_metrics(args.full, args.images),
                "tracker": lambda: run_tracker(args.full, args.images),
                "train": lambda: run_train(args.full, args.images),
                "gpu": lambda: run_gpu(args.full, args.images),
            }
            for name in ALL:
                if name not in chosen:
                    continue
                print(f"\n=== {name} ({time.strftime('%H:%M:%S')}; load average {os.getloadavg()[0]:.1f})")
                t0 = time.perf_counter()
                try:
                    rows += benches[name]()
                except Exception as e:  # record it; the other benchmarks still run
                    traceback.print_exc()
                    cmd = f"python -m benchmarks.run --only {name}"
                    rows.append(Row(f"{name}: FAILED", cmd, repr(e)[:200]))
                print(f"=== {name}: {time.perf_counter() - t0:.0f} s")
    finally:
        sys.stdout = tee.stream
    info["load_end"] = other_load()
    info["elapsed"] = f"{(time.perf_counter() - t_start) / 60:.1f} min"
    print()
    print("\n".join(table(rows)))
    if not args.no_write:
        cmd = "python -m benchmarks.run" + (" " + shlex.join(argv if argv is not None else sys.argv[1:]))
        write_results(args.results, rows, info, cmd.strip(), tee.buf.rstrip().splitlines())
        print(f"wrote {args.results}")
    # a missed target is a figure to report, not an error; a benchmark that crashed is
    return 1 if any(r.name.endswith("FAILED") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
