"""FID from statistics at d = 2048: pytorch-fid's ``calculate_frechet_distance`` vs ``fid_from_stats``.

Both run in this process on the same random SPD covariances (Inception-like spectrum: eigenvalues
log-spaced over 6 decades, random eigenvectors), on the CPU. Prints wall and CPU time (best of ``--repeats``,
interleaved runs), the ratio and the difference of the values. Target (issue 6): >= 5x faster, same value
to 1e-9 relative. On a shared machine, single-threaded runs (OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MKL_NUM_THREADS=1 ... --threads 1) avoid oversubscribed BLAS threads and give the steadiest ratio.

    .venv/bin/python benchmarks/bench_fid_stats.py [--dim 2048] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy
import scipy.linalg


def random_stats(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """mu float64 [d], sigma float64 [d, d] SPD with eigenvalues log-spaced in [1e-5, 10]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.logspace(-5, 1, d)
    sigma = (q * lam) @ q.T
    return rng.standard_normal(d) * 0.1, (sigma + sigma.T) / 2


def pytorch_fid_distance() -> Callable[..., float]:
    """pytorch-fid 0.3.0's function; its ``sqrtm(..., disp=False)`` call is patched if this scipy rejects it
    (scipy >= 1.18 removed ``disp``; 1.16-1.17 only warn)."""
    from pytorch_fid import fid_score

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            scipy.linalg.sqrtm(np.eye(2), disp=False)  # type: ignore[call-arg]
    except TypeError:
        orig = scipy.linalg.sqrtm

        def sqrtm_compat(a, disp=True, **kw):  # type: ignore[no-untyped-def]
            out = orig(a, **kw)
            return (out, 0.0) if not disp else out

        fid_score.linalg.sqrtm = sqrtm_compat  # pytorch-fid does `from scipy import linalg`
        print("patched pytorch-fid's sqrtm call for this scipy")
    return fid_score.calculate_frechet_distance


def timed(fn: Callable[[], float]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, value) of one call."""
    w, c = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - w, time.process_time() - c, value


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (BLAS threads follow the env)")
    args = ap.parse_args(argv)

    import torch

    from gan_eval.metrics.fid import fid_from_stats

    if args.threads:
        torch.set_num_threads(args.threads)
    mu1, s1 = random_stats(args.dim, 1)
    mu2, s2 = random_stats(args.dim, 2)
    theirs_fn = pytorch_fid_distance()

    def theirs() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy 1.16-1.17: `disp` is deprecated
            return float(theirs_fn(mu1, s1, mu2, s2))

    def ours() -> float:
        return fid_from_stats(mu1, s1, mu2, s2)["fid"]

    runs: dict[str, list[tuple[float, float, float]]] = {"pytorch-fid": [], "gan-eval": []}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        runs["pytorch-fid"].append(timed(theirs))
        runs["gan-eval"].append(timed(ours))
    (tw, tc, v_theirs), (ow, oc, v_ours) = (
        (min(r[0] for r in rs), min(r[1] for r in rs), rs[-1][2]) for rs in runs.values()
    )
    diff = abs(v_ours - v_theirs)
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"numpy {np.__version__}, scipy {scipy.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    print(f"d = {args.dim}; best of {args.repeats} interleaved runs; CPU = process time of all threads")
    print(f"pytorch-fid calculate_frechet_distance: wall {tw:8.3f} s  CPU {tc:8.3f} s  FID {v_theirs:.12g}")
    print(f"gan-eval fid_from_stats:                wall {ow:8.3f} s  CPU {oc:8.3f} s  FID {v_ours:.12g}")
    print(
        f"speed-up: wall {tw / ow:.2f}x, CPU {tc / oc:.2f}x   |difference| {diff:.3g} "
        f"({diff / abs(v_theirs):.3g} relative; target >= 5x, <= 1e-9)"
    )
    return {
        "wall_pytorch_fid": tw,
        "wall_gan_eval": ow,
        "ratio": tw / ow,
        "cpu_ratio": tc / oc,
        "abs_diff": diff,
        "rel_diff": diff / abs(v_theirs),
        "fid_pytorch_fid": v_theirs,
        "fid_gan_eval": v_ours,
    }


if __name__ == "__main__":
    main()
