"""The classic MLP GAN on MNIST, written the way tutorials write it, scored by gan-eval while it trains.

    gan-eval data mnist --format torchvision --root data     # torchvision's MNIST files, no internet needed
    python examples/mlp_gan.py --data data --epochs 5 --out tutorial

Everything is plain PyTorch (the article's generator and discriminator, torchvision's MNIST and a DataLoader)
except two lines: a ``gan_eval.Tracker`` made once, and called at the end of every epoch. It appends the
mnist-lenet FID to ``OUT/results.csv`` (with the epoch and step), logs it and a sample grid to TensorBoard
(``tensorboard --logdir OUT/tb``), and leaves the training exactly as it would be without it (same random
streams, same train/eval modes). The generator's state_dict goes to ``OUT/g.pt``; score it any time with

    gan-eval fid --real mnist:test --fake examples/mlp_gan.py:Generator --weights OUT/g.pt -e mnist-lenet

(gan-eval imports this file for the ``Generator`` class; the training below runs only as a script).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn, optim
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import MNIST


class Generator(nn.Module):
    def __init__(self, latent_dim=100, img_shape=(1, 28, 28)):
        super().__init__()
        self.img_shape = img_shape
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.BatchNorm1d(256),
            nn.Linear(256, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape=(1, 28, 28)):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data", help="torchvision's MNIST root (gan-eval data mnist ...)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--out", default="tutorial", help="folder for g.pt, results.csv and tb/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from gan_eval import Tracker  # gan-eval's two lines, 1 of 2

    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    dataset = MNIST(root=args.data, train=True, download=False, transform=transform)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    generator, discriminator = Generator(latent_dim=args.latent_dim), Discriminator()
    g_opt = optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    d_opt = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    tracker = Tracker(
        real="mnist:test", metrics=["fid"], extractor="mnist-lenet", n=5000,
        results=out / "results.csv", run=out.name, tensorboard=out / "tb",
    )  # fmt: skip
    step = 0
    for epoch in range(1, args.epochs + 1):
        for real_imgs, _ in loader:
            valid, fake = torch.ones(real_imgs.size(0), 1), torch.zeros(real_imgs.size(0), 1)
            z = torch.randn(real_imgs.size(0), args.latent_dim)
            fake_imgs = generator(z).detach()
            d_loss = 0.5 * (bce(discriminator(real_imgs), valid) + bce(discriminator(fake_imgs), fake))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            g_loss = bce(discriminator(generator(torch.randn(real_imgs.size(0), args.latent_dim))), valid)
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            step += 1
        values = tracker(generator, epoch=epoch, step=step)  # gan-eval's two lines, 2 of 2
        losses = f"D {d_loss.item():.3f} G {g_loss.item():.3f}"
        print(f"epoch {epoch}: {losses}, mnist-lenet FID {values['fid']:.2f} ({tracker.cfg.n} samples)")
        torch.save(generator.state_dict(), out / "g.pt")
    tracker.close()


if __name__ == "__main__":
    main()
