"""Scoring a generator inside your own training loop.

::

    from gan_eval import Tracker

    tracker = Tracker(real="mnist", metrics=["fid"], extractor="mnist-lenet", n=5000,
                      results="reports/results.csv", run="my-gan", tensorboard="runs/my-gan/tb")
    for epoch in range(epochs):
        for step, (x, _) in enumerate(loader):
            ...                                            # your training step
        values = tracker(G, epoch=epoch + 1, step=global_step)   # {"fid": 23.4}
    tracker.close()

The extractor, the metric plan and the real side (from the cache, the shipped statistics, or one pass) are set
up once, when the tracker is made; each call samples ``n`` images from the generator (seeded latents in fixed
chunks, eval mode, ``no_grad``: the images :func:`gan_eval.evaluate` and ``gan-eval fid`` would score),
computes the metrics, appends rows (with ``step`` and ``epoch``) to the results table and, when asked, logs
scalars and a sample grid to TensorBoard. A call leaves the caller's state as it found it: every submodule's
train/eval mode, ``requires_grad`` (nothing is touched), the module's device, and the global random streams
(torch CPU and CUDA, numpy, Python's ``random``), so a training run is bit-identical with and without it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.config import load_eval_config
from gan_eval.runtime import summary_writer

__all__ = ["Tracker", "preserved_rng"]


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the global random streams on exit: torch's CPU generator, every CUDA device's (when CUDA has
    been initialised), numpy's legacy global ``np.random`` and Python's ``random``."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        np.random.set_state(np_state)
        random.setstate(py_state)


class Tracker:
    """Score a generator every N steps of your own training loop (module docstring).

    Args:
        real, metrics, extractor, n: as for :func:`gan_eval.evaluate` (defaults: mnist, fid, mnist-lenet,
            5,000 samples: 0.5 s a call on a 2-core CPU).
        results: a results table (.csv/.parquet) to append rows to (None: nothing written).
        run: the table's ``run_id``.
        z_dim, value_range: the generator's latent size (default: read from the module) and output range
            (default (-1, 1), checked on the first chunk).
        seed: the latent seed: every call scores the same latents, so values move with the generator only.
        tensorboard: a log folder or your own ``SummaryWriter``: each call adds ``gan_eval/<metric>`` scalars
            and a ``gan_eval/samples`` grid of ``grid`` images.
        options: any other :class:`~gan_eval.config.EvalConfig` field (``device``, ``batch_size``, ...).
    """

    def __init__(
        self,
        real: str = "mnist",
        metrics: Sequence[str] = ("fid",),
        extractor: str = "mnist-lenet",
        n: int = 5000,
        *,
        results: str | os.PathLike[str] | None = None,
        run: str = "run",
        z_dim: int | None = None,
        value_range: tuple[float, float] | None = None,
        seed: int = 0,
        tensorboard: Any = None,
        grid: int = 64,
        **options: Any,
    ) -> None:
        from gan_eval.runtime import resolve_device
        from gan_eval.stages import open_extractor, plan_for, real_side

        options.setdefault("progress", False)
        self.cfg = load_eval_config(
            None,
            real=real,
            fake="<in memory>",
            metrics=tuple(metrics),
            extractor=extractor,
            n=n,
            seed=seed,
            z_dim=z_dim,
            value_range=value_range,
            **options,
        )
        self.results = Path(results) if results is not None else None
        if self.results is not None:
            from gan_eval.results.store import check_results_target

            check_results_target(self.results)
        self.run, self.grid = run, int(grid)
        with preserved_rng():  # a pass over the real set must not move the caller's streams either
            self.device = resolve_device(self.cfg.device)
            self.extractor = open_extractor(self.cfg, self.device)
            self.plan = plan_for(self.cfg, self.extractor, real_given=True, train=None)
            self.real = (
                real_side(
                    self.cfg,
                    self.extractor,
                    self.device,
                    need_features=self.plan.need_real_features,
                    need_labels=self.plan.need_labels,
                )
                if self.plan.need_real
                else None
            )
        self._own_writer = tensorboard is not None and not hasattr(tensorboard, "add_scalar")
        self.writer = summary_writer(tensorboard) if self._own_writer else tensorboard

    def __call__(
        self, generator: Any, *, step: int | None = None, epoch: int | None = None
    ) -> dict[str, float]:
        """Score ``generator`` (an ``nn.Module`` or a callable ``z -> images``) now; returns metric -> value.
        Rows go to the results table with ``step`` and ``epoch``; TensorBoard's x axis is ``step`` (else
        ``epoch``)."""
        from gan_eval.data.memory import memory_source
        from gan_eval.pipeline import evaluate

        with preserved_rng():
            src = memory_source(
                generator,
                n=self.cfg.n,
                seed=self.cfg.seed,
                value_range=self.cfg.value_range,
                z_dim=self.cfg.z_dim,
            )
            cfg = replace(self.cfg, fake=src.spec)
            res = evaluate(config=cfg, extractor_module=self.extractor, fake_source=src, real_stats=self.real)
            res.source_info.update({k: v for k, v in (("epoch", epoch), ("step", step)) if v is not None})
            if self.results is not None:
                from gan_eval.results import append_results
                from gan_eval.results.details import save_details
                from gan_eval.results.rows import result_rows

                rel = save_details(res, self.results, cfg.fake) if res.details else ""
                append_results(result_rows(res, cfg, run_id=self.run, details=rel), self.results)
            if self.writer is not None:
                self._log(res.values, generator, step if step is not None else epoch)
        return dict(res.values)

    def _log(self, values: dict[str, float], generator: Any, x: int | None) -> None:
        from torchvision.utils import make_grid

        from gan_eval.data.memory import memory_source

        for key, value in values.items():
            self.writer.add_scalar(f"gan_eval/{key}", value, x)
        if self.grid:
            # the first `grid` images of the scored set (the same seeded latents)
            src = memory_source(
                generator,
                n=self.grid,
                seed=self.cfg.seed,
                value_range=self.cfg.value_range,
                z_dim=self.cfg.z_dim,
            )
            images = torch.cat(list(src.batches(self.grid)))
            self.writer.add_image("gan_eval/samples", make_grid(images, nrow=8, padding=2), x)
        self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer the tracker made (a writer you passed is yours to close)."""
        if self._own_writer and self.writer is not None:
            self.writer.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
