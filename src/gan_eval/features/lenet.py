"""``mnist-lenet`` and ``fashion-mnist-lenet``: small LeNet-style classifiers of our own, shipped in gan-eval.

The fast, domain-correct extractor for 28x28 digit (or clothing) images; TF-GAN's "MNIST score" and
"Frechet classifier distance" are the precedent. Weights live in ``gan_eval/assets/<dataset>_lenet.pt`` and
are rebuilt, bit for bit on the same torch version and thread count, by ``gan-eval classifier train``
(:func:`train_classifier`).

Network (``LeNet``), for ``float32 [N, 1, 28, 28]`` input, all convolutions 3x3 without padding::

    conv 16 - BN - ReLU - conv 16 - BN - ReLU - maxpool 2     -> [N, 16, 12, 12]
    conv 32 - BN - ReLU - conv 32 - BN - ReLU - maxpool 2     -> [N, 32, 4, 4]
    flatten - linear 128 - BN - ReLU                          -> features float32 [N, 128] (penultimate layer)
    linear 10                                                 -> logits   float32 [N, 10]

The features are the 128 post-ReLU activations of the penultimate layer (``FEATURE_DIM``).

Protocol ``lenet-28`` (the extractor applies it itself, so the module gives the same numbers inside
torchmetrics):

1. uint8 ``[N, C, H, W]``, C = 1 or 3, values 0..255, converted to float32;
2. C = 3: grayscale by ITU-R BT.601 luma, ``0.299 R + 0.587 G + 0.114 B`` (no rounding);
3. H, W != 28: bilinear resize to 28x28 (``F.interpolate``, ``align_corners=False``, ``antialias=True``);
4. divide by 255, then ``(x - mean) / std`` with the training set's pixel mean and std (stored in the weights
   file; MNIST 0.1307 / 0.3081, Fashion-MNIST 0.2860 / 0.3530).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_eval import __version__, cache
from gan_eval.errors import UserError
from gan_eval.features.registry import Extractor, register_extractor

PROTOCOL = "lenet-28"
INPUT_SIZE = 28
FEATURE_DIM = 128
NUM_CLASSES = 10
WEIGHTS_FORMAT = 1
LUMA_BT601 = (0.299, 0.587, 0.114)

# Pixel statistics of each training split in [0, 1] units (normalisation constants; also stored per file).
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}

# sha256 of the files shipped in gan_eval/assets/; checked every time they are loaded (None: not shipped).
SHIPPED_WEIGHTS: dict[str, tuple[str, str | None]] = {
    "mnist": ("mnist_lenet.pt", "faae8ef5d81ee87159824b05a0414562fde62bd8a9046e49db78da700c5300cd"),
    "fashion-mnist": (
        "fashion_mnist_lenet.pt",
        "a8bb7648f6bf571f07b1438d3ff13b8a5108718b270bde638d9946306e571241",
    ),
}


@dataclass(frozen=True)
class LeNetArgs:
    """Everything needed to rebuild the network (stored in the weights file)."""

    channels: tuple[int, int] = (16, 32)
    hidden: int = FEATURE_DIM
    num_classes: int = NUM_CLASSES
    dropout: float = 0.0
    mean: float = PIXEL_STATS["mnist"][0]
    std: float = PIXEL_STATS["mnist"][1]


class LeNet(nn.Module):
    """The classifier: ``forward(x float32 [N, 1, 28, 28]) -> (features [N, H], logits [N, K])``.

    ``x`` is the output of :func:`preprocess`.
    """

    def __init__(self, args: LeNetArgs) -> None:
        super().__init__()
        c1, c2 = args.channels

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.conv = nn.Sequential(
            *block(1, c1), *block(c1, c1), nn.MaxPool2d(2), *block(c1, c2), *block(c2, c2), nn.MaxPool2d(2)
        )
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * 4 * 4, args.hidden, bias=False),
            nn.BatchNorm1d(args.hidden),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(args.dropout)
        self.head = nn.Linear(args.hidden, args.num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.fc(self.conv(x))
        return features, self.head(self.dropout(features))


# ---------------------------------------------------------------- preprocessing (protocol lenet-28)
def preprocess(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` (C = 1 or 3, 0..255) -> normalised float32 ``[N, 1, 28, 28]`` (lenet-28)."""
    if not isinstance(images, torch.Tensor):
        raise UserError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise UserError(f"images must be uint8 in 0..255, got dtype {images.dtype}")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"images must have shape [N, C, H, W] with C = 1 or 3, got {list(images.shape)}")
    x = images.to(torch.float32)
    if x.shape[1] == 3:
        luma = torch.tensor(LUMA_BT601, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
        x = (x * luma).sum(dim=1, keepdim=True)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(
            x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
        )
    return (x / 255.0 - mean) / std


# ---------------------------------------------------------------- weights files
def shipped_weights_path(dataset: str) -> Path:
    """Path of the weights file shipped in the package for ``dataset`` ('mnist' or 'fashion-mnist')."""
    filename, _ = SHIPPED_WEIGHTS[dataset]
    return Path(str(resources.files("gan_eval") / "assets" / filename))


def load_weights(
    path: Path, expected_sha256: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Read a weights file written by :func:`train_classifier`; return ``(state_dict, meta, sha256)``.

    ``expected_sha256`` (the shipped files) or else a ``<file>.sha256`` sidecar, when present, must match.
    """
    path = Path(path)
    if not path.is_file():
        hint = " (the installation is incomplete; reinstall gan-eval)" if expected_sha256 else ""
        raise UserError(f"lenet weights {path}: no such file{hint}")
    digest = cache.sha256_file(path)
    sidecar = path.with_name(path.name + ".sha256")
    if expected_sha256 is None and sidecar.is_file():
        expected_sha256 = sidecar.read_text().split()[0]
    if expected_sha256 is not None and digest != expected_sha256:
        raise UserError(
            f"lenet weights {path}: sha256 {digest} does not match the recorded {expected_sha256} "
            "(corrupt or replaced file; reinstall gan-eval or retrain with `gan-eval classifier train`)"
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = blob["state_dict"], blob["meta"]
        if meta.get("format") != WEIGHTS_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {WEIGHTS_FORMAT}")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise UserError(f"lenet weights {path}: not a gan-eval lenet weights file ({e})") from e
    return state, meta, digest


def _args_from_meta(meta: dict[str, Any]) -> LeNetArgs:
    a = dict(meta["architecture"])
    a["channels"] = tuple(a["channels"])
    return LeNetArgs(**a)


# ---------------------------------------------------------------- the extractor
class LeNetExtractor(Extractor):
    """``forward(images uint8 [N, C, H, W]) -> {"features": float32 [N, 128], "logits": float32 [N, 10]}``.

    Applies protocol ``lenet-28`` itself (see the module docstring); always in eval mode, no gradients kept.
    """

    protocol = PROTOCOL

    def __init__(self, name: str, state: dict[str, torch.Tensor], meta: dict[str, Any], sha256: str) -> None:
        super().__init__()
        args = _args_from_meta(meta)
        self.name = name
        self.feature_dim = args.hidden
        self.num_classes = args.num_classes
        self.weights_sha256 = sha256
        self.meta = meta
        self.mean, self.std = args.mean, args.std
        self.net = LeNet(args)
        self.net.load_state_dict(state)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> LeNetExtractor:
        return super().train(False)  # BatchNorm must keep its running statistics

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(self.net.parameters()).device
        x = preprocess(images.to(device), self.mean, self.std)
        features, logits = self.net(x)
        return {"features": features, "logits": logits}


def _build(
    name: str, dataset: str, device: str | torch.device, weights: str | Path | None, protocol: str | None
) -> LeNetExtractor:
    if protocol not in (None, PROTOCOL):
        raise UserError(f"extractor {name} has one protocol, {PROTOCOL!r}; got --protocol {protocol!r}")
    if weights is None:
        _, expected = SHIPPED_WEIGHTS[dataset]
        if expected is None:
            raise UserError(
                f"{name}: no weights are shipped in this version of gan-eval; train them with "
                f"`gan-eval classifier train --dataset {dataset} --out {dataset}_lenet.pt` and pass --weights"
            )
        state, meta, digest = load_weights(shipped_weights_path(dataset), expected)
    else:
        state, meta, digest = load_weights(Path(weights))
    if meta.get("dataset") != dataset:
        raise UserError(
            f"lenet weights {weights}: trained on {meta.get('dataset')!r}, not {dataset!r}; "
            f"use --extractor {meta.get('dataset')}-lenet"
        )
    try:
        extractor = LeNetExtractor(name, state, meta, digest)
    except (KeyError, TypeError, RuntimeError) as e:  # architecture args or tensors do not fit
        raise UserError(f"lenet weights {weights}: does not hold a valid LeNet ({e})") from e
    return extractor.to(device)


@register_extractor("mnist-lenet")
def mnist_lenet(
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    protocol: str | None = None,
    **_: Any,
) -> LeNetExtractor:
    """The MNIST classifier; ``weights=None`` loads the shipped file (sha256-checked)."""
    return _build("mnist-lenet", "mnist", device, weights, protocol)


@register_extractor("fashion-mnist-lenet")
def fashion_mnist_lenet(
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    protocol: str | None = None,
    **_: Any,
) -> LeNetExtractor:
    """The Fashion-MNIST classifier; ``weights=None`` loads the shipped file (sha256-checked)."""
    return _build("fashion-mnist-lenet", "fashion-mnist", device, weights, protocol)


# ---------------------------------------------------------------- training
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
    cache.atomic_write(Path(out), lambda tmp: torch.save({"state_dict": state, "meta": meta}, tmp))
    return {
        "dataset": dataset,
        "test_accuracy": test_accuracy,
        "history": history,
        "seconds": time.perf_counter() - started,
        "out": str(out),
        "sha256": cache.sha256_file(Path(out)),
        "size_bytes": Path(out).stat().st_size,
        "epochs": epochs,
        "seed": seed,
    }
