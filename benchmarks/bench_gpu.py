"""GPU benchmark: Inception FID end to end per precision mode, the FID error of each fast mode, and the
trainer's seconds per epoch (issue 6's GPU targets, issue 4's GPU figure). Needs a CUDA device.

    python -m benchmarks.bench_gpu                         # everything (~3 min on an H100/H200)
    python -m benchmarks.bench_gpu --only eval --weights FILE --json out.json
    python -m benchmarks.bench_gpu --only train --epochs 3

eval: ``gan_eval.evaluate(real="mnist", fake="mnist:test", metrics=["fid"])`` with the Inception extractor
on 28x28 uint8 MNIST arrays (60,000 + 10,000 images; the real set is not cached), once per mode: fp32
(exact), tf32, bf16, and bf16 + ``torch.compile`` (first call, compile included, then a second call in the
same process). images/s = 70,000 / wall time of the call. The FID of each mode is compared with the exact
one (target |delta| <= 0.01); with random weights (``--weights random``) only the speeds mean anything.
train: ``gan_eval.train.train_from_toml`` on each config of configs/train/ for ``--epochs`` epochs; the
figure is the mean of the epochs after the first (epochs.csv ``seconds``, measured after a CUDA sync).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import ROOT, Row

MODES = (  # (label, precision, compile, channels_last); the first is the exact reference for delta FID
    ("fp32 (exact)", "fp32", False, True),
    ("fp32 (exact), NCHW", "fp32", False, False),
    ("tf32", "tf32", False, True),
    ("bf16", "bf16", False, True),
    ("bf16 + compile, first call", "bf16", True, True),
    ("bf16 + compile, second call", "bf16", True, True),
)
TARGETS = {"fp32": 2000, "tf32": 5000, "bf16": 7000, "bf16+compile": 12000}
CONFIGS = ("mlp_gan", "dcgan", "wgan_gp")


def random_weights(folder: Path) -> str:
    """A pytorch-fid-layout weight file with random values (speed does not depend on the weights)."""
    from gan_eval.features.inception_net import InceptionV3FID

    torch.manual_seed(0)
    net = InceptionV3FID()
    for m in net.modules():  # keep activations in a sane range so bf16 runs the same kernels
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path = folder / "random_inception.pth"
    torch.save(net.state_dict(), path)
    return str(path)


def bench_eval(
    weights: str, batch_size: int | None, limit: int | None, log: Any
) -> tuple[list[dict[str, Any]], list[Row]]:
    from gan_eval.features import build_extractor
    from gan_eval.pipeline import evaluate

    out: list[dict[str, Any]] = []
    exact = None
    for label, precision, compiled, channels_last in MODES:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        ext: Any = build_extractor(
            "inception", weights=weights, device="cuda", channels_last=channels_last, quiet=True
        )
        ext = torch.compile(ext.eval(), dynamic=False) if compiled else ext.eval()
        r = evaluate(
            extractor_module=ext,
            real="mnist",
            fake="mnist:test",
            metrics=["fid"],
            extractor="inception",
            weights=weights,
            device="cuda",
            precision=precision,
            compile=compiled,
            batch_size=batch_size,
            use_cache=False,
            progress=False,
            real_limit=limit,
            fake_limit=limit,
        )
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        n = r.n_fake + r.n_real["fid"]
        fid = r.values["fid"]
        exact = fid if exact is None else exact
        rec = {
            "mode": label,
            "precision": precision,
            "compile": compiled,
            "images": n,
            "seconds": dt,
            "images_per_s": n / dt,
            "fid": fid,
            "delta_fid": fid - exact,
        }
        out.append(rec)
        log(f"  {label:30s} {n / dt:9,.0f} img/s  {dt:7.2f} s  FID {fid:.6f}  delta {fid - exact:+.6f}")
    rows = []
    for rec in out:
        key = "bf16+compile" if rec["compile"] else rec["precision"]
        target = TARGETS[key]
        first_compile = rec["mode"].endswith("first call")
        rows.append(
            Row(
                f"GPU Inception FID end to end, mnist:test vs mnist:train ({rec['images']:,} 28x28 images), "
                f"{rec['mode']}",
                "python -m benchmarks.bench_gpu --only eval",
                f"{rec['images_per_s']:,.0f} img/s",
                ratio=None,
                target="-" if first_compile else f">= {target:,} img/s, |dFID| <= 0.01",
                met=None
                if first_compile
                else bool(rec["images_per_s"] >= target and abs(rec["delta_fid"]) <= 0.01),
                notes=[
                    f"FID {rec['fid']:.6f}, delta vs fp32 {rec['delta_fid']:+.6f}; {rec['seconds']:.2f} s"
                ],
            )
        )
    return out, rows


def bench_forward(weights: str, batch: int, log: Any) -> list[dict[str, Any]]:
    """Extractor forward alone (uint8 [batch, 1, 28, 28] already on the GPU): layout x precision x folding."""
    from gan_eval.features.inception import InceptionExtractor
    from gan_eval.features.inception_load import load_inception
    from gan_eval.runtime import precision_context

    x = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8, device="cuda")
    dev = torch.device("cuda")
    out = []
    for fold in (False, True):
        for channels_last in (False, True):
            net, sha = load_inception(Path(weights))
            ext = (
                InceptionExtractor(
                    net.eval(),
                    protocol="pytorch-fid",
                    weights_sha256=sha,
                    channels_last=channels_last,
                    fold_batch_norm=fold,
                )
                .to(dev)
                .eval()
            )
            for precision in ("fp32", "tf32", "bf16"):
                with torch.inference_mode(), precision_context(precision, dev):
                    for _ in range(2):
                        ext(x)
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    for _ in range(5):
                        ext(x)
                    torch.cuda.synchronize()
                rate = 5 * batch / (time.perf_counter() - t0)
                out.append(
                    {"fold": fold, "channels_last": channels_last, "precision": precision, "img_s": rate}
                )
                log(f"  fold={fold!s:5} channels_last={channels_last!s:5} {precision}: {rate:9,.0f} img/s")
    return out


def bench_train(epochs: int, log: Any) -> tuple[list[dict[str, Any]], list[Row]]:
    import pandas as pd

    from gan_eval.train import train_from_toml

    out = []
    rows = []
    for name in CONFIGS:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            train_from_toml(
                ROOT / "configs" / "train" / f"{name}.toml",
                out=tmp,
                epochs=epochs,
                device="cuda",
                progress=False,
            )
            wall = time.perf_counter() - t0
            secs = pd.read_csv(Path(tmp) / "epochs.csv")["seconds"].tolist()
        steady = sum(secs[1:]) / max(len(secs) - 1, 1)
        out.append(
            {"config": name, "epochs": epochs, "wall_s": wall, "epoch_seconds": secs, "s_per_epoch": steady}
        )
        per = ", ".join(f"{s:.2f}" for s in secs)
        log(f"  {name:8s} {steady:6.2f} s/epoch (epochs: {per}; call {wall:.1f} s)")
        rows.append(
            Row(
                f"GPU training, one MNIST epoch of {name}",
                "python -m benchmarks.bench_gpu --only train",
                f"{steady:.2f} s/epoch",
                notes=[f"epochs {', '.join(f'{s:.2f}' for s in secs)} s"],
            )
        )
    return out, rows


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="forward,eval,train", help="comma list of: forward, eval, train")
    parser.add_argument(
        "--weights",
        default=None,
        help="Inception weight file; 'random' for speed only (default: gan-eval's own resolution)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="seeded subset of each split (smoke runs)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    parts = set(args.only.split(","))
    info = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    print(f"GPU: {info['device']}; torch {info['torch']}", flush=True)
    rows: list[Row] = []
    result: dict[str, Any] = {"info": info}
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights == "random":
            weights = random_weights(Path(tmp))
        if "forward" in parts:
            print("Inception forward alone, batch 256:", flush=True)
            result["forward"] = bench_forward(weights, 256, lambda s: print(s, flush=True))
        if "eval" in parts:
            print("Inception FID end to end (evaluate, no real-set cache):", flush=True)
            result["eval"], r = bench_eval(
                weights, args.batch_size, args.limit, lambda s: print(s, flush=True)
            )
            rows += r
        if "train" in parts:
            print(f"Training, {args.epochs} epochs per config:", flush=True)
            result["train"], r = bench_train(args.epochs, lambda s: print(s, flush=True))
            rows += r
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return rows


if __name__ == "__main__":
    main()
