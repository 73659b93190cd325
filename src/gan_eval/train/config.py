"""The training configuration: one frozen dataclass, loaded from ``configs/train/*.toml``.

Layout of a config file (every key optional except ``generator`` and ``discriminator``)::

    name = "mlp_gan"
    dataset = "mnist"            # or "fashion-mnist"
    epochs = 20
    batch_size = 64
    seed = 0
    loss = "bce"                 # "bce" (sigmoid D), "ns" (logistic on logits) or "wgan-gp"

    [latent]
    dim = 100
    distribution = "normal"      # or "uniform" (on [-1, 1])

    [generator]
    arch = "mlp"                 # a name in gan_eval.train.models.GENERATORS
    args = { hidden = 256 }

    [discriminator]
    arch = "mlp"
    args = { hidden = [512, 256] }

    [optim]
    lr_g = 2e-4
    lr_d = 2e-4
    betas_g = [0.5, 0.999]
    betas_d = [0.5, 0.999]
    n_critic = 1                 # discriminator steps per generator step
    gp_weight = 10.0             # WGAN-GP only
    r1_gamma = 0.0               # R1 penalty gamma/2 * E||grad D(real)||^2 (0 = off; "ns" loss only)
    r1_every = 1                 # lazy R1: apply it every k discriminator steps, scaled by k
    ema_decay = 0.0              # 0 = no EMA copy of the generator

    [run]
    limit = 0                    # train on a seeded subset of this many images (0 = all)
    eval_every = 1               # epochs between calls of the in-training evaluation hook
    num_threads = 0              # torch CPU threads (0 = torch's default)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_eval.errors import UserError
from gan_eval.limits import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_LAYER,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_THREADS,
    arch_size_problems,
    show,
)

LOSSES = ("bce", "ns", "wgan-gp")
DATASETS = ("mnist", "fashion-mnist")
DISTRIBUTIONS = ("normal", "uniform")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and goes into every checkpoint as a plain dict)."""

    generator_arch: str
    discriminator_arch: str
    generator_args: dict[str, Any] = field(default_factory=dict)
    discriminator_args: dict[str, Any] = field(default_factory=dict)
    name: str = "gan"
    dataset: str = "mnist"
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    loss: str = "bce"
    latent_dim: int = 100
    latent_distribution: str = "normal"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    gp_weight: float = 10.0
    r1_gamma: float = 0.0
    r1_every: int = 1
    ema_decay: float = 0.0
    limit: int = 0
    eval_every: int = 1
    num_threads: int = 0

    def __post_init__(self) -> None:
        from gan_eval.train.models import DISCRIMINATORS, GENERATORS, check_network

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_real(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        def is_betas(v: Any) -> bool:
            return (
                isinstance(v, (tuple, list)) and len(v) == 2 and all(is_real(b) and 0.0 <= b < 1.0 for b in v)
            )

        # types first: a TOML string or boolean where a number belongs must not reach a comparison
        typed = [
            *((k, is_int) for k in ("epochs", "batch_size", "seed", "latent_dim", "n_critic", "r1_every")),
            *((k, is_int) for k in ("limit", "eval_every", "num_threads")),
            *((k, is_real) for k in ("lr_g", "lr_d", "gp_weight", "r1_gamma", "ema_decay")),
        ]
        for key, ok_type in typed:
            value = getattr(self, key)
            if not ok_type(value):
                kind = "an integer" if ok_type is is_int else "a finite number"
                raise UserError(f"train config {self.name!r}: {_toml_key(key)} must be {kind}, got {value!r}")
        for key in ("generator_args", "discriminator_args"):
            if not isinstance(getattr(self, key), dict):
                raise UserError(
                    f"train config {self.name!r}: {_toml_key(key)} must be a table, "
                    f"got {getattr(self, key)!r}"
                )
        checks = [
            (self.generator_arch in GENERATORS, f"generator.arch must be one of {sorted(GENERATORS)}"),
            (
                self.discriminator_arch in DISCRIMINATORS,
                f"discriminator.arch must be one of {sorted(DISCRIMINATORS)}",
            ),
            (self.dataset in DATASETS, f"dataset must be one of {DATASETS}"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
            (
                self.latent_distribution in DISTRIBUTIONS,
                f"latent.distribution must be one of {DISTRIBUTIONS}",
            ),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 2, "batch_size must be >= 2 (batch norm needs two samples)"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.latent_dim >= 1, "latent.dim must be >= 1"),
            (self.epochs <= MAX_EPOCHS, f"epochs must be <= {show(MAX_EPOCHS)}"),
            (self.batch_size <= MAX_BATCH, f"batch_size must be <= {show(MAX_BATCH)}"),
            (self.seed <= MAX_SEED, "seed must be <= 2^63-1 (the results table stores seeds as int64)"),
            (self.latent_dim <= MAX_LAYER, f"latent.dim must be <= {show(MAX_LAYER)}"),
            (self.lr_g > 0 and self.lr_d > 0, "optim.lr_g and optim.lr_d must be > 0"),
            (is_betas(self.betas_g), f"optim.betas_g must be two numbers in [0, 1), got {self.betas_g!r}"),
            (is_betas(self.betas_d), f"optim.betas_d must be two numbers in [0, 1), got {self.betas_d!r}"),
            (self.n_critic >= 1, "optim.n_critic must be >= 1"),
            (self.gp_weight >= 0, "optim.gp_weight must be >= 0"),
            (self.r1_gamma >= 0, "optim.r1_gamma must be >= 0"),
            (self.r1_every >= 1, "optim.r1_every must be >= 1"),
            (
                self.r1_gamma == 0 or self.loss == "ns",
                f'optim.r1_gamma needs loss = "ns" (got loss = {self.loss!r})',
            ),
            (
                self.loss != "ns" or self.discriminator_args.get("sigmoid") is False,
                'loss = "ns" works on logits: set sigmoid = false in [discriminator] args',
            ),
            (
                self.loss != "bce" or self.discriminator_args.get("sigmoid", True) is not False,
                'loss = "bce" needs probabilities: sigmoid = true in [discriminator] args (or loss = "ns")',
            ),
            (0.0 <= self.ema_decay < 1.0, "optim.ema_decay must be in [0, 1)"),
            (0 <= self.limit <= MAX_SAMPLES, f"run.limit must be in 0..{show(MAX_SAMPLES)}"),
            (1 <= self.eval_every <= MAX_EPOCHS, f"run.eval_every must be in 1..{show(MAX_EPOCHS)}"),
            (0 <= self.num_threads <= MAX_THREADS, f"run.num_threads must be in 0..{show(MAX_THREADS)}"),
            *((False, p) for p in arch_size_problems("generator.args", self.generator_args)),
            *((False, p) for p in arch_size_problems("discriminator.args", self.discriminator_args)),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(f"train config {self.name!r}: {message}")
        from gan_eval.train.models import discriminator_args, generator_args

        shape = (1, 28, 28)  # the DATASETS' images (train() checks again for images of another shape)
        g_args = generator_args(self.generator_arch, self.generator_args, self.latent_dim, shape)
        try:
            check_network("generator", self.generator_arch, g_args)
            d_args = discriminator_args(self.discriminator_arch, self.discriminator_args, shape)
            check_network("discriminator", self.discriminator_arch, d_args)
        except (TypeError, ValueError) as e:
            raise UserError(f"train config {self.name!r}: bad architecture arguments ({e})") from None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, no tuples) that ``torch.load(weights_only=True)`` and TOML can hold."""
        d = dataclasses.asdict(self)
        d["betas_g"], d["betas_d"] = list(self.betas_g), list(self.betas_d)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (as stored in a checkpoint)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"train config has unknown keys {unknown}")
        d = dict(d)
        for k in ("betas_g", "betas_d"):
            if k in d and isinstance(d[k], (list, tuple)):  # (anything else is left for __post_init__)
                d[k] = tuple(
                    float(b) if isinstance(b, (int, float)) and not isinstance(b, bool) else b for b in d[k]
                )
        return cls(**d)


# TOML section -> {key in the section: dataclass field}
_SECTIONS: dict[str | None, dict[str, str]] = {
    None: {k: k for k in ("name", "dataset", "epochs", "batch_size", "seed", "loss")},
    "latent": {"dim": "latent_dim", "distribution": "latent_distribution"},
    "generator": {"arch": "generator_arch", "args": "generator_args"},
    "discriminator": {"arch": "discriminator_arch", "args": "discriminator_args"},
    "optim": {
        k: k
        for k in ("lr_g", "lr_d", "betas_g", "betas_d", "n_critic", "gp_weight", "r1_gamma", "r1_every")
        + ("ema_decay",)
    },
    "run": {k: k for k in ("limit", "eval_every", "num_threads")},
}


def _toml_key(field_name: str) -> str:
    """The TOML spelling of a TrainConfig field, e.g. ``lr_g`` -> ``optim.lr_g``, for error messages."""
    for section, table in _SECTIONS.items():
        for key, name in table.items():
            if name == field_name:
                return key if section is None else f"{section}.{key}"
    return field_name


def load_train_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a TOML train config; ``overrides`` (dataclass field names, None = keep) replace its values.

    Raises UserError for a missing/unparsable file, unknown sections or keys, or invalid values.
    """
    from gan_eval.config import read_toml

    path = Path(path)
    raw = read_toml(path, "train config")
    values: dict[str, Any] = {"name": path.stem}
    for key, value in raw.items():
        if isinstance(value, dict) and key in _SECTIONS and key is not None:
            table = _SECTIONS[key]
            for sub, v in value.items():
                if sub not in table:
                    raise UserError(f"{path}: unknown key [{key}].{sub}; expected one of {sorted(table)}")
                values[table[sub]] = v
        elif key in _SECTIONS[None]:
            values[key] = value
        else:
            known = sorted(k for k in _SECTIONS if k) + sorted(_SECTIONS[None])
            raise UserError(f"{path}: unknown key {key!r}; expected one of {known}")
    for need in ("generator_arch", "discriminator_arch"):
        if need not in values:
            section = need.split("_")[0]
            raise UserError(f"{path}: missing [{section}] arch = ...")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.from_dict(values)
    except (TypeError, UserError) as e:  # name the file: the message alone does not say which one
        raise UserError(f"{path}: {e}") from None
