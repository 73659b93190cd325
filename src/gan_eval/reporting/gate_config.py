"""Gate config files: the TOML format of :mod:`gan_eval.reporting.gates` parsed into a :class:`GateConfig`,
every problem a UserError naming the file and key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_eval.errors import UserError
from gan_eval.results.groups import EXPECTABLE

_REGRESSION_KEYS = ("baseline", "select", "if_missing", "require_ci_separation")
#: The ``[evaluation]`` keys without which a gate warns that it gated an unconstrained evaluation.
REQUIRED_EXPECTATIONS: tuple[str, ...] = ("extractor", "protocol", "n_fake")


def metric_direction(metric: str) -> bool | None:
    """True when higher values of result key ``metric`` are better, False when lower are, None when the key
    has no direction (stds, diagnostics, unknown keys)."""
    from gan_eval.metrics.registry import higher_is_better  # lazy: the registry imports torch

    try:
        return higher_is_better(metric)
    except UserError:
        return None


def _check_metric(metric: str, where: str, *, ranked: bool) -> None:
    """UserError unless ``metric`` is a metric value key; ``ranked``: it must also have a direction (a
    regression gate needs "worse"; an absolute bound does not, e.g. ``copying_ct = { min = -3 }``)."""
    from gan_eval.metrics.registry import higher_is_better, value_direction

    try:
        (higher_is_better if ranked else value_direction)(metric)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


@dataclass(frozen=True)
class AbsoluteRule:
    """``min <= value <= max`` (either bound may be None)."""

    metric: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class RegressionRule:
    """The value may be worse than the baseline by at most ``max(margin, rel_margin * |baseline|)``."""

    metric: str
    margin: float | None = None
    rel_margin: float | None = None
    require_ci_separation: bool = False


@dataclass(frozen=True)
class GateConfig:
    """A parsed gate config file (format: :mod:`gan_eval.reporting.gates`)."""

    path: Path
    absolute: tuple[AbsoluteRule, ...] = ()
    regression: tuple[RegressionRule, ...] = ()
    baseline: str | None = None
    select: Mapping[str, Any] = field(default_factory=dict)
    if_missing: str = "error"
    expect: Mapping[str, Any] = field(default_factory=dict)  # the [evaluation] table

    def unconstrained(self) -> tuple[str, ...]:
        """The keys of ``REQUIRED_EXPECTATIONS`` this file does not declare."""
        return tuple(k for k in REQUIRED_EXPECTATIONS if k not in self.expect)


def gated_metrics(cfg: GateConfig) -> list[str]:
    """The metrics (``--metrics`` names) whose values ``cfg`` gates, in order of first appearance: what
    ``gate --fake`` computes unless told otherwise (``is_mean`` -> ``is``, ``kid_mean`` -> ``kid``)."""
    from gan_eval.metrics import catalog  # noqa: F401 - the registrations
    from gan_eval.metrics.registry import METRICS

    out: list[str] = []
    keys = [r.metric for r in cfg.absolute] + [r.metric for r in cfg.regression]
    for key in keys:
        name = next((n for n, spec in METRICS.items() if spec.owns(key)), key)
        if name not in out:
            out.append(name)
    return out


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def load_gate_config(path: Path | str) -> GateConfig:
    """Parse and validate a gate config TOML file; any problem is a UserError naming the file and key."""
    from gan_eval.config import read_toml

    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"gate config {path} does not exist; expected a TOML file like configs/gates/mnist.toml"
        )
    data = read_toml(path, "gate config")
    unknown = sorted(set(data) - {"evaluation", "absolute", "regression"})
    if unknown:
        raise UserError(
            f"gate config {path}: unknown section(s) {', '.join(unknown)}; "
            "expected [evaluation], [absolute], [regression]"
        )
    if not (set(data) - {"evaluation"}):
        raise UserError(f"gate config {path} defines no gates; expected [absolute] and/or [regression] rules")
    expect = _load_expectation(data.get("evaluation", {}), path)

    absolute = []
    for metric, rule in data.get("absolute", {}).items():
        where = f"{path} [absolute] {metric}"
        _check_metric(metric, f"{path} [absolute]", ranked=False)
        if not isinstance(rule, dict):
            raise UserError(f"{where} must be a table like {{ max = 30 }}, got {rule!r}")
        bad = sorted(set(rule) - {"min", "max"})
        if bad:
            raise UserError(f"{where}: unknown key(s) {', '.join(bad)}; expected min and/or max")
        if not rule:
            raise UserError(f"{where} has no threshold; give min and/or max")
        lo = _number(rule["min"], f"{where}.min") if "min" in rule else None
        hi = _number(rule["max"], f"{where}.max") if "max" in rule else None
        if lo is not None and hi is not None and lo > hi:
            raise UserError(f"{where}: min {lo} is greater than max {hi}")
        absolute.append(AbsoluteRule(metric, lo, hi))

    reg = data.get("regression", {})
    default_sep = reg.get("require_ci_separation", False)
    if not isinstance(default_sep, bool):
        raise UserError(
            f"{path} [regression] require_ci_separation must be true or false, got {default_sep!r}"
        )
    if_missing = reg.get("if_missing", "error")
    if if_missing not in ("error", "skip"):
        raise UserError(f'{path} [regression] if_missing must be "error" or "skip", got {if_missing!r}')
    baseline = reg.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline):
        raise UserError(f"{path} [regression] baseline must be a file path string, got {baseline!r}")
    select = reg.get("select", {})
    if not isinstance(select, dict):
        raise UserError(
            f'{path} [regression] select must be a table like {{ run_id = "main" }}, got {select!r}'
        )
    regression = []
    for metric, rule in reg.items():
        if metric in _REGRESSION_KEYS:
            continue
        where = f"{path} [regression] {metric}"
        _check_metric(metric, f"{path} [regression]", ranked=True)
        if not isinstance(rule, dict):
            raise UserError(f"{where} must be a table like {{ margin = 2.0 }}, got {rule!r}")
        bad = sorted(set(rule) - {"margin", "rel_margin", "require_ci_separation"})
        if bad:
            raise UserError(
                f"{where}: unknown key(s) {', '.join(bad)}; expected margin, rel_margin, "
                "require_ci_separation"
            )
        if "margin" not in rule and "rel_margin" not in rule:
            raise UserError(f"{where} has no threshold; give margin and/or rel_margin")
        margin = _number(rule["margin"], f"{where}.margin") if "margin" in rule else None
        rel = _number(rule["rel_margin"], f"{where}.rel_margin") if "rel_margin" in rule else None
        if (margin is not None and margin < 0) or (rel is not None and rel < 0):
            raise UserError(f"{where}: margins must not be negative")
        sep = rule.get("require_ci_separation", default_sep)
        if not isinstance(sep, bool):
            raise UserError(f"{where}.require_ci_separation must be true or false, got {sep!r}")
        regression.append(RegressionRule(metric, margin, rel, sep))
    if regression and baseline is None:
        raise UserError(f'{path} [regression] has rules but no baseline = "path"')
    return GateConfig(path, tuple(absolute), tuple(regression), baseline, dict(select), if_missing, expect)


def _load_expectation(table: Any, path: Path) -> dict[str, Any]:
    """Validate the ``[evaluation]`` table: known keys (``EXPECTABLE``), strings or non-negative integers."""
    where = f"{path} [evaluation]"
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table of column = value")
    bad = sorted(set(table) - set(EXPECTABLE))
    if bad:
        raise UserError(f"{where}: unknown key(s) {', '.join(bad)}; expected {', '.join(EXPECTABLE)}")
    out: dict[str, Any] = {}
    for key, kind in EXPECTABLE.items():
        if key not in table:
            continue
        v = table[key]
        if kind is int:
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "n_fake" else 0):
                least = "a positive" if key == "n_fake" else "a non-negative"
                raise UserError(f"{where}.{key} must be {least} integer, got {v!r}")
        elif not isinstance(v, str) or not v.strip():
            raise UserError(f'{where}.{key} must be a non-empty string like "{_EXAMPLE[key]}", got {v!r}')
        out[key] = v
    return out


_EXAMPLE = {"extractor": "mnist-lenet", "protocol": "lenet-28", "real": "mnist:train", "precision": "fp32"}
