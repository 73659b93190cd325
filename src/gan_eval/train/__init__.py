"""The reference MNIST GAN trainer: models, loop, checkpoint format (see configs/train/*.toml).

The evaluator never imports this package, except lazily to rebuild a checkpoint's generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_eval.train.config import TrainConfig, load_train_config
from gan_eval.train.loop import EvalHook, train

__all__ = ["EvalHook", "TrainConfig", "load_train_config", "train", "train_from_toml"]


def train_from_toml(
    config_path: str | Path,
    *,
    out: str | Path | None = None,
    epochs: int | None = None,
    device: str = "auto",
    seed: int | None = None,
    resume: bool = False,
    progress: bool = True,
    eval_hook: EvalHook | None = None,
    tensorboard: str | Path | bool | None = None,
    **overrides: Any,
) -> Path:
    """``gan-eval train --config X.toml``: load the config, apply flags, train; returns the last checkpoint.

    ``out`` defaults to ``runs/<config name>``; ``overrides`` are TrainConfig fields (None = keep the file's);
    ``tensorboard``: a log folder, or True for ``<out>/tensorboard``.
    """
    config = load_train_config(config_path, **overrides)
    out_dir = Path(out) if out is not None else Path("runs") / config.name
    return train(
        config,
        out=out_dir,
        epochs=epochs,
        device=device,
        seed=seed,
        resume=resume,
        progress=progress,
        eval_hook=eval_hook,
        tensorboard=out_dir / "tensorboard" if tensorboard is True else (tensorboard or None),
    )
