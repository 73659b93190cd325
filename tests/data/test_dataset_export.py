"""`gan-eval data`: MNIST in torchvision's raw layout (read back by torchvision itself, offline) and as PNG
folders (read back by gan-eval and by torchvision's ImageFolder)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.data import dataset_export
from gan_eval.data.dataset_export import idx_bytes
from gan_eval.data.datasets import load_arrays, read_idx


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_idx_encoding_round_trips_through_the_reader(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    for arr, magic in ((images, b"\x00\x00\x08\x03"), (labels, b"\x00\x00\x08\x01")):
        data = idx_bytes(arr)
        assert data[:4] == magic  # LeCun's magic numbers: unsigned bytes, 3 or 1 dimensions
        (tmp_path / "x.gz").write_bytes(gzip.compress(data))
        assert np.array_equal(read_idx(tmp_path / "x.gz"), arr)


def test_torchvision_layout_is_what_torchvision_reads_offline(tmp_path):
    from torchvision.datasets import MNIST

    r = _cli("data", "mnist", "--format", "torchvision", "--root", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    raw = tmp_path / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        f"{s}-{w}-ubyte" for s in ("train", "t10k") for w in ("images-idx3", "labels-idx1")
    )
    # the official files' sizes; their pixels and labels are the verified arrays (sha256-checked on load)
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 47040016
    for split in ("train", "test"):
        ds = MNIST(str(tmp_path), train=split == "train", download=False)
        images, labels = load_arrays("mnist", split)
        assert torch.equal(ds.data, torch.from_numpy(images)) and torch.equal(
            ds.targets, torch.from_numpy(labels).long()
        )


def test_png_folders_are_an_image_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    tiny = {
        "train": (rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 3),
        "test": (rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8), np.arange(5, dtype=np.uint8) % 2),
    }
    monkeypatch.setattr("gan_eval.data.datasets.load_arrays", lambda name, split, root=None: tiny[split])
    r = _cli("data", "mnist", "--format", "png", "-o", str(tmp_path / "png"), "-q")
    assert r.exit_code == 0, r.output
    from torchvision.datasets import ImageFolder

    folder = ImageFolder(str(tmp_path / "png" / "train"))
    assert folder.classes == ["0", "1", "2"] and len(folder) == 12
    from gan_eval.data import parse_source

    src = parse_source(str(tmp_path / "png" / "test"))
    got = torch.cat(list(src.batches(10)))[:, 0].numpy()
    order = np.argsort([f"{lab}/{i}" for i, lab in enumerate(tiny["test"][1])])  # sorted by relative path
    assert np.array_equal(got, tiny["test"][0][order])
    again = _cli("data", "mnist", "--format", "png", "-o", str(tmp_path / "png"))
    assert again.exit_code == 2 and "not an empty folder" in again.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["data", "svhn", "--format", "png", "-o", "x"], "unknown dataset"),
        (["data", "mnist", "--format", "tfrecord", "--root", "x"], "--format tfrecord"),
        (["data", "mnist", "--format", "torchvision", "-o", "x"], "--root"),
        (["data", "mnist", "--format", "png", "--root", "x"], "-o DIR"),
        (["data", "mnist", "--format", "png", "-o", "x", "--split", "val"], "--split val"),
    ],
)
def test_bad_data_arguments_are_one_line(tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    r = _cli(*args)
    assert r.exit_code == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written
    assert dataset_export.FORMATS == ("torchvision", "png")
