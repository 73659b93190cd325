"""End to end against the reference libraries, offline, on the same PNG folders with the same weights.

- ``--protocol pytorch-fid``: FID equals pytorch-fid 0.3.0's ``calculate_fid_given_paths`` (1e-4 relative).
- ``--protocol tf1``: FID equals torch-fidelity 0.4.0's (1e-4 relative), precision and recall exactly.

Both libraries get our weights through ``gan_eval.features.weights.export_weights`` (pytorch-fid finds them in
``$TORCH_HOME/hub/checkpoints``; torch-fidelity via ``feature_extractor_weights_path``). 32 real MNIST
digits vs 32 other digits (half of them noisy): with n << 2048 the covariances are rank-deficient, which is
fine for agreement.
Inception on 2 CPU cores does ~10 images/s, so each library run takes several seconds to a minute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gan_eval
from gan_eval.errors import UserError

pytestmark = pytest.mark.slow

N = 32
REL = 1e-4


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of grayscale 28x28 PNGs: real MNIST test digits; other digits, half with Gaussian noise."""
    from gan_eval.data.datasets import load_arrays

    try:
        images, _ = load_arrays("mnist", "test")
    except UserError as e:
        pytest.skip(f"MNIST not available offline: {e}")
    rng = np.random.default_rng(0)
    # every other fake digit gets noise, so precision and recall are strictly between 0 and 1
    noisy = images[N : 2 * N].astype(np.float64)
    noisy[1::2] += rng.normal(0, 50, size=(N // 2, 28, 28))
    root = tmp_path_factory.mktemp("agreement")
    dirs = []
    for name, arr in (("real", images[:N]), ("fake", np.clip(np.rint(noisy), 0, 255).astype(np.uint8))):
        d = root / name
        d.mkdir()
        for i, img in enumerate(arr):
            Image.fromarray(img, mode="L").save(d / f"{i:03d}.png")
        dirs.append(d)
    return dirs[0], dirs[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from gan_eval.features.weights import fetch_weights

    try:
        return fetch_weights(quiet=True)
    except UserError as e:
        pytest.skip(f"Inception weights not available: {e}")


def _ours(folders: tuple[Path, Path], weights: Path, protocol: str, metrics: list[str]) -> dict[str, float]:
    real, fake = folders
    result = gan_eval.evaluate(
        real=str(real),
        fake=str(fake),
        metrics=metrics,
        extractor="inception",
        protocol=protocol,
        extractor_weights=str(weights),
        device="cpu",
        use_cache=False,
        progress=False,
    )
    return result.values


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def _patch_sqrtm_disp(monkeypatch) -> None:
    """pytorch-fid 0.3.0 calls ``scipy.linalg.sqrtm(..., disp=False)``; SciPy 1.16 deprecated ``disp`` and
    1.18 removes it. Same numbers, without the argument."""
    import pytorch_fid.fid_score as fs

    sqrtm = fs.linalg.sqrtm

    def sqrtm_compat(a, disp=True, **kwargs):
        root = sqrtm(a, **kwargs)
        return root if disp else (root, None)

    monkeypatch.setattr(fs.linalg, "sqrtm", sqrtm_compat)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pytorch_fid_protocol_equals_pytorch_fid(folders, weights, tmp_path, monkeypatch):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    from gan_eval.features.weights import PYTORCH_FID_FILENAME, export_weights

    torch_home = tmp_path / "torch_home"
    export_weights("pytorch-fid", torch_home / "hub" / "checkpoints" / PYTORCH_FID_FILENAME, source=weights)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))  # pytorch-fid "downloads" from here: no network
    _patch_sqrtm_disp(monkeypatch)

    ref = calculate_fid_given_paths(
        [str(folders[0]), str(folders[1])], batch_size=N, device="cpu", dims=2048, num_workers=0
    )
    ours = _ours(folders, weights, "pytorch-fid", ["fid"])["fid"]
    print(f"pytorch-fid: ours {ours!r} reference {float(ref)!r} rel diff {_rel(ours, ref):.2e}")
    assert ref > 1.0
    assert _rel(ours, ref) <= REL


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tf1_protocol_equals_torch_fidelity(folders, weights, tmp_path):
    import torch_fidelity

    from gan_eval.features.weights import TORCH_FIDELITY_FILENAME, export_weights

    tw = export_weights("torch-fidelity", tmp_path / TORCH_FIDELITY_FILENAME, source=weights)
    ref = torch_fidelity.calculate_metrics(
        input1=str(folders[1]),  # torch-fidelity: input1 = generated, input2 = real
        input2=str(folders[0]),
        cuda=False,
        fid=True,
        prc=True,
        # torch-fidelity computes PRC on VGG16 unless told otherwise; compare on Inception pool3 like ours
        feature_extractor="inception-v3-compat",
        feature_layer_prc="2048",
        feature_extractor_weights_path=str(tw),
        cache=False,
        verbose=False,
        batch_size=N,
    )
    ours = _ours(folders, weights, "tf1", ["fid", "pr"])
    ref_fid = ref["frechet_inception_distance"]
    print(
        f"torch-fidelity: ours fid {ours['fid']!r} reference {ref_fid!r} rel diff "
        f"{_rel(ours['fid'], ref_fid):.2e}; precision {ours['precision']} vs {ref['precision']}, "
        f"recall {ours['recall']} vs {ref['recall']}"
    )
    assert ref_fid > 1.0
    assert _rel(ours["fid"], ref_fid) <= REL
    assert 0 < ref["precision"] < 1 or 0 < ref["recall"] < 1  # a comparison that can fail
    assert ours["precision"] == ref["precision"]
    assert ours["recall"] == ref["recall"]
