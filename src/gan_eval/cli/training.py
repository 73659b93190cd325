"""Training commands: ``train`` (the reference GAN trainer), ``sample`` and ``classifier train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gan_eval.cli.core import DEFAULT_RESULTS, OPTIONAL_VALUE, app, classifier_app, emit, flag
from gan_eval.cli.options import int_opt, parse_range, with_options
from gan_eval.errors import UserError


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Option("--config", help="Training TOML, e.g. configs/train/mlp_gan.toml.")],
    epochs: Annotated[int | None, int_opt("--epochs", help="Override the config's epochs.", min=1)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/<config name>).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:k].")] = "auto",
    seed: Annotated[int | None, int_opt("--seed", help="Override the config's seed.", min=0)] = None,
    resume: Annotated[bool, flag("--resume", help="Continue from the last checkpoint in --out.")] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", help="mnist or fashion-mnist.")] = None,
    threads: Annotated[
        int | None, int_opt("--threads", help="CPU threads (default: torch's).", min=1)
    ] = None,
    eval_every: Annotated[
        int, int_opt("--eval-every", help="mnist-lenet FID every k epochs (0: off).", min=0)
    ] = 0,
    results: Annotated[
        Path, typer.Option("--results", help="Results table for --eval-every (.csv or .parquet).")
    ] = DEFAULT_RESULTS,
    tensorboard: Annotated[
        str | None,
        typer.Option(
            "--tensorboard",
            help="TensorBoard logs (losses per step, --eval-every metrics and a sample grid per epoch) in "
            "DIR, default <out>/tensorboard: `--tensorboard [DIR]`.",
            metavar="[DIR]",
        ),
    ] = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Train the reference MNIST GAN (MLP GAN, DCGAN, WGAN-GP or StyleGAN-style); a checkpoint every epoch.

    Example: `gan-eval train --config configs/train/mlp_gan.toml --epochs 5 --out runs/mlp`
    """
    from gan_eval.train import train_from_toml

    if not config.is_file():
        raise UserError(f"--config {config}: no such file")
    hook = None
    if eval_every:
        from gan_eval.pipeline import training_eval_hook
        from gan_eval.results.store import check_results_target

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
        tensorboard=True if tensorboard == OPTIONAL_VALUE else tensorboard,
        **overrides,
    )
    print(last)


@app.command("sample")
@with_options(
    "seed", "device", "z_dim", "value_range", "weights", "weights_key", "arch_args", "no_ema", "as_json"
)
def sample_cmd(
    generator: Annotated[
        str,
        typer.Argument(
            help="Generator: a checkpoint, TorchScript file, or FILE.py:Generator with --weights."
        ),
    ],
    n: Annotated[
        int,
        int_opt(
            "-n", "--n", help="Number of images to sample (default 64, a grid; eval's default 10,000).", min=1
        ),
    ] = 64,
    out: Annotated[
        str,
        typer.Option(
            "-o",
            "--out",
            help="DIR/ (numbered PNGs), X.npz (uint8 NHWC array 'images'), X.zip (PNGs) or X.png (a grid).",
        ),
    ] = "samples.png",
    nrow: Annotated[int, int_opt("--nrow", help="Images per grid row (X.png).", min=1)] = 8,
    quiet: Annotated[bool, flag("--quiet", "-q", help="Print nothing but errors.")] = False,
    *,
    opts: dict[str, Any],
) -> None:
    """Write generated samples: a folder of PNGs, an .npz array, a .zip of PNGs, or a grid PNG.

    These are the images `gan-eval fid --fake GENERATOR --n N --seed S --device D` evaluates (same seed, same
    device, same options), so `gan-eval fid --fake DIR/` gives the same number.

    Example: `gan-eval sample runs/mlp/ckpt_epoch_005.pt -n 10000 -o samples/` (or `-o grid.png`; your own:
    `gan-eval sample gen.py:Generator --weights g.pt -n 10000 -o samples/`)
    """
    from gan_eval.atomic import check_output_target
    from gan_eval.data.export import export_images, output_kind
    from gan_eval.data.generators import generator_source

    output_kind(out)  # a bad -o fails before the generator is loaded
    check_output_target(out, "-o", allow_dir=out.endswith("/") or Path(out).is_dir())
    source = generator_source(
        generator,
        n=n,
        seed=opts["seed"],
        z_dim=opts["z_dim"],
        device=opts["device"],
        use_ema=not opts["no_ema"],
        value_range=parse_range(opts["value_range"]),
        weights=opts["weights"],
        weights_key=opts["weights_key"],
        arch_args=opts["arch_args"],
    )
    written = export_images(source, out, nrow=nrow)
    if opts["as_json"]:
        emit({"path": str(written), "n": n, "seed": opts["seed"], "generator": source.describe()}, True)
    elif not quiet:
        print(written)


# ----------------------------------------------------------------------------- classifier
@classifier_app.command("train")
def classifier_train(
    dataset: Annotated[str, typer.Option("--dataset", help="mnist or fashion-mnist.")] = "mnist",
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights file to write.")] = Path("mnist_lenet.pt"),
    epochs: Annotated[int, int_opt("--epochs", help="Training epochs (shipped recipe: 12).", min=1)] = 12,
    seed: Annotated[int, int_opt("--seed", help="Seed of the initialisation and shuffling.", min=0)] = 0,
    batch_size: Annotated[int, int_opt("--batch-size", help="Images per step.", min=1)] = 128,
    threads: Annotated[int, int_opt("--threads", help="CPU threads (the shipped files used 1).", min=1)] = 1,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="auto, cpu or cuda[:k] (default cpu: the shipped weights are reproduced bit for bit).",
        ),
    ] = "cpu",
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Train the LeNet-style classifier behind `--extractor mnist-lenet`, reproducibly (seeded).

    Example: `gan-eval classifier train --dataset mnist --epochs 12 --seed 0 --threads 1 --out mnist_lenet.pt`
    """
    from gan_eval.features.lenet_train import train_classifier

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


@classifier_app.command("calibrate")
def classifier_calibrate(
    dataset: Annotated[str, typer.Option("--dataset", help="mnist or fashion-mnist.")] = "mnist",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Rule file to write (default: beside --weights, X.recognition.npz)."
        ),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Classifier weights (default: the shipped ones).")
    ] = None,
    threads: Annotated[int, int_opt("--threads", help="CPU threads.", min=1)] = 1,
) -> None:
    """Compute the recognition rule of a classifier (which samples count toward a class at all): class
    Gaussians from the train split, thresholds that keep 99% of the test split. `classifier train` writes it
    for new weights; the shipped rules are recomputed with this command.

    Example: `gan-eval classifier calibrate --dataset mnist -o mnist_lenet.recognition.npz`
    """
    from gan_eval.atomic import check_output_target, sha256_file
    from gan_eval.features.lenet import recognition_path
    from gan_eval.features.lenet_train import calibrate_recognition

    if dataset not in ("mnist", "fashion-mnist"):
        raise UserError(f"--dataset {dataset}: expected mnist or fashion-mnist")
    if out is None and weights is None:
        raise UserError("give --out FILE (the shipped weights' folder is part of the installation)")
    target = out if out is not None else recognition_path(weights)  # type: ignore[arg-type]
    check_output_target(target, "--out")
    rule = calibrate_recognition(dataset, weights=weights, threads=threads)
    path = rule.save(target)
    print(f"{rule.describe()}  sha256 {sha256_file(path)}  -> {path}")
