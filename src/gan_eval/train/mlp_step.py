"""The MLP GAN's training step without autograd: the kernels autograd would run, called directly.

For the reference model (``MLPGenerator`` + ``MLPDiscriminator`` with the BCE loss) the step is small matrix
products (about 3 ms of a 5 ms step on 2 CPU cores) and some fifty small element-wise kernels; the rest of the
autograd version's time is bookkeeping: building the graph, the engine's walk back through it, module calls,
``zero_grad`` and ``requires_grad_``. Here each layer's forward records what its backward needs and the
backward is written out layer by layer with the same ATen kernels, arguments and order autograd uses
(``addmm``; ``mm`` for both gradients of a linear layer; ``sum`` for its bias; ``leaky_relu_backward``,
``native_batch_norm_backward``, ``tanh_backward``, ``sigmoid_backward``, ``binary_cross_entropy_backward``).
On the CPU the gradients, the updated parameters and the batch-norm running statistics are bit-for-bit
those of ``loss.backward()`` on the modules (``tests/train/test_mlp_step.py`` checks it over many steps), so
this is a faster route to the same numbers, not an approximation.

:func:`for_models` says whether a pair of networks is made only of the layers written out here
(Linear, LeakyReLU, BatchNorm1d in training mode, Tanh, Sigmoid); anything else trains through autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from gan_eval.train.models import MLPDiscriminator, MLPGenerator

aten: Any = torch.ops.aten
MEAN = 1  # at::Reduction::Mean
_LAYERS = (nn.Linear, nn.LeakyReLU, nn.BatchNorm1d, nn.Tanh, nn.Sigmoid)


def _supported(layers: Sequence[nn.Module]) -> bool:
    for m in layers:
        if type(m) not in _LAYERS or m._forward_hooks or m._forward_pre_hooks or m._backward_hooks:
            return False
        if isinstance(m, nn.Linear) and m.bias is None:
            return False
        if isinstance(m, nn.LeakyReLU) and not m.negative_slope > 0:  # sign(output) = sign(input)
            return False
        if isinstance(m, nn.BatchNorm1d) and not (
            m.affine and m.track_running_stats and m.momentum is not None
        ):
            return False
    return True


def _forward(layers: Sequence[nn.Module], x: torch.Tensor, tape: list[Any] | None) -> torch.Tensor:
    """``nn.Sequential(*layers)(x)`` in training mode. With a ``tape``, appends per layer what its backward
    needs: a linear layer's input, an activation's output, batch norm's input and saved mean and 1/std."""
    for m in layers:
        if isinstance(m, nn.Linear):
            saved: Any = x
            x = torch.addmm(m.bias, x, m.weight.t())  # = F.linear on 2-d input
        elif isinstance(m, nn.LeakyReLU):
            x = saved = aten.leaky_relu_(x, m.negative_slope)  # x is this step's own buffer
        elif isinstance(m, nn.BatchNorm1d):
            assert m.num_batches_tracked is not None and m.momentum is not None  # (checked by _supported)
            m.num_batches_tracked.add_(1)  # what the module does in training mode
            out, mean, invstd = torch.native_batch_norm(
                x, m.weight, m.bias, m.running_mean, m.running_var, True, m.momentum, m.eps
            )
            saved, x = (x, mean, invstd), out
        elif isinstance(m, nn.Tanh):
            x = saved = torch.tanh(x)
        else:  # nn.Sigmoid
            x = saved = torch.sigmoid(x)
        if tape is not None:
            tape.append(saved)
    return x


def _backward(
    layers: Sequence[nn.Module], tape: list[Any], grad: torch.Tensor, *, param_grads: bool, input_grad: bool
) -> torch.Tensor | None:
    """Walk ``layers`` back from ``grad`` (the loss's gradient w.r.t. their output). ``param_grads``: set
    every parameter's ``.grad`` (replacing it, as after ``zero_grad(set_to_none=True)``). ``input_grad``:
    return the gradient w.r.t. the input (else the first layer skips that product, as autograd does)."""
    g: torch.Tensor | None = grad
    for i in range(len(layers) - 1, -1, -1):
        m, saved = layers[i], tape[i]
        assert g is not None
        if isinstance(m, nn.Linear):
            if param_grads:
                m.weight.grad = g.t().mm(saved)
                m.bias.grad = g.sum(0)
            g = g.mm(m.weight) if i > 0 or input_grad else None
        elif isinstance(m, nn.LeakyReLU):
            g = aten.leaky_relu_backward(g, saved, m.negative_slope, True)
        elif isinstance(m, nn.BatchNorm1d):
            x, mean, invstd = saved
            g, gw, gb = aten.native_batch_norm_backward(
                g, x, m.weight, m.running_mean, m.running_var, mean, invstd, True, m.eps, [True, True, True]
            )
            if param_grads:
                m.weight.grad, m.bias.grad = gw, gb
        elif isinstance(m, nn.Tanh):
            g = aten.tanh_backward(g, saved)
        else:  # nn.Sigmoid
            g = aten.sigmoid_backward(g, saved)
    return g


class MLPGANStep:
    """Gradients of the BCE GAN losses for an ``MLPGenerator`` / ``MLPDiscriminator`` pair, written into the
    parameters' ``.grad``; the caller then steps its optimizers, as after ``loss.backward()``."""

    def __init__(self, generator: MLPGenerator, discriminator: MLPDiscriminator) -> None:
        self.g_layers = list(generator.model)
        self.d_layers = list(discriminator.model)
        self.img_shape = generator.img_shape
        self.one = torch.ones((), device=next(generator.parameters()).device)

    def generate(self, z: torch.Tensor, tape: list[Any] | None = None) -> torch.Tensor:
        """The generator's output, flat ``[B, C*H*W]`` (batch norm's running statistics update, as in the
        module's training-mode forward)."""
        return _forward(self.g_layers, z, tape)

    def _loss(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, list[Any], torch.Tensor]:
        """(BCE of the discriminator on ``x``, its tape, the loss's gradient w.r.t. the probabilities)."""
        tape: list[Any] = []
        p = _forward(self.d_layers, x, tape)
        loss = aten.binary_cross_entropy(p, target, None, MEAN)
        return loss, tape, aten.binary_cross_entropy_backward(self.one, p, target, None, MEAN)

    def discriminator_grads(self, real: torch.Tensor, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The discriminator step: fake = G(z) (no generator gradients), BCE of D on ``cat([real, fake])``
        against ``targets`` (ones then zeros); sets D's gradients and returns the loss."""
        with torch.no_grad():
            fake = self.generate(z)
            x = torch.cat([real.reshape(real.size(0), -1), fake])
            loss, tape, grad = self._loss(x, targets)
            _backward(self.d_layers, tape, grad, param_grads=True, input_grad=False)
        return loss

    def generator_grads(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The generator step: BCE of D(G(z)) against ``targets`` (ones); sets G's gradients (D's are left
        alone, as with D frozen) and returns the loss."""
        with torch.no_grad():
            g_tape: list[Any] = []
            fake = self.generate(z, g_tape)
            loss, d_tape, grad = self._loss(fake, targets)
            grad_fake = _backward(self.d_layers, d_tape, grad, param_grads=False, input_grad=True)
            assert grad_fake is not None
            _backward(self.g_layers, g_tape, grad_fake, param_grads=True, input_grad=False)
        return loss


def for_models(generator: nn.Module, discriminator: nn.Module, loss: str) -> MLPGANStep | None:
    """An :class:`MLPGANStep` when the pair and loss are the ones written out here, else None (autograd)."""
    if loss != "bce" or type(generator) is not MLPGenerator or type(discriminator) is not MLPDiscriminator:
        return None
    g_layers, d_layers = list(generator.model), list(discriminator.model)
    if not (_supported(g_layers) and _supported(d_layers)):
        return None
    if any(isinstance(m, nn.BatchNorm1d) for m in d_layers):  # real and fake must not share batch statistics
        return None
    if not isinstance(d_layers[-1], nn.Sigmoid):
        return None
    if not (isinstance(g_layers[0], nn.Linear) and isinstance(d_layers[0], nn.Linear)):
        return None  # (a first layer working in place would overwrite the caller's input)
    return MLPGANStep(generator, discriminator)
