"""Cost of one tracker call inside a training loop, side by side with torchmetrics.

    .venv/bin/python -m benchmarks.bench_tracker [--n 5000 10000] [--repeats 5]

The generator is the reference MLP GAN of ``tests/data/mlp_gan_mnist.pt`` (the article's architecture) in
memory. Ours: ``gan_eval.Tracker(real="mnist:test", metrics=["fid"], extractor="mnist-lenet", n=N)`` made once
(the real side from the cache), then ``tracker(G)`` timed (N samples drawn in chunks of 500, LeNet features,
FID). Theirs: what a torchmetrics user writes for the same number: ``FrechetInceptionDistance`` with the same
LeNet as its ``feature=`` module (``gan_eval.features.torchmetrics_adapter``) and
``reset_real_features=False``, the real set's 10,000 digits fed once; per call ``G`` sampled in eval
mode under ``no_grad`` in batches of 500 with the same latents, quantized to uint8, ``update(fake)``,
``compute()``, ``reset()``. The two FIDs are printed (they agree to float rounding: both accumulate float64
moments of the same float32 features). Calls alternate (ours, theirs, ...) and each side keeps its best;
target: under 3 s at n = 5,000 on a 2-core CPU (issue 21).
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import CHECKPOINT, Row, interleaved, machine, other_load

TARGET_S = 3.0


def _generator() -> torch.nn.Module:
    from gan_eval.data.generators import load_checkpoint_sampler

    sampler = load_checkpoint_sampler(CHECKPOINT)
    return sampler.generator  # type: ignore[return-value]


def _torchmetrics_side(n: int):  # type: ignore[no-untyped-def]
    from torchmetrics.image.fid import FrechetInceptionDistance

    from gan_eval.data.base import quantize, sample_latent
    from gan_eval.data.datasets import load_arrays
    from gan_eval.features.torchmetrics_adapter import torchmetrics_feature

    fid = FrechetInceptionDistance(feature=torchmetrics_feature("mnist-lenet"), reset_real_features=False)
    real, _ = load_arrays("mnist", "test")
    for start in range(0, len(real), 1000):
        fid.update(torch.from_numpy(real[start : start + 1000, None]), real=True)
    G = _generator()

    def call() -> float:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for start in range(0, n, 500):
                z = sample_latent(min(500, n - start), 100, "normal", gen, "cpu")
                fid.update(quantize(G.eval()(z)), real=False)
        value = float(fid.compute())
        fid.reset()
        return value

    return call


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 10000])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    from gan_eval import Tracker

    print(machine(), other_load())
    G = _generator()
    rows = []
    for n in args.n:
        t0 = time.perf_counter()
        tracker = Tracker(real="mnist:test", metrics=["fid"], extractor="mnist-lenet", n=n)
        setup = time.perf_counter() - t0
        tracker(G)  # warm-up (first-call allocations), as in a training loop's later calls
        theirs = _torchmetrics_side(n)
        theirs()
        ours = tracker

        def call_ours(tracker: Tracker = ours) -> float:
            return tracker(G)["fid"]

        res = interleaved({"gan-eval tracker": call_ours, "torchmetrics FID": theirs}, args.repeats)
        ours_s, ours_v = res["gan-eval tracker"]
        tm_s, tm_v = res["torchmetrics FID"]
        print(f"n={n}: tracker {ours_s:.2f} s (FID {ours_v:.6f}; setup {setup:.1f} s), "
              f"torchmetrics {tm_s:.2f} s (FID {tm_v:.6f})")  # fmt: skip
        rows.append(
            Row(
                name=f"tracker call, mnist-lenet FID, n = {n:,}",
                command=f"python -m benchmarks.bench_tracker --n {n}",
                ours=f"{ours_s:.2f} s",
                theirs=f"{tm_s:.2f} s (torchmetrics FID, same LeNet features)",
                ratio=tm_s / ours_s,
                target=f"< {TARGET_S:g} s" if n == 5000 else "-",
                met=(ours_s < TARGET_S) if n == 5000 else None,
                notes=[f"FID {ours_v:.6f} vs torchmetrics {tm_v:.6f}; tracker setup {setup:.1f} s (cached)"],
            )
        )
    return rows


if __name__ == "__main__":
    main()
