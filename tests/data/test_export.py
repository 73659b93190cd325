"""Exporting images (``gan-eval sample -o``): every format gives back exactly the images written, is written
atomically, refuses what it cannot write, and the round trip through ``gan-eval fid`` reproduces the
checkpoint's own number."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.data import ArraySource, Source, parse_source
from gan_eval.data.export import _names, export_images, output_kind
from gan_eval.errors import UserError

CKPT = "tests/data/mlp_gan_mnist.pt"


def read_back(spec: Path | str) -> np.ndarray:
    """uint8 [N, C, H, W] as gan-eval's own sources read it."""
    src = parse_source(str(spec))
    return torch.cat(list(src.batches(64))).numpy()


@pytest.fixture(params=[1, 3], ids=["gray", "rgb"])
def images(request, rng) -> np.ndarray:
    return rng.integers(0, 256, size=(37, request.param, 12, 10), dtype=np.uint8)


@pytest.mark.parametrize("out", ["dir/", "x.npz", "x.zip"])
def test_formats_give_back_the_images(tmp_path, images, out):
    path = export_images(images, f"{tmp_path}/{out}", batch_size=16)  # streamed in 3 batches
    np.testing.assert_array_equal(read_back(path), images)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_folder_and_zip_hold_numbered_pngs(tmp_path, images):
    folder = export_images(images, f"{tmp_path}/new/dir/")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i:06d}.png" for i in range(37)]
    with Image.open(folder / "000005.png") as im:
        assert im.mode == ("L" if images.shape[1] == 1 else "RGB") and im.size == (10, 12)
    with zipfile.ZipFile(export_images(images, tmp_path / "x.zip")) as zf:
        assert zf.namelist() == names
    assert _names(1_000_001)[-1] == "1000000.png" and _names(10)[0] == "000000.png"


def test_npz_is_a_plain_numpy_nhwc_array(tmp_path, images):
    path = export_images(images, tmp_path / "x.npz", batch_size=10)
    with np.load(path) as z:  # what a numpy user does
        assert z.files == ["images"]
        arr = z["images"]
    assert arr.dtype == np.uint8 and arr.shape == (37, 12, 10, images.shape[1])
    np.testing.assert_array_equal(arr, images.transpose(0, 2, 3, 1))


def test_grid_is_torchvisions_make_grid(tmp_path, images):
    from torchvision.utils import make_grid

    path = export_images(images, tmp_path / "g.png", nrow=5)
    expected = make_grid(torch.from_numpy(images), nrow=5, padding=2, pad_value=0).permute(1, 2, 0).numpy()
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), expected)


def test_existing_folders(tmp_path, images):
    empty = tmp_path / "empty"
    empty.mkdir()
    export_images(images, empty)  # an existing directory is a folder, trailing slash or not; empty is fine
    assert len(list(empty.iterdir())) == 37
    with pytest.raises(UserError, match="is a folder that is not empty"):
        export_images(images, empty)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        export_images(images, str(tmp_path / "file") + "/")


@pytest.mark.parametrize(
    "out, message",
    [
        ("x.jpg", "unknown output format; expected DIR/"),
        ("x.npy", "unknown output format"),
        ("samples", "for a folder of PNGs write samples/"),
    ],
)
def test_unknown_formats_are_refused(tmp_path, out, message):
    with pytest.raises(UserError, match=message):
        output_kind(tmp_path / out if "/" in out else out)
    with pytest.raises(UserError, match=message):
        export_images(np.zeros((2, 1, 4, 4), np.uint8), out)


class Failing(Source):
    """Two good batches, then an error: nothing may be left under the output path."""

    spec = identity = "failing"
    shape = (1, 4, 4)

    def __len__(self) -> int:
        return 30

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        yield torch.zeros(10, 1, 4, 4, dtype=torch.uint8)
        yield torch.zeros(10, 1, 4, 4, dtype=torch.uint8)
        raise OSError("disk on fire")


@pytest.mark.parametrize("out", ["dir/", "x.npz", "x.zip", "g.png"])
def test_interrupted_export_leaves_nothing(tmp_path, out):
    with pytest.raises(OSError, match="disk on fire"):
        export_images(Failing(), f"{tmp_path}/{out}", batch_size=10)
    assert list(tmp_path.iterdir()) == []


def test_source_count_is_checked(tmp_path):
    class Liar(ArraySource):  # promises more images than it gives
        def __len__(self) -> int:
            return 6

    with pytest.raises(RuntimeError, match="promised 6 images and gave 5"):
        export_images(Liar(np.zeros((5, 1, 4, 4), np.uint8), spec="x"), tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_nhwc_and_nchw_arrays_give_the_same_features(tmp_path, rng):
    """An NHWC grayscale array read as NCHW must not keep the strides (HW, 1, W, 1) of a transposed view:
    torch takes them for channels_last and its convolutions then give other bits."""
    from gan_eval.features import build_extractor

    x = rng.integers(0, 256, size=(64, 1, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "nchw.npz", images=x)
    np.savez(tmp_path / "nhwc.npz", images=x.transpose(0, 2, 3, 1))
    a, b = (next(parse_source(str(tmp_path / f)).batches(64)) for f in ("nchw.npz", "nhwc.npz"))
    assert torch.equal(a, b) and b.stride() == a.stride() == (784, 784, 28, 1)
    lenet = build_extractor("mnist-lenet", device="cpu").eval()
    with torch.inference_mode():
        assert torch.equal(lenet(a)["features"], lenet(b)["features"])


# ------------------------------------------------------------------------------- the CLI round trip


@pytest.fixture
def mnist_cache(tmp_cache):
    """A private cache holding MNIST from the shared one when it is there (else it is fetched as usual)."""
    shared = Path.home() / ".cache" / "gan-eval" / "datasets"
    if (shared / "mnist-test.npz").is_file():
        (tmp_cache / "datasets").mkdir(parents=True)
        for name in ("mnist-test.npz", "mnist-test.npz.sha256"):
            shutil.copy(shared / name, tmp_cache / "datasets" / name)
    return tmp_cache


def fid_json(*args: str) -> float:
    r = CliRunner().invoke(
        app, ["fid", "--real", "mnist:test", "--extractor", "mnist-lenet", *args, "--json", "-q", "--no-save"]
    )
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["values"]["fid"]


def test_sample_export_round_trip_through_fid(tmp_path, mnist_cache):
    """`gan-eval sample CKPT -n N -o OUT` then `gan-eval fid --fake OUT` equals `gan-eval fid --fake CKPT`
    exactly: both feed the extractor the same uint8 images (PNG and the npz are lossless, the folder and zip
    are read in name order = sample order) in the same batches, so the features, their float64 moments and
    the FID are computed by the same operations on the same numbers."""
    n = "300"
    batch = ["--batch-size", "128"]  # several extractor batches, the last one short
    reference = fid_json("--fake", CKPT, "--n", n, "--device", "cpu", *batch)
    runner = CliRunner()
    for out in ("samples/", "samples.npz", "samples.zip"):
        target = f"{tmp_path}/{out}"
        r = runner.invoke(app, ["sample", CKPT, "-n", n, "-o", target])
        assert r.exit_code == 0, r.output
        assert fid_json("--fake", target, *batch) == reference, out
    grid = tmp_path / "grid.png"
    assert runner.invoke(app, ["sample", CKPT, "-n", "16", "-o", str(grid)]).exit_code == 0
    with Image.open(grid) as im:
        assert im.size == (8 * 30 + 2, 2 * 30 + 2)  # 16 digits, 8 per row, 2 px padding


def test_sample_bad_output_fails_before_loading(tmp_path):
    r = CliRunner().invoke(app, ["sample", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.jpg")])
    assert r.exit_code == 2 and "unknown output format" in r.stderr and "missing.pt" not in r.stderr
