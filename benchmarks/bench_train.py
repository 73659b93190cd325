"""Side by side: one MNIST epoch of the reference article's GAN loop vs gan-eval's trainer (same model).

    .venv/bin/python -m benchmarks.bench_train [--threads N] [--skip-reference]

Both run in this one process with the same torch thread count, in the order ours, reference, ours (so drift in
machine load hits both sides); ours is the mean of its two runs. The reference is
:mod:`benchmarks.reference_gan` (the article's code, reading MNIST through torchvision from IDX files written
to a temporary folder); its per-step ``print`` goes to ``os.devnull`` (the cheapest place it can go). Ours is
``gan_eval.train.train`` on ``configs/train/mlp_gan.toml`` for one epoch, progress bar off, including its
per-epoch work (sample grid, CSV logs, checkpoint). Each side's whole call is timed, data loading included.
Imports both sides make lazily (``torch.optim``'s first optimizer imports ``torch._dynamo``: 1.6 s here;
torchvision; PIL) are done before anything is timed, so the side that runs first does not pay them for both.
Timings on a shared machine are noisy: rerun on a quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
        ours = [time_ours(tmp_path / "ours_1")]
        print(f"ours (run 1):  {ours[0][0]:7.2f} s per epoch (loop alone {ours[0][1]:.2f} s)", flush=True)
        if args.skip_reference:
            return {"ours_s": ours[0][0], "ours_loop_s": ours[0][1]}
        from benchmarks.reference_gan import write_torchvision_mnist

        mnist_root = write_torchvision_mnist(tmp_path / "torchvision")
        ref = time_reference(mnist_root)
        print(f"reference:     {ref:7.2f} s per epoch", flush=True)
        ours.append(time_ours(tmp_path / "ours_2"))
        print(f"ours (run 2):  {ours[1][0]:7.2f} s per epoch (loop alone {ours[1][1]:.2f} s)", flush=True)
    mean_total = sum(t for t, _ in ours) / len(ours)
    mean_loop = sum(loop for _, loop in ours) / len(ours)
    print(f"speed-up: {ref / mean_total:.2f}x whole call, {ref / mean_loop:.2f}x epoch loop (target >= 3x)")
    return {
        "reference_s": ref,
        "ours_s": mean_total,
        "ours_loop_s": mean_loop,
        "ratio": ref / mean_total,
        "loop_ratio": ref / mean_loop,
        "threads": float(torch.get_num_threads()),
    }


if __name__ == "__main__":
    main()
