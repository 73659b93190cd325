"""Is this machine in a slow phase right now? Prints, about once a second, the MLP GAN's step split into its
gradient part and its Adam part, next to a hot-cache sgemm and a 32 MB copy.

    .venv/bin/python -m benchmarks.machine_phase [--seconds 30]

On the shared 2-core VM the benchmarks were written on, quiet lines read ~4.8 ms a step (Adam ~0.42 ms) with
the sgemm near 200 GFLOPS; in a slow phase the step takes ~8 ms and Adam 1.7 ms while the sgemm and the copy
stay at their usual speed. Timings taken in a slow phase (``benchmarks/bench_train.py`` rounds especially) are
not comparable with quiet ones: run this before quoting figures.
"""

from __future__ import annotations

import argparse
import time

import torch

from gan_eval.train.mlp_step import for_models
from gan_eval.train.models import MLPDiscriminator, MLPGenerator
from gan_eval.train.optim import AdamStep as _AdamStep
from gan_eval.train.optim import adam as _adam


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--steps", type=int, default=150, help="MLP GAN steps per line")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    batch = 64
    data = torch.rand(60000, 1, 28, 28) * 2 - 1
    G, D = MLPGenerator(), MLPDiscriminator()
    step = for_models(G, D, "bce")
    assert step is not None
    step_d, step_g = _AdamStep(_adam(D, 2e-4, (0.5, 0.999))), _AdamStep(_adam(G, 2e-4, (0.5, 0.999)))
    ones = torch.ones(batch, 1)
    both = torch.cat([ones, torch.zeros(batch, 1)])
    noise = torch.Generator().manual_seed(1)
    a, b, c = torch.randn(512, 512), torch.randn(512, 512), torch.empty(512, 512)
    src = torch.empty(8 << 20)
    dst = torch.empty_like(src)
    end = time.time() + args.seconds
    while time.time() < end:
        grads = adam = 0.0
        t_line = time.perf_counter()
        perm = torch.randperm(len(data))
        for i in range(args.steps):
            real = data.index_select(0, perm[i * batch : (i + 1) * batch])
            t0 = time.perf_counter()
            step.discriminator_grads(real, torch.randn(batch, 100, generator=noise), both)
            t1 = time.perf_counter()
            step_d()
            t2 = time.perf_counter()
            step.generator_grads(torch.randn(batch, 100, generator=noise), ones)
            t3 = time.perf_counter()
            step_g()
            t4 = time.perf_counter()
            grads += (t1 - t0) + (t3 - t2)
            adam += (t2 - t1) + (t4 - t3)
        per_step = (time.perf_counter() - t_line) / args.steps
        t0 = time.perf_counter()
        for _ in range(20):
            torch.mm(a, b, out=c)
        gflops = 20 * 2 * 512**3 / (time.perf_counter() - t0) / 1e9
        t0 = time.perf_counter()
        for _ in range(5):
            dst.copy_(src)
        gbs = 5 * 2 * src.numel() * 4 / (time.perf_counter() - t0) / 1e9
        print(
            f"{time.strftime('%H:%M:%S')}  step {per_step * 1e3:5.2f} ms  (gradients "
            f"{grads / args.steps * 1e3:5.2f}, Adam {adam / args.steps * 1e3:4.2f})  "
            f"hot sgemm {gflops:4.0f} GFLOPS  32 MB copy {gbs:5.1f} GB/s",
            flush=True,
        )


if __name__ == "__main__":
    main()
