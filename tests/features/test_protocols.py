"""Protocols against the reference libraries' own preprocessing code, plus quantization properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as TF
from PIL import Image

from gan_eval.errors import UserError
from gan_eval.features.protocols import PROTOCOLS, get_protocol, quantize_to_uint8

# (N, C, H, W): MNIST-sized grayscale, CIFAR-sized colour, non-square, and a downsampling case.
SHAPES = [(3, 1, 28, 28), (2, 3, 32, 32), (2, 3, 40, 57), (1, 3, 330, 310)]


def _images(shape: tuple[int, int, int, int], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)


def _pil_rgb(img: torch.Tensor) -> Image.Image:
    """uint8 [C, H, W] -> PIL RGB image, converted as the libraries' folder loaders do."""
    arr = img.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).convert("RGB")


def _pytorch_fid_preprocess(x: torch.Tensor) -> torch.Tensor:
    """pytorch-fid 0.3.0's own InceptionV3.forward preprocessing, the network replaced by Identity."""
    from pytorch_fid.inception import InceptionV3

    m = InceptionV3.__new__(InceptionV3)
    torch.nn.Module.__init__(m)
    m.resize_input, m.normalize_input = True, True
    m.blocks = torch.nn.ModuleList([torch.nn.Identity()])
    m.output_blocks, m.last_needed_block = [0], 0
    return m(x)[0]


@pytest.mark.parametrize("shape", SHAPES)
def test_pytorch_fid_protocol_equals_pytorch_fid(shape):
    images = _images(shape)
    # pytorch-fid's data path: PIL .convert("RGB") -> torchvision ToTensor -> batch -> InceptionV3.forward
    batch = torch.stack([TF.ToTensor()(_pil_rgb(im)) for im in images])
    ref = _pytorch_fid_preprocess(batch)
    ours = get_protocol("pytorch-fid")(images)
    assert ours.shape == (shape[0], 3, 299, 299) and ours.dtype == torch.float32
    assert torch.max(torch.abs(ours - ref)).item() <= 1e-6


@pytest.mark.parametrize("shape", SHAPES)
def test_tf1_protocol_equals_torch_fidelity(shape):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    images = _images(shape, seed=1)
    rgb = images.expand(-1, 3, -1, -1) if shape[1] == 1 else images
    # torch-fidelity 0.4.0 FeatureExtractorInceptionV3.forward, first steps
    ref = interpolate_bilinear_2d_like_tensorflow1x(
        rgb.to(torch.float32), size=(299, 299), align_corners=False
    )
    ref = (ref - 128) / 128
    ours = get_protocol("tf1")(images)
    assert ours.shape == (shape[0], 3, 299, 299) and ours.dtype == torch.float32
    assert torch.max(torch.abs(ours - ref)).item() <= 1e-5


def _pil_bicubic_float_reference(img: torch.Tensor) -> np.ndarray:
    """uint8 [C, H, W] -> float32 [3, 299, 299]: clean-fid's per-channel resize, (x-128)/128."""
    rgb = np.asarray(_pil_rgb(img)).astype(np.float32)
    h, w = rgb.shape[:2]
    chans = []
    for c in range(3):
        f = Image.frombuffer("F", (w, h), np.ascontiguousarray(rgb[:, :, c]).tobytes(), "raw", "F", 0, 1)
        chans.append(np.asarray(f.resize((299, 299), resample=Image.Resampling.BICUBIC)).clip(0, 255))
    return (np.stack(chans) - 128) / 128


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_clean_protocol_equals_pil_bicubic_float(shape):
    images = _images(shape, seed=2)
    ref = np.stack([_pil_bicubic_float_reference(im) for im in images])
    ours = get_protocol("clean")(images)
    assert ours.shape == (shape[0], 3, 299, 299) and ours.dtype == torch.float32
    assert np.max(np.abs(ours.numpy() - ref)) <= 1e-5


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_grayscale_equals_repeated_rgb_and_range(name):
    gray = _images((2, 1, 20, 24), seed=3)
    proto = get_protocol(name)
    out = proto(gray)
    assert torch.equal(out, proto(gray.repeat(1, 3, 1, 1)))
    assert out.min() >= -1 and out.max() <= 1
    # a constant image stays constant through every resize: 0 -> -1, 255 -> the top of each range
    const = torch.full((1, 1, 16, 16), 255, dtype=torch.uint8)
    top = proto(const)
    assert torch.allclose(top, top.flatten()[0].expand_as(top)) and top.flatten()[0] >= 127 / 128
    assert torch.all(proto(torch.zeros_like(const)) == -1)


def test_unknown_protocol_lists_choices():
    with pytest.raises(UserError, match="pytorch-fid, tf1, clean"):
        get_protocol("tf2")


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(1, 3, 8, 8),
        torch.zeros(3, 8, 8, dtype=torch.uint8),
        torch.zeros(1, 4, 8, 8, dtype=torch.uint8),
    ],
)
def test_bad_images_are_user_errors(bad):
    with pytest.raises(UserError):
        get_protocol("pytorch-fid")(bad)


def test_quantize_equals_torchvision_save_image_png(tmp_path):
    from torchvision.utils import save_image

    g = torch.Generator().manual_seed(4)
    x = torch.tanh(2 * torch.randn(1, 3, 16, 16, generator=g))
    # exact half-steps and out-of-range values too
    x[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, 1.5, -3.0])
    x[0, 1, 0, :3] = (torch.tensor([0.5, 127.5, 254.5]) / 127.5 - 1).to(torch.float32)
    path = tmp_path / "x.png"
    save_image(x, path, normalize=True, value_range=(-1, 1))
    from_png = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(quantize_to_uint8(x)[0], from_png)


def test_quantize_properties():
    k = torch.arange(256, dtype=torch.float64)
    # the 256 exact levels of a tanh generator map back to themselves, in [-1, 1] and in [0, 1]
    assert torch.equal(quantize_to_uint8(k / 127.5 - 1), k.to(torch.uint8))
    assert torch.equal(quantize_to_uint8(k / 255, value_range=(0, 1)), k.to(torch.uint8))
    # independent float64 reference: round(127.5 x + 127.5), clamped; monotone; within 1/2 level
    x = torch.linspace(-1.3, 1.3, 10_001, dtype=torch.float64)
    q = quantize_to_uint8(x)
    ref = np.clip(np.floor(127.5 * x.numpy() + 127.5 + 0.5), 0, 255)
    assert np.array_equal(q.numpy().astype(np.float64), ref)
    assert torch.all(q[1:] >= q[:-1])
    inside = (x >= -1) & (x <= 1)
    assert torch.max(torch.abs(q[inside].double() - (127.5 * x[inside] + 127.5))) <= 0.5
    assert quantize_to_uint8(torch.tensor([float("inf"), float("-inf")])).tolist() == [255, 0]


def test_quantize_errors():
    with pytest.raises(UserError, match="NaN"):
        quantize_to_uint8(torch.tensor([0.0, float("nan")]))
    with pytest.raises(UserError):
        quantize_to_uint8(torch.zeros(2, dtype=torch.uint8))
    with pytest.raises(UserError):
        quantize_to_uint8(torch.zeros(2), value_range=(1, 1))
