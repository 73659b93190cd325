"""Typed configs and the TOML files in configs/ that hold them (train/*.toml, eval/*.toml, gates/*.toml).

:class:`EvalConfig` is everything that decides an evaluation. An evaluation config file holds its fields as
flat keys, e.g.
``configs/eval/mnist_lenet.toml``::

    real = "mnist"
    metrics = ["fid", "is", "kid", "pr"]
    extractor = "mnist-lenet"
    n = 10000

``gan-eval eval --config FILE --fake ckpt.pt``: options given on the command line replace the file's values.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_eval.errors import UserError
from gan_eval.limits import COUNTS, check_count, check_value_range

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides an evaluation. Field names match the CLI options."""

    real: str | None  # None: metrics of the generated set alone (is)
    fake: str
    metrics: tuple[str, ...] = ("fid",)
    extractor: str = "inception"
    protocol: str | None = None  # None: the extractor's default
    n: int = 10_000  # samples drawn from a generator source
    real_limit: int | None = None  # seeded subset of the real set (None: the whole split)
    fake_limit: int | None = None  # seeded subset of a fake image set
    seed: int = 0  # generator noise and subset seed
    batch_size: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    weights: str | None = None
    data_root: str | None = None
    value_range: tuple[float, float] | None = None
    use_cache: bool = True
    max_real_features: int = 10_000  # real features kept for kid/pr/dc (seeded subset)
    bootstrap: int = 0  # bootstrap resamples of the generated set for confidence intervals (0: none)
    compile: bool = False
    use_ema: bool = True
    z_dim: int | None = None
    progress: bool = True
    train: str | None = None  # copy: the training set (default: the real dataset's train split)
    heldout: str | None = None  # copy: held-out real images (default: the real dataset's test split)
    copy_space: str = "both"  # copy: compare in "features", "pixels" or "both"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # the CLI checks these when it parses them; TOML and Python here
            check_field(f"{f.name} =", f.name, getattr(self, f.name))


def check_field(label: str, key: str, value: Any) -> None:
    """Counts within their bounds (:data:`gan_eval.limits.COUNTS`) and a finite, non-empty value range."""
    if value is not None and key in COUNTS:
        check_count(label, value, *COUNTS[key])
    elif value is not None and key == "value_range":
        check_value_range(label, value)


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed TOML file; UserError naming ``what`` (e.g. "eval config") if it is missing or unreadable."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"{path}: not a readable TOML file ({e})") from None


def _as_sequence(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def _coerce(where: str, key: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the field's type hint (TOML gives int, float, str, bool, list)."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    args = typing.get_args(hint) if union else (hint,)
    if value is None:
        if type(None) in args:
            return None
        raise UserError(f"{where}: {key} may not be empty")
    base = next(a for a in args if a is not type(None))
    origin = typing.get_origin(base)
    if origin is tuple:
        seq = _as_sequence(value)
        inner = typing.get_args(base)
        if seq is None:
            raise UserError(f"{where}: {key} must be a list, got {value!r}")
        if inner and inner[-1] is not Ellipsis and len(seq) != len(inner):
            raise UserError(f"{where}: {key} must have {len(inner)} entries, got {value!r}")
        item = inner[0] if inner else str
        try:
            return tuple(float(v) if item is float else v for v in seq)
        except (TypeError, ValueError):
            raise UserError(f"{where}: {key} must hold numbers, got {value!r}") from None
    if base is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if base is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: {key} must be a string, got {value!r}")
        return value
    return value


def checked_mapping(cls: Any, values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` after checking every key is a field of ``cls``, every value fits its type, and counts and
    value ranges are valid (:func:`check_field`); UserError naming ``where`` and the key."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(fields)}")
    checked = {k: _coerce(where, k, v, hints[k]) for k, v in values.items()}
    for key, value in checked.items():
        check_field(f"{where}: {key} =", key, value)
    return checked


def dataclass_from_mapping(cls: Any, values: dict[str, Any], where: str) -> Any:
    """``cls(**values)`` after :func:`checked_mapping`."""
    checked = checked_mapping(cls, values, where)
    try:
        return cls(**checked)
    except TypeError as e:  # a required field is missing
        raise UserError(f"{where}: {e}") from None


def load_eval_config(path: str | Path | None = None, **overrides: Any) -> EvalConfig:
    """An :class:`EvalConfig` from a TOML file (flat keys named like its fields), with
    ``overrides`` (field names; e.g. the options given on the command line) replacing the file's values.
    ``path`` None: the overrides alone. ``fake`` must be set by one or the other (``real`` too, for every
    metric but ``is``: :func:`gan_eval.pipeline.evaluate` checks that)."""
    values: dict[str, Any] = dict(read_toml(path, "eval config")) if path is not None else {}
    where = str(path) if path is not None else "options"
    nested = [k for k, v in values.items() if isinstance(v, dict)]
    if nested:
        raise UserError(f"{where}: eval configs have flat keys only; found section(s) {nested}")
    if path is not None:  # the file's own values, also those an option replaces: one check for both routes
        checked_mapping(EvalConfig, values, where)
    values.update(overrides)
    if values.get("fake") is None:
        raise UserError(f"{where}: no fake set; give --fake (or a path) or `fake = ...` in the config file")
    values.setdefault("real", None)
    cfg: EvalConfig = dataclass_from_mapping(EvalConfig, values, where)
    return cfg
