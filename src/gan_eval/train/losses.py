"""The gradient penalties of the GAN losses: WGAN-GP's (Gulrajani et al. 2017) and R1 (Mescheder et al.
2018), each a differentiable term of the discriminator's step in :func:`gan_eval.train.loop.train`."""

from __future__ import annotations

import torch
from torch import nn


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """WGAN-GP: mean of ``(||grad critic(x_hat)||_2 - 1)^2`` on random interpolates of real and fake."""
    alpha = torch.rand(real.size(0), 1, 1, 1, generator=gen, device=real.device)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean over the batch of ``||grad_x D(x)||_2^2`` at the real images ``real``
    (which must require grad and have produced ``real_scores``); differentiable, for the D step."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()
