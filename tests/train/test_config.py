"""Train configs: the shipped TOML files load; bad files and values give one clear UserError."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan_eval.errors import UserError
from gan_eval.train import TrainConfig, load_train_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"
BASE = '[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n'


def test_shipped_configs_load():
    mlp = load_train_config(CONFIGS / "mlp_gan.toml")
    assert (mlp.generator_arch, mlp.discriminator_arch, mlp.loss) == ("mlp", "mlp", "bce")
    assert (mlp.latent_dim, mlp.batch_size, mlp.lr_g, mlp.lr_d) == (100, 64, 2e-4, 2e-4)
    assert mlp.betas_g == mlp.betas_d == (0.5, 0.999) and mlp.n_critic == 1 and mlp.ema_decay == 0
    dcgan = load_train_config(CONFIGS / "dcgan.toml")
    assert dcgan.generator_arch == "dcgan" and dcgan.discriminator_args["norm"] == "batch"
    wgan = load_train_config(CONFIGS / "wgan_gp.toml")
    assert wgan.loss == "wgan-gp" and wgan.n_critic == 5 and wgan.discriminator_args["norm"] == "none"
    best = load_train_config(CONFIGS / "dcgan_best.toml")
    assert best.loss == "ns" and best.ema_decay > 0 and best.discriminator_args["sigmoid"] is False
    assert best.discriminator_args["spectral_norm"] is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('epochs = 2\n[generator]\narch = "mlp"\n', "missing \\[discriminator\\]"),
        ('bogus = 1\n[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n', "unknown key 'bogus'"),
        (
            '[generator]\narch = "mlp"\nwidth = 3\n[discriminator]\narch = "mlp"\n',
            "unknown key \\[generator\\].width",
        ),
        ('[generator]\narch = "vae"\n[discriminator]\narch = "mlp"\n', "generator.arch must be one of"),
        ('loss = "hinge"\n[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n', "loss must be one of"),
        ('epochs = "ten"\n[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n', "bad.toml"),
        ("[generator\n", "not a readable TOML file"),
        # values checked up front, before any data is read or any network built
        (BASE + "[optim]\nlr_g = 0.0\n", "lr_g and optim.lr_d must be > 0"),
        (BASE + '[optim]\nlr_d = "fast"\n', "optim.lr_d must be a finite number, got 'fast'"),
        (BASE + "[optim]\nlr_d = nan\n", "optim.lr_d must be a finite number"),
        (BASE + "[optim]\nbetas_g = [0.5]\n", "optim.betas_g must be two numbers in \\[0, 1\\)"),
        (BASE + "[optim]\nbetas_d = [0.5, 1.0]\n", "optim.betas_d must be two numbers in \\[0, 1\\)"),
        (BASE + "[optim]\nema_decay = 1.0\n", "ema_decay must be in \\[0, 1\\)"),
        (BASE + "[optim]\ngp_weight = -1.0\n", "gp_weight must be >= 0"),
        (BASE + "[optim]\nr1_gamma = -1.0\n", "r1_gamma must be >= 0"),
        (BASE + "[optim]\nr1_every = 0\n", "r1_every must be >= 1"),
        (BASE + "[optim]\nr1_gamma = 1.0\n", 'r1_gamma needs loss = "ns"'),
        ("epochs = true\n" + BASE, "epochs must be an integer, got True"),
        ("batch_size = 1\n" + BASE, "batch_size must be >= 2"),
        ("seed = -1\n" + BASE, "seed must be >= 0"),
        ('loss = "ns"\n' + BASE, 'loss = "ns" works on logits: set sigmoid = false'),
        (
            '[generator]\narch = "mlp"\nargs = 3\n[discriminator]\narch = "mlp"\n',
            "generator.args must be a table",
        ),
        (
            '[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\nargs = { sigmoid = false }\n',
            'loss = "bce" needs probabilities',
        ),
    ],
)
def test_bad_configs(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_train_config(path)


def test_missing_config(tmp_path):
    with pytest.raises(UserError, match="no such train config"):
        load_train_config(tmp_path / "nope.toml")


def test_cli_reports_a_bad_config_as_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from gan_eval.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text(BASE + "[optim]\nbetas_g = [0.5, 1.5]\n")
    r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "betas_g" in r.stderr
    assert not (tmp_path / "run").exists()  # checked before anything was written


def test_round_trip_of_new_keys():
    config = load_train_config(CONFIGS / "dcgan_best.toml", r1_gamma=None)
    changed = TrainConfig.from_dict({**config.to_dict(), "r1_gamma": 2.0, "r1_every": 4})
    assert (changed.r1_gamma, changed.r1_every) == (2.0, 4)
    assert TrainConfig.from_dict(changed.to_dict()) == changed
