"""Your own generator (issue 21): a tutorial's Generator class and its state_dict give the same number bit
for bit from the command line (FILE.py:NAME --weights), from a module in memory and from exported samples;
the natural mistakes give one clear line."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import gan_eval
from gan_eval.cli import app
from gan_eval.data import parse_source
from gan_eval.data.memory import memory_source
from gan_eval.data.state_dicts import read_weights
from gan_eval.data.user_generators import import_object, parse_arch_args
from gan_eval.errors import UserError

TUTORIAL = textwrap.dedent(
    """
    import argparse
    import numpy as np
    import torch
    import torch.nn as nn

    parser = argparse.ArgumentParser()          # tutorials parse their options at import
    parser.add_argument("--latent_dim", type=int, default=16)
    opt = parser.parse_args()

    class Generator(nn.Module):
        def __init__(self, latent_dim=16, img_shape=(1, 12, 12)):
            super(Generator, self).__init__()
            self.img_shape = img_shape
            self.model = nn.Sequential(
                nn.Linear(latent_dim, 32), nn.LeakyReLU(0.2, inplace=True), nn.BatchNorm1d(32),
                nn.Linear(32, int(np.prod(img_shape))), nn.Tanh())

        def forward(self, z):
            return self.model(z).view(z.size(0), *self.img_shape)

    class SigmoidGenerator(Generator):
        def __init__(self):
            super().__init__()
            self.model[-1] = nn.Sigmoid()

    class ConvGenerator(nn.Module):              # the DCGAN tutorial: z of shape [B, nz, 1, 1]
        def __init__(self, nz=8):
            super().__init__()
            self.main = nn.Sequential(nn.ConvTranspose2d(nz, 4, 3, 1, 0, bias=False), nn.BatchNorm2d(4),
                                      nn.ReLU(True), nn.ConvTranspose2d(4, 1, 4, 4, 0), nn.Tanh())

        def forward(self, x):
            return self.main(x)

    class Opaque(nn.Module):                     # no latent_dim anywhere, no Linear/Conv first layer
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, z):
            return torch.tanh(z.view(z.size(0), 1, 4, 4) * self.scale)

    def make():                                  # a function returning (module, z_dim)
        torch.manual_seed(1)
        return Generator(), 16

    if __name__ == "__main__":
        raise SystemExit("training would run here")
    """
)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def tut(tmp_path_factory):
    """A tutorial-style script, its generator's weights in the ways people save them, and a real set."""
    d = tmp_path_factory.mktemp("tut")
    (d / "gan.py").write_text(TUTORIAL)
    gan, _ = import_object(f"{d / 'gan.py'}:Generator")
    torch.manual_seed(0)
    G = gan()
    G.model[2].running_mean.uniform_(-0.1, 0.1)  # batch-norm statistics as training leaves them
    G.model[2].running_var.uniform_(0.5, 1.5)
    torch.save(G.state_dict(), d / "g.pt")
    torch.save(
        {"generator": G.state_dict(), "discriminator": {}, "epoch": 7, "global_step": 700}, d / "ckpt.pt"
    )
    torch.save({"state_dict": {f"generator.{k}": v for k, v in G.state_dict().items()}}, d / "lightning.ckpt")
    torch.save({f"module.{k}": v for k, v in G.state_dict().items()}, d / "dp.pt")
    torch.save({"nets": {"gen": G.state_dict()}}, d / "nested.pt")
    torch.manual_seed(5)
    torch.save(gan().state_dict(), d / "other.pt")
    real = np.random.default_rng(0).integers(0, 256, size=(300, 1, 12, 12), dtype=np.uint8)
    np.savez(d / "real.npz", images=real)
    return d


def _fid(result) -> float:
    return float(result.values["fid"])


def test_class_and_weights_give_the_module_number_bit_for_bit(tut, tmp_path, tmp_cache):
    spec = f"{tut / 'gan.py'}:Generator"
    common = dict(real=str(tut / "real.npz"), metrics=["fid"], extractor="dummy", n=700, progress=False)
    via_spec = gan_eval.evaluate(fake=spec, weights=str(tut / "g.pt"), **common)
    G, _ = import_object(spec)
    module = G()
    module.load_state_dict(torch.load(tut / "g.pt", weights_only=True))
    module.train()
    via_module = gan_eval.evaluate(fake=module, **common)
    assert _fid(via_spec) == _fid(via_module) and np.isfinite(_fid(via_spec))
    assert module.training and all(m.training for m in module.modules())  # its mode is given back
    # the CLI, then the exported samples: the same number to the last digit
    out = tmp_path / "samples"
    r = _cli("sample", spec, "--weights", str(tut / "g.pt"), "-n", "700", "-o", f"{out}/", "--json")
    assert r.exit_code == 0, r.output
    from_folder = gan_eval.evaluate(fake=str(out), **{**common, "n": None})
    assert _fid(from_folder) == _fid(via_spec)
    r = _cli(
        "fid", "--real", str(tut / "real.npz"), "--fake", spec, "--weights", str(tut / "g.pt"), "-e", "dummy",
        "--n", "700", "--json", "--no-save",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["values"]["fid"] == _fid(via_spec)


@pytest.mark.parametrize(
    "weights, key, epoch",
    [("g.pt", None, None), ("ckpt.pt", None, 7), ("lightning.ckpt", None, None), ("dp.pt", None, None),
     ("nested.pt", "nets/gen", None)],
)  # fmt: skip
def test_the_usual_ways_of_saving_a_state_dict_load(tut, weights, key, epoch):
    src = parse_source(f"{tut / 'gan.py'}:Generator", n=20, weights=str(tut / weights), weights_key=key)
    ref = parse_source(f"{tut / 'gan.py'}:Generator", n=20, weights=str(tut / "g.pt"))
    assert torch.equal(torch.cat(list(src.batches(20))), torch.cat(list(ref.batches(20))))
    assert src.info.get("epoch") == epoch
    assert "sha256=" in src.info["fake"] and weights in src.info["fake"]


def test_two_weight_files_never_look_like_the_same_source(tut):
    a = parse_source(f"{tut / 'gan.py'}:Generator", n=10, weights=str(tut / "g.pt"))
    b = parse_source(f"{tut / 'gan.py'}:Generator", n=10, weights=str(tut / "other.pt"))
    assert a.info["fake"] != b.info["fake"] and a.identity != b.identity
    sha = read_weights(tut / "g.pt").sha256[:12]
    assert f"sha256={sha}" in a.info["fake"] and a.info["fake"].startswith(f"{tut / 'gan.py'}:Generator")


def test_function_and_latent_size_and_conv_latents(tut):
    src = parse_source(f"{tut / 'gan.py'}:make", n=10)  # (module, 16)
    assert src.sampler.z_dim == 16 and src.shape == (1, 12, 12)
    conv = parse_source(f"{tut / 'gan.py'}:ConvGenerator", n=10, weights=_save_fresh(tut, "ConvGenerator"))
    assert conv.sampler.z_dim == 8 and conv.shape == (1, 12, 12)  # nz default; latents fed as [B, 8, 1, 1]
    wide = parse_source(
        f"{tut / 'gan.py'}:Generator",
        n=10,
        arch_args="latent_dim=24",
        weights=_save_fresh(tut, "Generator", latent_dim=24),
    )
    assert wide.sampler.z_dim == 24 and '"latent_dim": 24' in wide.info["fake"]


def _save_fresh(tut: Path, name: str, **args) -> str:
    cls, _ = import_object(f"{tut / 'gan.py'}:{name}")
    path = tut / f"{name}_{'_'.join(f'{k}{v}' for k, v in args.items())}.pt"
    torch.manual_seed(3)
    torch.save(cls(**args).state_dict(), path)
    return str(path)


def test_the_natural_mistakes_are_one_clear_line(tut):
    spec = f"{tut / 'gan.py'}:Generator"
    with pytest.raises(UserError, match="is a class; without --weights FILE gan-eval would score randomly"):
        parse_source(spec, n=10)
    with pytest.raises(UserError, match=r"all inside \[0, 1\].*--value-range 0,1"):
        parse_source(f"{tut / 'gan.py'}:SigmoidGenerator", n=10, weights=_save_fresh(tut, "SigmoidGenerator"))
    ok = parse_source(  # the range given: accepted, quantized from [0, 1], part of the fingerprint
        f"{tut / 'gan.py'}:SigmoidGenerator",
        n=10,
        weights=_save_fresh(tut, "SigmoidGenerator"),
        value_range=(0, 1),
    )
    assert ok.value_range == (0.0, 1.0)
    with pytest.raises(UserError, match=r"missing keys main\.0\.weight.*unexpected keys model\.0\.bias"):
        parse_source(f"{tut / 'gan.py'}:ConvGenerator", n=10, weights=str(tut / "g.pt"))
    with pytest.raises(UserError, match="cannot tell the generator's latent size.*--z-dim"):
        parse_source(f"{tut / 'gan.py'}:Opaque", n=10, weights=_save_fresh(tut, "Opaque"))
    assert parse_source(
        f"{tut / 'gan.py'}:Opaque", n=10, weights=_save_fresh(tut, "Opaque"), z_dim=16
    ).shape == (1, 4, 4)
    with pytest.raises(UserError, match=r"model\.0\.weight has shape \[32, 24\].*--arch-args"):
        parse_source(spec, n=10, weights=_save_fresh(tut, "Generator", latent_dim=24))
    with pytest.raises(UserError, match="'Nope' is not defined there; its nn.Module classes: .*Generator"):
        parse_source(f"{tut / 'gan.py'}:Nope", n=10)
    with pytest.raises(UserError, match="no such Python file"):
        parse_source(f"{tut / 'missing.py'}:Generator", n=10)
    with pytest.raises(UserError, match="--weights, --arch-args apply to a generator class"):
        parse_source(str(tut / "real.npz"), weights="g.pt", arch_args="a=1")


def test_a_training_loop_at_import_is_refused_and_import_errors_named(tmp_path):
    (tmp_path / "loop.py").write_text(
        "import torch\nclass G(torch.nn.Module):\n    pass\nfor epoch in range(10):\n    pass\n"
    )
    with pytest.raises(UserError, match=r"runs a loop at import \(line 4\).*__main__"):
        import_object(f"{tmp_path / 'loop.py'}:G")
    (tmp_path / "broken.py").write_text("import numpy_no_such_module\n")
    with pytest.raises(UserError, match="importing broken.py failed.*ModuleNotFoundError"):
        import_object(f"{tmp_path / 'broken.py'}:G")
    (tmp_path / "exits.py").write_text("raise SystemExit(3)\n")
    with pytest.raises(UserError, match="importing exits.py failed.*SystemExit"):
        import_object(f"{tmp_path / 'exits.py'}:G")


def test_package_module_name_imports_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "mygan_pkg_xyz").mkdir()
    (tmp_path / "mygan_pkg_xyz" / "__init__.py").write_text("")
    (tmp_path / "mygan_pkg_xyz" / "nets.py").write_text(TUTORIAL)
    monkeypatch.chdir(tmp_path)  # no PYTHONPATH: the current folder is importable, as under `python -m`
    try:
        src = parse_source("mygan_pkg_xyz.nets:make", n=5)
        assert src.shape == (1, 12, 12)
    finally:
        for name in [m for m in sys.modules if m.startswith("mygan_pkg_xyz")]:
            sys.modules.pop(name)


def test_arch_args_forms():
    assert parse_arch_args('{"latent_dim": 64, "img_shape": [1, 28, 28]}') == {
        "latent_dim": 64,
        "img_shape": [1, 28, 28],
    }
    assert parse_arch_args("latent_dim=64,img_shape=[1,28,28],act=relu,bn=true") == {
        "latent_dim": 64,
        "img_shape": [1, 28, 28],
        "act": "relu",
        "bn": True,
    }
    with pytest.raises(UserError, match="--arch-args"):
        parse_arch_args("latent_dim")
    with pytest.raises(UserError, match="not valid JSON"):
        parse_arch_args("{latent_dim: 64}")


def test_weights_files_that_are_not_state_dicts(tut, tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")
    with pytest.raises(
        UserError, match=r"pickled Python objects \(torch.nn.modules.linear.Linear\).*state_dict"
    ):
        read_weights(tmp_path / "whole.pt")
    (tmp_path / "rnd.pt").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(UserError, match="not a readable torch file"):
        read_weights(tmp_path / "rnd.pt")
    torch.save({"optimizer": {"lr": 1.0}}, tmp_path / "opt.pt")
    with pytest.raises(
        UserError, match="no generator state_dict found under generator, G, netG.*--weights-key"
    ):
        read_weights(tmp_path / "opt.pt")
    with pytest.raises(UserError, match="no key 'nets/x'"):
        read_weights(tut / "nested.pt", "nets/x")


def test_in_memory_images_tensors_arrays_and_loaders(tut):
    images = np.load(tut / "real.npz")["images"]
    as_file = torch.cat(list(parse_source(str(tut / "real.npz")).batches(100)))
    for obj in (
        images,
        torch.from_numpy(images),
        torch.from_numpy(images).float() / 127.5 - 1.0,  # floats in [-1, 1]
        torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(images), torch.zeros(300)), batch_size=64
        ),
    ):
        src = memory_source(obj)
        assert torch.equal(torch.cat(list(src.batches(64))), as_file), type(obj)
        assert src.spec.startswith("<in memory>")
    with pytest.raises(UserError, match=r"all inside \[0, 1\]"):
        memory_source(torch.from_numpy(images).float() / 255.0)
    assert memory_source(torch.from_numpy(images).float() / 255.0, value_range=(0, 1)).value_range == (
        0.0,
        1.0,
    )
    with pytest.raises(UserError, match="needs its latent size"):
        memory_source(lambda z: z)
    with pytest.raises(UserError, match="expected a generator module"):
        memory_source(3)


def test_value_range_is_part_of_the_fingerprint(tut, tmp_cache):
    images = np.load(tut / "real.npz")["images"]
    common = dict(real=str(tut / "real.npz"), metrics=["fid"], extractor="dummy", progress=False)
    x = torch.from_numpy(images).float()
    a = gan_eval.evaluate(fake=x / 255.0, value_range=(0, 1), **common)
    b = gan_eval.evaluate(fake=x / 127.5 - 1.0, value_range=(-1, 1), **common)
    c = gan_eval.evaluate(fake=images, **common)
    assert a.values["fid"] == b.values["fid"] == c.values["fid"]  # the same uint8 images
    fps = {r.fingerprint["fingerprint"] for r in (a, b, c)}
    assert len(fps) == 3 and a.fingerprint["value_range"] == [0.0, 1.0] and "value_range" not in c.fingerprint


def test_ignored_options_warn_once(tut, tmp_cache):
    r = _cli(
        "fid", "--real", str(tut / "real.npz"), "--fake", str(tut / "real.npz"), "-e", "dummy", "--n", "50",
        "--z-dim", "4", "--no-save",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "warning: --n and --z-dim are ignored" in r.stderr
    r = _cli(
        "fid", "--real", str(tut / "real.npz"), "--fake", f"{tut / 'gan.py'}:make", "-e", "dummy",
        "--n", "50", "--fake-limit", "10", "--no-save",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "warning: --fake-limit is ignored" in r.stderr
