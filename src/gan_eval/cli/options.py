"""The evaluation options, defined once (``EVAL_OPTIONS``) and added to each command that evaluates by
:func:`with_options`; :func:`eval_config` turns them (and a ``--config`` TOML file) into an
:class:`~gan_eval.config.EvalConfig`, the same way for every command.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from gan_eval.cli.core import DEFAULT_RESULTS, EXTRACTORS, flag
from gan_eval.errors import UserError


# ----------------------------------------------------------------------------- shared options
def int_opt(*names: str, help: str, min: int | None = None) -> Any:
    """An integer option, refused at parse time, before any work, in one line that names the option and the
    value (``--batch-size -3: expected an integer >= 1``) when it is below ``min`` or above its bound in
    :data:`gan_eval.limits.COUNTS` (looked up by the option's long name; the help states both bounds)."""
    from gan_eval.limits import COUNTS, check_count, count_key, show

    name = max(names, key=len)
    low, high = COUNTS.get(count_key(name), (min, None))
    low = low if min is None else min
    if low is None:
        return typer.Option(*names, help=help)

    def check(value: int | None) -> int | None:
        return None if value is None else check_count(name, value, low, high)

    bounds = f"[>= {low}]" if high is None else f"[{low}..{show(high)}]"
    return typer.Option(*names, help=f"{help} {bounds}", callback=check)


def extractor_help(default: str, why: str = "") -> str:
    return f"Feature extractor: {', '.join(EXTRACTORS)} (default here: {default}{'; ' + why if why else ''})."


LENET_WHY = "fast enough to rank every checkpoint of an MNIST run on a CPU"

EVAL_OPTIONS: dict[str, tuple[Any, Any]] = {
    # name: (annotation, default)
    "real": (
        Annotated[
            str | None,
            typer.Option("--real", help="Real set: mnist[:train|:test], a folder, .zip, .npz, or stats.npz."),
        ],
        None,
    ),
    "fake": (
        Annotated[
            str | None,
            typer.Option("--fake", help="Generated set: ckpt.pt, a folder, .zip, .npz, or pkg.mod:fn."),
        ],
        None,
    ),
    "config": (
        Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="Eval TOML (configs/eval/*.toml): its keys are the options below; typed options win.",
            ),
        ],
        None,
    ),
    "metrics": (
        Annotated[
            str,
            typer.Option(
                "--metrics",
                "-m",
                help="Comma-separated: fid, is, kid, pr, dc, fid_inf, is_inf, prd, vendi, classes, "
                "fid_class, copy; or all (every metric the inputs allow).",
            ),
        ],
        "fid",
    ),
    "extractor": (
        Annotated[str, typer.Option("--extractor", "-e", help=extractor_help("inception"))],
        "inception",
    ),
    "protocol": (
        Annotated[
            str | None,
            typer.Option(
                "--protocol",
                help="Inception preprocessing: pytorch-fid (the default), tf1 or clean. "
                "The mnist-lenet extractors have one fixed protocol.",
            ),
        ],
        None,
    ),
    "n": (
        Annotated[
            int | None,
            int_opt("--n", "-n", help="Samples drawn from a generator source (default 10,000).", min=1),
        ],
        None,
    ),
    "seed": (
        Annotated[int, int_opt("--seed", help="Noise seed of generator sources and subset seed.", min=0)],
        0,
    ),
    "batch_size": (
        Annotated[
            int | None,
            int_opt(
                "--batch-size", help="Images per extractor batch (default: 32 Inception, 1000 lenet).", min=1
            ),
        ],
        None,
    ),
    "device": (Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:k].")], "auto"),
    "precision": (
        Annotated[str, typer.Option("--precision", help="fp32 (exact, default), tf32 or bf16.")],
        "fp32",
    ),
    "real_limit": (
        Annotated[
            int | None, int_opt("--real-limit", help="Seeded subset of the real set (default all).", min=1)
        ],
        None,
    ),
    "fake_limit": (
        Annotated[int | None, int_opt("--fake-limit", help="Seeded subset of a fake image set.", min=1)],
        None,
    ),
    "data_root": (
        Annotated[str | None, typer.Option("--data-root", help="Folder with IDX dataset files.")],
        None,
    ),
    "extractor_weights": (
        Annotated[
            str | None,
            typer.Option("--extractor-weights", help="Extractor weights file (default: the known file)."),
        ],
        None,
    ),
    "value_range": (
        Annotated[
            str | None,
            typer.Option(
                "--value-range",
                help="Output range of a generator or float array, e.g. 0,1 (default -1,1, checked: outputs "
                "all in [0, 1] are refused unless given).",
            ),
        ],
        None,
    ),
    "z_dim": (
        Annotated[
            int | None,
            int_opt(
                "--z-dim",
                help="Latent size of a TorchScript or your own generator (default: read from the model).",
                min=1,
            ),
        ],
        None,
    ),
    "weights": (
        Annotated[
            str | None,
            typer.Option(
                "--weights",
                help="The state_dict of a generator class given as --fake FILE.py:Generator "
                "(torch.save(G.state_dict(), FILE), or a checkpoint dict holding it).",
            ),
        ],
        None,
    ),
    "weights_key": (
        Annotated[
            str | None,
            typer.Option(
                "--weights-key",
                help="Where the state_dict is in --weights (default: the file itself, else generator, G, "
                "netG, g_ema, ema, state_dict, model; a/b for nested).",
            ),
        ],
        None,
    ),
    "arch_args": (
        Annotated[
            str | None,
            typer.Option(
                "--arch-args",
                help="Arguments of the generator class: JSON ('{\"latent_dim\": 64}') or latent_dim=64,... "
                "(default: none).",
            ),
        ],
        None,
    ),
    "bootstrap": (
        Annotated[
            int,
            int_opt("--bootstrap", help="Bootstrap resamples for confidence intervals (0: none).", min=0),
        ],
        0,
    ),
    "no_ema": (
        Annotated[bool, flag("--no-ema", help="Sample a checkpoint's raw generator, not its EMA copy.")],
        False,
    ),
    "compile": (
        Annotated[bool, flag("--compile", help="torch.compile the extractor (long runs, GPU).")],
        False,
    ),
    "no_cache": (
        Annotated[bool, flag("--no-cache", help="Recompute real statistics; do not cache.")],
        False,
    ),
    "train": (
        Annotated[
            str | None,
            typer.Option("--train", help="copy: the training set (default: the real dataset's train split)."),
        ],
        None,
    ),
    "heldout": (
        Annotated[
            str | None,
            typer.Option(
                "--heldout", help="copy: held-out real images (default: the real dataset's test split)."
            ),
        ],
        None,
    ),
    "copy_space": (
        Annotated[
            str,
            typer.Option("--copy-space", help="copy: compare in features, pixels or both (default both)."),
        ],
        "both",
    ),
    "run_id": (
        Annotated[
            str,
            typer.Option(
                "--run",
                help="run_id recorded in the results table (default: the runs/NAME folder, else the name).",
            ),
        ],
        "",
    ),
    "results": (
        Annotated[Path, typer.Option("--results", help="Results table to append to (.csv or .parquet).")],
        DEFAULT_RESULTS,
    ),
    "no_save": (Annotated[bool, flag("--no-save", help="Do not append to the results table.")], False),
    "as_json": (Annotated[bool, flag("--json", help="Print one JSON document on stdout.")], False),
    "quiet": (Annotated[bool, flag("--quiet", "-q", help="No progress display.")], False),
}

#: CLI option name -> EvalConfig field, where they differ (the value is transformed by ``_config_value``)
_FIELD_OF = {"no_cache": "use_cache", "quiet": "progress", "no_ema": "use_ema"}
#: options that are not EvalConfig fields
_NOT_CONFIG = ("config", "run_id", "results", "no_save", "as_json")


def with_options(*names: str, **overrides: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the shared options ``names`` (from ``EVAL_OPTIONS``) to a command; the decorated function receives
    them as one dict ``opts``. ``overrides``: ``NAME=(annotation, default)`` or ``NAME=default`` for a
    command whose default or help differs."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "opts"]
        extra = []
        for name in names:
            annotation, default = EVAL_OPTIONS[name]
            if name in overrides:
                value = overrides[name]
                annotation, default = value if isinstance(value, tuple) else (annotation, value)
            extra.append(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
                )
            )

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opts = {name: kwargs.pop(name) for name in names}
            return fn(*args, opts=opts, **kwargs)

        wrapper.__signature__ = inspect.Signature(own + extra)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{k: v for k, v in fn.__annotations__.items() if k != "opts"},
            **{p.name: p.annotation for p in extra},
        }
        return wrapper

    return deco


def parse_range(value: str | None) -> tuple[float, float] | None:
    from gan_eval.limits import check_value_range

    return None if value is None else check_value_range("--value-range", value)


def _metrics_list(value: str) -> tuple[str, ...]:
    from gan_eval.metrics.plan import ALL
    from gan_eval.metrics.registry import get_metric

    names = tuple(m.strip().lower() for m in value.split(",") if m.strip())
    if not names:
        raise UserError("--metrics is empty; expected e.g. fid,is,kid,pr,dc or all")
    for m in names:
        if m != ALL:
            get_metric(m)
    return names


def given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from the command line or the environment (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _config_value(name: str, value: Any) -> tuple[str, Any]:
    if name == "metrics":
        return name, _metrics_list(value)
    if name == "value_range":
        return name, parse_range(value)
    if name == "no_cache":
        return "use_cache", not value
    if name == "quiet":
        return "progress", not value
    if name == "no_ema":
        return "use_ema", not value
    return name, value


def build_eval_config(
    ctx: typer.Context,
    opts: dict[str, Any],
    *,
    fixed: dict[str, Any] | None = None,
    chosen: tuple[str, ...] = (),
) -> Any:
    """The EvalConfig of a command: the ``--config`` file's values (if any), replaced by the options typed on
    the command line; without a file, every option (typed or default). ``fixed``: values the command itself
    decides (a single-metric command's metric, compare's checkpoints), which neither may replace. What was
    typed, fixed or ``chosen`` (option names the command filled from elsewhere, e.g. a gate file) counts as
    the user's choice against a statistics file's recorded setup; defaults do not."""
    from gan_eval.config import load_eval_config

    path = opts.get("config")
    values = {}
    explicit = set(fixed or {})
    for name, value in opts.items():
        if name in _NOT_CONFIG:
            continue
        if path is None or given(ctx, name):
            key, converted = _config_value(name, value)
            values[key] = converted
            if given(ctx, name) or name in chosen:
                explicit.add(key)
    values.update(fixed or {})
    return load_eval_config(path, explicit=explicit, **values)


# ----------------------------------------------------------------------------- evaluation commands
EVAL_NAMES = tuple(EVAL_OPTIONS)
PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="REAL FAKE as two paths or specs, like pytorch-fid (`gan-eval fid real/ fake/`); one path "
        "is the generated set. Same as --real / --fake.",
        show_default=False,
    ),
]


def positional(paths: list[str] | None, opts: dict[str, Any]) -> dict[str, Any]:
    """REAL FAKE (or FAKE alone) given as arguments, merged into the options (never both ways)."""
    if not paths:
        return {}
    if len(paths) > 2:
        raise UserError(f"expected at most two paths (REAL FAKE), got {len(paths)}: {' '.join(paths)}")
    real, fake = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
    if fake is not None and opts.get("fake") is not None:
        raise UserError("give the generated set once: as an argument or as --fake, not both")
    if real is not None and opts.get("real") is not None:
        raise UserError("give the real set once: as an argument or as --real, not both")
    out = {"fake": fake}
    if real is not None:
        out["real"] = real
    return out
