"""A generator's weights from a file a user saved: ``torch.save(G.state_dict(), FILE)``, or a checkpoint dict
holding the state_dict under a usual key (``generator``, ``G``, ``netG``, ``g_ema``, ``ema``, ``state_dict``,
``model``; ``--weights-key`` to choose), with Lightning's ``generator.``/``G.`` prefixes, DataParallel's
``module.`` and torch.compile's ``_orig_mod.`` removed. Read with ``torch.load(weights_only=True)``: a
pickled module is refused with the line that says how to save a state_dict instead.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_eval.data.checkpoint_format import load_tensors
from gan_eval.errors import UserError, describe_exception

#: Where checkpoints keep a generator's state_dict, in the order they are tried.
STATE_DICT_KEYS = ("generator", "G", "netG", "g_ema", "ema", "state_dict", "model")
#: Prefixes that wrap a generator's keys: Lightning modules (``generator.``, ``G.``), DataParallel
#: (``module.``) and torch.compile (``_orig_mod.``).
KEY_PREFIXES = ("generator.", "G.", "netG.", "gen.", "g.", "model.", "module.", "_orig_mod.")
#: Keys naming the training progress of a weights file (read when present).
EPOCH_KEYS, STEP_KEYS = ("epoch",), ("global_step", "step", "iteration")


@dataclass(frozen=True)
class Weights:
    """A generator state_dict read from a file: the tensors, the file's sha256, where in the file they were
    (``key``), and the epoch/step the file records (None when it does not)."""

    state: dict[str, torch.Tensor]
    sha256: str
    path: Path
    key: str
    epoch: int | None = None
    step: int | None = None


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def find_state_dict(obj: Any, where: str, key: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The generator's state_dict inside a loaded weights file, and its key (``""`` for the file itself).

    ``obj`` is a state_dict, or a dict holding one under ``key`` (``a/b`` for nested dicts) or else under one
    of :data:`STATE_DICT_KEYS` (the first found; a Lightning ``state_dict`` holding several networks is
    narrowed by prefix when it is loaded)."""
    if key is not None:
        cur = obj
        for part in key.split("/"):
            if not isinstance(cur, Mapping) or part not in cur:
                keys = sorted(str(k) for k in cur)[:10] if isinstance(cur, Mapping) else []
                raise UserError(f"{where}: no key {key!r} (keys: {', '.join(keys) or 'none'})")
            cur = cur[part]
        if not _is_state_dict(cur):
            raise UserError(f"{where}: {key!r} holds a {type(cur).__name__}, not a state_dict of tensors")
        return dict(cur), key
    if _is_state_dict(obj):
        return dict(obj), ""
    if isinstance(obj, Mapping):
        for k in STATE_DICT_KEYS:
            if k in obj and _is_state_dict(obj[k]):
                return dict(obj[k]), k
        keys = sorted(str(k) for k in obj)[:12]
        raise UserError(
            f"{where}: no generator state_dict found under {', '.join(STATE_DICT_KEYS)} "
            f"(keys: {', '.join(keys) or 'none'}); pass --weights-key KEY"
        )
    raise UserError(
        f"{where}: holds a {type(obj).__name__}, expected a state_dict (torch.save(G.state_dict()))"
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def read_weights(path: str | os.PathLike[str], key: str | None = None) -> Weights:
    """A generator state_dict from ``path`` (``torch.load(weights_only=True)`` on the CPU). UserError for a
    missing file, one that is not a torch file, a pickled module, or no state_dict where expected."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"--weights {path}: no such file")
    data = path.read_bytes()
    obj = load_tensors(
        data,
        f"--weights {path}",
        unreadable="not a readable torch file",
        advice="save torch.save(G.state_dict(), FILE) instead",
        describe=describe_exception,
    )
    state, found = find_state_dict(obj, f"--weights {path}", key)
    meta = obj if isinstance(obj, Mapping) else {}
    epoch = next((_int_or_none(meta.get(k)) for k in EPOCH_KEYS if k in meta), None)
    step = next((_int_or_none(meta.get(k)) for k in STEP_KEYS if k in meta), None)
    return Weights(state, hashlib.sha256(data).hexdigest(), path, found, epoch, step)


def _first_names(names: Sequence[str], k: int = 4) -> str:
    shown = ", ".join(names[:k])
    return shown + (f" (+{len(names) - k} more)" if len(names) > k else "")


def load_weights_into(model: nn.Module, weights: Weights, where: str) -> str:
    """Load ``weights`` into ``model`` strictly, after removing the one prefix (``generator.``, ``module.``,
    ...) that makes the keys match best; returns the prefix removed. UserError naming the first few missing
    and unexpected keys, or the first tensor whose shape differs."""
    expected = set(model.state_dict())
    best: tuple[int, str] = (-1, "")
    for prefix in ("", *KEY_PREFIXES):
        keys = {k[len(prefix) :] for k in weights.state if k.startswith(prefix)}
        score = len(keys & expected)
        if score > best[0]:
            best = (score, prefix)
    prefix = best[1]
    state = {k[len(prefix) :]: v for k, v in weights.state.items() if k.startswith(prefix)}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_first_names(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_first_names(unexpected)}")
        raise UserError(
            f"{where}: --weights {weights.path.name} does not fit this generator: {'; '.join(parts)} "
            "(is it the right class, --arch-args or --weights-key?)"
        )
    own = model.state_dict()
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise UserError(
                f"{where}: --weights {weights.path.name}: {k} has shape {list(v.shape)}, the generator "
                f"expects {list(own[k].shape)} (are --arch-args right?)"
            )
    model.load_state_dict(state)
    return prefix
