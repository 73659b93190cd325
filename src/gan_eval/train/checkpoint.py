"""Training checkpoints on disk: one file per epoch, ``<out>/ckpt_epoch_XXX.pt``, written atomically, and
slim copies that only evaluate and sample. The format itself (what the dict holds, how it is read and
checked) is :mod:`gan_eval.data.checkpoint_format`, shared with the evaluator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from gan_eval.atomic import atomic_write
from gan_eval.data.checkpoint_format import RESUME_KEYS, load_checkpoint

CKPT_PATTERN = "ckpt_epoch_{epoch:03d}.pt"
_CKPT_RE = re.compile(r"^ckpt_epoch_(\d+)\.pt$")


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
