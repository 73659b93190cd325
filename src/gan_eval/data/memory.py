"""Sources from Python objects in memory: ``gan_eval.evaluate(fake=X)`` and the training-loop tracker.

``X`` is an ``nn.Module`` generator, a callable ``z -> images``, a ``torch.Tensor`` / ``np.ndarray`` of images
(uint8, or floats in ``value_range``), or an iterable of image batches (a DataLoader; ``(images, labels)``
batches too). A module or callable is sampled exactly as ``--fake FILE.py:NAME --weights`` samples the same
class and weights: the same seeded latents in the same fixed chunks, in eval mode, under ``no_grad``, so the
number is the same bit for bit. A module is left as it was found: its train/eval mode is restored after every
call, it is never moved to another device (latents are drawn on its device), and nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from gan_eval.data.base import ArraySource, Source, content_hash
from gan_eval.data.files import raw_range, to_nchw_uint8
from gan_eval.data.generators import DEFAULT_RANGE, GeneratorSampler, GeneratorSource
from gan_eval.data.user_generators import EvalModeCall, latent_size, module_device, params_hash
from gan_eval.errors import UserError

IN_MEMORY = "<in memory>"


def is_in_memory(obj: Any) -> bool:
    """True for what :func:`memory_source` takes (anything but a spec string or path)."""
    import os

    return obj is not None and not isinstance(obj, (str, os.PathLike))


def module_sampler(
    generator: Any,
    *,
    z_dim: int | None = None,
    value_range: tuple[float, float] | None = None,
) -> GeneratorSampler:
    """A sampler for a generator module or callable in memory (see the module docstring)."""
    where = f"{IN_MEMORY} {type(generator).__name__}"
    z: Any
    if isinstance(generator, nn.Module):
        z, conv = latent_size(generator, z_dim=z_dim, args={}, cls=type(generator), where=where)
        call: Any = EvalModeCall(generator, conv)
        name = f"{type(generator).__module__}.{type(generator).__qualname__}"
        digest = params_hash(generator)
        label = f"{IN_MEMORY} nn.Module {name} (params sha256 {digest[:12]})"
        identity = f"module:{name}@{digest}|z={z}|conv={conv}"
    elif callable(generator):
        z = z_dim or getattr(generator, "z_dim", None) or getattr(generator, "latent_dim", None)
        if not isinstance(z, int) or z <= 0:
            raise UserError(f"{where}: a callable generator needs its latent size: pass z_dim=N")
        call = generator
        name = getattr(generator, "__qualname__", type(generator).__name__)
        label = f"{IN_MEMORY} callable {name}"
        identity = f"callable:{name}@{id(generator):x}|z={z}"  # a callable's weights cannot be hashed
    else:
        raise UserError(f"{where}: expected a generator module or callable")
    lo, hi = DEFAULT_RANGE if value_range is None else (float(value_range[0]), float(value_range[1]))
    if not lo < hi:
        raise UserError(f"{where}: value_range must be (low, high) with low < high, got {value_range}")
    return GeneratorSampler(
        generator=call,
        z_dim=int(z),
        distribution="normal",
        value_range=(lo, hi),
        device=module_device(generator),
        spec=label,
        identity=f"{identity}|range={lo:g},{hi:g}|dist=normal",
        range_given=value_range is not None,
        label=label,
    )


def _as_numpy(batch: Any, where: str) -> np.ndarray:
    if isinstance(batch, (tuple, list)) and batch:  # (images, labels) from a DataLoader
        batch = batch[0]
    if isinstance(batch, Mapping):
        batch = next((batch[k] for k in ("images", "image", "img", "x") if k in batch), None)
    if isinstance(batch, torch.Tensor):
        return batch.detach().cpu().numpy()
    if isinstance(batch, np.ndarray):
        return batch
    raise UserError(f"{where}: a batch is a {type(batch).__name__}, expected a tensor or array of images")


def memory_source(
    obj: Any,
    *,
    n: int | None = None,
    seed: int = 0,
    value_range: tuple[float, float] | None = None,
    z_dim: int | None = None,
    limit: int | None = None,
) -> Source:
    """A :class:`Source` for an object in memory (see the module docstring). ``n``: samples drawn from a
    generator (default 10,000) or the most images taken from an iterable; ``limit``: a seeded subset of an
    image array; ``seed``: the latent seed of a generator and the subset seed."""
    from gan_eval.config import DEFAULT_N

    if isinstance(obj, nn.Module) or (callable(obj) and not isinstance(obj, (torch.Tensor, np.ndarray))):
        sampler = module_sampler(obj, z_dim=z_dim, value_range=value_range)
        return GeneratorSource(sampler, n=DEFAULT_N if n is None else int(n), seed=seed)
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        raw = _as_numpy(obj, IN_MEMORY)
        what = f"{type(obj).__name__} {raw.dtype}"
    elif isinstance(obj, Iterable):
        where = f"{IN_MEMORY} {type(obj).__name__}"
        parts, count, cap = [], 0, n if n is not None else None
        for batch in obj:
            arr = _as_numpy(batch, where)
            parts.append(arr)
            count += arr.shape[0] if arr.ndim else 0
            if cap is not None and count >= cap:
                break
        if not parts:
            raise UserError(f"{where}: yielded no batches")
        try:
            raw = np.concatenate(parts)
        except ValueError as e:
            raise UserError(f"{where}: batches of different shapes ({e})") from None
        if cap is not None:
            raw = raw[:cap]
        what = f"{type(obj).__name__} of batches"
    else:
        raise UserError(
            f"{IN_MEMORY} {type(obj).__name__}: expected a generator module, a callable z -> images, "
            "a tensor or array of images, or an iterable of image batches"
        )
    images = to_nchw_uint8(raw, spec=f"{IN_MEMORY} {what}", value_range=value_range)
    digest = content_hash(images)
    label = f"{IN_MEMORY} {what} [{', '.join(str(s) for s in images.shape)}] (sha256 {digest[:12]})"
    src = ArraySource(images, spec=label, identity=f"array:{digest}", kind="array")
    src.value_range = raw_range(raw, value_range)
    return src.subset(limit, seed)
