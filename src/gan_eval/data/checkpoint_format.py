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
import math
import pickle
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import UserError
from gan_eval.limits import MAX_LAYER, MAX_SEED, arch_size_problems

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


def load_tensors(
    data: bytes, label: str, *, unreadable: str, advice: str, describe: Callable[[BaseException], str]
) -> Any:
    """``torch.load(weights_only=True)`` of a file's bytes; UserError ``"<label>: <unreadable> (why)"`` for
    random bytes or a damaged file, and for pickled Python objects (a whole model) one line saying so and
    ``advice``."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = refused_global(e)
        if detail is None:  # random bytes or a damaged file
            raise UserError(f"{label}: {unreadable} ({unpickling_cause(e)})") from None
        raise UserError(
            f"{label}: holds pickled Python objects ({detail}), e.g. a whole model saved with torch.save(G); "
            f"gan-eval never unpickles code: {advice}"
        ) from None
    except Exception as e:  # noqa: BLE001 - a damaged pickle fails in many ways (IndexError, struct.error, ...)
        raise UserError(f"{label}: {unreadable} ({describe(e)})") from None


def _unpickle(data: bytes, path: Path) -> Any:
    return load_tensors(
        data,
        str(path),
        unreadable="truncated or corrupt checkpoint",
        advice="save torch.save(G.state_dict(), FILE) and give the class "
        "(--fake FILE.py:Generator --weights FILE)",
        describe=lambda e: f"{e.__class__.__name__}: {str(e)[:200]}",
    )


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
    version = ckpt.get("format_version", FORMAT_VERSION)
    if ckpt.get("format", FORMAT) != FORMAT or (_is_int(version) and not 1 <= version <= FORMAT_VERSION):
        raise UserError(
            f"{where}: checkpoint format {ckpt.get('format')!r} v{version!r} "
            f"is not supported (this gan-eval reads {FORMAT!r} v1 to v{FORMAT_VERSION})"
        )
    problems = [
        f"{message}, got {repr(ckpt[key])[:60]}"
        for key, ok, message in _FIELD_RULES
        if key in ckpt and not ok(ckpt[key])
    ]
    args = ckpt["generator_arch"].get("args") if isinstance(ckpt["generator_arch"], dict) else None
    if isinstance(args, dict):
        problems += arch_size_problems("generator_arch args", args)
    distribution = ckpt["latent"].get("distribution", "normal") if isinstance(ckpt["latent"], dict) else None
    if distribution is not None and distribution not in DISTRIBUTIONS:
        problems.append(f"latent distribution {distribution!r} is not one of {DISTRIBUTIONS}")
    for key in ("generator", "generator_ema", "discriminator"):
        sd = ckpt.get(key)
        if sd is not None and not (
            isinstance(sd, dict) and all(isinstance(v, torch.Tensor) for v in sd.values())
        ):
            problems.append(f"{key} must be a state dict of tensors")
    if problems:
        raise UserError(f"{where}: malformed gan-eval checkpoint: " + "; ".join(problems))
    return ckpt


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_size(v: Any) -> bool:
    return _is_int(v) and 1 <= v <= MAX_LAYER


def _is_range(v: Any) -> bool:
    """Two finite numbers (not strings) ``low < high`` whose width is finite too."""
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        return False
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return False
    return float(v[0]) < float(v[1]) and math.isfinite(float(v[1]) - float(v[0]))


#: (key, check, message) for every metadata field of a checkpoint: read time refuses any that does not fit
_FIELD_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("format_version", _is_int, "format_version must be an integer"),
    ("gan_eval_version", lambda v: isinstance(v, str), "gan_eval_version must be a string"),
    ("torch_version", lambda v: isinstance(v, str), "torch_version must be a string"),
    (
        "generator_arch",
        lambda v: isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("args"), dict),
        "generator_arch must be {'name': str, 'args': dict}",
    ),
    (
        "latent",
        lambda v: isinstance(v, dict) and _is_size(v.get("dim")),
        f"latent must be {{'dim': int in 1..{MAX_LAYER:,}, 'distribution': str}}",
    ),
    ("output_range", _is_range, "output_range must be two finite numbers (low, high) with low < high"),
    (
        "image_shape",
        lambda v: isinstance(v, (list, tuple)) and len(v) == 3 and all(map(_is_size, v)) and v[0] in (1, 3),
        f"image_shape must be three integers (C, H, W) with C = 1 or 3 and H, W in 1..{MAX_LAYER:,}",
    ),
    ("dataset", lambda v: isinstance(v, str), "dataset must be a string"),
    ("epoch", lambda v: _is_int(v) and v >= 0, "epoch must be an integer >= 0"),
    ("global_step", lambda v: _is_int(v) and v >= 0, "global_step must be an integer >= 0"),
    ("step", lambda v: _is_int(v) and v >= 0, "step must be an integer >= 0"),
    ("seed", lambda v: _is_int(v) and 0 <= v <= MAX_SEED, "seed must be an integer in 0..2^63-1"),
    ("config", lambda v: isinstance(v, dict), "config must be a dict"),
    ("losses", lambda v: isinstance(v, dict), "losses must be a dict"),
    ("resumable", lambda v: isinstance(v, bool), "resumable must be true or false"),
    *((k, lambda v: isinstance(v, dict), f"{k} must be a dict") for k in RESUME_KEYS[1:]),
)
