"""``mnist-lenet`` and ``fashion-mnist-lenet``: small LeNet-style classifiers of our own, shipped in gan-eval.

The fast, domain-correct extractor for 28x28 digit (or clothing) images; TF-GAN's "MNIST score" and
"Frechet classifier distance" are the precedent. Weights live in ``gan_eval/assets/<dataset>_lenet.pt`` and
are rebuilt, bit for bit on the same torch version and thread count, by ``gan-eval classifier train``
(:func:`gan_eval.features.lenet_train.train_classifier`).

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

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_eval import atomic
from gan_eval.errors import UserError
from gan_eval.features.recognition import RecognitionRule, descriptor, load_rule
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
# The recognition rule of each shipped classifier (gan_eval.features.recognition), beside its weights, and its
# sha256. Recomputed from the shipped weights by (tests/features/test_recognition.py checks the files):
#   gan-eval classifier calibrate --dataset mnist -o src/gan_eval/assets/mnist_lenet.recognition.npz
#   gan-eval classifier calibrate --dataset fashion-mnist \
#       -o src/gan_eval/assets/fashion_mnist_lenet.recognition.npz
SHIPPED_RECOGNITION: dict[str, tuple[str, str]] = {
    "mnist": (
        "mnist_lenet.recognition.npz",
        "852f51669a09c12475e8e171f4373440a0e3de62eca1b4ebf9ac67183fc85d26",
    ),
    "fashion-mnist": (
        "fashion_mnist_lenet.recognition.npz",
        "110ad7a8b16bd1de3c9b549223eae22f0b056154ae869875b91157a3bdee45e8",
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

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(conv, features, logits)``: ``forward``'s outputs (the same operations) and the last convolution
        block's activations before pooling, float32 [N, C2, 8, 8] (the recognition rule's texture part)."""
        conv = self.conv[:-1](x)
        features = self.fc(self.conv[-1](conv))
        return conv, features, self.head(self.dropout(features))


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


def recognition_path(weights: Path) -> Path:
    """Where the recognition rule of a weights file lives: ``x.pt`` -> ``x.recognition.npz`` beside it."""
    return Path(weights).with_name(Path(weights).stem + ".recognition.npz")


def shipped_recognition_path(dataset: str) -> Path:
    """Path of the recognition rule shipped for ``dataset``'s classifier."""
    return Path(str(resources.files("gan_eval") / "assets" / SHIPPED_RECOGNITION[dataset][0]))


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
    digest = atomic.verified_sha256(
        path,
        "lenet weights",
        expected_sha256,
        "reinstall gan-eval or retrain with `gan-eval classifier train`",
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
    With a recognition rule (``recognition``; the shipped weights have one) the output also holds
    ``"recognised"`` bool [N]: the images the classifier recognises as one of its classes at all.
    """

    protocol = PROTOCOL

    def __init__(
        self,
        name: str,
        state: dict[str, torch.Tensor],
        meta: dict[str, Any],
        sha256: str,
        recognition: RecognitionRule | None = None,
    ) -> None:
        super().__init__()
        self.recognition = recognition
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
        conv, features, logits = self.net.forward_all(x)
        out = {"features": features, "logits": logits}
        if self.recognition is not None:
            with torch.autocast(device.type, enabled=False):  # float64 distances, whatever the precision
                out["recognised"] = self.recognition.recognised(descriptor(conv, features), logits)
        return out


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
        rule: RecognitionRule | None = load_rule(
            shipped_recognition_path(dataset), SHIPPED_RECOGNITION[dataset][1]
        )
    else:
        state, meta, digest = load_weights(Path(weights))
        sidecar = recognition_path(Path(weights))
        rule = load_rule(sidecar) if sidecar.is_file() else None
    if rule is not None and rule.weights_sha256 != digest:
        raise UserError(
            f"recognition rule of {name}: computed for weights {rule.weights_sha256[:12]}, not "
            f"{digest[:12]}; "
            f"recompute it with `gan-eval classifier calibrate --dataset {dataset}`"
        )
    if meta.get("dataset") != dataset:
        raise UserError(
            f"lenet weights {weights}: trained on {meta.get('dataset')!r}, not {dataset!r}; "
            f"use --extractor {meta.get('dataset')}-lenet"
        )
    try:
        extractor = LeNetExtractor(name, state, meta, digest, rule)
    except (KeyError, TypeError, RuntimeError) as e:  # architecture args or tensors do not fit
        raise UserError(f"lenet weights {weights}: does not hold a valid LeNet ({e})") from e
    return extractor.to(device)


@register_extractor("mnist-lenet")
def mnist_lenet(
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    protocol: str | None = None,
) -> LeNetExtractor:
    """The MNIST classifier; ``weights=None`` loads the shipped file (sha256-checked)."""
    return _build("mnist-lenet", "mnist", device, weights, protocol)


@register_extractor("fashion-mnist-lenet")
def fashion_mnist_lenet(
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    protocol: str | None = None,
) -> LeNetExtractor:
    """The Fashion-MNIST classifier; ``weights=None`` loads the shipped file (sha256-checked)."""
    return _build("fashion-mnist-lenet", "fashion-mnist", device, weights, protocol)
