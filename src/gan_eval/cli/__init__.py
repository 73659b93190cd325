"""The gan-eval command line (Typer). Each command is a thin wrapper over library calls.

Exit codes: 0 success, 1 a quality gate failed, 2 bad usage or input (one line on stderr, no traceback).
Progress goes to stderr (a bar on a terminal, plain lines in a log); results to stdout (a table, or one JSON
document with --json).

One module per command family: ``evaluation`` (fid, is, kid, pr, eval, compare, stats), ``reports`` (report,
gate), ``training`` (train, sample, classifier), ``maintenance`` (weights, cache), ``human`` (human new,
serve, export, score: people rating generated images). The evaluation options are
defined once (``options.EVAL_OPTIONS``) and added to each command that evaluates by
:func:`~gan_eval.cli.options.with_options`; every one of those commands builds its
:class:`~gan_eval.config.EvalConfig` through the same loader (:func:`~gan_eval.cli.options.eval_config`), so a
``--config`` TOML file works the same everywhere. ``core`` holds the app, its error handling and output.
"""

from gan_eval.cli import evaluation, human, maintenance, reports, training  # noqa: F401 - registers the commands
from gan_eval.cli.core import app, main

__all__ = ["app", "main"]
