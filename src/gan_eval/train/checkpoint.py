"""Training checkpoints on disk: one file per epoch, ``<out>/ckpt_epoch_XXX.pt``, written atomically, and
slim copies that only evaluate and sample. The format itself (what the dict holds, how it is read and
checked) is :mod:`gan_eval.data.checkpoint_format`, shared with the evaluator."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import torch

from gan_eval.atomic import atomic_write, check_output_target
from gan_eval.data.checkpoint_format import RESUME_KEYS, load_checkpoint
from gan_eval.errors import UserError

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


@contextmanager
def run_folder(out: Path) -> Iterator[Path]:
    """The run folder ``out``, checked before any work (a file, a folder under a file and a folder that
    cannot be written are UserErrors naming ``--out``); on any failure inside the block, the folders this
    run created are removed again when they are still empty, so a failed run leaves no empty ``--out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    check_output_target(out, "--out", allow_dir=True)
    created = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    try:
        yield out
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()  # only an empty folder: what the run wrote stays
            except OSError:
                break
        raise


_F = TypeVar("_F", bound=Callable[..., Any])


def cleans_up_out(train_fn: _F) -> _F:
    """Run ``train_fn(config, out=..., ...)`` inside :func:`run_folder` of its ``out``."""

    @functools.wraps(train_fn)
    def wrapper(*args: Any, out: str | Path, **kwargs: Any) -> Any:
        with run_folder(Path(out)):
            return train_fn(*args, out=out, **kwargs)

    return cast(_F, wrapper)


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
