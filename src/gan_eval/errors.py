"""Errors a user can cause. The CLI prints them as one line and exits with code 2; bugs still raise.

``GAN_EVAL_DEBUG=1`` (or ``gan-eval --debug``) makes the CLI print the traceback (with the error that
caused it, e.g. the exception a user's generator raised) before that line.
"""

from __future__ import annotations

import os

DEBUG_ENV = "GAN_EVAL_DEBUG"


class UserError(Exception):
    """Bad input: a missing file, an empty folder, wrong shapes or ranges, a corrupt checkpoint..."""

    exit_code = 2


class GateFailed(Exception):
    """A quality gate did not pass (exit code 1)."""

    exit_code = 1


def debug_enabled() -> bool:
    """True when ``$GAN_EVAL_DEBUG`` is set to anything but empty, ``0``, ``false`` or ``no``."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def one_line(text: object) -> str:
    """``text`` on one line: line breaks (e.g. from a library's multi-line exception) become `` | ``."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return " | ".join(lines)


def describe_exception(e: BaseException, limit: int = 300) -> str:
    """``"TypeName: first line of the message"``, shortened to ``limit`` characters, for a UserError that
    wraps an exception raised by the user's code or file (a generator, a factory function)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if len(lines) > 1 and "TorchScript interpreter" in lines[0]:
        text = lines[-1]  # TorchScript puts the real error ("RuntimeError: mat1 and mat2 ...") last
    else:
        text = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
