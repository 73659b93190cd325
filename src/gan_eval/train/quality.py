"""One row of the baseline table (docs/trainer_quality.md) for a checkpoint:
``python -m gan_eval.train.quality runs/NAME/ckpt_epoch_XXX.pt [--protocol tf1] [--against test]
[--no-inception]``.

Every figure uses the checkpoint's sampled generator (the EMA copy when there is one), 10,000 samples drawn
with noise seed 0, quantized to uint8 as the evaluator always does:

- mnist-lenet against mnist:test: FID, Inception-Score-style IS, precision and recall (k = 3), and the class
  shares of the samples (argmax of the classifier; mnist:test itself: 8.9% to 11.4%);
- Inception (fp32, ``--protocol``, default pytorch-fid): FID against mnist:test and against mnist:train.
  The generated images go through the network once: their statistics are computed one time and compared with
  both real sets' statistics (shipped with gan-eval for pytorch-fid; computed once and cached for tf1), which
  gives exactly what ``gan-eval fid --real mnist:test --fake CKPT --n 10000`` prints. ``--against test``
  skips mnist:train: with ``--protocol tf1`` (no shipped statistics) that saves a 60,000-image Inception pass,
  and mnist:test is the split the Lucic et al. protocol compares with.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gan_eval.errors import UserError, one_line
from gan_eval.features.protocols import DEFAULT_PROTOCOL, PROTOCOLS

N_SAMPLES = 10_000  # what `gan-eval stats` draws from a generator (and the table's protocol)
SEED = 0


def lenet_figures(ckpt: str | Path, *, device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """mnist-lenet FID / IS / precision / recall against mnist:test, and the samples' class shares.

    Returns ``{"lenet_fid", "lenet_is", "precision", "recall": float, "class_shares": float [10] summing
    to 1}``.
    """
    from gan_eval import evaluate

    r = evaluate(
        real="mnist:test",
        fake=str(ckpt),
        metrics=["fid", "is", "pr"],
        extractor="mnist-lenet",
        n=N_SAMPLES,
        seed=SEED,
        device=device,
        progress=progress,
    )
    counts = np.asarray(r.class_counts, dtype=np.float64)
    return {
        "lenet_fid": r.values["fid"],
        "lenet_is": r.values["is_mean"],
        "precision": r.values["precision"],
        "recall": r.values["recall"],
        "class_shares": counts / counts.sum(),
    }


def fids_from_one_pass(
    ckpt: str | Path,
    reals: dict[str, str],
    *,
    extractor: str = "inception",
    protocol: str | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """FID of the checkpoint's 10,000 samples against each real set of ``reals`` (name -> spec), from one
    pass over the samples: their statistics are computed once (not cached), each real set's come from the
    cache (or the shipped statistics) when there.

    Returns ``{"fid_<name>": float}`` per entry of ``reals``.
    """
    from gan_eval.metrics.fid import fid_from_stats
    from gan_eval.pipeline import compute_stats_file
    from gan_eval.stats.feature_stats import load_moments

    def stats(spec: str, path: Path, cache: bool) -> Any:
        compute_stats_file(
            spec,
            path,
            extractor=extractor,
            protocol=protocol,
            device=device,
            use_cache=cache,
            progress=progress,
        )
        return load_moments(path)

    with tempfile.TemporaryDirectory(prefix="gan-eval-quality-") as tmp:
        fake = stats(str(ckpt), Path(tmp) / "fake.npz", False)  # a checkpoint's: not worth a cache entry
        if fake.n != N_SAMPLES:  # (a guard: the table's protocol is 10,000 samples)
            raise RuntimeError(f"expected {N_SAMPLES} generated samples, got {fake.n}")
        out = {}
        for name, spec in reals.items():
            real = stats(spec, Path(tmp) / f"{name}.npz", True)
            out[f"fid_{name}"] = fid_from_stats(real.mu, real.sigma, fake.mu, fake.sigma)["fid"]
    return out


def training_cost(ckpt: str | Path) -> dict[str, float]:
    """Wall and CPU seconds of the epochs up to the checkpoint's, from ``epochs.csv`` next to it (NaN where
    the log lacks them)."""
    from gan_eval.data.checkpoint_format import load_checkpoint

    epoch = int(load_checkpoint(ckpt)["epoch"])
    log = Path(ckpt).parent / "epochs.csv"
    if not log.is_file():
        return {"epoch": epoch, "wall_s": float("nan"), "cpu_s": float("nan")}
    rows = pd.read_csv(log)
    rows = rows[rows["epoch"] <= epoch]
    cpu = float(rows["cpu_seconds"].sum()) if "cpu_seconds" in rows else float("nan")
    return {"epoch": epoch, "wall_s": float(rows["seconds"].sum()), "cpu_s": cpu}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gan_eval.train.quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("checkpoint")
    parser.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default=DEFAULT_PROTOCOL,
        help="Inception preprocessing (default: pytorch-fid)",
    )
    parser.add_argument(
        "--against",
        choices=["both", "test", "train"],
        default="both",
        help="real set(s) of the Inception FID: mnist:test, mnist:train or both (default)",
    )
    parser.add_argument("--no-inception", action="store_true", help="only the mnist-lenet figures")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        row = table_row(args)
    except UserError as e:  # bad input: one line and exit code 2, as the gan-eval command does
        parser.exit(2, f"{parser.prog}: error: {one_line(e)}\n")
    print(json.dumps({k: None if isinstance(v, float) and v != v else v for k, v in row.items()}))


def table_row(args: argparse.Namespace) -> dict[str, Any]:
    """The row ``main`` prints, for its parsed arguments."""
    row: dict[str, Any] = {"checkpoint": args.checkpoint, **training_cost(args.checkpoint)}
    row.update(lenet_figures(args.checkpoint, device=args.device))
    if not args.no_inception:
        reals = {k: f"mnist:{k}" for k in ("test", "train") if args.against in (k, "both")}
        row.update(fids_from_one_pass(args.checkpoint, reals, protocol=args.protocol, device=args.device))
        row["protocol"] = args.protocol
    shares = row.pop("class_shares")
    row["class_share_min"], row["class_share_max"] = float(shares.min()), float(shares.max())
    row["class_shares"] = [round(float(s), 4) for s in shares]
    return row


if __name__ == "__main__":
    main()
