"""Bad inputs of issue 22 section 5 that the table of test_cli_cases.py cannot hold: a training run that
diverges, a zip far larger than its members' use, a read-only cache to clear, cache entries swapped or
half-written. Each ends in one UserError (exit code 2 through the CLI) and writes nothing."""

from __future__ import annotations


# ---------------------------------------------------------------- item 3: every count has a stated bound
def _commands(typer_app, path=()):
    for command in typer_app.registered_commands:
        yield (*path, command.name or command.callback.__name__), command.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, (*path, group.name))


def test_every_integer_option_of_every_command_states_and_checks_an_upper_bound():
    """Item 3: a count beyond what a machine can do is refused at parse time, and the help says where the
    bound is. An integer option added without a bound in gan_eval.limits.COUNTS fails here."""
    import inspect
    import typing

    from gan_eval.cli import app
    from gan_eval.limits import COUNTS, count_key, show

    seen = 0
    for path, callback in _commands(app):
        for p in inspect.signature(callback, eval_str=True).parameters.values():
            if typing.get_origin(p.annotation) is not typing.Annotated:
                continue
            base, *meta = typing.get_args(p.annotation)
            if not (base is int or int in typing.get_args(base)):
                continue
            info = meta[0]
            key = count_key(p.name)
            assert key in COUNTS, (path, p.name)
            assert info.callback is not None and info.help.endswith(f"..{show(COUNTS[key][1])}]"), (
                path,
                p.name,
            )
            seen += 1
    assert seen >= 40  # every evaluation command's --n, --seed, --batch-size, ... and the trainers'
