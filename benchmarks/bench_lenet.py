"""mnist-lenet full evaluation of one checkpoint, and what the cached real statistics save.

    .venv/bin/python -m benchmarks.bench_lenet [--n 10000] [--cache-dir DIR] [--breakdown]

Runs the command a user runs, twice, in fresh processes (so interpreter start and imports are counted):

    gan-eval eval --real mnist --fake tests/data/mlp_gan_mnist.pt --extractor mnist-lenet \
        --metrics fid,is,kid,pr --n 10000 --json --quiet --no-save

against an empty statistics cache (``$GAN_EVAL_CACHE`` = a fresh folder whose ``datasets/`` and ``weights/``
link to the user's cache, so nothing is downloaded). The first run extracts mnist:train (60,000 digits) and
caches it; the second must report ``real_from_cache`` and is the "full evaluation of one checkpoint" figure
(target <= 10 s on 2 CPU cores). The ratio first / second is what the cache saves. ``--breakdown``
profiles a third, in-process evaluation and prints where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CHECKPOINT, ROOT, Row

TARGET_S = 10.0


def isolated_cache(folder: Path) -> Path:
    """A statistics cache with no entries that shares the user's downloaded datasets and weights."""
    user = Path(os.environ.get("GAN_EVAL_CACHE", Path.home() / ".cache" / "gan-eval")).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("datasets", "weights"):
        if (user / part).is_dir() and not (folder / part).exists():
            (folder / part).symlink_to(user / part, target_is_directory=True)
    return folder


def run_cli(args: list[str], cache: Path) -> tuple[float, dict]:
    """(wall seconds, parsed --json output) of one ``gan-eval`` command in a fresh process."""
    exe = Path(sys.executable).with_name("gan-eval")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "gan_eval"]) + args
    env = {**os.environ, "GAN_EVAL_CACHE": str(cache)}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, json.loads(p.stdout)


def eval_args(n: int) -> list[str]:
    return [
        "eval",
        "--real",
        "mnist",
        "--fake",
        str(CHECKPOINT.relative_to(ROOT)),
        "--extractor",
        "mnist-lenet",
        "--metrics",
        "fid,is,kid,pr",
        "--n",
        str(n),
        "--json",
        "--quiet",
        "--no-save",
    ]


def breakdown(n: int, cache: Path) -> None:
    import cProfile
    import pstats

    os.environ["GAN_EVAL_CACHE"] = str(cache)
    import gan_eval

    prof = cProfile.Profile()
    prof.enable()
    r = gan_eval.evaluate(
        real="mnist",
        fake=str(CHECKPOINT),
        metrics=["fid", "is", "kid", "pr"],
        extractor="mnist-lenet",
        n=n,
        progress=False,
    )
    prof.disable()
    print(f"in-process evaluate: {r.duration_s:.2f} s (real_from_cache {r.diagnostics['real_from_cache']})")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(r"gan_eval/(pipeline|metrics|features|data)", 25)


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="generated samples (the issue: 10,000)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="statistics cache to use (must start empty)")
    ap.add_argument("--breakdown", action="store_true", help="profile a third, in-process evaluation")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_lenet_") as t:
        cache = isolated_cache(args.cache_dir or Path(t) / "cache")
        if (cache / "stats").exists() and any((cache / "stats").iterdir()):
            raise SystemExit(f"{cache}/stats is not empty: the first run must find no cached statistics")
        cli = eval_args(args.n)
        first_s, first = run_cli(cli, cache)
        print(
            f"first run (extracts mnist:train): {first_s:6.2f} s wall, evaluate {first['duration_s']:.2f} s"
        )
        second_s, second = run_cli(cli, cache)
        print(
            f"2nd run (cached mnist:train): {second_s:6.2f} s wall, evaluate {second['duration_s']:.2f} s; "
            f"values {second['values']}"
        )
        assert not first["diagnostics"]["real_from_cache"], "first run found cached statistics"
        assert second["diagnostics"]["real_from_cache"], "second run did not use the cached real statistics"
        assert second["values"] == first["values"], "cached statistics changed the numbers"
        if args.breakdown:
            breakdown(args.n, cache)
    cmd = "gan-eval " + " ".join(cli)
    vals = ", ".join(f"{k} {v:.4g}" for k, v in second["values"].items())
    return [
        Row(
            f"mnist-lenet full evaluation of one checkpoint ({args.n} samples; fid, is, kid, pr; "
            "cached mnist:train)",
            f"{cmd}  (second run; python -m benchmarks.bench_lenet)",
            f"{second_s:.1f} s",
            "-",
            None,
            f"<= {TARGET_S:.0f} s",
            second_s <= TARGET_S,
            [f"of which evaluate() {second['duration_s']:.1f} s, the rest process start and imports; {vals}"],
        ),
        Row(
            "Cached real statistics: first vs second evaluation of the same real set "
            "(mnist-lenet, mnist:train)",
            f"{cmd}  (run twice on an empty cache)",
            f"{second_s:.1f} s (2nd)",
            f"{first_s:.1f} s (1st)",
            first_s / second_s,
            "2nd skips the real pass",
            bool(second["diagnostics"]["real_from_cache"]),
            [
                f"second run real_from_cache = {second['diagnostics']['real_from_cache']}; same values; "
                f"evaluate() {first['duration_s']:.1f} s -> {second['duration_s']:.1f} s"
            ],
        ),
    ]


if __name__ == "__main__":
    main()
