"""Writing training checkpoints: one plain dict per epoch, ``<out>/ckpt_epoch_XXX.pt``, written atomically.

Keys (nanoGPT's habit: everything needed to rebuild the generator travels with its weights):

- ``format`` / ``format_version`` / ``gan_eval_version`` / ``torch_version``
- ``generator``: state dict; ``generator_ema``: state dict or None; ``generator_arch``: ``{"name", "args"}``
- ``latent``: ``{"dim": int, "distribution": "normal" | "uniform"}``; ``output_range``: ``(-1.0, 1.0)``;
  ``image_shape``: ``(C, H, W)``; ``dataset``: str
- ``epoch``, ``global_step``, ``seed``, ``config`` (:meth:`TrainConfig.to_dict`), ``losses``
  (``{"epoch": [...], "d_loss": [...], "g_loss": [...]}`` per-epoch means)
- for ``--resume`` (absent from a slim copy): ``discriminator``, ``discriminator_arch``, ``optimizers``
  (``{"g", "d"}`` state dicts), ``rng`` (``{"shuffle", "noise", "torch", "cuda"}`` generator states)

Loading and validation live in :mod:`gan_eval.data.checkpoints` (``load_checkpoint``), shared with the
evaluator.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from gan_eval.atomic import atomic_write
from gan_eval.data.checkpoints import load_checkpoint

CKPT_PATTERN = "ckpt_epoch_{epoch:03d}.pt"
_CKPT_RE = re.compile(r"^ckpt_epoch_(\d+)\.pt$")
#: Keys only ``--resume`` needs; :func:`slim_checkpoint` drops them.
RESUME_KEYS = ("discriminator", "discriminator_arch", "optimizers", "rng")


def checkpoint_path(out: Path, epoch: int) -> Path:
    return Path(out) / CKPT_PATTERN.format(epoch=epoch)


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every ``ckpt_epoch_XXX.pt`` in ``out``, by epoch."""
    out = Path(out)
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if (m := _CKPT_RE.match(p.name))]
    return sorted(found)


def latest_checkpoint(out: Path) -> Path | None:
    found = list_checkpoints(out)
    return found[-1][1] if found else None


def save_checkpoint(ckpt: dict[str, Any], path: Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written checkpoint."""
    return atomic_write(Path(path), lambda tmp: torch.save(ckpt, tmp), checksum=False)


def slim_checkpoint(src: str | Path, dst: str | Path, *, ema_only: bool = False) -> Path:
    """Copy a checkpoint without what only ``--resume`` needs (discriminator, optimizer and RNG states):
    a file that still evaluates and samples, about a third the size. ``ema_only`` also keeps only the EMA
    generator (as ``generator``) when there is one."""
    ckpt = load_checkpoint(src)
    slim = {k: v for k, v in ckpt.items() if k not in RESUME_KEYS}
    if ema_only and slim.get("generator_ema") is not None:
        slim["generator"], slim["generator_ema"] = slim["generator_ema"], None
    slim["resumable"] = False
    return save_checkpoint(slim, Path(dst))
