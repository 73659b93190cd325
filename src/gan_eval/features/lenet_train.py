"""Training the ``mnist-lenet`` / ``fashion-mnist-lenet`` classifiers (``gan-eval classifier train``):
seeded, so the shipped weights are rebuilt bit for bit on the same torch version and thread count."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gan_eval import __version__, atomic
from gan_eval.errors import UserError
from gan_eval.features.lenet import (
    PIXEL_STATS,
    PROTOCOL,
    SHIPPED_WEIGHTS,
    WEIGHTS_FORMAT,
    LeNet,
    LeNetArgs,
    LeNetExtractor,
    load_weights,
    preprocess,
    recognition_path,
    shipped_weights_path,
)
from gan_eval.features.recognition import DEFAULT_KEEP, RecognitionRule, descriptor, fit_rule


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of ``x [N, C, H, W]`` by its own random (dy, dx) in [-max_shift, max_shift]."""
    n, _, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=generator)
    rows = (dy + torch.arange(h).view(1, h, 1)).expand(n, h, w)
    cols = (dx + torch.arange(w).view(1, 1, w)).expand(n, h, w)
    idx = torch.arange(n).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)


@torch.no_grad()
def accuracy(model: LeNet, x: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on normalised float32 ``x [N, 1, 28, 28]`` and int64 ``labels [N]``."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        _, logits = model(x[i : i + batch_size])
        correct += int((logits.argmax(1) == labels[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / len(x)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (stored in the weights file)."""

    dataset: str
    epochs: int
    seed: int
    batch_size: int
    lr: float
    weight_decay: float
    max_shift: int
    train_limit: int | None
    test_limit: int | None
    threads: int


def train_classifier(
    dataset: str = "mnist",
    *,
    epochs: int = 12,
    seed: int = 0,
    batch_size: int = 128,
    out: Path,
    device: str = "cpu",
    progress: bool = True,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    max_shift: int = 2,
    train_limit: int | None = None,
    test_limit: int | None = None,
    threads: int = 1,
    data_root: str | Path | None = None,
) -> dict[str, Any]:
    """Train LeNet on ``dataset``:train, evaluate it on ``dataset``:test, write the weights to ``out``.

    Reproducible: seeded generators drive initialisation, shuffling, random shifts and dropout, and
    deterministic algorithms are enforced (same torch version, device, ``threads`` and ``out`` name give the
    same file). AdamW with a one-cycle learning-rate schedule; augmentation: random shifts of up to
    ``max_shift`` pixels. ``train_limit`` / ``test_limit`` use only the first N images of each split (tests).
    The file is written atomically (with a ``.sha256`` sidecar). ``threads``: torch CPU threads while training
    (recorded; one thread is the fastest for this small network on a busy machine and keeps results
    independent of the machine's core count).

    Returns ``{"test_accuracy", "history", "seconds", "out", "sha256", "size_bytes", "epochs", "seed", ...}``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gan_eval.data.datasets import DATASETS, load_arrays

    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; expected one of {', '.join(sorted(DATASETS))}")
    if epochs < 1 or batch_size < 1 or threads < 1:
        raise UserError(
            f"--epochs, --batch-size and --threads must be >= 1, got {epochs}, {batch_size} and {threads}"
        )
    cfg = TrainConfig(
        dataset, epochs, seed, batch_size, lr, weight_decay, max_shift, train_limit, test_limit, threads
    )
    mean, std = PIXEL_STATS[dataset]
    args = LeNetArgs(mean=mean, std=std)

    x_train, y_train = load_arrays(dataset, "train", data_root)
    x_test, y_test = load_arrays(dataset, "test", data_root)
    if train_limit is not None:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    if test_limit is not None:
        x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    # Whole splits in memory: uint8 -> float in [0, 1] (shifts pad with 0 = background), normalised per batch.
    xtr = torch.from_numpy(x_train).unsqueeze(1).float().div_(255.0)
    ytr = torch.from_numpy(y_train.astype(np.int64))
    xte = preprocess(torch.from_numpy(x_test).unsqueeze(1), mean, std).to(device)
    yte = torch.from_numpy(y_test.astype(np.int64)).to(device)

    steps_per_epoch = -(-len(xtr) // batch_size)
    started = time.perf_counter()
    was_deterministic, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)  # initialisation and dropout
            gen = torch.Generator().manual_seed(seed + 1)  # shuffling and shifts
            model = LeNet(args).to(device)
            opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
            history: list[dict[str, float]] = []
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, disable=not progress, transient=False) as bar:
                task = bar.add_task(f"{dataset} lenet", total=epochs * steps_per_epoch)
                for epoch in range(epochs):
                    model.train()
                    order = torch.randperm(len(xtr), generator=gen)
                    total_loss = 0.0
                    for step in range(steps_per_epoch):
                        batch = order[step * batch_size : (step + 1) * batch_size]
                        xb = xtr[batch]
                        if max_shift > 0:
                            xb = random_shift(xb, max_shift, gen)
                        xb = ((xb - mean) / std).to(device)
                        _, logits = model(xb)
                        loss = F.cross_entropy(logits, ytr[batch].to(device))
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        sched.step()
                        total_loss += float(loss.detach()) * len(batch)
                        bar.update(task, advance=1, description=f"{dataset} lenet epoch {epoch + 1}/{epochs}")
                    acc = accuracy(model, xte, yte)
                    history.append(
                        {"epoch": epoch + 1, "train_loss": total_loss / len(xtr), "test_accuracy": acc}
                    )
                    if progress:
                        bar.console.print(
                            f"epoch {epoch + 1}: train loss {total_loss / len(xtr):.4f}, test acc {acc:.4%}"
                        )
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(was_threads)

    test_accuracy = history[-1]["test_accuracy"]
    limit = f" --train-limit {train_limit}" if train_limit is not None else ""
    limit += f" --test-limit {test_limit}" if test_limit is not None else ""
    meta: dict[str, Any] = {
        "format": WEIGHTS_FORMAT,
        "dataset": dataset,
        "architecture": {**asdict(args), "channels": list(args.channels)},
        "protocol": PROTOCOL,
        "training": {
            **asdict(cfg),
            "optimizer": "AdamW one-cycle",
            "augment": f"random shift <= {max_shift} px",
        },
        "command": f"gan-eval classifier train --dataset {dataset} --epochs {epochs} --seed {seed} "
        f"--batch-size {batch_size} --threads {threads}{limit} --out {Path(out).name}",
        "test_accuracy": test_accuracy,
        "history": history,
        "torch_version": str(torch.__version__),  # TorchVersion is not loadable with weights_only
        "gan_eval_version": __version__,
    }
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    atomic.atomic_write(Path(out), lambda tmp: torch.save({"state_dict": state, "meta": meta}, tmp))
    sha = atomic.sha256_file(Path(out))
    # the recognition rule of the new weights beside them (the class metrics' "unrecognised" bucket)
    with _threads(threads):
        rule = fit_recognition(
            model.cpu(), (x_train, y_train), x_test, mean, std, dataset=dataset, weights_sha256=sha
        )
    rule.save(recognition_path(Path(out)))
    return {
        "dataset": dataset,
        "test_accuracy": test_accuracy,
        "history": history,
        "seconds": time.perf_counter() - started,
        "out": str(out),
        "sha256": sha,
        "recognition": str(recognition_path(Path(out))),
        "size_bytes": Path(out).stat().st_size,
        "epochs": epochs,
        "seed": seed,
    }


class _threads:
    """Run a block with ``n`` torch CPU threads (then restore the previous count)."""

    def __init__(self, n: int) -> None:
        self.n, self.was = n, torch.get_num_threads()

    def __enter__(self) -> None:
        torch.set_num_threads(self.n)

    def __exit__(self, *_: object) -> None:
        torch.set_num_threads(self.was)


@torch.no_grad()
def descriptors(
    model: LeNet, images: np.ndarray, mean: float, std: float, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recognition descriptors float64 [N, D] and logits float32 [N, K] of uint8 ``images [N, 28, 28]``."""
    was_training = model.training
    model.eval()
    desc, logits = [], []
    for i in range(0, len(images), batch_size):
        x = preprocess(torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size]))[:, None], mean, std)
        conv, features, out = model.forward_all(x.to(next(model.parameters()).device))
        desc.append(descriptor(conv, features).cpu())
        logits.append(out.float().cpu())
    model.train(was_training)
    return torch.cat(desc), torch.cat(logits)


def fit_recognition(
    model: LeNet,
    train: tuple[np.ndarray, np.ndarray],
    test_images: np.ndarray,
    mean: float,
    std: float,
    *,
    dataset: str,
    weights_sha256: str,
    keep: float = DEFAULT_KEEP,
) -> RecognitionRule:
    """The recognition rule of ``model``: class Gaussians of the ``train`` images (uint8 [M, 28, 28], labels
    int [M]), thresholds that recognise ``keep`` of ``test_images`` uint8 [N, 28, 28]."""
    train_desc, _ = descriptors(model, train[0], mean, std)
    test_desc, test_logits = descriptors(model, test_images, mean, std)
    return fit_rule(
        train_desc,
        train[1].astype(np.int64),
        test_desc,
        test_logits,
        keep=keep,
        calibrated_on=f"{dataset}:test",
        fitted_on=f"{dataset}:train",
        weights_sha256=weights_sha256,
    )


def calibrate_recognition(
    dataset: str = "mnist",
    *,
    weights: Path | None = None,
    keep: float = DEFAULT_KEEP,
    threads: int = 1,
    data_root: str | Path | None = None,
) -> RecognitionRule:
    """The recognition rule of the shipped ``<dataset>-lenet`` weights (or of ``weights``) computed again:
    class Gaussians from ``dataset``:train, thresholds keeping ``keep`` of ``dataset``:test (what
    ``gan-eval classifier calibrate`` writes)."""
    from gan_eval.data.datasets import load_arrays

    if dataset not in SHIPPED_WEIGHTS:
        raise UserError(f"unknown dataset {dataset!r}; expected one of {', '.join(sorted(SHIPPED_WEIGHTS))}")
    path = shipped_weights_path(dataset) if weights is None else Path(weights)
    state, meta, digest = load_weights(path, SHIPPED_WEIGHTS[dataset][1] if weights is None else None)
    if meta.get("dataset") != dataset:
        raise UserError(f"lenet weights {path}: trained on {meta.get('dataset')!r}, not {dataset!r}")
    net = LeNetExtractor(f"{dataset}-lenet", state, meta, digest)
    with _threads(threads):
        return fit_recognition(
            net.net,
            load_arrays(dataset, "train", data_root),
            load_arrays(dataset, "test", data_root)[0],
            net.mean,
            net.std,
            dataset=dataset,
            weights_sha256=digest,
            keep=keep,
        )
