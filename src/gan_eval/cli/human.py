"""Human evaluation: ``human new|serve|export|score`` (HYPE-infinity; see :mod:`gan_eval.human`)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from gan_eval.cli.core import DEFAULT_RESULTS, app, emit, flag
from gan_eval.cli.options import int_opt
from gan_eval.errors import UserError

human_app = typer.Typer(
    help="Human evaluation (HYPE): make a study, serve its rating page, export the answers, score them.",
    no_args_is_help=True,
)
app.add_typer(human_app, name="human")

StudyArg = Annotated[Path, typer.Argument(help="The study folder (made by `gan-eval human new`).")]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@human_app.command("new")
def new_cmd(
    fake: Annotated[
        list[str], typer.Option("--fake", help="A generated set to rate (one arm each; repeat the option).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The study folder to create (new or empty).")],
    real: Annotated[
        str, typer.Option("--real", help="Real images: the held-out split, so memorised copies do not count.")
    ] = "mnist:test",
    pool: Annotated[
        int,
        int_opt("--pool", help="Generated images per arm, and real images, for the scored trials.", min=2),
    ] = 200,
    seed: Annotated[
        int, int_opt("--seed", help="Seed of the pools, the noise and every session's order.", min=0)
    ] = 0,
    scale: Annotated[
        int | None, int_opt("--scale", help="Upscale factor (default: about 224 pixels; 28x28 at 8x).", min=1)
    ] = None,
    practice: Annotated[
        int, int_opt("--practice", help="Practice trials per session (feedback).", min=2)
    ] = 10,
    scored: Annotated[int, int_opt("--scored", help="Scored trials per session (half real).", min=2)] = 100,
    catch: Annotated[int, int_opt("--catch", help="Catch trials (broken images) per session.", min=0)] = 5,
    data_root: Annotated[str | None, typer.Option("--data-root", help="Where datasets are cached.")] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto, cpu or cuda[:k]: where generators draw the pools.")
    ] = "auto",
) -> None:
    """Make a study: draw each arm's images and the real images once (seeded), encoded identically.

    Example: `gan-eval human new --fake runs/mlp/ckpt_epoch_001.pt --fake runs/mlp/ckpt_epoch_020.pt -o st/`
    """
    from gan_eval.human.study import Protocol, create_study, describe_study

    study = create_study(
        fake,
        real,
        out,
        pool=pool,
        seed=seed,
        scale=scale,
        protocol=Protocol(practice=practice, scored=scored, catch=catch),
        data_root=data_root,
        device=device,
    )
    print("\n".join(describe_study(study)))
    print(f"next: gan-eval human serve {out}")


@human_app.command("serve")
def serve_cmd(
    study_dir: StudyArg,
    port: Annotated[int, int_opt("--port", help="TCP port (0: any free one).", min=0)] = 8023,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; other than loopback, every link needs a token."),
    ] = "127.0.0.1",
    rater: Annotated[
        list[str] | None,
        typer.Option("--rater", help="A rater's name: prints their link (repeat the option)."),
    ] = None,
) -> None:
    """Serve the rating page until Ctrl-C; every answer is saved when it is given.

    On loopback (the default) a rater types a name; with --host other than loopback each rater needs the
    link with their token, printed for every --rater.

    Example: `gan-eval human serve study/ --port 8023`
    """
    from gan_eval.human.app import rater_token, serve
    from gan_eval.human.store import Refused, check_rater
    from gan_eval.human.study import load_study

    study = load_study(study_dir)
    tokens = not is_loopback(host)
    names = []
    for name in rater or []:
        try:
            names.append(check_rater(name))
        except Refused as e:
            raise UserError(f"--rater {name!r}: {e.message}") from None
    if tokens and not names:
        raise UserError(
            f"--host {host} is reachable beyond this machine: name the raters (--rater NAME, repeated) so "
            "each gets a link with a token"
        )
    shown = host if host not in ("0.0.0.0", "::") else __import__("socket").gethostname()
    shown = f"[{shown}]" if ":" in shown else shown

    def ready(bound: int) -> None:
        base = f"http://{shown}:{bound}/"
        print(f"serving study {study.name} ({len(study.arms)} arm(s)) on {base}", flush=True)
        for name in names:
            from urllib.parse import urlencode

            query = {"rater": name, **({"token": rater_token(study, name)} if tokens else {})}
            print(f"  {name}: {base}?{urlencode(query)}", flush=True)
        print("answers are saved as they are given; Ctrl-C stops the server", flush=True)

    try:
        serve(study_dir, host=host, port=port, tokens=tokens, on_ready=ready)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    print("stopped", flush=True)


@human_app.command("export")
def export_cmd(
    study_dir: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write.")] = Path("trials.csv"),
) -> None:
    """Write every trial (session, rater, arm, image, truth, answer, response time, practice/catch) as CSV.

    Example: `gan-eval human export study/ -o trials.csv`
    """
    from gan_eval.atomic import atomic_write, check_output_target
    from gan_eval.human.export import trials_frame
    from gan_eval.human.study import load_study

    check_output_target(out, "-o")
    df = trials_frame(load_study(study_dir))
    atomic_write(out, lambda tmp: df.to_csv(tmp, index=False, lineterminator="\n"), checksum=False)
    print(f"{out}: {len(df)} trials, {df['session'].nunique()} sessions")


@human_app.command("score")
def score_cmd(
    study_dir: StudyArg,
    results: Annotated[Path, typer.Option("--results", help="Results table to append to.")] = DEFAULT_RESULTS,
    no_save: Annotated[bool, flag("--no-save", help="Print the scores; append nothing.")] = False,
    catch_min: Annotated[
        float, typer.Option("--catch-min", help="Share of catch trials a session must pass to count.")
    ] = 0.8,
    bootstrap: Annotated[
        int,
        int_opt(
            "--bootstrap",
            help="Resamples of the bootstrap over raters (default 2000: people's scores are few numbers, so "
            "the 95% intervals get the usual size at no cost).",
            min=100,
        ),
    ] = 2000,
    run_id: Annotated[
        str | None, typer.Option("--run", help="run_id of the rows (default: the study's name).")
    ] = None,
    as_json: Annotated[bool, flag("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score the finished sessions per arm: hype_inf, hype_fake_error, hype_real_error with 95 % intervals.

    Sessions that fail the catch trials (below --catch-min) or are not finished are left out and counted.

    Example: `gan-eval human score study/ --results reports/results.csv`
    """
    from gan_eval.human.export import score_study

    if not 0 <= catch_min <= 1:
        raise UserError(f"--catch-min {catch_min}: expected a share between 0 and 1")
    if not no_save:
        from gan_eval.results.store import check_results_target

        check_results_target(results)
    study, scores, rows = score_study(study_dir, catch_min=catch_min, n_boot=bootstrap, run_id=run_id or "")
    table = []
    for s in scores:
        arm = study.arms[s.arm]
        lo, hi = s.cis.get("hype_inf", (float("nan"), float("nan")))
        table.append(
            {
                "arm": arm.index,
                "label": arm.label,
                "hype_inf": s.values["hype_inf"],
                "95% interval": f"[{lo:.3f}, {hi:.3f}]" if s.cis else "",
                "fake_error": s.values["hype_fake_error"],
                "real_error": s.values["hype_real_error"],
                "raters": s.n_raters,
                "ratings": s.n_ratings,
                "flagged": s.n_flagged,
                "unfinished": s.n_incomplete,
                "catch_pass": s.values["hype_catch_pass"],
                "interval": s.interval,
            }
        )
    emit(
        table, as_json, table, title=f"study {study.name}: HYPE-infinity (0.5 = indistinguishable from real)"
    )
    if rows.empty:
        typer.echo("gan-eval: warning: no arm has a finished session that passed the catch trials", err=True)
        return
    if not no_save:
        from gan_eval.results import append_results

        append_results(rows, results)
        if not as_json:
            print(f"{len(rows)} rows appended to {results}")
