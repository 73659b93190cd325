"""The MLP GAN's hand-written step (gan_eval.train.mlp_step) against autograd on the same modules.

The claim is bit-for-bit equality on the CPU (same kernels, same order), so the comparisons use
``torch.equal``, over many steps of training so that any difference would compound and show.
"""

from __future__ import annotations

import copy

import pytest
import torch
from test_train import blobs, small  # (pytest puts this folder on sys.path)
from torch import nn

from gan_eval.train import loop, mlp_step, train
from gan_eval.train.models import DCGANGenerator, MLPDiscriminator, MLPGenerator


def autograd_step(G, D, opt_d, opt_g, real, z_d, z_g):
    """The trainer's autograd step (BCE, fused real+fake batch, D frozen during G's step)."""
    b, bce = real.size(0), nn.BCELoss()
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    with torch.no_grad():
        fake = G(z_d)
    d_loss = bce(D(torch.cat([real, fake])), torch.cat([ones, zeros]))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    d_grads = [p.grad.clone() for p in D.parameters()]
    opt_d.step()
    D.requires_grad_(False)
    g_loss = bce(D(G(z_g)), ones)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    g_grads = [p.grad.clone() for p in G.parameters()]
    opt_g.step()
    D.requires_grad_(True)
    return d_loss.detach(), g_loss.detach(), d_grads, g_grads


def fast_step(step, G, D, opt_d, opt_g, real, z_d, z_g):
    b = real.size(0)
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    d_loss = step.discriminator_grads(real, z_d, torch.cat([ones, zeros]))
    d_grads = [p.grad.clone() for p in D.parameters()]
    opt_d.step()
    g_loss = step.generator_grads(z_g, ones)
    g_grads = [p.grad.clone() for p in G.parameters()]
    opt_g.step()
    return d_loss, g_loss, d_grads, g_grads


@pytest.mark.determinism
@pytest.mark.parametrize("threads", [1, 2])
def test_gradients_and_updates_are_autograds_bit_for_bit(threads):
    torch.set_num_threads(threads)  # the conftest fixture restores the count
    torch.manual_seed(0)
    pairs = []
    for _ in range(2):
        torch.manual_seed(0)
        G, D = MLPGenerator(), MLPDiscriminator()
        opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True) for m in (D, G)]
        pairs.append((G, D, *opts))
    step = mlp_step.for_models(pairs[1][0], pairs[1][1], "bce")
    assert step is not None
    data = torch.rand(40 * 64 + 32, 1, 28, 28) * 2 - 1
    noise = torch.Generator().manual_seed(1)
    for i in range(41):  # the last batch holds 32 images
        real = data[i * 64 : (i + 1) * 64]
        z_d, z_g = torch.randn(2, real.size(0), 100, generator=noise)
        ours = fast_step(step, *pairs[1], real, z_d, z_g)
        theirs = autograd_step(*pairs[0], real, z_d, z_g)
        assert torch.equal(ours[0], theirs[0]), f"D losses differ at step {i}"
        assert torch.equal(ours[1], theirs[1]), f"G losses differ at step {i}"
        for a, b in zip(ours[2] + ours[3], theirs[2] + theirs[3], strict=True):
            assert torch.equal(a, b), f"gradients differ at step {i}"
    for m_ours, m_theirs in ((pairs[1][0], pairs[0][0]), (pairs[1][1], pairs[0][1])):
        for (k, a), b in zip(m_ours.state_dict().items(), m_theirs.state_dict().values(), strict=True):
            assert torch.equal(a, b), k  # parameters, batch-norm running statistics, num_batches_tracked


def test_the_trainer_gives_the_same_run_with_and_without_it(tmp_path, monkeypatch):
    config = small("mlp_gan", epochs=2)
    images = blobs(300)
    fast = torch.load(
        train(config, out=tmp_path / "fast", device="cpu", progress=False, images=images), weights_only=False
    )
    monkeypatch.setattr(loop.mlp_step, "for_models", lambda *a: None)
    slow = torch.load(
        train(config, out=tmp_path / "slow", device="cpu", progress=False, images=images), weights_only=False
    )
    for key in ("generator", "discriminator"):
        for k, v in slow[key].items():
            assert torch.equal(fast[key][k], v), f"{key}.{k}"
    assert fast["losses"] == slow["losses"]


def test_only_the_layers_it_writes_out():
    G, D = MLPGenerator(), MLPDiscriminator()
    assert mlp_step.for_models(G, D, "bce") is not None
    assert mlp_step.for_models(G, D, "wgan-gp") is None
    assert mlp_step.for_models(G, MLPDiscriminator(sigmoid=False), "bce") is None
    assert mlp_step.for_models(DCGANGenerator(), D, "bce") is None
    assert mlp_step.for_models(copy.deepcopy(G).eval(), D, "bce") is None
    odd = copy.deepcopy(G)
    odd.model[1] = nn.ReLU()
    assert mlp_step.for_models(odd, D, "bce") is None
    hooked = copy.deepcopy(D)
    hooked.model[0].register_forward_hook(lambda *a: None)
    assert mlp_step.for_models(G, hooked, "bce") is None
