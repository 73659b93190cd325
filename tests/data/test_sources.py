import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.data import parse_source, subset_indices
from gan_eval.data.files import to_nchw_uint8
from gan_eval.errors import UserError


def _write_pngs(folder, images, nested=False):
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        sub = folder / f"d{i % 2}" if nested else folder
        sub.mkdir(exist_ok=True)
        mode = "L" if im.ndim == 2 else "RGB"
        Image.fromarray(im, mode=mode).save(sub / f"img_{i:03d}.png")


def _collect(src, batch_size=3):
    return torch.cat(list(src.batches(batch_size)))


@pytest.fixture
def gray(rng):
    return rng.integers(0, 256, size=(7, 12, 10), dtype=np.uint8)


def test_folder_source_recursive_sorted_and_lossless(tmp_path, gray):
    _write_pngs(tmp_path / "imgs", gray, nested=True)
    src = parse_source(str(tmp_path / "imgs"))
    assert len(src) == 7 and src.shape == (1, 12, 10)
    got = _collect(src)
    # sorted by relative path: d0/... (even indices) then d1/... (odd indices)
    order = [i for i in range(7) if i % 2 == 0] + [i for i in range(7) if i % 2 == 1]
    assert torch.equal(got[:, 0], torch.from_numpy(gray[order]))
    assert src.identity == parse_source(str(tmp_path / "imgs")).identity


def test_folder_identity_changes_with_content(tmp_path, gray):
    _write_pngs(tmp_path / "a", gray)
    before = parse_source(str(tmp_path / "a")).identity
    Image.fromarray(255 - gray[0]).save(tmp_path / "a" / "img_000.png")
    assert parse_source(str(tmp_path / "a")).identity != before


def test_rgb_folder_and_zip_give_same_images(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(5, 9, 9, 3), dtype=np.uint8)
    _write_pngs(tmp_path / "rgb", rgb)
    with zipfile.ZipFile(tmp_path / "rgb.zip", "w") as zf:
        for p in sorted((tmp_path / "rgb").iterdir()):
            zf.write(p, arcname=f"inner/{p.name}")
    a = _collect(parse_source(str(tmp_path / "rgb")))
    b = _collect(parse_source(str(tmp_path / "rgb.zip")))
    assert a.shape == (5, 3, 9, 9)
    assert torch.equal(a, b)
    assert torch.equal(a, torch.from_numpy(rgb.transpose(0, 3, 1, 2)))


@pytest.mark.parametrize("layout", ["nhw", "nchw", "nhwc"])
def test_npz_layouts(tmp_path, gray, layout):
    arr = {"nhw": gray, "nchw": gray[:, None], "nhwc": gray[..., None]}[layout]
    np.savez(tmp_path / "x.npz", images=arr)
    src = parse_source(str(tmp_path / "x.npz"))
    assert torch.equal(_collect(src)[:, 0], torch.from_numpy(gray))


def test_float_arrays_take_minus_one_one_and_quantize_like_png(tmp_path, gray):
    x = gray.astype(np.float32) / 127.5 - 1.0
    np.save(tmp_path / "f.npy", x)
    src = parse_source(str(tmp_path / "f.npy"))  # (-1, 1) assumed, and the values fit it
    assert torch.equal(_collect(src)[:, 0], torch.from_numpy(gray)) and src.value_range == (-1.0, 1.0)
    src = parse_source(str(tmp_path / "f.npy"), value_range=(-1, 1))
    assert torch.equal(_collect(src)[:, 0], torch.from_numpy(gray))
    with pytest.raises(UserError, match="outside the declared range"):
        to_nchw_uint8(x * 3, spec="x", value_range=(-1, 1))
    with pytest.raises(UserError, match="outside the assumed range"):
        to_nchw_uint8(x * 3, spec="x")


def test_float_arrays_in_zero_one_are_refused_unless_the_range_is_given(tmp_path, gray):
    x = gray.astype(np.float32) / 255.0
    np.save(tmp_path / "f.npy", x)
    with pytest.raises(UserError, match=r"all inside \[0, 1\].*--value-range 0,1"):
        parse_source(str(tmp_path / "f.npy"))
    src = parse_source(str(tmp_path / "f.npy"), value_range=(0, 1))
    assert torch.equal(_collect(src)[:, 0], torch.from_numpy(gray)) and src.value_range == (0.0, 1.0)
    assert parse_source(str(tmp_path / "f.npy"), value_range=(-1, 1)).value_range == (-1.0, 1.0)  # confirmed
    np.savez(tmp_path / "u.npz", images=gray)
    assert parse_source(str(tmp_path / "u.npz")).value_range is None  # stored as integers: nothing assumed


def test_limit_is_seeded_and_stable(tmp_path, gray):
    np.savez(tmp_path / "x.npz", images=gray)
    a = parse_source(str(tmp_path / "x.npz"), limit=3, seed=5)
    b = parse_source(str(tmp_path / "x.npz"), limit=3, seed=5)
    c = parse_source(str(tmp_path / "x.npz"), limit=3, seed=6)
    assert len(a) == 3 and torch.equal(_collect(a), _collect(b))
    assert a.identity == b.identity != c.identity
    idx = subset_indices(100, 10, seed=0)
    assert len(set(idx.tolist())) == 10 and list(idx) == sorted(idx)


@pytest.mark.parametrize(
    "make, spec, message",
    [
        (lambda p: None, "nope/missing_folder", "no such file or folder"),
        (lambda p: (p / "empty").mkdir(), "empty", "no images found"),
        (lambda p: (p / "bad.zip").write_bytes(b"not a zip"), "bad.zip", "not a readable zip"),
        (lambda p: (p / "bad.npz").write_bytes(b"garbage"), "bad.npz", "not a readable"),
        (lambda p: None, "mnist:validation", "unknown source"),
        (lambda p: None, "imagenet", "unknown source"),
    ],
)
def test_bad_specs_raise_user_error(tmp_path, monkeypatch, make, spec, message):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    with pytest.raises(UserError, match=message):
        parse_source(spec)


def test_unreadable_and_mixed_images(tmp_path, gray):
    _write_pngs(tmp_path / "mixed", gray[:3])
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "mixed" / "zz_small.png")
    with pytest.raises(UserError, match="mixed image sizes"):
        _collect(parse_source(str(tmp_path / "mixed")))
    _write_pngs(tmp_path / "broken", gray[:2])
    (tmp_path / "broken" / "zz.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match="cannot read image zz.png"):
        _collect(parse_source(str(tmp_path / "broken")))


def test_stats_npz_is_not_an_image_source(tmp_path):
    np.savez(tmp_path / "s.npz", mu=np.zeros(3), sigma=np.eye(3))
    with pytest.raises(UserError, match="statistics file"):
        parse_source(str(tmp_path / "s.npz"))


# ---------------------------------------------------------------- issue 15: 16-bit images, image bombs
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision.io's notice about TorchCodec
def test_16_bit_grayscale_pngs_keep_their_high_byte(tmp_path):
    """Item 5: a 16-bit PNG was binarized (every value > 255 became 255). Reference: torchvision's own PNG
    decoder and its uint16 -> uint8 conversion (``to_dtype(scale=True)``: a right shift by 8)."""
    from torchvision.io import decode_png, read_file
    from torchvision.transforms.v2 import functional as F

    values = np.array([0, 255, 256, 4660, 32768, 65280, 65535], dtype=np.uint16)
    arr = np.resize(values, (6, 7)).astype(np.uint16)
    (tmp_path / "g16").mkdir()
    Image.fromarray(arr).save(tmp_path / "g16" / "a.png")
    assert Image.open(tmp_path / "g16" / "a.png").mode == "I;16"
    got = _collect(parse_source(str(tmp_path / "g16")))
    reference = F.to_dtype(decode_png(read_file(str(tmp_path / "g16" / "a.png"))), torch.uint8, scale=True)
    assert torch.equal(got[0], reference)
    assert torch.equal(got[0, 0], torch.from_numpy((arr >> 8).astype(np.uint8)))
    assert sorted(set(got.flatten().tolist())) == [0, 1, 18, 128, 255]  # not binarized


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height 8-bit gray pixels and holds none: Pillow reads its size, but
    decoding it fails."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_in_one_line(tmp_path):
    """Item 7: 20000 x 20000 (over twice Pillow's MAX_IMAGE_PIXELS) was a DecompressionBombError traceback."""
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "bomb.png").write_bytes(_png_header(20_000, 20_000))
    with pytest.raises(UserError, match=r"bomb\.png is too large to decode safely") as info:
        parse_source(str(tmp_path / "f"))
    assert "\n" not in str(info.value)


def test_a_huge_image_among_small_ones_is_refused_from_its_header(tmp_path, gray, monkeypatch):
    """Item 7: the size is checked before any pixel is decoded: a 9000 x 9000 header with no pixel data
    gives the mixed-size message, which decoding it could not (decoding fails first). ``load`` is counted:
    only the first image (whose size sets the expectation) and the small ones are decoded."""
    _write_pngs(tmp_path / "f", gray[:2])
    (tmp_path / "f" / "zz_huge.png").write_bytes(_png_header(9_000, 9_000))
    from PIL import ImageFile

    decoded = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    with pytest.raises(UserError, match=r"mixed image sizes: zz_huge\.png is 9000x9000"):
        _collect(parse_source(str(tmp_path / "f")))
    assert (9_000, 9_000) not in decoded and decoded
