"""MNIST through the real offline path, with counts and checksums; the cache's corruption handling."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from gan_eval import atomic
from gan_eval.data import parse_source
from gan_eval.data.datasets import FASHION_MNIST, MNIST, _cache_path, _load_cache, _sha, load_arrays
from gan_eval.errors import UserError


@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_counts_and_checksums(split):
    images, labels = load_arrays("mnist", split)
    assert images.shape == (sum(MNIST.class_counts[split]), 28, 28) and images.dtype == np.uint8
    assert tuple(np.bincount(labels, minlength=10)) == MNIST.class_counts[split]
    assert (_sha(images), _sha(labels)) == MNIST.sha256[split]


def test_spec_forms():
    assert len(parse_source("mnist")) == 60000
    assert len(parse_source("mnist:train")) == 60000
    src = parse_source("mnist:test")
    assert len(src) == 10000 and src.shape == (1, 28, 28)
    assert src.identity.startswith("mnist:test@")


def _write_idx(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    prefix = {"train": "train", "test": "t10k"}[split]
    folder.mkdir(parents=True, exist_ok=True)
    for what, arr, magic in (("images", images, 0x0803), ("labels", labels, 0x0801)):
        header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
        name = f"{prefix}-{what}-idx{3 if what == 'images' else 1}-ubyte"
        data = header + arr.tobytes()
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def test_idx_files_under_data_root_are_used_and_verified(tmp_path):
    images, labels = load_arrays("mnist", "test")
    _write_idx(tmp_path / "MNIST" / "raw", "test", images, labels, gz=True)
    x, y = load_arrays("mnist", "test", root=tmp_path)
    assert np.array_equal(x, images) and np.array_equal(y, labels)
    tampered = images.copy()
    tampered[0, 0, 0] ^= 1
    _write_idx(tmp_path / "plain", "test", tampered, labels, gz=False)
    with pytest.raises(UserError, match="checksum"):
        load_arrays("mnist", "test", root=tmp_path / "plain")


def test_corrupt_cache_file_is_removed_and_rebuilt(tmp_cache, tmp_path):
    # seed the private cache from IDX files, then corrupt the cached array
    images, labels = load_arrays("mnist", "test")
    atomic.atomic_write(
        _cache_path(MNIST, "test"), lambda p: np.savez(p.open("wb"), images=images, labels=labels)
    )
    path = _cache_path(MNIST, "test")
    assert atomic.verified(path) == path
    cached = _load_cache(MNIST, "test")  # read through atomic.read_verified: one read, checked
    assert cached is not None
    np.testing.assert_array_equal(cached[0], images)
    np.testing.assert_array_equal(cached[1], labels)
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.warns(UserWarning, match="does not match its checksum"):
        assert atomic.read_verified(path) is None
    assert not path.exists()
    atomic.atomic_write(path, lambda p: np.savez(p.open("wb"), images=images, labels=labels))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="does not match its checksum"):
        assert atomic.verified(path) is None
    assert not path.exists()


def test_fashion_mnist_when_available():
    if not any(Path(d).is_dir() for d in FASHION_MNIST.system_dirs):
        pytest.skip("Debian's dataset-fashion-mnist is not installed (make data-fashion)")
    images, labels = load_arrays("fashion-mnist", "test")
    assert tuple(np.bincount(labels, minlength=10)) == (1000,) * 10
    assert len(parse_source("fashion-mnist")) == 60000


def test_missing_data_root():
    with pytest.raises(UserError, match="no such folder"):
        load_arrays("mnist", "test", root="/nonexistent/where")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"

    def boom(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(target, boom)
    assert list(tmp_path.iterdir()) == []
    shutil.rmtree(tmp_path, ignore_errors=True)
