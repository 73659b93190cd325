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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_eval.errors import UserError
from gan_eval.limits import COUNTS, check_count, check_value_range

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


#: Samples drawn from a generator when ``n`` is not given (the size the literature reports FID at, 10k/50k).
DEFAULT_N = 10_000


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides an evaluation. Field names match the CLI options."""

    real: str | None  # None: metrics of the generated set alone (is)
    fake: str
    metrics: tuple[str, ...] = ("fid",)
    extractor: str = "inception"
    protocol: str | None = None  # None: the extractor's default
    n: int | None = None  # samples drawn from a generator source (None: DEFAULT_N)
    real_limit: int | None = None  # seeded subset of the real set (None: the whole split)
    fake_limit: int | None = None  # seeded subset of a fake image set
    seed: int = 0  # generator noise and subset seed
    batch_size: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    extractor_weights: str | None = None  # the extractor's weights file (default: the known file)
    data_root: str | None = None
    value_range: tuple[float, float] | None = None
    use_cache: bool = True
    max_real_features: int = 10_000  # real features kept for kid/pr/dc (seeded subset)
    bootstrap: int = 0  # bootstrap resamples of the generated set for confidence intervals (0: none)
    compile: bool = False
    use_ema: bool = True
    z_dim: int | None = None
    weights: str | None = None  # a generator class's state_dict (--fake FILE.py:Generator --weights g.pt)
    weights_key: str | None = None  # where in the weights file the state_dict is (default: usual keys)
    arch_args: str | dict[str, Any] | None = None  # constructor arguments of the generator class
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
    if isinstance(value, dict) and any(typing.get_origin(a) is dict for a in args):
        return value  # a TOML table where a mapping is allowed (arch_args)
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


def load_eval_config(
    path: str | Path | None = None, *, explicit: Iterable[str] | None = None, **overrides: Any
) -> EvalConfig:
    """An :class:`EvalConfig` from a TOML file (flat keys named like its fields), with
    ``overrides`` (field names; e.g. the options given on the command line) replacing the file's values.
    ``path`` None: the overrides alone. ``fake`` must be set by one or the other (``real`` too, for every
    metric but ``is``: :func:`gan_eval.pipeline.evaluate` checks that).

    A statistics file as ``real`` or ``fake`` carries the setup it was made with: its extractor, protocol and
    precision are used where the caller did not choose them (``explicit``: the fields the caller chose; None:
    every override and file key), and one the caller chose differently is refused before any work
    (:func:`stats_file_setup`)."""
    values: dict[str, Any] = dict(read_toml(path, "eval config")) if path is not None else {}
    where = str(path) if path is not None else "options"
    nested = [k for k, v in values.items() if isinstance(v, dict) and k != "arch_args"]
    if nested:
        raise UserError(f"{where}: eval configs have flat keys only; found section(s) {nested}")
    chosen = set(values) | (set(overrides) if explicit is None else set(explicit))
    if path is not None:  # the file's own values, also those an option replaces: one check for both routes
        checked_mapping(EvalConfig, values, where)
    values.update(overrides)
    if values.get("fake") is None:
        raise UserError(f"{where}: no fake set; give --fake (or a path) or `fake = ...` in the config file")
    values.setdefault("real", None)
    values.update(stats_file_setup(values, chosen))
    cfg: EvalConfig = dataclass_from_mapping(EvalConfig, values, where)
    return cfg


#: What a statistics file records of how it was made, and the option that chooses each.
SETUP_FIELDS = {"extractor": "--extractor", "protocol": "--protocol", "precision": "--precision"}


def stats_file_setup(values: dict[str, Any], chosen: set[str]) -> dict[str, Any]:
    """The extractor, protocol and precision that the statistics files among ``values["real"]`` and
    ``values["fake"]`` were made with, for the fields not in ``chosen`` (with one warning line saying so when
    that changes anything). UserError when two files disagree, or a chosen field differs from a file's:
    before any extraction, instead of minutes of work and a dimension error. Files without that record
    (pytorch-fid's ``--save-stats``: mu and sigma only) constrain nothing."""
    import warnings

    from gan_eval.data.spec import is_stats_file

    setup: dict[str, Any] = {}
    source: dict[str, str] = {}
    for side in ("real", "fake"):
        spec = values.get(side)
        if not isinstance(spec, str) or not is_stats_file(spec):
            continue
        from gan_eval.stats.feature_stats import load_moments

        meta = load_moments(spec).metadata
        for key in SETUP_FIELDS:
            if meta.get(key) is None:
                continue
            if key in setup and setup[key] != meta[key]:
                raise UserError(
                    f"{spec} was made with {key} {meta[key]}, {source[key]} with {setup[key]}: "
                    "statistics of different setups cannot be compared"
                )
            setup[key], source[key] = meta[key], spec
    adopted: dict[str, Any] = {}
    for key, value in setup.items():
        current = values.get(key, getattr(EvalConfig, key, None))
        if key in chosen and current is not None and current != value:
            raise UserError(
                f"{source[key]}: made with {key} {value}, but {SETUP_FIELDS[key]} {current} was given; "
                "drop the option to use the file's, or recompute it "
                f"(`gan-eval stats ... {SETUP_FIELDS[key]} {current}`)"
            )
        if key not in chosen and current != value:
            adopted[key] = value
    # say so when it changes what would run: a protocol is news only with a new extractor, or when it is not
    # Inception's default (the lenet extractors have one fixed protocol)
    news = {k: v for k, v in adopted.items() if k != "protocol"}
    if "protocol" in adopted and (news.get("extractor") or adopted["protocol"] != "pytorch-fid"):
        news["protocol"] = adopted["protocol"]
    if news:
        said = ", ".join(f"{k} {v}" for k, v in news.items())
        warnings.warn(f"using the setup the statistics file was made with: {said}", stacklevel=3)
    return adopted
