"""Generator and discriminator architectures, by name, so a checkpoint can rebuild its generator.

Every generator maps a latent ``float32 [B, latent_dim]`` to images ``float32 [B, C, H, W]`` in ``[-1, 1]``
(Tanh output). Discriminators map images to ``float32 [B, 1]``: a probability (``sigmoid=True``, for the BCE
loss) or an unbounded score (WGAN-GP critic).

A checkpoint stores ``{"name": ..., "args": {...}}`` for each network; :func:`build_generator` and
:func:`build_discriminator` turn that back into a module, with no other flag needed. The StyleGAN-style pair
(``stylegan``) lives in :mod:`gan_eval.train.stylegan`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from gan_eval.limits import MAX_PARAMS, arch_size_problems
from gan_eval.train.stylegan import StyleGANDiscriminator, StyleGANGenerator


class MLPGenerator(nn.Module):
    """The reference article's generator, unchanged: Linear(latent, 256) - LeakyReLU(0.2) - BatchNorm1d(256) -
    Linear(256, C*H*W) - Tanh, reshaped to ``[B, C, H, W]``. Attribute names match the article
    (``model.N``) so its state dicts load as they are."""

    def __init__(
        self, latent_dim: int = 100, img_shape: Sequence[int] = (1, 28, 28), hidden: int = 256
    ) -> None:
        super().__init__()
        self.img_shape = tuple(int(s) for s in img_shape)
        self.model = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.BatchNorm1d(hidden),
            nn.Linear(hidden, math.prod(self.img_shape)),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z).view(z.size(0), *self.img_shape)


class MLPDiscriminator(nn.Module):
    """The reference article's discriminator, unchanged: Linear(C*H*W, 512) - LeakyReLU(0.2) -
    Linear(512, 256) - LeakyReLU(0.2) - Linear(256, 1) - Sigmoid. No batch-dependent layer, so real and
    fake halves may share one forward pass."""

    def __init__(
        self, img_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (512, 256), sigmoid: bool = True
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(int(s) for s in img_shape)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.LeakyReLU(0.2, inplace=True)]
            width = int(h)
        layers.append(nn.Linear(width, 1))
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img.reshape(img.size(0), -1))


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN paper init: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """A DCGAN generator for 28x28: ConvT(latent -> 2w, 7x7) - BN - ReLU - ConvT(2w -> w, 4, s2) [14x14] -
    BN - ReLU - ConvT(w -> C, 4, s2) [28x28] - Tanh.

    ``fc > 0``: the InfoGAN generator instead (Chen et al. 2016; the architecture of Lucic et al. 2018's MNIST
    study): Linear(latent -> fc) - BN - ReLU - Linear(fc -> 2w * 7 * 7) - BN - ReLU, then the two transposed
    convolutions: one more nonlinear layer before the 7x7 map.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, width: int = 64, fc: int = 0) -> None:
        super().__init__()
        if not isinstance(fc, int) or isinstance(fc, bool) or fc < 0:
            raise ValueError(f"fc must be an integer >= 0, got {fc!r}")
        self.latent_dim, self.fc = latent_dim, fc
        head: list[nn.Module]
        if fc:
            head = [
                nn.Linear(latent_dim, fc, bias=False),
                nn.BatchNorm1d(fc),
                nn.ReLU(True),
                nn.Linear(fc, 2 * width * 7 * 7, bias=False),
                nn.BatchNorm1d(2 * width * 7 * 7),
                nn.ReLU(True),
                nn.Unflatten(1, (2 * width, 7, 7)),
            ]
        else:
            head = [nn.ConvTranspose2d(latent_dim, 2 * width, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * width)]
            head.append(nn.ReLU(True))
        self.model = nn.Sequential(
            *head,
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z.view(z.size(0), -1) if self.fc else z.view(z.size(0), -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """A DCGAN discriminator for 28x28: Conv(C -> w, 4, s2) [14x14] - LeakyReLU(0.2) -
    Conv(w -> 2w, 4, s2) [7x7] - norm - LeakyReLU(0.2) - Conv(2w -> 1, 7) - (Sigmoid).

    ``norm``: ``"batch"`` (DCGAN), ``"layer"`` or ``"none"`` (a WGAN-GP critic must not use batch norm: the
    gradient penalty is per sample). ``fc > 0``: the InfoGAN discriminator's head instead of the last conv:
    Linear(2w * 7 * 7 -> fc) - norm - LeakyReLU(0.2) - Linear(fc -> 1), a nonlinear layer that judges the
    whole 7x7 map (the plain head is linear in it). ``spectral_norm``: every conv and linear weight divided by
    its largest singular value (Miyato et al. 2018), estimated by one power iteration per forward pass in
    training mode; the iteration's vectors ``u``, ``v`` are buffers, so they travel with the state dict (and
    ``--resume``).
    """

    def __init__(
        self,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
        sigmoid: bool = True,
        spectral_norm: bool = False,
        fc: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(spectral_norm, bool):
            raise ValueError(f"spectral_norm must be true or false, got {spectral_norm!r}")
        if not isinstance(fc, int) or isinstance(fc, bool) or fc < 0:
            raise ValueError(f"fc must be an integer >= 0, got {fc!r}")
        norms: dict[str, Callable[[tuple[int, ...]], nn.Module]] = {
            "batch": lambda shape: nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]),
            "layer": lambda shape: nn.LayerNorm(list(shape)),
            "none": lambda shape: nn.Identity(),
        }
        if norm not in norms:
            raise ValueError(f"norm must be one of {sorted(norms)}, got {norm!r}")
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=norm == "none"),
            norms[norm]((2 * width, 7, 7)),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        if fc:
            layers += [
                nn.Flatten(),
                nn.Linear(2 * width * 7 * 7, fc, bias=norm == "none"),
                norms[norm]((fc,)),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(fc, 1),
            ]
        else:
            layers += [nn.Conv2d(2 * width, 1, 7, 1, 0), nn.Flatten()]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)
        _dcgan_init(self)
        if spectral_norm:  # after the init: the normalisation divides whatever weights it finds
            for m in self.model:
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img)


GENERATORS: dict[str, type[nn.Module]] = {
    "mlp": MLPGenerator,
    "dcgan": DCGANGenerator,
    "stylegan": StyleGANGenerator,
}
DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "mlp": MLPDiscriminator,
    "dcgan": DCGANDiscriminator,
    "stylegan": StyleGANDiscriminator,
}
#: architectures built for one square resolution: their arguments carry it (``resolution``)
_SIZED = ("stylegan",)


def generator_args(
    name: str, args: dict[str, Any], latent_dim: int, img_shape: Sequence[int]
) -> dict[str, Any]:
    """The full constructor arguments of generator ``name``: ``args`` plus latent size and image shape."""
    full = dict(args, latent_dim=int(latent_dim))
    if name == "mlp":
        full["img_shape"] = [int(s) for s in img_shape]
    else:
        full["channels"] = int(img_shape[0])
    if name in _SIZED:
        full["resolution"] = int(img_shape[1])
    return full


def discriminator_args(name: str, args: dict[str, Any], img_shape: Sequence[int]) -> dict[str, Any]:
    """The full constructor arguments of discriminator ``name``: ``args`` plus the image shape."""
    if name == "mlp":
        return dict(args, img_shape=[int(s) for s in img_shape])
    if name in _SIZED:
        return dict(args, channels=int(img_shape[0]), resolution=int(img_shape[1]))
    return dict(args, channels=int(img_shape[0]))


def check_network(kind: str, name: str, args: dict[str, Any]) -> None:
    """ValueError when network ``name`` (a key of ``GENERATORS`` or ``DISCRIMINATORS``, by ``kind``) built
    from ``args`` would have a size outside ``gan_eval.limits`` or more than
    :data:`~gan_eval.limits.MAX_PARAMS` parameters, counted on the meta device (which allocates nothing);
    TypeError for arguments its constructor does not take."""
    table = GENERATORS if kind == "generator" else DISCRIMINATORS
    if name not in table:
        raise KeyError(f"unknown {kind} architecture {name!r}; known: {sorted(table)}")
    problems = arch_size_problems(f"{kind} args", args)
    if problems:
        raise ValueError("; ".join(problems))
    try:
        with torch.device("meta"):
            n_params = sum(p.numel() for p in table[name](**args).parameters())
    except RuntimeError as e:  # e.g. a negative size computed from the arguments
        raise ValueError(f"{kind} {name!r}: {str(e).splitlines()[0]}") from None
    if n_params > MAX_PARAMS:
        raise ValueError(
            f"{kind} {name!r} would have {n_params:,} parameters; gan-eval builds at most "
            f"{MAX_PARAMS:,} (1 GiB of float32 weights)"
        )


def _build(table: dict[str, type[nn.Module]], kind: str, name: str, args: dict[str, Any]) -> nn.Module:
    check_network(kind, name, args)  # before a byte of weights is allocated
    return table[name](**args)


def build_generator(name: str, args: dict[str, Any]) -> nn.Module:
    """Generator ``name`` built with ``args`` (as stored in a checkpoint). KeyError for an unknown name."""
    return _build(GENERATORS, "generator", name, args)


def build_discriminator(name: str, args: dict[str, Any]) -> nn.Module:
    """Discriminator ``name`` built with ``args``. KeyError for an unknown name."""
    return _build(DISCRIMINATORS, "discriminator", name, args)


def has_batch_statistics(module: nn.Module) -> bool:
    """True when a sample's output depends on the rest of its batch: batch norm in training mode, or a layer
    that says so (``batch_dependent = True``, e.g. StyleGAN's minibatch-stddev)."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "batch_dependent", False)
        for m in module.modules()
    )
