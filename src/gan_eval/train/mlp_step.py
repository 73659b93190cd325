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


LINEAR, LEAKY_RELU, BATCH_NORM, TANH, SIGMOID = range(5)


def _plan(layers: Sequence[nn.Module]) -> list[tuple[Any, ...]]:
    """Per layer, its kind and the tensors and numbers its kernels take, looked up once (a module's attribute
    lookup and ``weight.t()`` cost about a microsecond each, some forty times a step). The tensors are the
    modules' own, updated in place by the optimizer and by ``load_state_dict``; a plan is stale once a
    module's parameters are replaced (``.to()``, ``load_state_dict(assign=True)``)."""
    plan: list[tuple[Any, ...]] = []
    for m in layers:
        if isinstance(m, nn.Linear):
            plan.append((LINEAR, m.weight, m.bias, m.weight.t()))
        elif isinstance(m, nn.LeakyReLU):
            plan.append((LEAKY_RELU, m.negative_slope))
        elif isinstance(m, nn.BatchNorm1d):
            assert m.num_batches_tracked is not None and m.momentum is not None  # (checked by _supported)
            stats = (m.running_mean, m.running_var, m.num_batches_tracked, m.momentum, m.eps)
            plan.append((BATCH_NORM, m.weight, m.bias, *stats))
        else:
            plan.append((TANH if isinstance(m, nn.Tanh) else SIGMOID,))
    return plan


def _buffers(plan: list[tuple[Any, ...]], rows: int) -> list[tuple[torch.Tensor, ...]]:
    """Per layer of ``plan``, the tensors its kernels write for a batch of ``rows``: a linear layer's output
    and input gradient; batch norm's output, mean, 1/std and input gradient. Kept from step to step, so each
    step writes into memory still in the CPU's caches from the step before (fresh allocations of the same
    sizes made the step ~8% slower); a kernel writing into ``out=`` computes what it computes without it."""
    made: list[tuple[torch.Tensor, ...]] = []
    for rec in plan:
        if rec[0] == LINEAR:
            n_out, n_in = rec[1].shape
            made.append((rec[1].new_empty(rows, n_out), rec[1].new_empty(rows, n_in)))
        elif rec[0] == BATCH_NORM:
            c = rec[1].numel()
            made.append(tuple(rec[1].new_empty(*shape) for shape in ((rows, c), (c,), (c,), (rows, c))))
        else:
            made.append(())
    return made


def _forward(
    plan: list[tuple[Any, ...]],
    x: torch.Tensor,
    tape: list[Any] | None,
    bufs: list[tuple[torch.Tensor, ...]],
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``nn.Sequential(*layers)(x)`` in training mode, into ``bufs`` (:func:`_buffers`); the last linear layer
    writes into ``out`` if given (the activations after it work in place). With a ``tape``, appends per layer
    what its backward needs: a linear layer's input, an activation's output, batch norm's input and
    statistics."""
    last_linear = -1 if out is None else max(i for i, rec in enumerate(plan) if rec[0] == LINEAR)
    for i, rec in enumerate(plan):
        kind = rec[0]
        if kind == LINEAR:
            saved: Any = x
            y = out if i == last_linear else bufs[i][0]
            x = torch.addmm(rec[2], x, rec[3], out=y)  # = F.linear on 2-d input
        elif kind == LEAKY_RELU:  # in place: x is this step's own buffer (the first layer is linear)
            x = saved = aten.leaky_relu_(x, rec[1])
        elif kind == BATCH_NORM:
            _, weight, bias, running_mean, running_var, tracked, momentum, eps = rec
            tracked.add_(1)  # what the module does in training mode
            y, mean, invstd = aten.native_batch_norm.out(
                x,
                weight,
                bias,
                running_mean,
                running_var,
                True,
                momentum,
                eps,
                out=bufs[i][0],
                save_mean=bufs[i][1],
                save_invstd=bufs[i][2],
            )
            saved, x = (x, mean, invstd), y
        elif kind == TANH:
            x = saved = x.tanh_()
        else:
            x = saved = x.sigmoid_()
        if tape is not None:
            tape.append(saved)
    return x


def _backward(
    plan: list[tuple[Any, ...]],
    tape: list[Any],
    grad: torch.Tensor,
    bufs: list[tuple[torch.Tensor, ...]],
    *,
    param_grads: bool,
    input_grad: bool,
) -> torch.Tensor | None:
    """Walk the layers back from ``grad`` (the loss's gradient w.r.t. their output; overwritten). With
    ``param_grads``, every parameter's ``.grad`` gets this step's gradient (written into the tensor already
    there, or a new one after ``zero_grad(set_to_none=True)``). ``input_grad``: return the gradient w.r.t.
    the input (else the first layer skips that product, as autograd does)."""
    g: Any = grad
    for i in range(len(plan) - 1, -1, -1):
        rec, saved = plan[i], tape[i]
        kind = rec[0]
        if kind == LINEAR:
            weight, bias = rec[1], rec[2]
            if param_grads:
                wg, bg = weight.grad, bias.grad
                if wg is None or bg is None:
                    weight.grad, bias.grad = g.t().mm(saved), g.sum(0)
                else:
                    torch.mm(g.t(), saved, out=wg)
                    torch.sum(g, 0, out=bg)
            if i > 0 or input_grad:
                g = torch.mm(g, weight, out=bufs[i][1])
            else:
                g = None
        elif kind == LEAKY_RELU:  # element-wise backward kernels write over the incoming gradient
            g = aten.leaky_relu_backward.grad_input(g, saved, rec[1], True, grad_input=g)
        elif kind == BATCH_NORM:
            _, weight, bias, running_mean, running_var, _, _, eps = rec
            x, mean, invstd = saved
            gw, gb = weight.grad, bias.grad
            if not param_grads or gw is None or gb is None:
                gw, gb = torch.empty_like(weight), torch.empty_like(bias)
                if param_grads:
                    weight.grad, bias.grad = gw, gb
            g, _, _ = aten.native_batch_norm_backward.out(
                g,
                x,
                weight,
                running_mean,
                running_var,
                mean,
                invstd,
                True,
                eps,
                [True, True, True],
                out0=bufs[i][3],
                out1=gw,
                out2=gb,
            )
        elif kind == TANH:
            g = aten.tanh_backward.grad_input(g, saved, grad_input=g)
        else:
            g = aten.sigmoid_backward.grad_input(g, saved, grad_input=g)
    return g


class MLPGANStep:
    """Gradients of the BCE GAN losses for an ``MLPGenerator`` / ``MLPDiscriminator`` pair, written into the
    parameters' ``.grad``; the caller then steps its optimizers, as after ``loss.backward()``. Build it once
    the modules are where they will train (see :func:`_plan`)."""

    def __init__(self, generator: MLPGenerator, discriminator: MLPDiscriminator) -> None:
        self.g_plan = _plan(list(generator.model))
        self.d_plan = _plan(list(discriminator.model))
        weight = self.d_plan[0][1]
        self.one = weight.new_ones(())
        self.width = int(weight.shape[1])  # C*H*W
        self.bufs: dict[tuple[int, int], list[tuple[torch.Tensor, ...]]] = {}  # (plan, rows) -> _buffers
        self.real_fake: dict[int, torch.Tensor] = {}  # batch size -> [2B, C*H*W]

    def _bufs(self, plan: list[tuple[Any, ...]], rows: int) -> list[tuple[torch.Tensor, ...]]:
        key = (id(plan), rows)
        if key not in self.bufs:
            self.bufs[key] = _buffers(plan, rows)
        return self.bufs[key]

    def _loss(
        self, x: torch.Tensor, target: torch.Tensor, d_bufs: list[tuple[torch.Tensor, ...]]
    ) -> tuple[torch.Tensor, list[Any], torch.Tensor]:
        """(BCE of the discriminator on ``x``, its tape, the loss's gradient w.r.t. the probabilities)."""
        tape: list[Any] = []
        p = _forward(self.d_plan, x, tape, d_bufs)
        loss = aten.binary_cross_entropy(p, target, None, MEAN)
        return loss, tape, aten.binary_cross_entropy_backward(self.one, p, target, None, MEAN)

    def discriminator_grads(self, real: torch.Tensor, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The discriminator step: fake = G(z) (no generator gradients), BCE of D on ``cat([real, fake])``
        against ``targets`` (ones then zeros); sets D's gradients and returns the loss. The fake half is
        written next to the real one (no concatenation)."""
        b = real.size(0)
        x = self.real_fake.get(b)
        if x is None:
            x = self.real_fake[b] = self.one.new_empty(2 * b, self.width)
        with torch.no_grad():
            x[:b].copy_(real.reshape(b, -1))
            _forward(self.g_plan, z, None, self._bufs(self.g_plan, b), out=x[b:])
            d_bufs = self._bufs(self.d_plan, 2 * b)
            loss, tape, grad = self._loss(x, targets, d_bufs)
            _backward(self.d_plan, tape, grad, d_bufs, param_grads=True, input_grad=False)
        return loss

    def generator_grads(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The generator step: BCE of D(G(z)) against ``targets`` (ones); sets G's gradients (D's are left
        alone, as with D frozen) and returns the loss."""
        with torch.no_grad():
            g_tape: list[Any] = []
            g_bufs, d_bufs = self._bufs(self.g_plan, z.size(0)), self._bufs(self.d_plan, z.size(0))
            fake = _forward(self.g_plan, z, g_tape, g_bufs)
            loss, d_tape, grad = self._loss(fake, targets, d_bufs)
            grad_fake = _backward(self.d_plan, d_tape, grad, d_bufs, param_grads=False, input_grad=True)
            assert grad_fake is not None
            _backward(self.g_plan, g_tape, grad_fake, g_bufs, param_grads=True, input_grad=False)
        return loss


def for_models(generator: nn.Module, discriminator: nn.Module, loss: str) -> MLPGANStep | None:
    """An :class:`MLPGANStep` when the pair and loss are the ones written out here, else None (autograd)."""
    if loss != "bce" or type(generator) is not MLPGenerator or type(discriminator) is not MLPDiscriminator:
        return None
    if not (generator.training and discriminator.training):  # (batch norm is written out in training mode)
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
