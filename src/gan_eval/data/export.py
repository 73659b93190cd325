"""Writing images for other tools: a folder of numbered PNGs, an ``.npz`` array, a ``.zip`` of PNGs, or one
PNG grid (``gan-eval sample CKPT -n N -o OUT``).

The format follows ``out``:

- ``DIR/`` (a trailing slash) or an existing directory: ``000000.png``, ``000001.png``, ... (zero-padded to
  at least 6 digits, so name order is sample order); an existing directory must be empty;
- ``X.npz``: one uint8 array ``[N, H, W, C]`` (NHWC, the layout numpy/PIL/TensorFlow users expect) under
  the key ``images``, zip-deflated; ``np.load("X.npz")["images"]`` reads it, and so does gan-eval
  (``--fake X.npz``);
- ``X.zip``: the numbered PNGs inside one zip file (stored: PNG is compressed already);
- ``X.png``: a grid of all images (torchvision's ``make_grid``, ``nrow`` per row), as ``sample`` always did.

PNG is lossless for uint8 images, so every format gives back exactly the images written: evaluating the
export (``gan-eval fid --fake DIR/``) gives the number the generator itself gives. Everything is written
atomically: files to a temporary name then renamed, a folder into a temporary sibling folder then renamed,
so an interrupted export leaves nothing half-written under ``out``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.atomic import atomic_write, current_umask
from gan_eval.data.base import ArraySource, Source
from gan_eval.errors import UserError

FORMATS = ("DIR/ (numbered PNGs)", ".npz (uint8 NHWC array 'images')", ".zip (PNGs)", ".png (a grid)")
NPZ_KEY = "images"
#: Images read from the source at a time (folder, zip and npz exports stream; a grid needs all images).
EXPORT_BATCH = 500


def output_kind(out: str | os.PathLike[str]) -> str:
    """``"folder"``, ``"npz"``, ``"zip"`` or ``"grid"`` for an output spec; UserError for anything else."""
    text = os.fspath(out)
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        return "folder"
    kind = {".npz": "npz", ".zip": "zip", ".png": "grid"}.get(path.suffix.lower())
    if kind is None:
        hint = f"; for a folder of PNGs write {text}/" if not path.suffix else ""
        raise UserError(f"-o {text}: unknown output format{hint}; expected {', '.join(FORMATS)}")
    return kind


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 ``[C, H, W]`` (C = 1 or 3) -> PNG bytes (grayscale or RGB)."""
    from PIL import Image

    arr = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def _checked(batches: Iterable[torch.Tensor], n: int, shape: tuple[int, int, int]) -> Iterator[np.ndarray]:
    """The source's batches as numpy uint8 ``[B, C, H, W]``, checked against its length and shape."""
    seen = 0
    for b in batches:
        arr = b.cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
        if arr.dtype != np.uint8 or arr.ndim != 4 or tuple(arr.shape[1:]) != shape:
            raise ValueError(
                f"expected uint8 batches [B, {', '.join(map(str, shape))}], got {arr.dtype} {arr.shape}"
            )
        seen += arr.shape[0]
        yield arr
    if seen != n:
        raise RuntimeError(f"the source promised {n} images and gave {seen}")


def _names(n: int) -> list[str]:
    width = max(6, len(str(n - 1)))
    return [f"{i:0{width}d}.png" for i in range(n)]


def export_images(
    images: Source | np.ndarray | torch.Tensor,
    out: str | os.PathLike[str],
    *,
    nrow: int = 8,
    batch_size: int = EXPORT_BATCH,
) -> Path:
    """Write ``images`` (a Source, or an array uint8 ``[N, C, H, W]`` with C = 1 or 3) to ``out`` in the
    format its name asks for (module docstring); returns the path written.

    UserError for an unknown format, an existing non-empty folder, or no images.
    """
    kind = output_kind(out)
    source = images if isinstance(images, Source) else ArraySource(torch.as_tensor(images), spec="images")
    n = len(source)
    if n == 0:
        raise UserError(f"-o {os.fspath(out)}: no images to write")
    batches = _checked(source.batches(batch_size), n, source.shape)
    path = Path(out)
    if kind == "folder":
        return _write_folder(batches, n, path)
    if kind == "zip":
        return _write_zip(batches, n, path)
    if kind == "npz":
        return _write_npz(batches, n, source.shape, path)
    return save_image_grid(torch.from_numpy(np.concatenate(list(batches))), path, nrow=nrow)


def _write_folder(batches: Iterator[np.ndarray], n: int, path: Path) -> Path:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        what = "is not a folder" if not path.is_dir() else "is a folder that is not empty"
        raise UserError(f"-o {path}/: {what}; give a new or empty folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        names = iter(_names(n))
        for batch in batches:
            for image in batch:
                (tmp / next(names)).write_bytes(png_bytes(image))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the folder is an ordinary output folder
        try:
            os.replace(tmp, path)  # replaces an empty folder; fails if one appeared with files in it
        except OSError as e:
            raise UserError(f"-o {path}/: cannot move the images into place ({e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_zip(batches: Iterator[np.ndarray], n: int, path: Path) -> Path:
    def write(tmp: Path) -> None:
        names = iter(_names(n))
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for batch in batches:
                for image in batch:
                    zf.writestr(next(names), png_bytes(image))

    return atomic_write(path, write, checksum=False)


def _write_npz(batches: Iterator[np.ndarray], n: int, shape: tuple[int, int, int], path: Path) -> Path:
    """Stream the batches into ``images.npy`` inside the zip (the layout ``np.savez_compressed`` writes), so
    the whole array is never held in memory."""
    c, h, w = shape
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
        "fortran_order": False,
        "shape": (n, h, w, c),
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with zf.open(f"{NPZ_KEY}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, header)
                for batch in batches:
                    f.write(np.ascontiguousarray(batch.transpose(0, 2, 3, 1)).tobytes())

    return atomic_write(path, write, checksum=False)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> Path:
    """Write uint8 ``[N, C, H, W]`` images as one PNG grid (torchvision's make_grid), atomically."""
    from PIL import Image
    from torchvision.utils import make_grid

    grid = make_grid(
        torch.as_tensor(images).cpu(), nrow=nrow, padding=padding, pad_value=0
    )  # uint8 [3, H', W']
    pil = Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy())

    def write(tmp: Path) -> None:
        pil.save(tmp, format="PNG")

    return atomic_write(Path(path), write, checksum=False)


def sample_grid(
    spec: str,
    n: int = 64,
    out: str | Path = "grid.png",
    seed: int = 0,
    nrow: int = 8,
    **generator_options: Any,
) -> Path:
    """Sample ``n`` images from a generator spec; write them as one PNG grid (``nrow`` per row), atomically.

    ``generator_options`` as for :func:`gan_eval.data.generators.generator_source` (``device``,
    ``use_ema``, ``z_dim``, ``value_range``).
    """
    from gan_eval.data.generators import generator_source

    source = generator_source(spec, n=n, seed=seed, **generator_options)
    images = torch.cat(list(source.batches(max(1, n))))
    return save_image_grid(images, out, nrow=nrow)
