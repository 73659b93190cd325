"""`make demo`: the main job end to end, as the commands a user would type.

1. MNIST: load (offline path), print its summary, write a grid of real digits.
2. Train the reference MLP GAN for a few epochs (``runs/demo``).
3. Rank its checkpoints with mnist-lenet metrics (FID, KID, precision/recall) and bootstrap intervals.
4. Inception FID of the last checkpoint with a small sample count (labelled as such: keeps the demo
   within about 10 minutes on 2 CPU cores; FID is biased upward at small n and is not comparable
   with 10k/50k figures).
5. Write ``reports/demo.md`` (tables, plots, sample grids, class histograms, gate verdicts).
6. Run the example quality gate (``configs/gates/mnist.toml``); its verdict is printed, and a failed gate does
   not fail the demo (exit code 1 is what CI would see).

Environment knobs: ``GAN_EVAL_DEMO_EPOCHS`` (default 5), ``GAN_EVAL_DEMO_INCEPTION_N`` (default 256; 0 skips).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from pathlib import Path

RUN = Path("runs/demo")
REPORTS = Path("reports")
RESULTS = REPORTS / "demo_results.csv"
GATE = Path("configs/gates/mnist.toml")


STAGES: list[tuple[str, float]] = []  # (stage, seconds) in the order they ran


def _gan_eval(stage: str, *args: str, check: bool = True) -> int:
    """Run ``gan-eval ARGS`` (printed as a user would type it) and record its time under ``stage``.

    The command runs in this process, through the same Typer app as the ``gan-eval`` script: the same code
    path and output, without a new Python and torch start (~2 s) per command."""
    from gan_eval.cli import app

    print(f"\n$ gan-eval {shlex.join(args)}", flush=True)
    t0 = time.perf_counter()
    try:
        app(args=list(args), prog_name="gan-eval")
        rc = 0
    except SystemExit as e:  # click ends every command with SystemExit(exit code)
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    sys.stdout.flush()
    seconds = time.perf_counter() - t0
    STAGES.append((stage, seconds))
    print(f"  ({seconds:.1f} s, exit code {rc})", flush=True)
    if check and rc != 0:
        raise SystemExit(rc)
    return rc


def _mnist_summary() -> None:
    import numpy as np
    from torchvision.utils import make_grid, save_image

    from gan_eval.data import parse_source

    print("== MNIST", flush=True)
    t0 = time.perf_counter()
    for spec in ("mnist:train", "mnist:test"):
        src = parse_source(spec)
        labels = getattr(src, "labels", None)
        counts = [] if labels is None else np.bincount(labels, minlength=10).tolist()
        print(f"  {src.describe()}; class counts {counts}; identity {src.identity}")
    print(f"  loaded and verified in {time.perf_counter() - t0:.1f} s")
    first = next(parse_source("mnist:test").batches(64))
    REPORTS.mkdir(exist_ok=True)
    save_image(make_grid(first.float() / 255, nrow=8, padding=2), REPORTS / "mnist_real_grid.png")
    print(f"  wrote {REPORTS / 'mnist_real_grid.png'}")


def main() -> None:
    t_start = time.perf_counter()
    epochs = int(os.environ.get("GAN_EVAL_DEMO_EPOCHS", "5"))
    inception_n = int(os.environ.get("GAN_EVAL_DEMO_INCEPTION_N", "256"))
    _mnist_summary()
    STAGES.append(("MNIST", time.perf_counter() - t_start))

    print(f"\n== Train the reference MLP GAN for {epochs} epochs", flush=True)
    shutil.rmtree(RUN, ignore_errors=True)  # the demo's own folder: a fresh run every time
    RESULTS.unlink(missing_ok=True)
    _gan_eval(
        "train", "train", "--config", "configs/train/mlp_gan.toml", "--epochs", str(epochs), "--out", str(RUN)
    )
    checkpoints = sorted(str(p) for p in RUN.glob("ckpt_epoch_*.pt"))
    last = checkpoints[-1]

    if inception_n:
        print(
            f"\n== Inception FID of {Path(last).name}: {inception_n} generated samples vs mnist (train; its "
            "statistics ship with gan-eval) "
            "(DEMO SIZE: biased upward at small n, not comparable with 10k/50k figures)",
            flush=True,
        )
        _gan_eval(
            "Inception FID",
            "fid",
            "--real",
            "mnist",
            "--fake",
            last,
            "--n",
            str(inception_n),
            "--run",
            "demo-inception",
            "--results",
            str(RESULTS),
        )

    print(
        "\n== Rank the checkpoints with mnist-lenet metrics (10,000 samples each, bootstrap intervals)",
        flush=True,
    )
    _gan_eval(
        "compare",
        "compare",
        *checkpoints,
        "--real",
        "mnist",
        "--metrics",
        "fid,is,kid,pr",
        "--extractor",
        "mnist-lenet",
        "--bootstrap",
        "50",
        "--run",
        "demo",
        "--results",
        str(RESULTS),
    )

    print("\n== Quality gate (configs/gates/mnist.toml) on the last checkpoint", flush=True)
    gate_rc = _gan_eval(
        "gate",
        "gate",
        "--config",
        str(GATE),
        "--results",
        str(RESULTS),
        "--run",
        "demo",
        "--junit",
        str(REPORTS / "demo_gate.xml"),
        check=False,
    )

    print("\n== Report", flush=True)
    _gan_eval(
        "report",
        "report",
        "--results",
        str(RESULTS),
        "-o",
        str(REPORTS / "demo.md"),
        "--gate-config",
        str(GATE),
        "--title",
        f"gan-eval demo: MLP GAN on MNIST, {epochs} epochs",
    )

    verdict = {0: "passed", 1: "FAILED (exit code 1, as CI would see it)"}.get(gate_rc, f"error {gate_rc}")
    total = time.perf_counter() - t_start
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in STAGES)
    print(f"\nDemo done in {total:.0f} s ({stages}): report {REPORTS / 'demo.md'}; gate {verdict}.")


if __name__ == "__main__":
    main()
