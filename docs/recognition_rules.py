"""Reproduce the table of docs/recognition.md: the share of real and made image sets each candidate rule
leaves out at the threshold that keeps 99 % of the test split.

    python docs/recognition_rules.py mnist [runs/mlp]        # optionally a run folder with ckpt_epoch_*.pt
    python docs/recognition_rules.py fashion-mnist

Candidates: max-softmax, energy (logsumexp of the logits), the Mahalanobis distance to the nearest class
Gaussian (tied covariance, class means over the train split) on the penultimate features alone and on the
last convolution block's per-channel mean and std followed by them, and the chosen rule (that distance and
energy together, gan_eval.features.recognition.fit_rule). A few minutes on a CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from gan_eval.data.datasets import load_arrays
from gan_eval.features import lenet, lenet_train
from gan_eval.features.recognition import class_gaussians, energy, fit_rule


def main(dataset: str, run: str | None) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ex = lenet.mnist_lenet() if dataset == "mnist" else lenet.fashion_mnist_lenet()
    train, train_y = load_arrays(dataset, "train")
    test, _ = load_arrays(dataset, "test")

    def noisy(x: np.ndarray, std: float) -> np.ndarray:
        return np.clip(x + rng.normal(0, std, x.shape), 0, 255).round().astype(np.uint8)

    def blank(x: np.ndarray, where: tuple[slice, ...]) -> np.ndarray:
        y = x.copy()
        y[(slice(None), *where)] = 0
        return y

    half, rest = slice(None, 14), slice(14, None)
    sets = {
        f"{dataset}:train (not used for thresholds)": train[-10000:],
        "noise std 32": noisy(test, 32),
        "noise std 64": noisy(test, 64),
        "noise std 128": noisy(test, 128),
        "bottom half blanked": blank(test, (rest, slice(None))),
        "top half blanked": blank(test, (half, slice(None))),
        "left half blanked": blank(test, (slice(None), half)),
        "right half blanked": blank(test, (slice(None), rest)),
        "uniform noise": rng.integers(0, 256, test.shape, dtype=np.uint8),
        "blank image": np.zeros((100, 28, 28), np.uint8),
    }
    if run is not None:
        from gan_eval.data.generators import generator_source

        for ck in sorted(Path(run).glob("ckpt_epoch_*.pt")):
            src = generator_source(str(ck), n=10000, seed=0)
            sets[f"{ck.stem}"] = np.concatenate([b.numpy() for b in src.batches(1000)])[:, 0]

    def outputs(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return lenet_train.descriptors(ex.net, x, ex.mean, ex.std)

    train_desc, _ = outputs(train)
    test_desc, test_logits = outputs(test)
    pen = slice(64, None)  # the penultimate features within the descriptor
    gauss_all = class_gaussians(train_desc, train_y.astype(np.int64), 10)
    gauss_pen = class_gaussians(train_desc[:, pen], train_y.astype(np.int64), 10)
    rule = fit_rule(train_desc, train_y.astype(np.int64), test_desc, test_logits)

    def maha(desc: torch.Tensor, gauss: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        means, prec = gauss
        x = desc.double().numpy()
        return np.stack([np.einsum("nd,de,ne->n", x - m, prec, x - m) for m in means], 1).min(1)

    def scores(desc: torch.Tensor, logits: torch.Tensor) -> dict[str, np.ndarray]:
        e = energy(logits).numpy()
        return {  # higher: more like a real image
            "max-softmax": torch.softmax(logits.double(), 1).max(1).values.numpy(),
            "energy": e,
            "distance, penultimate": -maha(desc[:, pen], gauss_pen),
            "distance, conv + penultimate": -maha(desc, gauss_all),
        }

    real = scores(test_desc, test_logits)
    cut = {k: np.quantile(v, 0.01) for k, v in real.items()}
    print(f"{dataset}: share left out at the threshold keeping 99 % of {dataset}:test")
    print(f"{'set':40s}" + "".join(f"{k:>30s}" for k in [*real, "chosen (distance and energy)"]))
    for name, x in sets.items():
        desc, logits = outputs(x)
        got = scores(desc, logits)
        shares = [float(np.mean(got[k] < cut[k])) for k in real]
        shares.append(float(1 - rule.recognised(desc, logits).double().mean()))
        print(f"{name:40s}" + "".join(f"{100 * s:29.1f}%" for s in shares))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mnist", sys.argv[2] if len(sys.argv) > 2 else None)
