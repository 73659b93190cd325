"""TensorBoard logs of a training run (``gan-eval train --tensorboard [DIR]``): the losses of every step, the
``--eval-every`` metrics and the epoch's seconds, and the fixed-noise sample grid of every epoch. The x axis
is the global step throughout, so the losses, metrics and grids of one step line up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.runtime import summary_writer


class TrainingLog:
    """One run's TensorBoard writer (``tensorboard --logdir DIR`` shows it)."""

    def __init__(self, logdir: str | Path) -> None:
        self.writer = summary_writer(logdir)

    def epoch(
        self,
        *,
        epoch: int,
        first_step: int,
        d_loss: np.ndarray,
        g_loss: np.ndarray,
        grid: torch.Tensor,
        row: dict[str, Any],
    ) -> None:
        """The epoch's per-step losses (NaN where no generator step ran is left out), its grid (uint8
        ``[N, C, H, W]``), and the numbers of its epochs.csv row (seconds, images/s, evaluation metrics)."""
        from torchvision.utils import make_grid

        w = self.writer
        for i, (d, g) in enumerate(zip(d_loss.tolist(), g_loss.tolist(), strict=True)):
            w.add_scalar("loss/d", d, first_step + i)
            if np.isfinite(g):
                w.add_scalar("loss/g", g, first_step + i)
        last = first_step + len(d_loss) - 1
        w.add_image("samples", make_grid(grid.cpu(), nrow=8, padding=2), last)
        for key, value in row.items():
            if key not in ("epoch", "global_step", "d_loss", "g_loss") and isinstance(value, (int, float)):
                w.add_scalar(f"epoch/{key}", float(value), last)
        w.add_scalar("epoch/epoch", epoch, last)
        w.flush()

    def close(self) -> None:
        self.writer.close()
