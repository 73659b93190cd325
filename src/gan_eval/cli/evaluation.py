"""Evaluation commands: fid, is, kid, pr, eval (one pass, several metrics), compare and stats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gan_eval.cli.core import app, emit, flag
from gan_eval.cli.options import (
    EVAL_NAMES,
    LENET_WHY,
    PathsArg,
    build_eval_config,
    extractor_help,
    int_opt,
    positional,
    with_options,
)


def _interval(ci: tuple[float, float] | None) -> str:
    """A bootstrap interval as the tables print it ("" for a metric without one)."""
    return "" if ci is None else f"[{ci[0]:.5g}, {ci[1]:.5g}]"


def _run_eval(
    ctx: typer.Context, opts: dict[str, Any], paths: list[str] | None, fixed: dict[str, Any]
) -> None:
    from gan_eval.distributed import is_main
    from gan_eval.pipeline import evaluate

    cfg = build_eval_config(ctx, opts, fixed={**fixed, **positional(paths, opts)})
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
        "n_fake_used": res.n_fake_used,  # values that used part of the generated set (class metrics)
        "fingerprint": res.fingerprint,
        "duration_s": round(res.duration_s, 3),
        "diagnostics": res.diagnostics,
        "class_counts": None if res.class_counts is None else res.class_counts.tolist(),
        "class_unrecognised_count": res.unrecognised,
    }
    rows = [
        {
            "metric": k,
            "value": v,
            "std": res.stds.get(k),
            "n_real": "unknown" if k in res.n_real and res.n_real[k] is None else res.n_real.get(k),
            "n_fake": res.n_fake_used.get(k, res.n_fake),
            **({"95% CI": _interval(res.cis.get(k))} if res.cis else {}),
        }
        for k, v in res.values.items()
    ]
    emit(out, opts["as_json"], rows, title=f"{cfg.fake} vs {cfg.real}" if cfg.real else cfg.fake)
    if not opts["as_json"]:
        fp = res.fingerprint
        print(
            f"extractor={fp['extractor']} protocol={fp['protocol']} precision={fp['precision']} "
            f"seed={fp['seed']} weights={fp['weights_sha256'][:12]} fingerprint={fp['fingerprint']} "
            f"({res.duration_s:.1f} s"
            f"{', real stats cached' if res.diagnostics.get('real_from_cache') else ''})"
        )
        counted = 0 if res.class_counts is None else int(res.class_counts.sum()) + (res.unrecognised or 0)
        if res.class_counts is not None and fp["extractor"].endswith("-lenet") and counted:
            from gan_eval.reporting.class_balance import class_balance_text, class_kind

            text = class_balance_text(
                res.class_counts, unrecognised=res.unrecognised, kind=class_kind(fp["extractor"])
            )
            how = "argmax of the recognised samples" if res.unrecognised is not None else "argmax"
            print(f"classes ({fp['extractor']} {how}): {text}")


def _eval_command(name: str, help_text: str, example: str, metric: str | None) -> None:
    """Register ``gan-eval NAME``: the evaluation options; ``metric`` fixes the metric (single-metric
    commands) or None lets ``--metrics`` choose (``eval``)."""
    names = EVAL_NAMES if metric is None else tuple(n for n in EVAL_NAMES if n != "metrics")

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


@app.command("compare")
@with_options(
    *(n for n in EVAL_NAMES if n != "fake"),
    extractor=(
        Annotated[str, typer.Option("--extractor", "-e", help=extractor_help("mnist-lenet", LENET_WHY))],
        "mnist-lenet",
    ),
    real=(
        Annotated[str, typer.Option("--real", help="Real set (default mnist, the 60,000 training digits).")],
        "mnist",
    ),
    bootstrap=(
        Annotated[
            int,
            int_opt(
                "--bootstrap",
                help="Bootstrap resamples for the 95% intervals (default 50 here, 0 elsewhere: the "
                "intervals say whether the best is separated from the runner-up).",
                min=0,
            ),
        ],
        50,
    ),
    weights=(
        Annotated[
            list[str] | None,
            typer.Option(
                "--weights",
                help="With one FILE.py:Generator: rank these state_dicts of it (repeat: --weights a.pt "
                "--weights b.pt).",
            ),
        ],
        None,
    ),
)
def compare_cmd(
    ctx: typer.Context,
    checkpoints: Annotated[list[str], typer.Argument(help="Checkpoints (or image sets) to rank.")],
    *,
    opts: dict[str, Any],
) -> None:
    """Rank checkpoints of a run against the same real statistics, best first, with bootstrap intervals.

    Example: `gan-eval compare runs/mlp/ckpt_*.pt --real mnist --metrics fid,kid`; your own generator:
    `gan-eval compare gen.py:Generator --weights g_010.pt --weights g_020.pt`
    """
    from gan_eval.compare import compare_checkpoints

    weights = opts.pop("weights") or []
    cfg = build_eval_config(ctx, opts, fixed={"fake": checkpoints[0]})
    table = compare_checkpoints(
        checkpoints,
        cfg,
        results=None if opts["no_save"] else opts["results"],
        run_id=opts["run_id"],
        weights=weights,
    )
    emit(
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
    "extractor_weights",
    "as_json",
    "quiet",
)
def stats_cmd(
    source: Annotated[str, typer.Argument(help="Image set: mnist:test, a folder, .zip, .npz.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output statistics file (.npz) or folder.")],
    limit: Annotated[int | None, int_opt("--limit", help="Seeded subset of this many images.", min=1)] = None,
    compact: Annotated[bool, flag("--compact", help="Store sigma as a float32 upper triangle.")] = False,
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
        weights=opts["extractor_weights"],
        compact=compact,
        progress=not opts["quiet"],
    )
    rows = [{"file": info["path"], "n": info["n"], "dim": info["dim"], "key": info["key"][:16]}]
    emit(info, opts["as_json"], rows)
