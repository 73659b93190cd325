"""--batch-size changes no number (issue 15 item 4), for every source kind.

Before the fix a generator source drew its latents in chunks of --batch-size, so batch 7 and batch 500
evaluated different images under one fingerprint (mnist-lenet FID 171.48 vs 173.75). Now the latents are
drawn, and the generator called, in fixed chunks (``LATENT_CHUNK``), and only the uint8 images are
re-batched for the extractor.

Two checks per source kind (checkpoint, TorchScript, module:function, folder, zip, npz, dataset):

1. Exact: the uint8 images and the source identity are identical whatever batch size the consumer (the
   extractor) asks for; sources do not take a batch size at all.
2. Bounded: ``gan-eval fid --batch-size b`` for b in 7, 64, 500 gives the same fingerprint and FIDs equal
   within a stated bound. The features of one image may still differ in the last bits across batch sizes
   (oneDNN/BLAS pick blockings by batch shape), so exact equality cannot be asked; the bound is derived, not
   tuned. sqrt(FID) is the 2-Wasserstein distance W2 between the Gaussians (mu, Sigma) of the two sets, a
   metric, so by the triangle inequality ``|sqrt(FID_b) - sqrt(FID_500)| <= W2(G_b, G_500)`` where G_b is
   the Gaussian of the fake features extracted at batch size b. By Gelbrich's bound W2 between Gaussians
   with given moments is at most W2 between any distributions with those moments, here the empirical
   feature sets coupled image by image: ``W2(G_b, G_500)^2 <= sum_i |f_b(i) - f_500(i)|^2 / (N - 1)``
   (N - 1: the covariances are unbiased). The test measures those feature differences (``delta``) with the
   same extractor on this machine, so the bound holds on any CPU and instruction set. Added to it: the
   float64 rounding of each FID, at most ``10 u (N + D) S + 2 D sqrt(10 D u |Sigma_r| |Sigma_f|)`` with
   u = 2^-53, S = |mu_r|^2 + |mu_f|^2 + tr Sigma_r + tr Sigma_f (moments and traces) and the second term
   for the square roots of eigenvalues near zero (eigvalsh's backward error is below 10 D u |M|).
   The old behaviour (different images) moved FID by ~2; this bound is ~1e-3 or less.
"""

from __future__ import annotations

import json
import math
import textwrap
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from robust_helpers import CKPT, invoke, seed_mnist_test

from gan_eval.data import parse_source
from gan_eval.features import build_extractor
from gan_eval.stats.extract import extract

N = 300  # more than the 128 feature dimensions: non-singular covariances
BATCH_SIZES = (7, 64, 500)
REAL_LIMIT = 1000
REAL = ("mnist:test", "--real-limit", str(REAL_LIMIT))
U = 2.0**-53


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """spec -> (extra CLI options) for every source kind, all holding N MNIST-like 28x28 digits."""
    root = tmp_path_factory.mktemp("batch")
    from gan_eval.data.generators import generator_source, load_checkpoint_sampler

    images = torch.cat(
        list(generator_source(str(CKPT), n=N, seed=11).batches(N))
    ).numpy()  # uint8 [N,1,28,28]
    np.savez(root / "digits.npz", images=images)
    folder = root / "digits"
    folder.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im[0]).save(folder / f"{i:04d}.png")
    with zipfile.ZipFile(root / "digits.zip", "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    sampler = load_checkpoint_sampler(CKPT)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        torch.jit.save(torch.jit.trace(sampler.generator, torch.randn(2, 100)), str(root / "gen_ts.pt"))
    (root / "bs_gens.py").write_text(
        textwrap.dedent(
            f"""
            from gan_eval.data.generators import load_checkpoint_sampler

            def mlp():
                s = load_checkpoint_sampler({str(CKPT)!r})
                return s.generator, s.z_dim
            """
        )
    )
    gen = ("--n", str(N))
    return root, {
        "checkpoint": (str(CKPT), gen),
        "torchscript": (str(root / "gen_ts.pt"), (*gen, "--z-dim", "100")),
        "module:function": ("bs_gens:mlp", gen),
        "folder": (str(folder), ()),
        "zip": (str(root / "digits.zip"), ()),
        "npz": (str(root / "digits.npz"), ()),
        "dataset": ("mnist:test", ("--fake-limit", str(N))),
    }


@pytest.fixture(scope="module")
def env(sources, tmp_path_factory):
    """One private cache for the module (the real statistics are computed once, at the first batch size,
    and then read back: the real side is identical for every run), one torch thread (on a loaded machine
    many small batches are far faster without OpenMP's synchronisation)."""
    root, specs = sources
    cache_root = tmp_path_factory.mktemp("cache")
    seed_mnist_test(cache_root)  # else MNIST is fetched like in the other tests
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_EVAL_CACHE", str(cache_root))
        mp.syspath_prepend(str(root))
        yield specs
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def real_moments(env):
    ext = build_extractor("mnist-lenet", device="cpu").eval()
    src = parse_source("mnist:test", limit=REAL_LIMIT)
    real = extract(src, ext, device=torch.device("cpu"), batch_size=500, progress=False)
    return real.mu, real.sigma


def _source(spec: str, options: tuple[str, ...]):
    o = dict(zip(options[::2], options[1::2], strict=True))
    return parse_source(
        spec,
        n=int(o.get("--n", 10_000)),
        sample_seed=0,
        z_dim=int(o["--z-dim"]) if "--z-dim" in o else None,
        limit=int(o["--fake-limit"]) if "--fake-limit" in o else None,
    )


@pytest.mark.parametrize(
    "kind", ["checkpoint", "torchscript", "module:function", "folder", "zip", "npz", "dataset"]
)
def test_images_and_identity_do_not_depend_on_the_batch_size(env, kind):
    spec, options = env[kind]
    ref = _source(spec, options)
    ref_images = torch.cat(list(ref.batches(500)))
    assert ref_images.shape[0] == N
    for b in BATCH_SIZES:
        src = _source(spec, options)
        assert src.identity == ref.identity
        assert torch.equal(torch.cat(list(src.batches(b))), ref_images), (
            f"{kind}: batch {b} drew other images"
        )


def _moments(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = f.astype(np.float64)
    return f.mean(0), np.cov(f.T)


def _fid_rounding(mu_r, s_r, mu_f, s_f, n: int) -> float:
    """The float64 rounding bound of one computed FID (see the module docstring)."""
    d = mu_r.shape[0]
    big = float(mu_r @ mu_r + mu_f @ mu_f + np.trace(s_r) + np.trace(s_f))
    norm = float(np.linalg.norm(s_r, 2) * np.linalg.norm(s_f, 2))
    return 10 * U * (n + d) * big + 2 * d * math.sqrt(10 * d * U * norm)


@pytest.mark.slow  # ~30 s of CPU: 7 sources x 3 batch sizes, through the CLI and again for the bound
@pytest.mark.parametrize(
    "kind", ["checkpoint", "torchscript", "module:function", "folder", "zip", "npz", "dataset"]
)
def test_fid_is_equal_across_batch_sizes_within_the_derived_bound(env, real_moments, kind):
    spec, options = env[kind]
    runs = {}
    for b in BATCH_SIZES:
        r = invoke(
            ["fid", "--real", *REAL, "--fake", spec, *options, "-e", "mnist-lenet", "--batch-size", b]
            + ["--no-save", "--json", "-q", "--device", "cpu"]
        )
        assert r.exit_code == 0, r.output
        runs[b] = json.loads(r.stdout)
    fingerprints = {json.dumps(doc["fingerprint"], sort_keys=True) for doc in runs.values()}
    assert len(fingerprints) == 1, fingerprints

    # the features of the same images at each batch size, with the extractor the CLI used
    ext = build_extractor("mnist-lenet", device="cpu").eval()
    cpu = torch.device("cpu")
    feats = {
        b: extract(_source(spec, options), ext, device=cpu, batch_size=b, keep_features=None, progress=False)
        for b in BATCH_SIZES
    }
    mu_r, s_r = real_moments
    ref = 500
    fid_ref = runs[ref]["values"]["fid"]
    for b in BATCH_SIZES:
        fb, fr = feats[b].features.astype(np.float64), feats[ref].features.astype(np.float64)
        delta = math.sqrt(float(((fb - fr) ** 2).sum()) / (N - 1))
        mu_f, s_f = _moments(fb)
        rounding = 2 * _fid_rounding(mu_r, s_r, mu_f, s_f, max(N, REAL_LIMIT))
        fid_b = runs[b]["values"]["fid"]
        bound = delta * (math.sqrt(fid_b) + math.sqrt(fid_ref)) + rounding
        assert abs(fid_b - fid_ref) <= bound, (kind, b, fid_b, fid_ref, delta, rounding)
        assert bound < 0.05, (kind, b, bound)  # the bound itself is tight enough to catch other images


@pytest.mark.slow
def test_the_bound_also_holds_with_avx2_kernels():
    """The same comparison with oneDNN and ATen limited to AVX2 (other kernels, other last bits): set
    before torch is imported, so in a fresh process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not avx2"]
    done = subprocess.run(
        args, env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-4000:]
