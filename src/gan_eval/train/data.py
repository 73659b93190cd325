"""What the trainer feeds its networks: the training images (uint8, checked) and the latent noise."""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.data.base import sample_latent as draw_latent
from gan_eval.errors import UserError
from gan_eval.train.config import TrainConfig


def load_training_images(
    config: TrainConfig, images: torch.Tensor | np.ndarray | None = None
) -> torch.Tensor:
    """uint8 ``[N, C, H, W]``: ``images`` if given, else the train split of ``config.dataset``; then a seeded
    subset of ``config.limit`` images (0 = all)."""
    if images is None:
        from gan_eval.data.datasets import load_arrays

        arr, _ = load_arrays(config.dataset, "train")
        data = torch.from_numpy(arr)[:, None]
    else:
        data = torch.as_tensor(images)
    if data.dtype != torch.uint8 or data.ndim != 4:
        raise UserError(f"training images must be uint8 [N, C, H, W], got {data.dtype} {tuple(data.shape)}")
    if config.limit:
        from gan_eval.data.base import subset_indices

        idx = subset_indices(len(data), config.limit, config.seed)
        if idx is not None:
            data = data[torch.from_numpy(idx)]
    if len(data) < 2:
        raise UserError(f"need at least 2 training images, got {len(data)}")
    return data


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [-1, 1] with the article's ops: ``ToTensor`` (/255), ``Normalize(0.5, 0.5)``."""
    return images.float().div_(255).sub_(0.5).div_(0.5)


def sample_latent(n: int, config: TrainConfig, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """float32 ``[n, latent_dim]`` of ``config``'s distribution (the evaluator's sampler,
    :func:`gan_eval.data.base.sample_latent`, so a checkpoint's latents mean the same to both)."""
    return draw_latent(n, config.latent_dim, config.latent_distribution, gen, device)
