"""Side by side: one MNIST epoch of the reference article's GAN loop vs gan-eval's trainer (same model).

    .venv/bin/python -m benchmarks.bench_train [--rounds N] [--threads N] [--skip-reference]

Both run in this one process with the same torch thread count, alternating: ours, reference, ours, reference,
..., ours (N reference epochs, N + 1 of ours). Round i's ratio is the reference's time over the mean of the
two runs of ours around it, so a slow phase of a shared machine (this VM's speed drifts by up to 1.5x over
tens of seconds) hits both sides of a ratio; the reported ratio is the median of the rounds', with their
range. The reference is :mod:`benchmarks.reference_gan` (the article's code, reading MNIST through torchvision
from IDX files written to a temporary folder); its per-step ``print`` goes to ``os.devnull`` (the cheapest
place it can go). Ours is ``gan_eval.train.train`` on ``configs/train/mlp_gan.toml`` for one epoch, progress
bar off, including its per-epoch work (sample grid, CSV logs, checkpoint). Each side's whole call is timed,
data loading included. Imports both sides make lazily (``torch.optim``'s first optimizer imports
``torch._dynamo``: 1.6 s here; torchvision; PIL) are done before anything is timed, so the side that runs
first does not pay them for both.
Timings on a shared machine are noisy: rerun on a quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "train" / "mlp_gan.toml"


def time_reference(mnist_root: Path) -> float:
    """Seconds for ``train_gan(epochs=1)`` of the article (stdout to os.devnull)."""
    from benchmarks.reference_gan import train_gan

    torch.manual_seed(0)
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        train_gan(epochs=1, batch_size=64, latent_dim=100, root=str(mnist_root))
    return time.perf_counter() - t0


def warm_shared_imports() -> None:
    """Import what both sides import lazily on first use (see the module docstring)."""
    import PIL.Image  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torchvision.datasets  # noqa: F401
    import torchvision.transforms  # noqa: F401
    import torchvision.utils  # noqa: F401


def time_ours(out: Path) -> tuple[float, float]:
    """(seconds for the whole ``train`` call, seconds of its epoch loop alone) for one epoch of mlp_gan."""
    import pandas as pd

    from gan_eval.train import load_train_config, train

    t0 = time.perf_counter()
    train(load_train_config(CONFIG), out=out, epochs=1, device="cpu", progress=False)
    total = time.perf_counter() - t0
    loop = float(pd.read_csv(out / "epochs.csv")["seconds"].iloc[0])
    return total, loop


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="reference epochs (ours runs one more)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both (0 = default)")
    parser.add_argument("--skip-reference", action="store_true", help="time only gan-eval's trainer")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs", flush=True)
    warm_shared_imports()
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        tmp_path = Path(tmp)

        def run_ours() -> tuple[float, float]:
            total, loop = time_ours(tmp_path / f"ours_{len(ours)}")
            print(f"ours:       {total:7.2f} s per epoch (loop alone {loop:.2f} s)", flush=True)
            return total, loop

        ours: list[tuple[float, float]] = []
        ours.append(run_ours())
        if args.skip_reference:
            return {"ours_s": ours[0][0], "ours_loop_s": ours[0][1]}
        from benchmarks.reference_gan import write_torchvision_mnist

        mnist_root = write_torchvision_mnist(tmp_path / "torchvision")
        refs: list[float] = []
        for _ in range(max(1, args.rounds)):
            refs.append(time_reference(mnist_root))
            print(f"reference:  {refs[-1]:7.2f} s per epoch", flush=True)
            ours.append(run_ours())
    around = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(ours, ours[1:], strict=False)]
    ratios = [r / o[0] for r, o in zip(refs, around, strict=True)]
    loop_ratios = [r / o[1] for r, o in zip(refs, around, strict=True)]
    ratio, loop_ratio = statistics.median(ratios), statistics.median(loop_ratios)
    print(
        f"speed-up, median of {len(refs)} rounds: {ratio:.2f}x whole call "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x), {loop_ratio:.2f}x epoch loop "
        f"({min(loop_ratios):.2f}-{max(loop_ratios):.2f}x); target >= 3x"
    )
    return {
        "reference_s": statistics.median(refs),
        "ours_s": statistics.median(t for t, _ in ours),
        "ours_loop_s": statistics.median(loop for _, loop in ours),
        "ratio": ratio,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "loop_ratio": loop_ratio,
        "rounds": float(len(refs)),
        "threads": float(torch.get_num_threads()),
    }


if __name__ == "__main__":
    main()
