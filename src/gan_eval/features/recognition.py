"""Does a classifier recognise an image as one of its classes at all? The rule behind the class metrics'
"unrecognised" bucket (``class_unrecognised``): a generated sample counts toward a class only when it passes.

Why: ``mnist-lenet`` assigns noisy, malformed digits (an early GAN checkpoint's samples, digits under heavy
noise) to class 8 with high confidence, so class shares from ``argmax`` alone report mode collapse where there
is none. Its confidence does not see it: at the threshold that keeps 99 % of real test digits, max-softmax and
the energy score flag 1-6 % of test digits under Gaussian noise of std 64/255 and 0.5 % of the samples of a
1-epoch MLP GAN (blurred noise, every one). ``docs/recognition.md`` compares the rules.

**The rule** (two scores, both calibrated on the real test split):

1. *distance to the classes' real features*: the image's descriptor ``x`` float64 [D] is the per-channel mean
   and standard deviation of the last convolution block's activations (before pooling) followed by the
   penultimate features, D = 2 C + H (64 + 128 for the LeNet); each class c is a Gaussian with mean ``mu_c``
   over the training split's images of class c and one shared (tied) covariance ``S`` (Lee et al., NeurIPS
   2018); the score is ``min_c (x - mu_c)^T S^-1 (x - mu_c)``. The convolution statistics see texture
   (speckle, noise, blank images) that the penultimate layer pools away;
2. *energy* ``logsumexp(logits)`` (Liu et al., NeurIPS 2020): low when no class fits; it catches what the
   Gaussians of a texture-tolerant classifier miss (uniform noise for ``fashion-mnist-lenet``).

A sample is *recognised* when its distance is below ``distance_max`` and its energy above ``energy_min``. The
two thresholds are the k-th most extreme values of the test split's scores for one k (the same tail on both
scores), the largest k for which the two together flag at most 1 % of the test images; each threshold lies
half way between the k-th and the (k+1)-th value, so a last-digit difference in a score does not move an
image across it. So 99 % of real test images are recognised by construction (and about as many other real
images: see ``docs/recognition.md`` for the training split and the made test sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval import atomic
from gan_eval.errors import UserError

FORMAT = 1
DEFAULT_KEEP = 0.99
"""The share of real test images the calibrated rule recognises."""
COV_RIDGE = 1e-6
"""Added to the shared covariance's diagonal, times its mean variance: dead units (always 0 after the ReLU)
make it singular."""


def descriptor(conv: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """float64 [N, 2 C + H]: per-channel mean and standard deviation (divisor H W) of the last convolution
    block's activations ``conv`` float [N, C, h, w], then the penultimate ``features`` float [N, H]."""
    c = conv.double().flatten(2)
    return torch.cat([c.mean(2), c.std(2, correction=0), features.double()], 1)


def energy(logits: Any) -> torch.Tensor:
    """float64 [N]: ``logsumexp`` of ``logits`` float [N, K] (higher: some class fits better)."""
    return torch.as_tensor(logits).double().logsumexp(1)


@dataclass(frozen=True, eq=False)
class RecognitionRule:
    """A calibrated rule (see the module docstring). ``means`` float64 [K, D]; ``precision`` float64 [D, D]
    (the inverse of the shared covariance); ``distance_max`` and ``energy_min`` the thresholds; ``keep`` the
    share of the calibration set recognised, ``calibrated_on`` its spec (``mnist:test``) and ``n`` its size;
    ``fitted_on`` the split the class Gaussians come from; ``weights_sha256``: the classifier's weights."""

    means: np.ndarray
    precision: np.ndarray
    distance_max: float
    energy_min: float
    keep: float
    calibrated_on: str
    n: int
    fitted_on: str
    weights_sha256: str

    def distances(self, desc: Any) -> torch.Tensor:
        """float64 [N]: the squared Mahalanobis distance of each descriptor float [N, D] to its nearest class
        mean."""
        x = torch.as_tensor(desc).double()
        p = torch.as_tensor(self.precision, device=x.device)
        mu = torch.as_tensor(self.means, device=x.device)
        xp = x @ p
        # (x - mu)^T P (x - mu) = x^T P x - 2 mu^T P x + mu^T P mu, for every class at once
        d = (xp * x).sum(1, keepdim=True) - 2 * xp @ mu.T + ((mu @ p) * mu).sum(1)
        return d.min(1).values

    def recognised(self, desc: Any, logits: Any) -> torch.Tensor:
        """bool [N]: the images whose descriptor float [N, D] and logits float [N, K] pass both thresholds."""
        e = energy(logits).to(torch.as_tensor(desc).device)
        return (self.distances(desc) < self.distance_max) & (e > self.energy_min)

    def describe(self) -> str:
        """One line for docs and warnings."""
        return (
            f"recognised: distance to the nearest class Gaussian < {self.distance_max:.6g} and energy > "
            f"{self.energy_min:.6g} (keeps {100 * self.keep:.0f} % of {self.calibrated_on}, n = {self.n})"
        )

    def save(self, path: Path | str) -> Path:
        """Write the rule as an ``.npz`` (atomically, with a ``.sha256`` sidecar)."""
        arrays = {
            "format": np.asarray(FORMAT),
            "means": self.means,
            "precision": self.precision,
            "thresholds": np.asarray([self.distance_max, self.energy_min, self.keep]),
            "n": np.asarray(self.n),
            "calibrated_on": np.asarray(self.calibrated_on),
            "fitted_on": np.asarray(self.fitted_on),
            "weights_sha256": np.asarray(self.weights_sha256),
        }
        return atomic.atomic_write(Path(path), lambda tmp: _savez(tmp, arrays))


def _savez(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]


def load_rule(path: Path | str, expected_sha256: str | None = None) -> RecognitionRule:
    """Read a rule written by :meth:`RecognitionRule.save`; ``expected_sha256`` (the shipped files) or else
    a ``.sha256`` sidecar, when present, must match. UserError for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recognition rule {path}: no such file")
    atomic.verified_sha256(
        path,
        "recognition rule",
        expected_sha256,
        "reinstall gan-eval or recompute it: `gan-eval classifier calibrate`",
    )
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != FORMAT:
                raise ValueError(f"format {int(z['format'])}, expected {FORMAT}")
            distance_max, energy_min, keep = (float(v) for v in z["thresholds"])
            rule = RecognitionRule(
                means=np.asarray(z["means"], dtype=np.float64),
                precision=np.asarray(z["precision"], dtype=np.float64),
                distance_max=distance_max,
                energy_min=energy_min,
                keep=keep,
                calibrated_on=str(z["calibrated_on"]),
                n=int(z["n"]),
                fitted_on=str(z["fitted_on"]),
                weights_sha256=str(z["weights_sha256"]),
            )
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise UserError(f"recognition rule {path}: not a gan-eval recognition file ({e})") from e
    k, d = rule.means.shape
    if rule.precision.shape != (d, d):
        raise UserError(f"recognition rule {path}: precision {rule.precision.shape} for {k} means of dim {d}")
    return rule


def class_gaussians(desc: Any, labels: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means float64 [K, D] and the precision float64 [D, D] of the shared (within-class, divisor N)
    covariance of descriptors ``desc`` float [N, D] with ``labels`` int [N] in [0, K); a ridge of
    ``COV_RIDGE`` times the mean variance keeps it invertible."""
    x = torch.as_tensor(desc).double().cpu()
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    counts = torch.bincount(y, minlength=num_classes)
    if len(counts) != num_classes or bool((counts < 2).any()):
        raise UserError(
            f"recognition: every one of {num_classes} classes needs 2+ images, got {counts.tolist()}"
        )
    means = torch.zeros(num_classes, x.shape[1], dtype=torch.float64).index_add_(0, y, x) / counts[:, None]
    centred = x - means[y]
    cov = centred.T @ centred / len(x)
    cov += COV_RIDGE * float(cov.diagonal().mean()) * torch.eye(len(cov), dtype=torch.float64)
    return means.numpy(), torch.linalg.inv(cov).numpy()


def fit_rule(
    train_desc: Any,
    train_labels: Any,
    test_desc: Any,
    test_logits: Any,
    *,
    keep: float = DEFAULT_KEEP,
    calibrated_on: str = "",
    fitted_on: str = "",
    weights_sha256: str = "",
) -> RecognitionRule:
    """The rule: class Gaussians from the training descriptors float [M, D] and labels int [M], thresholds
    from the test descriptors float [N, D] and logits float [N, K] so that ``keep`` of the test images are
    recognised (the module docstring says how)."""
    if not 0.5 <= keep < 1:
        raise UserError(f"recognition: keep must be in [0.5, 1), got {keep}")
    logits = torch.as_tensor(test_logits)
    means, precision = class_gaussians(train_desc, train_labels, int(logits.shape[1]))
    probe = RecognitionRule(means, precision, np.inf, -np.inf, keep, calibrated_on, 0, fitted_on, "")
    d = probe.distances(test_desc).cpu().numpy()
    e = energy(logits).cpu().numpy()
    n = len(d)
    allowed = int(np.floor(n * (1 - keep) + 1e-9))  # images the rule may leave out
    d_desc, e_asc = np.sort(d)[::-1], np.sort(e)
    rank_d = np.empty(n, np.int64)  # 1 = the largest distance
    rank_d[np.argsort(-d, kind="stable")] = np.arange(1, n + 1)
    rank_e = np.empty(n, np.int64)  # 1 = the lowest energy
    rank_e[np.argsort(e, kind="stable")] = np.arange(1, n + 1)
    worst = np.minimum(rank_d, rank_e)  # the tail depth at which an image is first left out
    flagged_at = np.cumsum(np.bincount(worst, minlength=n + 1))  # flagged_at[k]: images left out at depth k
    k = int(np.flatnonzero(flagged_at <= allowed).max())
    distance_max = float((d_desc[k - 1] + d_desc[k]) / 2) if k else float(d_desc[0] * (1 + 1e-9) + 1e-9)
    energy_min = float((e_asc[k - 1] + e_asc[k]) / 2) if k else float(e_asc[0] - 1e-9 - abs(e_asc[0]) * 1e-9)
    return RecognitionRule(
        means,
        precision,
        distance_max,
        energy_min,
        float(1 - flagged_at[k] / n),
        calibrated_on,
        n,
        fitted_on,
        weights_sha256,
    )
