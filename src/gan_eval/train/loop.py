"""The training loop (reads top to bottom, nanoGPT style): ``train(config, out=...) -> last checkpoint``.

Per step, with the BCE loss (the reference article's algorithm): one discriminator step on a real batch and a
fake batch from fresh noise (the two halves' losses averaged), then one generator step with fresh noise. With
``ns``: the same non-saturating game written on logits (``softplus(-D(x)) + softplus(D(G(z)))`` for D,
``softplus(-D(G(z)))`` for G: no sigmoid to saturate), optionally with the R1 penalty on real images. With
``wgan-gp``: a critic step (Wasserstein loss + gradient penalty) on every batch and a generator step every
``n_critic`` batches.

Where this is faster than the article's loop without changing what is computed:
- the data set is one uint8 tensor on the device (47 MB for MNIST), indexed by a per-epoch permutation from a
  seeded ``torch.Generator`` (no DataLoader, no PIL per item); each batch gets ``ToTensor`` + ``Normalize(0.5,
  0.5)``'s ops (/255, -0.5, /0.5: the same floats) as it is drawn;
- the fake batch for the discriminator step is made under ``no_grad`` (the article backpropagates it into the
  generator, whose gradients are then zeroed before they are used); batch norm still updates its running
  statistics in both generator calls, as in the article;
- when the discriminator has no batch-dependent layer, real and fake share one forward pass: BCE's mean over
  the concatenated 2B outputs equals ``0.5 * (real_loss + fake_loss)``;
- the discriminator's parameters are frozen during the generator step (their gradients were discarded
  anyway); Adam is the fused implementation (the same update in one kernel); a batch is ``index_select`` of
  the permutation; losses stay on the device until the end of the epoch (no ``.item()`` per step); grads
  are set to None; the progress bar is refreshed every few steps;
- the MLP GAN on the CPU skips autograd's bookkeeping: ``mlp_step.py`` runs the kernels autograd would run for
  its backward, with the same arguments in the same order, into tensors kept from step to step (bit-for-bit
  the same gradients and run; tested). About 70% of its epoch is then the matrix products themselves.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from gan_eval.data.base import quantize
from gan_eval.data.checkpoint_format import make_checkpoint
from gan_eval.data.export import save_image_grid
from gan_eval.errors import UserError
from gan_eval.runtime import Progress, check_tensorboard, resolve_device
from gan_eval.train import checkpoint as ckpt_files
from gan_eval.train import mlp_step
from gan_eval.train.checkpoint import checkpoint_path, latest_checkpoint, list_checkpoints, save_checkpoint
from gan_eval.train.config import TrainConfig
from gan_eval.train.data import load_training_images, normalize, sample_latent
from gan_eval.train.losses import gradient_penalty, r1_penalty
from gan_eval.train.models import (
    build_discriminator,
    build_generator,
    discriminator_args,
    generator_args,
    has_batch_statistics,
)
from gan_eval.train.optim import AdamStep, adam
from gan_eval.train.tensorboard import TrainingLog

#: ``eval_hook(epoch, checkpoint_path)`` may return a dict of numbers; they become columns of epochs.csv.
EvalHook = Callable[[int, Path], "dict[str, float] | None"]
GRID_SAMPLES = 64
#: Config fields that may differ when resuming (they do not change the numbers of the run).
RESUME_MAY_CHANGE = ("epochs", "eval_every", "num_threads", "name")
STEP_LOG = "log.csv"
EPOCH_LOG = "epochs.csv"


def _compatible(stored: TrainConfig, given: TrainConfig, where: Path) -> TrainConfig:
    a, b = stored.to_dict(), given.to_dict()
    differ = [k for k in a if k not in RESUME_MAY_CHANGE and a[k] != b[k]]
    if differ:
        pairs = ", ".join(f"{k}: checkpoint {a[k]!r} vs given {b[k]!r}" for k in differ)
        raise UserError(f"--resume {where}: the config differs from the checkpoint's ({pairs})")
    return dataclasses.replace(stored, **{k: getattr(given, k) for k in RESUME_MAY_CHANGE})


def _finite(*modules: nn.Module) -> bool:
    """True when every parameter and buffer of ``modules`` is finite."""
    return all(bool(torch.isfinite(t).all()) for m in modules for t in (*m.parameters(), *m.buffers()))


def _diverged(epoch: int, last_path: Path) -> UserError:
    return UserError(
        f"training diverged in epoch {epoch}: non-finite losses or weights; the last good checkpoint is "
        f"{last_path.name if last_path.exists() else 'none'} (try lower optim.lr_d / optim.lr_g, or another "
        "loss)"
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    from gan_eval.atomic import atomic_write

    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False), checksum=False)


@ckpt_files.cleans_up_out
def train(
    config: TrainConfig,
    *,
    out: str | Path,
    epochs: int | None = None,
    device: str = "auto",
    seed: int | None = None,
    resume: bool = False,
    progress: bool = True,
    eval_hook: EvalHook | None = None,
    images: torch.Tensor | np.ndarray | None = None,
    tensorboard: str | Path | None = None,
) -> Path:
    """Train ``config`` and return the path of the last checkpoint.

    Writes into ``out``: ``ckpt_epoch_XXX.pt`` every epoch, ``samples_epoch_XXX.png`` (fixed noise, 8x8 grid),
    ``log.csv`` (per step: epoch, step, d_loss, g_loss) and ``epochs.csv`` (per epoch: mean losses, seconds,
    CPU seconds of this process, images/s, and whatever ``eval_hook`` returned).

    Args:
        epochs, seed: override the config's values.
        device: ``auto`` (cuda when available), ``cpu`` or ``cuda``.
        resume: continue from the last checkpoint in ``out``; on CPU the result is bit-for-bit that of an
            uninterrupted run. Without it, ``out`` must not hold checkpoints yet.
        eval_hook: called as ``eval_hook(epoch, ckpt_path)`` every ``config.eval_every`` epochs and after the
            last one.
        images: uint8 ``[N, C, H, W]`` to train on instead of ``config.dataset`` (tests, custom data).
        tensorboard: a folder for TensorBoard logs (:mod:`gan_eval.train.tensorboard`): losses per step, the
            evaluation metrics and a sample grid per epoch.
    """
    if tensorboard is not None:
        check_tensorboard()  # before any work: a missing package is one line, not a failure after an epoch
    overrides: dict[str, Any] = {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
    config = dataclasses.replace(config, **overrides)
    out = Path(out)
    dev = resolve_device(device)
    start: dict[str, Any] | None = None
    last = latest_checkpoint(out)
    if resume:
        if last is None:
            raise UserError(f"--resume: no ckpt_epoch_XXX.pt in {out}")
        from gan_eval.data.checkpoint_format import load_checkpoint

        start = load_checkpoint(last)
        if "optimizers" not in start:
            raise UserError(
                f"--resume: {last} is a slim checkpoint (no optimizer states); it cannot be resumed"
            )
        config = _compatible(TrainConfig.from_dict(start["config"]), config, last)
        if start["epoch"] >= config.epochs:
            raise UserError(
                f"--resume: {last} is already at epoch {start['epoch']} of {config.epochs}; pass --epochs"
            )
    elif last is not None:
        raise UserError(
            f"{out} already holds checkpoints ({last.name}); pass --resume or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    log = TrainingLog(tensorboard) if tensorboard is not None else None
    if config.num_threads:
        torch.set_num_threads(config.num_threads)

    # ---- data: one uint8 tensor on the device; batches are normalized as they are drawn
    data = load_training_images(config, images).to(dev)
    n_images, image_shape = data.shape[0], tuple(int(s) for s in data.shape[1:])
    batch = config.batch_size
    steps_per_epoch = math.ceil(n_images / batch)  # the last, smaller batch is kept (DataLoader's default)
    if n_images % batch == 1:  # ... unless it holds one image: batch norm cannot train on a batch of one
        steps_per_epoch -= 1

    # ---- models and optimizers (seeded initialisation)
    torch.manual_seed(config.seed)
    g_arch: dict[str, Any] = {
        "name": config.generator_arch,
        "args": generator_args(config.generator_arch, config.generator_args, config.latent_dim, image_shape),
    }
    d_arch: dict[str, Any] = {
        "name": config.discriminator_arch,
        "args": discriminator_args(config.discriminator_arch, config.discriminator_args, image_shape),
    }
    try:
        G = build_generator(g_arch["name"], g_arch["args"]).to(dev)
        D = build_discriminator(d_arch["name"], d_arch["args"]).to(dev)
    except (TypeError, ValueError) as e:
        raise UserError(f"train config {config.name!r}: bad architecture arguments ({e})") from None
    with torch.no_grad():  # in eval mode: a check must not touch batch norm's running statistics
        produced = tuple(G.eval()(torch.zeros(2, config.latent_dim, device=dev)).shape[1:])
        G.train()
    if produced != image_shape:
        raise UserError(f"generator {g_arch['name']!r} does not produce images of shape {image_shape}")
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if config.ema_decay > 0 else None
    opt_g = adam(G, config.lr_g, config.betas_g)
    opt_d = adam(D, config.lr_d, config.betas_d)
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    noise_gen = torch.Generator(device=dev).manual_seed(config.seed + 1)
    fixed_noise = sample_latent(
        GRID_SAMPLES, config, torch.Generator(device=dev).manual_seed(config.seed + 2), dev
    )
    first_epoch, global_step = 1, 0
    epoch_rows: list[dict[str, Any]] = []
    step_frames: list[pd.DataFrame] = []

    if start is not None:
        G.load_state_dict(start["generator"])
        D.load_state_dict(start["discriminator"])
        if G_ema is not None:
            G_ema.load_state_dict(start["generator_ema"])
        opt_g.load_state_dict(start["optimizers"]["g"])
        opt_d.load_state_dict(start["optimizers"]["d"])
        shuffle_gen.set_state(start["rng"]["shuffle"])
        noise_gen.set_state(start["rng"]["noise"])
        torch.set_rng_state(start["rng"]["torch"])
        if dev.type == "cuda" and start["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(start["rng"]["cuda"])
        first_epoch, global_step = int(start["epoch"]) + 1, int(start["global_step"])
        for old in (STEP_LOG, EPOCH_LOG):  # drop rows of epochs after the checkpoint (an interrupted epoch)
            if (out / old).exists():
                frame = pd.read_csv(out / old)
                frame = frame[frame["epoch"] < first_epoch]
                if old == STEP_LOG:
                    step_frames.append(frame)
                else:
                    epoch_rows.extend(frame.to_dict("records"))
        for epoch_no, path in list_checkpoints(out):
            if epoch_no > int(start["epoch"]):
                path.unlink()

    # ---- the step
    fuse_d = not has_batch_statistics(D)
    # The MLP GAN on the CPU: the same kernels as autograd, bit-for-bit, without its bookkeeping (mlp_step.py)
    fast = mlp_step.for_models(G, D, config.loss) if dev.type == "cpu" else None
    step_d, step_g = AdamStep(opt_d), AdamStep(opt_g)  # = opt_d.step, opt_g.step, less Python per call
    bce = nn.BCELoss()
    targets: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def labels(b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ones [b, 1], zeros [b, 1], ones-then-zeros [2b, 1]) on the device, made once per batch size."""
        if b not in targets:
            ones, zeros = torch.ones(b, 1, device=dev), torch.zeros(b, 1, device=dev)
            targets[b] = (ones, zeros, torch.cat([ones, zeros]))
        return targets[b]

    def d_step(real: torch.Tensor) -> torch.Tensor:
        b = real.size(0)
        if fast is not None:
            d_loss = fast.discriminator_grads(real, sample_latent(b, config, noise_gen, dev), labels(b)[2])
            step_d()
            return d_loss
        with torch.no_grad():
            fake = G(sample_latent(b, config, noise_gen, dev))
        if config.loss == "bce":
            ones, zeros, both = labels(b)
            if fuse_d:
                d_loss = bce(D(torch.cat([real, fake])), both)
            else:
                d_loss = 0.5 * (bce(D(real), ones) + bce(D(fake), zeros))
        else:  # ns, wgan-gp: D returns unbounded scores (logits)
            r1 = config.r1_gamma > 0 and global_step % config.r1_every == 0
            if r1:
                real = real.detach().requires_grad_(True)
            if fuse_d:
                scores = D(torch.cat([real, fake]))
                d_real, d_fake = scores[:b], scores[b:]
            else:
                d_real, d_fake = D(real), D(fake)
            if config.loss == "ns":
                d_loss = nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()
                if r1:
                    # lazy regularisation (StyleGAN2): every r1_every-th step, r1_every times the weight
                    d_loss = d_loss + (0.5 * config.r1_gamma * config.r1_every) * r1_penalty(d_real, real)
            else:
                d_loss = (
                    d_fake.mean()
                    - d_real.mean()
                    + config.gp_weight * gradient_penalty(D, real, fake, noise_gen)
                )
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        step_d()
        return d_loss.detach()

    def g_step(b: int) -> torch.Tensor:
        if fast is not None:
            g_loss = fast.generator_grads(sample_latent(b, config, noise_gen, dev), labels(b)[0])
            step_g()
        else:
            D.requires_grad_(False)  # only the generator's gradients are used
            scores = D(G(sample_latent(b, config, noise_gen, dev)))
            if config.loss == "bce":
                g_loss = bce(scores, labels(b)[0])
            elif config.loss == "ns":  # the non-saturating loss -log sigmoid(D(G(z))), on logits
                g_loss = nn.functional.softplus(-scores).mean()
            else:
                g_loss = -scores.mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            step_g()
            D.requires_grad_(True)
        if G_ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1.0 - config.ema_decay)
                for b_ema, b_cur in zip(G_ema.buffers(), G.buffers(), strict=True):
                    b_ema.copy_(b_cur)
        return g_loss.detach()

    # ---- the epochs
    bar = Progress("epoch", steps_per_epoch, unit="steps", enabled=progress, rate=False)
    last_path = checkpoint_path(out, first_epoch - 1)
    with bar:
        for epoch in range(first_epoch, config.epochs + 1):
            t0, cpu0 = time.perf_counter(), time.process_time()
            perm = torch.randperm(n_images, generator=shuffle_gen).to(dev)
            d_hist = torch.zeros(steps_per_epoch, device=dev)
            g_hist = torch.full((steps_per_epoch,), float("nan"), device=dev)
            refresh = max(1, steps_per_epoch // 50)
            bar.reset(steps_per_epoch, f"epoch {epoch}/{config.epochs}")
            try:
                for i in range(steps_per_epoch):
                    real = normalize(data.index_select(0, perm[i * batch : (i + 1) * batch]))
                    d_hist[i] = d_step(real)
                    global_step += 1
                    if global_step % config.n_critic == 0:
                        g_hist[i] = g_step(real.size(0))
                    if progress and ((i + 1) % refresh == 0 or i + 1 == steps_per_epoch):
                        lo = max(0, i + 1 - refresh)  # running losses: a device sync, only when shown
                        d_run = float(d_hist[lo : i + 1].mean())
                        g_run = float(g_hist[lo : i + 1].nanmean())
                        bar.update(
                            i + 1, description=f"epoch {epoch}/{config.epochs} D {d_run:.3f} G {g_run:.3f}"
                        )
            except RuntimeError:  # e.g. BCELoss on NaN probabilities: divergence, when the weights say so
                if _finite(G, D):
                    raise
                raise _diverged(epoch, last_path) from None
            if dev.type == "cuda":  # the steps run asynchronously: wait for them before reading the clock
                torch.cuda.synchronize(dev)
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
            bar.done()

            # ---- logs, samples, checkpoint, evaluation
            d_np, g_np = d_hist.cpu().numpy(), g_hist.cpu().numpy()
            if not (np.isfinite(d_np).all() and not np.isinf(g_np).any() and _finite(G, D)):
                # (g_np is NaN where no generator step ran, by design; a NaN step shows in the weights)
                raise _diverged(epoch, last_path)
            first_step = global_step - steps_per_epoch + 1
            step_frames.append(
                pd.DataFrame(
                    {
                        "epoch": epoch,
                        "step": np.arange(first_step, global_step + 1),
                        "d_loss": d_np,
                        "g_loss": g_np,
                    }
                )
            )
            row: dict[str, Any] = {
                "epoch": epoch,
                "global_step": global_step,
                "d_loss": float(np.mean(d_np)),
                "g_loss": float(np.nanmean(g_np)) if np.isfinite(g_np).any() else float("nan"),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,  # this process's CPU time: the cost, even on a shared machine
                "images_per_s": n_images / seconds,
            }
            sampler = G_ema if G_ema is not None else G
            was_training = sampler.training
            sampler.eval()
            with torch.no_grad():
                grid = quantize(sampler(fixed_noise))
            sampler.train(was_training)
            save_image_grid(grid, out / f"samples_epoch_{epoch:03d}.png", nrow=8)
            epoch_rows.append(row)
            losses = {k: [float(r[k]) for r in epoch_rows] for k in ("epoch", "d_loss", "g_loss")}
            ckpt = make_checkpoint(
                generator=G.state_dict(),
                generator_ema=G_ema.state_dict() if G_ema is not None else None,
                generator_arch=g_arch,
                latent_dim=config.latent_dim,
                latent_distribution=config.latent_distribution,
                image_shape=image_shape,
                dataset=config.dataset if images is None else "custom",
                epoch=epoch,
                global_step=global_step,
                seed=config.seed,
                config=config.to_dict(),
                losses=losses,
                resume={
                    "discriminator": D.state_dict(),
                    "discriminator_arch": d_arch,
                    "optimizers": {"g": opt_g.state_dict(), "d": opt_d.state_dict()},
                    "rng": {
                        "shuffle": shuffle_gen.get_state(),
                        "noise": noise_gen.get_state(),
                        "torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if dev.type == "cuda" else None,
                    },
                },
            )
            last_path = save_checkpoint(ckpt, checkpoint_path(out, epoch))
            if eval_hook is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
                row.update(eval_hook(epoch, last_path) or {})
            _write_csv(pd.concat(step_frames, ignore_index=True), out / STEP_LOG)
            _write_csv(pd.DataFrame(epoch_rows), out / EPOCH_LOG)
            if log is not None:
                log.epoch(epoch=epoch, first_step=first_step, d_loss=d_np, g_loss=g_np, grid=grid, row=row)
    if log is not None:
        log.close()
    return last_path
