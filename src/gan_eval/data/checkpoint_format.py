"""The gan-eval checkpoint format, in one place for the writer (the trainer) and the readers (the evaluator,
``--resume``, ``slim_checkpoint``).

A checkpoint is a plain dict saved with ``torch.save`` and loaded with ``weights_only=True`` (nanoGPT's habit:
everything needed to rebuild the generator travels with its weights):

- ``format`` / ``format_version`` / ``gan_eval_version`` / ``torch_version``
- ``generator``: state dict; ``generator_ema``: state dict or None; ``generator_arch``: ``{"name", "args"}``
- ``latent``: ``{"dim": int, "distribution": "normal" | "uniform"}``; ``output_range``: ``(-1.0, 1.0)``;
  ``image_shape``: ``(C, H, W)``; ``dataset``: str
- ``epoch``, ``global_step``, ``seed``, ``config`` (the trainer's config as a plain dict), ``losses``
  (``{"epoch": [...], "d_loss": [...], "g_loss": [...]}`` per-epoch means)
- for ``--resume`` (absent from a slim copy, ``RESUME_KEYS``): ``discriminator``, ``discriminator_arch``,
  ``optimizers`` (``{"g", "d"}`` state dicts), ``rng`` (``{"shuffle", "noise", "torch", "cuda"}``)

:func:`make_checkpoint` builds that dict, :func:`read_checkpoint` reads a file once (its bytes give both the
dict and the sha256 the evaluator's identity needs) and :func:`validate_checkpoint` checks the layout.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import UserError

FORMAT = "gan-eval-gan-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("generator", "generator_arch", "latent", "output_range", "image_shape")
RESUME_KEYS = ("discriminator", "discriminator_arch", "optimizers", "rng")
DISTRIBUTIONS = ("normal", "uniform")


def make_checkpoint(
    *,
    generator: Mapping[str, torch.Tensor],
    generator_ema: Mapping[str, torch.Tensor] | None,
    generator_arch: Mapping[str, Any],
    latent_dim: int,
    latent_distribution: str,
    image_shape: Sequence[int],
    dataset: str,
    epoch: int,
    global_step: int,
    seed: int,
    config: Mapping[str, Any],
    losses: Mapping[str, list[float]],
    resume: Mapping[str, Any] | None = None,
    output_range: tuple[float, float] = (-1.0, 1.0),
) -> dict[str, Any]:
    """The checkpoint dict (layout in the module docstring). ``resume``: the ``RESUME_KEYS`` entries (the
    discriminator, its architecture, the optimizer and RNG states), or None for a checkpoint that only
    evaluates and samples."""
    import gan_eval

    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gan_eval_version": gan_eval.__version__,
        "torch_version": str(torch.__version__),
        "generator": dict(generator),
        "generator_ema": None if generator_ema is None else dict(generator_ema),
        "generator_arch": dict(generator_arch),
        "latent": {"dim": int(latent_dim), "distribution": latent_distribution},
        "output_range": output_range,
        "image_shape": tuple(int(s) for s in image_shape),
        "dataset": dataset,
        "epoch": int(epoch),
        "global_step": int(global_step),
        "seed": int(seed),
        "config": dict(config),
        "losses": dict(losses),
    }
    if resume is not None:
        unknown = sorted(set(resume) - set(RESUME_KEYS))
        if unknown:
            raise ValueError(f"make_checkpoint: unknown resume keys {unknown}; expected {RESUME_KEYS}")
        ckpt.update(resume)
    return ckpt


@dataclass(frozen=True)
class ReadCheckpoint:
    """A checkpoint file read once: the validated dict, the file's sha256, and what the results table
    records about it (``checkpoint`` path, ``epoch``, ``step``)."""

    ckpt: dict[str, Any]
    sha256: str
    info: dict[str, Any]


def read_checkpoint_bytes(path: Path) -> bytes:
    """The bytes of a checkpoint file (the one place a checkpoint file is read); UserError when missing."""
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise UserError(f"{path}: is not a file")
    return path.read_bytes()


def refused_global(e: pickle.UnpicklingError) -> str | None:
    """The class or function whose pickle torch's weights_only load refused (``gan.Generator``: a whole model
    saved with ``torch.save(G)``), or None when the file is no pickle torch can read at all."""
    import re

    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
    return m.group(1) if m else None


def unpickling_cause(e: pickle.UnpicklingError) -> str:
    """The line of torch's weights_only error that names the cause (torch wraps it in advice to retry with
    ``weights_only=False``, which gan-eval never does)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "WeightsUnpickler error" in ln:
            rest = ln.split("WeightsUnpickler error:", 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else ln)
    return lines[0][:200] if lines else type(e).__name__


def _unpickle(data: bytes, path: Path) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = refused_global(e)
        if detail is None:  # random bytes or a damaged file
            raise UserError(f"{path}: truncated or corrupt checkpoint ({unpickling_cause(e)})") from None
        raise UserError(
            f"{path}: holds pickled Python objects ({detail}), e.g. a whole model saved with torch.save(G); "
            "gan-eval never unpickles code: save torch.save(G.state_dict(), FILE) and give the class "
            "(--fake FILE.py:Generator --weights FILE)"
        ) from None
    except Exception as e:  # a damaged pickle fails in many ways (IndexError, KeyError, struct.error, ...)
        raise UserError(
            f"{path}: truncated or corrupt checkpoint ({e.__class__.__name__}: {str(e)[:200]})"
        ) from None


def read_checkpoint(path: str | Path, *, data: bytes | None = None) -> ReadCheckpoint:
    """Read and validate a gan-eval checkpoint, reading the file once (on CPU, ``weights_only=True``);
    ``data``: its bytes, when the caller has read them.

    UserError for a missing, truncated or corrupt file, a TorchScript archive, or a dict of the wrong layout.
    """
    path = Path(path)
    data = read_checkpoint_bytes(path) if data is None else data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if any("/code/" in n or n.endswith("constants.pkl") for n in z.namelist()):
                raise UserError(f"{path}: is a TorchScript archive, not a gan-eval checkpoint")
    ckpt = validate_checkpoint(_unpickle(data, path), str(path))
    info = {
        "checkpoint": str(path),
        "epoch": ckpt.get("epoch"),
        "step": ckpt.get("step", ckpt.get("global_step")),
    }
    return ReadCheckpoint(ckpt, hashlib.sha256(data).hexdigest(), info)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The validated checkpoint dict of ``path`` (see :func:`read_checkpoint`)."""
    return read_checkpoint(path).ckpt


def validate_checkpoint(ckpt: Any, where: str) -> dict[str, Any]:
    """Check the layout of a gan-eval checkpoint dict; UserError naming ``where`` and the problem."""
    if not isinstance(ckpt, dict):
        raise UserError(f"{where}: holds a {type(ckpt).__name__}, expected a gan-eval checkpoint dict")
    if "generator" not in ckpt and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise UserError(
            f"{where}: is a state_dict without its architecture; give the generator's class too: "
            f"--fake FILE.py:Generator --weights {where}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        hint = (
            f"; a checkpoint of your own training loop: give its generator class, --fake FILE.py:Generator "
            f"--weights {where}"
            if "generator_arch" in missing
            else ""
        )
        raise UserError(f"{where}: not a gan-eval checkpoint, missing keys {missing}{hint}")
    if (
        ckpt.get("format", FORMAT) != FORMAT
        or int(ckpt.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION
    ):
        raise UserError(
            f"{where}: checkpoint format {ckpt.get('format')!r} v{ckpt.get('format_version')} "
            f"is not supported (this gan-eval reads {FORMAT!r} up to v{FORMAT_VERSION})"
        )
    arch, latent, rng, shape = (
        ckpt["generator_arch"],
        ckpt["latent"],
        ckpt["output_range"],
        ckpt["image_shape"],
    )
    problems = []
    if not (
        isinstance(arch, dict) and isinstance(arch.get("name"), str) and isinstance(arch.get("args"), dict)
    ):
        problems.append("generator_arch must be {'name': str, 'args': dict}")
    if not (isinstance(latent, dict) and isinstance(latent.get("dim"), int) and latent["dim"] > 0):
        problems.append("latent must be {'dim': int > 0, 'distribution': str}")
    elif latent.get("distribution", "normal") not in DISTRIBUTIONS:
        problems.append(f"latent distribution {latent.get('distribution')!r} is not one of {DISTRIBUTIONS}")
    if not (isinstance(rng, (list, tuple)) and len(rng) == 2 and float(rng[0]) < float(rng[1])):
        problems.append(f"output_range must be (low, high) with low < high, got {rng!r}")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and int(shape[0]) in (1, 3)):
        problems.append(f"image_shape must be (C, H, W) with C = 1 or 3, got {shape!r}")
    for key in ("generator", "generator_ema"):
        sd = ckpt.get(key)
        if sd is not None and not (
            isinstance(sd, dict) and all(isinstance(v, torch.Tensor) for v in sd.values())
        ):
            problems.append(f"{key} must be a state dict of tensors")
    if problems:
        raise UserError(f"{where}: malformed gan-eval checkpoint: " + "; ".join(problems))
    return ckpt
