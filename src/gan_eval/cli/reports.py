"""Reports and gates: ``report`` (Markdown) and ``gate`` (thresholds, exit code 1 when one fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gan_eval.cli.core import DEFAULT_RESULTS, app, emit
from gan_eval.cli.options import (
    EVAL_NAMES,
    LENET_WHY,
    build_eval_config,
    extractor_help,
    given,
    int_opt,
    with_options,
)
from gan_eval.errors import UserError


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
    unrecognised: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="gan-eval-report-") as tmp:
        if samples:
            from gan_eval.reporting.assets import report_assets

            rows = df if run is None else df[df["run_id"] == run]
            cks = sorted({c for c in rows["checkpoint"].tolist() if c})
            grids, hists, unrecognised = report_assets(cks, Path(tmp))
        path = write_report(
            df,
            out,
            run=run,
            gate_config=gate_config,
            sample_grids=grids,
            class_histograms=hists,
            class_unrecognised=unrecognised,
            title=title,
            results_path=results,
        )
    print(path)


@app.command("gate")
@with_options(
    *(n for n in EVAL_NAMES if n not in ("config", "results", "no_save", "run_id")),
    extractor=(
        Annotated[str, typer.Option("--extractor", "-e", help=extractor_help("mnist-lenet", LENET_WHY))],
        "mnist-lenet",
    ),
    real=(Annotated[str, typer.Option("--real", help="Real set when --fake is given.")], "mnist"),
    metrics=(
        Annotated[
            str | None,
            typer.Option(
                "--metrics", "-m", help="Metrics to compute with --fake (default: those the gate file gates)."
            ),
        ],
        None,
    ),
    bootstrap=(
        Annotated[
            int,
            int_opt(
                "--bootstrap",
                help="Bootstrap resamples with --fake (default 20 here, 0 elsewhere: the intervals that "
                "require_ci_separation needs).",
                min=0,
            ),
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
        Path | None,
        typer.Option("--results", help="Gate the latest rows of this table (default reports/results.csv)."),
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
    if results is not None and opts["fake"] is not None:
        raise UserError(
            "gate takes one of --results TABLE (default reports/results.csv) or --fake CHECKPOINT"
        )
    if opts["fake"] is None:
        results = results or DEFAULT_RESULTS
    elif opts["metrics"] is None:
        opts["metrics"] = ",".join(gates.gated_metrics(cfg))
    if opts["fake"] is not None and checkpoint is not None:
        raise UserError("--checkpoint selects rows of --results; with --fake the checkpoint is evaluated now")
    if opts["fake"] is not None:
        from gan_eval.pipeline import evaluate
        from gan_eval.results.rows import result_rows

        expect = cfg.expect  # what the gate file was calibrated on fills the options not typed
        filled = []
        for name, key in (("extractor", "extractor"), ("n", "n_fake"), ("real", "real"), ("seed", "seed")):
            if key in expect and not given(ctx, name):
                opts[name] = expect[key]
                filled.append(name)
        if "precision" in expect and not given(ctx, "precision"):
            opts["precision"] = str(expect["precision"])
            filled.append("precision")
        if opts["extractor"] == expect.get("extractor") and not given(ctx, "protocol"):
            opts["protocol"] = expect.get("protocol")
            filled.append("protocol")
        ecfg = build_eval_config(ctx, {**opts, "config": eval_config}, chosen=tuple(filled))
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
        emit(doc, True)
    else:
        print(gates.gate_table(outcome))
    gates.raise_if_failed(outcome)
