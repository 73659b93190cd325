"""The reference article's MNIST GAN (../shared/reference/000_dac3ec83ab092a73.txt, section 4), as written.

Only three things differ from the article, none in the training loop:
- ``import numpy as np`` is added (the article uses ``np.prod`` without importing it);
- ``train_gan`` takes ``root`` (torchvision's MNIST folder) instead of the hard-coded ``'./data'``, and
  ``download=False``, because torchvision cannot download here: :func:`write_torchvision_mnist` writes the
  verified arrays from :func:`gan_eval.data.datasets.load_arrays` into torchvision's raw IDX layout;
- ``epochs`` is passed as 1 by the benchmark (the article's own parameter).

This is the speed baseline of ``benchmarks/bench_train.py``; it is not used by gan-eval itself.
"""

# ruff: noqa: E501, UP008
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import MNIST

# fmt: off  (the article's code, verbatim)


# 定义生成器网络
class Generator(nn.Module):
    def __init__(self, latent_dim=100, img_shape=(1, 28, 28)):
        super(Generator, self).__init__()
        self.img_shape = img_shape

        self.model = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.BatchNorm1d(256),
            nn.Linear(256, np.prod(img_shape)),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.size(0), *self.img_shape)
        return img


# 定义判别器网络
class Discriminator(nn.Module):
    def __init__(self, img_shape=(1, 28, 28)):
        super(Discriminator, self).__init__()

        self.model = nn.Sequential(
            nn.Linear(np.prod(img_shape), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        validity = self.model(img_flat)
        return validity


# 训练GAN
def train_gan(epochs=100, batch_size=64, latent_dim=100, root="./data"):
    # 加载MNIST数据集
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    dataset = MNIST(root=root, train=True, download=False, transform=transform)
    dataloader = DataLoader(dataset, batch_size=batch_size, shuffle=True)

    # 初始化生成器和判别器
    generator = Generator(latent_dim=latent_dim)
    discriminator = Discriminator()

    # 定义优化器
    g_optimizer = optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    d_optimizer = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))

    # 训练
    for epoch in range(epochs):
        for i, (real_imgs, _) in enumerate(dataloader):
            # 训练判别器
            valid = torch.ones(real_imgs.size(0), 1)
            fake = torch.zeros(real_imgs.size(0), 1)

            real_loss = nn.BCELoss()(discriminator(real_imgs), valid)
            fake_loss = nn.BCELoss()(
                discriminator(generator(torch.randn(real_imgs.size(0), latent_dim))), fake
            )
            d_loss = 0.5 * (real_loss + fake_loss)

            d_optimizer.zero_grad()
            d_loss.backward()
            d_optimizer.step()

            # 训练生成器
            g_loss = nn.BCELoss()(discriminator(generator(torch.randn(real_imgs.size(0), latent_dim))), valid)

            g_optimizer.zero_grad()
            g_loss.backward()
            g_optimizer.step()

            print(
                f"Epoch [{epoch + 1}/{epochs}], Step [{i + 1}/{len(dataloader)}], D_loss: {d_loss.item()}, G_loss: {g_loss.item()}"
            )

    return generator


# fmt: on
# ---------------------------------------------------------------- not from the article
def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an (uncompressed) IDX file: magic 0x0800|ndim, big-endian dims, bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_torchvision_mnist(root: Path) -> Path:
    """Write verified MNIST (train and test) into ``root/MNIST/raw/`` so ``MNIST(root, download=False)`` reads it."""
    from gan_eval.data.datasets import load_arrays

    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = load_arrays("mnist", split)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return Path(root)
