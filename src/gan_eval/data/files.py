"""Image folders, zip files of images and ``.npz``/``.npy`` arrays as sources."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_eval.data.base import RANGE_TOLERANCE, ArraySource, Source, content_hash, subset_indices
from gan_eval.errors import UserError, describe_exception
from gan_eval.limits import check_value_range

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _decode(data: bytes | Path, name: str, spec: str, expect_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one image to uint8 ``[C, H, W]``; grayscale stays 1 channel, everything else becomes RGB.

    16-bit grayscale (PNG ``I;16``) keeps its high byte (``>> 8``), as PIL does for 16-bit RGB and as
    torchvision's ``ToDtype(torch.uint8, scale=True)`` does; it is not clipped to 255.
    ``expect_hw``: the size every image must have, checked from the header before any pixel is decoded (a
    huge image in a folder of small ones costs nothing). Pillow's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``) applies: images over twice that are refused unread.
    """
    try:
        with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as opened:
            w, h = opened.size
            if expect_hw is not None and (h, w) != expect_hw:
                raise UserError(
                    f"{spec}: mixed image sizes: {name} is {w}x{h}, the first image is "
                    f"{expect_hw[1]}x{expect_hw[0]} (a sample grid among single images? resize them to one "
                    "size, or remove the odd ones)"
                )
            opened.load()
            arr = _pixels_uint8(opened)
    except UserError:
        raise
    except Image.DecompressionBombError as e:
        raise UserError(f"{spec}: image {name} is too large to decode safely ({e})") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types (OSError, SyntaxError, struct.error...)
        raise UserError(f"{spec}: cannot read image {name} ({describe_exception(e)})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _pixels_uint8(im: Image.Image) -> np.ndarray:
    """uint8 ``[H, W]`` (grayscale) or ``[H, W, 3]`` of an opened, loaded image."""
    if im.mode.startswith("I;16"):  # 16-bit grayscale, any byte order
        return (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
    if im.mode == "I":  # 32-bit integer: 16-bit PNGs in older Pillow (values 0..65535)
        return (np.clip(np.asarray(im).astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
    if im.mode in ("1", "F"):
        im = im.convert("L")
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


class _EncodedImagesSource(Source):
    """Images decoded lazily in batches on a small thread pool (PIL releases the GIL while decoding)."""

    names: list[str]

    def _read(self, i: int) -> bytes | Path:
        raise NotImplementedError

    def _finish_init(self, spec: str, kind: str, limit: int | None, seed: int, workers: int) -> None:
        if not self.names:
            raise UserError(f"{spec}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
        idx = subset_indices(len(self.names), limit, seed)
        self.index = list(range(len(self.names))) if idx is None else [int(i) for i in idx]
        self.spec, self.kind, self.workers = spec, kind, workers
        first = _decode(self._read(self.index[0]), self.names[self.index[0]], spec)
        self.shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self.index)

    def _decode_checked(self, i: int) -> np.ndarray:
        arr = _decode(self._read(i), self.names[i], self.spec, expect_hw=(self.shape[1], self.shape[2]))
        if arr.shape[0] != self.shape[0]:  # mixed gray/RGB: promote gray to RGB, keep RGB
            arr = np.repeat(arr, 3, axis=0) if arr.shape[0] == 1 else arr
            if self.shape[0] == 1:
                raise UserError(f"{self.spec}: mixes grayscale and color images ({self.names[i]} is RGB)")
        return arr

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Decode batch k+1 (and k+2) on the pool while the caller works on batch k; at most ``workers`` + 1
        batches are held in memory whatever the folder's size."""

        def decode(chunk: list[int]) -> np.ndarray:
            return np.stack([self._decode_checked(i) for i in chunk])

        chunks = [self.index[s : s + batch_size] for s in range(0, len(self.index), batch_size)]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending: deque[Future[np.ndarray]] = deque()
            for chunk in chunks:
                pending.append(pool.submit(decode, chunk))
                if len(pending) > self.workers:
                    yield torch.from_numpy(pending.popleft().result())
            while pending:
                yield torch.from_numpy(pending.popleft().result())


class FolderSource(_EncodedImagesSource):
    """All images under a folder (recursive, sorted by relative path for determinism)."""

    def __init__(self, folder: Path, *, spec: str, limit: int | None = None, seed: int = 0, workers: int = 2):
        if not folder.is_dir():
            raise UserError(f"{spec}: no such folder")
        self.folder = folder
        files = sorted(
            (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
            key=lambda p: p.relative_to(folder).as_posix(),
        )
        self.names = [p.relative_to(folder).as_posix() for p in files]
        self._finish_init(spec, "folder", limit, seed, workers)
        h = hashlib.sha256()
        for i in self.index:  # content hash: names and bytes of the selected files
            h.update(self.names[i].encode() + b"\0")
            h.update(hashlib.sha256((folder / self.names[i]).read_bytes()).digest())
        self.identity = f"folder:{h.hexdigest()[:16]}"

    def _read(self, i: int) -> Path:
        return self.folder / self.names[i]


#: A zip member that declares more bytes than this is refused before it is read: an uncompressed 8-bit RGB
#: image at Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, 89.5 Mpx) is 256 MiB.
ZIP_MEMBER_MAX_BYTES = 256 * 2**20


class ZipSource(_EncodedImagesSource):
    """All images inside a zip file (sorted by member name), read member by member when they are hashed or
    decoded: at most the members of the batches in flight are in memory, whatever the zip's size (the
    whole zip used to be decompressed into memory first). Every image member's declared size is checked
    against :data:`ZIP_MEMBER_MAX_BYTES` before any is read, and zipfile reads no more than a member
    declares (a member that holds more fails its CRC check)."""

    def __init__(self, path: Path, *, spec: str, limit: int | None = None, seed: int = 0, workers: int = 2):
        if not path.is_file():
            raise UserError(f"{spec}: no such file")
        try:
            self._zip = zipfile.ZipFile(path)
            infos = {
                i.filename: i
                for i in self._zip.infolist()
                if i.filename.lower().endswith(IMAGE_EXTENSIONS) and not i.is_dir()
            }
        except Exception as e:  # noqa: BLE001 - BadZipFile, OSError, NotImplementedError (compression), ...
            raise UserError(f"{spec}: not a readable zip file ({describe_exception(e)})") from None
        for info in infos.values():
            if info.file_size > ZIP_MEMBER_MAX_BYTES:
                raise UserError(
                    f"{spec}: member {info.filename} declares {info.file_size:,} bytes, more than an image "
                    f"gan-eval decodes ({ZIP_MEMBER_MAX_BYTES:,} bytes)"
                )
        self.names, self._infos, self._lock = sorted(infos), infos, threading.Lock()
        self._finish_init(spec, "zip", limit, seed, workers)
        h = hashlib.sha256()
        for i in self.index:  # content hash, one member at a time
            h.update(self.names[i].encode() + b"\0" + hashlib.sha256(self._read(i)).digest())
        self.identity = f"zip:{h.hexdigest()[:16]}"

    def _read(self, i: int) -> bytes:
        name = self.names[i]
        try:
            with self._lock:  # one reader of the shared file at a time; decoding runs outside the lock
                return self._zip.read(self._infos[name])
        except Exception as e:  # noqa: BLE001 - BadZipFile (CRC), zlib.error, OSError, ...
            raise UserError(f"{self.spec}: cannot read member {name} ({describe_exception(e)})") from None


def to_nchw_uint8(arr: np.ndarray, *, spec: str, value_range: Sequence[float] | None = None) -> np.ndarray:
    """Normalise an image array to uint8 ``[N, C, H, W]``.

    Accepts ``[N, H, W]`` (grayscale), ``[N, C, H, W]`` or ``[N, H, W, C]`` with C in (1, 3). uint8 is taken
    as is. Float arrays are taken to lie in ``value_range=(lo, hi)`` (default ``(-1, 1)``; values all inside
    [0, 1] are then refused as a likely [0, 1] array) and quantized like saving a PNG:
    ``round(255 * (x - lo) / (hi - lo))``, clamped to 0..255.
    """
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise UserError(
            f"{spec}: expected images [N, H, W], [N, C, H, W] or [N, H, W, C], got shape {list(arr.shape)}"
        )
    if arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3):
        # a copy, not a view: the view of an NHWC grayscale array has strides (HW, 1, W, 1), which torch takes
        # for channels_last, so convolutions would take another path and the features change by ~1e-6
        arr = arr.transpose(0, 3, 1, 2).copy()
    if arr.shape[1] not in (1, 3):
        raise UserError(f"{spec}: expected 1 or 3 channels, got shape {list(arr.shape)}")
    if arr.shape[0] == 0:
        raise UserError(f"{spec}: the array holds no images")
    if arr.shape[2] == 0 or arr.shape[3] == 0:
        raise UserError(f"{spec}: the images have no pixels (shape {list(arr.shape)})")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = (
            (-1.0, 1.0) if value_range is None else check_value_range(f"{spec}: --value-range", value_range)
        )
        if not np.isfinite(arr).all():
            raise UserError(f"{spec}: the array contains NaN or infinite values")
        tol = RANGE_TOLERANCE * (hi - lo)
        vmin, vmax = float(arr.min()), float(arr.max())
        if vmin < lo - tol or vmax > hi + tol:
            raise UserError(
                f"{spec}: values span [{vmin:.4g}, {vmax:.4g}], outside the "
                f"{'assumed' if value_range is None else 'declared'} range [{lo:g}, {hi:g}] "
                "(pass the right --value-range, e.g. 0,1 or 0,255)"
            )
        if value_range is None and vmin >= -tol:
            raise UserError(
                f"{spec}: float values span [{vmin:.4g}, {vmax:.4g}], all inside [0, 1], while "
                "--value-range -1,1 is assumed; pass --value-range 0,1 (or -1,1 to confirm)"
            )
        q = np.rint((arr.astype(np.float64) - lo) * (255.0 / (hi - lo)))
        return np.clip(q, 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
        if arr.min() < 0 or arr.max() > 255:
            raise UserError(f"{spec}: integer images must lie in 0..255, got [{arr.min()}, {arr.max()}]")
        return arr.astype(np.uint8)
    raise UserError(f"{spec}: unsupported array dtype {arr.dtype}")


def load_array_file(path: Path, *, spec: str, value_range: Sequence[float] | None = None) -> np.ndarray:
    """The images of a ``.npy`` or ``.npz`` file as uint8 ``[N, C, H, W]`` (see :func:`to_nchw_uint8` and
    :func:`read_array_file`)."""
    return to_nchw_uint8(read_array_file(path, spec=spec), spec=spec, value_range=value_range)


def read_array_file(path: Path, *, spec: str) -> np.ndarray:
    """The image array of a ``.npy`` or ``.npz`` file, as stored.

    A ``.npz`` is searched for ``images``, ``x``, ``samples`` or ``arr_0``, else its only array. Never
    unpickles (``allow_pickle=False``). A statistics file or a cached features file is refused with a message
    that says what it is.
    """
    if not path.is_file():
        raise UserError(f"{spec}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            arr = loaded
        else:
            with loaded as z:
                keys = list(z.keys())
                if "mu" in keys and ("sigma" in keys or "sigma_triu" in keys):
                    raise UserError(
                        f"{spec}: is a statistics file (mu, sigma), not images; pass it as --real"
                    )
                if "features" in keys and set(keys) <= {"features", "logits", "key"}:
                    raise UserError(f"{spec}: holds extracted features (a gan-eval cache file), not images")
                key = next((k for k in ("images", "x", "samples", "arr_0") if k in keys), None)
                if key is None and len(keys) == 1:
                    key = keys[0]
                if key is None:
                    raise UserError(
                        f"{spec}: no image array found "
                        f"(keys {keys[:10]}; expected 'images', 'x' or one array)"
                    )
                arr = z[key]
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"{spec}: the array is too large to load into memory") from None
    except Exception as e:  # noqa: BLE001 - numpy/zipfile/zlib raise many types for a damaged file
        raise UserError(f"{spec}: not a readable {path.suffix} file ({describe_exception(e)})") from None
    return arr


def array_source(path: Path, *, spec: str, value_range=None, limit=None, seed: int = 0) -> ArraySource:
    raw = read_array_file(path, spec=spec)
    arr = to_nchw_uint8(raw, spec=spec, value_range=value_range)
    src = ArraySource(arr, spec=spec, identity=f"array:{content_hash(arr)}", kind="array")
    src.value_range = raw_range(raw, value_range)
    return src.subset(limit, seed)


def raw_range(raw: np.ndarray, value_range: Sequence[float] | None) -> tuple[float, float] | None:
    """The range a float array was quantized from (part of the fingerprint), None for integer arrays."""
    if not np.issubdtype(raw.dtype, np.floating):
        return None
    return (-1.0, 1.0) if value_range is None else (float(value_range[0]), float(value_range[1]))
