"""``gan-eval data``: a dataset gan-eval can load (offline) written for other tools.

- ``torchvision``: ``ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (``FashionMNIST/raw``
  for fashion-mnist), the files ``torchvision.datasets.MNIST(ROOT, download=False)`` reads, so a tutorial's
  training script runs with no internet. IDX as Yann LeCun's files store it: a big-endian magic number
  (``0x00000803`` images, ``0x00000801`` labels), the sizes, then the uint8 pixels or labels.
- ``png``: ``OUT/train/<label>/00000.png`` ... (and ``OUT/test/``): torchvision's ``ImageFolder`` layout,
  and a folder ``gan-eval fid`` takes as ``--real OUT/test``.

Files are written to a temporary name and renamed; a PNG split is written into a temporary folder that is
renamed into place, so an interrupted export leaves nothing half-written under its final name.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from gan_eval.atomic import atomic_write_bytes, current_umask
from gan_eval.errors import UserError

FORMATS = ("torchvision", "png")
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (``[N, H, W]`` images or ``[N]`` labels)."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write_torchvision(name: str, root: Path, splits: tuple[str, ...], data_root: str | None) -> list[Path]:
    """IDX files of ``splits`` under ``root`` in torchvision's raw layout; returns the files written."""
    from gan_eval.data.datasets import DATASETS, load_arrays

    raw = root / DATASETS[name].torchvision_folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    written = []
    for split in splits:
        images, labels = load_arrays(name, split, data_root)
        for what, arr in (("images-idx3", images), ("labels-idx1", labels)):
            path = raw / f"{SPLIT_PREFIX[split]}-{what}-ubyte"
            data = idx_bytes(arr)
            atomic_write_bytes(path, data, checksum=False)
            written.append(path)
    return written


def write_png_folders(
    name: str, out: Path, splits: tuple[str, ...], data_root: str | None, progress: bool = True
) -> list[Path]:
    """``out/<split>/<label>/<index>.png`` for each split; returns the split folders written. A split folder
    that exists and is not empty is refused (nothing is written then)."""
    from gan_eval.data.datasets import load_arrays
    from gan_eval.data.export import png_bytes
    from gan_eval.runtime import Progress

    targets = [out / split for split in splits]
    for t in targets:
        if t.exists() and (not t.is_dir() or any(t.iterdir())):
            raise UserError(f"-o {out}: {t} exists and is not an empty folder; give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, target in zip(splits, targets, strict=True):
        images, labels = load_arrays(name, split, data_root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{split}.", suffix=".tmp", dir=out))
        try:
            width = len(str(len(images) - 1))
            with Progress(f"{name}:{split} -> {target}", len(images), unit="images", enabled=progress) as bar:
                for label in np.unique(labels):
                    (tmp / str(int(label))).mkdir()
                for i, (image, label) in enumerate(zip(images, labels, strict=True)):
                    (tmp / str(int(label)) / f"{i:0{width}d}.png").write_bytes(png_bytes(image[None]))
                    if (i + 1) % 1000 == 0 or i + 1 == len(images):
                        bar.update(i + 1)
            os.chmod(tmp, 0o777 & ~current_umask())
            os.replace(tmp, target)  # replaces an empty folder
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        written.append(target)
    return written
