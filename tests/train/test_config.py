"""Train configs: the shipped TOML files load; bad files and values give one clear UserError."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan_eval.errors import UserError
from gan_eval.train import TrainConfig, load_train_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


def test_shipped_configs_load():
    mlp = load_train_config(CONFIGS / "mlp_gan.toml")
    assert (mlp.generator_arch, mlp.discriminator_arch, mlp.loss) == ("mlp", "mlp", "bce")
    assert (mlp.latent_dim, mlp.batch_size, mlp.lr_g, mlp.lr_d) == (100, 64, 2e-4, 2e-4)
    assert mlp.betas_g == mlp.betas_d == (0.5, 0.999) and mlp.n_critic == 1 and mlp.ema_decay == 0
    dcgan = load_train_config(CONFIGS / "dcgan.toml")
    assert dcgan.generator_arch == "dcgan" and dcgan.discriminator_args["norm"] == "batch"
    wgan = load_train_config(CONFIGS / "wgan_gp.toml")
    assert wgan.loss == "wgan-gp" and wgan.n_critic == 5 and wgan.discriminator_args["norm"] == "none"


def test_overrides_and_round_trip():
    config = load_train_config(CONFIGS / "mlp_gan.toml", epochs=3, seed=None, dataset="fashion-mnist")
    assert config.epochs == 3 and config.seed == 0 and config.dataset == "fashion-mnist"
    assert TrainConfig.from_dict(config.to_dict()) == config


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
