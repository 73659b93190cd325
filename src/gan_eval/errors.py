"""Errors a user can cause. The CLI prints them as one line and exits with code 2; bugs still raise."""


class UserError(Exception):
    """Bad input: a missing file, an empty folder, wrong shapes or ranges, a corrupt checkpoint..."""

    exit_code = 2


class GateFailed(Exception):
    """A quality gate did not pass (exit code 1)."""

    exit_code = 1
