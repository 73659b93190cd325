"""The gan-eval command line (Typer). Each command is a thin wrapper over library calls."""

from __future__ import annotations

import sys

import typer

from gan_eval import __version__
from gan_eval.errors import GateFailed, UserError

app = typer.Typer(
    name="gan-eval",
    help="Evaluate generative image models: FID, IS, KID, precision/recall, density/coverage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except UserError as e:
        print(f"gan-eval: error: {e}", file=sys.stderr)
        sys.exit(2)
    except GateFailed as e:
        print(f"gan-eval: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("gan-eval: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # click usage errors carry their own exit code
        import click

        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        print(f"gan-eval {__version__}")
        raise typer.Exit(0)
