"""The Typer application and what every command shares: error handling (one line and exit code 2), the
command groups, output (tables or JSON), and the root callback.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from gan_eval import __version__
from gan_eval.errors import GateFailed, UserError, debug_enabled, one_line

# click's exceptions, as vendored by typer, found through its public BadParameter (not a private module path)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


#: Options of the libraries people come from, and what gan-eval does instead (pytorch-fid, torch-fidelity).
FOREIGN_OPTIONS = {
    "--dims": "pytorch-fid's --dims: gan-eval uses Inception's 2048-d pool3 features; -e picks the extractor",
    "--num-workers": "pytorch-fid's --num-workers: gan-eval decodes images on its own threads",
    "--save-stats": "pytorch-fid's --save-stats: use `gan-eval stats SOURCE -o stats.npz`",
    "--gpu": "torch-fidelity's --gpu: use --device cuda or cuda:K",
    "--cuda": "use --device cuda",
    "--input1": "torch-fidelity's --input1: use --real",
    "--input2": "torch-fidelity's --input2: use --fake",
    "--isc": "torch-fidelity's --isc: use `gan-eval is` or --metrics is",
    "--kid": "torch-fidelity's --kid: use `gan-eval kid` or --metrics kid",
    "--prc": "torch-fidelity's --prc: use `gan-eval pr` or --metrics pr",
}
#: How close an unknown option must be to a real one to be suggested (difflib's ratio): --batchsize gets
#: --batch-size (0.95), --dims does not get --z-dim (0.77) nor --gpu --run (0.6).
SUGGEST_RATIO = 0.8


def usage_message(e: Exception) -> str:
    """click's message of a usage error, with suggestions for an unknown option only where they are near
    typos of a real one, or what gan-eval does instead of a known option of pytorch-fid/torch-fidelity."""
    name = getattr(e, "option_name", None)
    if type(e).__name__ != "NoSuchOption" or not name:
        return one_line(e.format_message())  # type: ignore[attr-defined]
    message = str(getattr(e, "message", e))
    if name in FOREIGN_OPTIONS:
        return f"{message} ({FOREIGN_OPTIONS[name]})"
    near = [
        p
        for p in getattr(e, "possibilities", None) or []
        if difflib.SequenceMatcher(None, name, p).ratio() >= SUGGEST_RATIO
    ]
    return f"{message} (did you mean {' or '.join(sorted(near))}?)" if near else message


def _help_option_untyped(cls: Any) -> None:
    """``--help`` is a flag: show it without the ``<bool>`` type column typer gives it."""
    original = cls.get_help_option

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = original(self, ctx)
        if option is not None:
            option.metavar = ""
        return option

    cls.get_help_option = get_help_option


for _cls in (TyperCommand, TyperGroup):
    _help_option_untyped(_cls)


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

    def main(self, args: Any = None, *rest: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        args = optional_values(list(sys.argv[1:] if args is None else args))
        try:
            rv = super().main(args, *rest, **{**kwargs, "standalone_mode": False})
        except _ClickException as e:
            if not standalone_mode:
                raise
            if type(e).__name__ == "NoArgsIsHelpError":  # `gan-eval weights`: the help, as click shows it
                e.show()  # type: ignore[attr-defined]
                sys.exit(e.exit_code)  # type: ignore[attr-defined]
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            message = usage_message(e)
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


#: Options whose value may be left out (``--tensorboard`` alone: the run folder's ``tensorboard/``); left out,
#: they get this value. typer's click has no optional values, so the command line is completed before parsing.
OPTIONAL_VALUE = "<default>"
OPTIONAL_VALUE_OPTIONS = ("--tensorboard",)


def optional_values(args: list[str]) -> list[str]:
    """``args`` with :data:`OPTIONAL_VALUE` after each option of :data:`OPTIONAL_VALUE_OPTIONS` that is last
    or followed by another option (``--tensorboard --epochs 3`` -> ``--tensorboard <default> --epochs 3``)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--":
            return out + args[i + 1 :]
        if arg in OPTIONAL_VALUE_OPTIONS and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUE)
    return out


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


def flag(*names: str, help: str) -> Any:
    """A boolean flag shown as a flag (no ``<bool>`` value)."""
    return typer.Option(*names, help=help, metavar="")


def emit(data: Any, as_json: bool, table_rows: list[dict[str, Any]] | None = None, title: str = "") -> None:
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


# ----------------------------------------------------------------------------- entry point
@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, flag("--version", help="Print the version and exit.")] = False,
    debug: Annotated[
        bool, flag("--debug", help="On an error, print the traceback too (or GAN_EVAL_DEBUG=1).")
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
