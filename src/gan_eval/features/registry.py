"""The extractor registry.

An extractor is a ``torch.nn.Module`` that takes uint8 images ``[N, C, H, W]`` (C = 1 or 3, 0..255), applies
its preprocessing protocol itself (so the same module gives the same numbers inside torchmetrics), and returns
a dict: ``"features"`` float32 ``[N, D]`` and, when the weights have a classifier head, ``"logits"`` float32
``[N, K]``.

Adding an extractor is one file in this package that decorates a factory with ``@register_extractor(name)``;
the registry imports every module of the package the first time a name is looked up.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import torch

from gan_eval.errors import UserError


class Extractor(torch.nn.Module):
    """Base class. Subclasses set the attributes below and implement ``forward(images) -> dict``."""

    name: str = ""
    feature_dim: int = 0
    num_classes: int | None = None  # None: no logits (e.g. Inception weights without the 1008-class head)
    protocol: str = ""
    weights_sha256: str = ""

    def fingerprint(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "protocol": self.protocol,
            "weights_sha256": self.weights_sha256,
            "feature_dim": self.feature_dim,
        }


_REGISTRY: dict[str, Callable[..., Extractor]] = {}
_DISCOVERED = False


def register_extractor(name: str) -> Callable[[Callable[..., Extractor]], Callable[..., Extractor]]:
    def wrap(factory: Callable[..., Extractor]) -> Callable[..., Extractor]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"extractor {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import gan_eval.features as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in ("registry",):
            importlib.import_module(f"gan_eval.features.{mod.name}")
    _DISCOVERED = True


def list_extractors() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def build_extractor(name: str, **options: Any) -> Extractor:
    """Build a registered extractor, e.g. ``build_extractor("inception", protocol="tf1", weights=path)``.

    An option the extractor does not take is a UserError naming it (not silently ignored)."""
    _discover()
    if name not in _REGISTRY:
        raise UserError(f"unknown extractor {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    factory = _REGISTRY[name]
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise UserError(
                f"extractor {name!r} takes no option {', '.join(unknown)}; it takes {', '.join(params)}"
            )
    return factory(**options)
