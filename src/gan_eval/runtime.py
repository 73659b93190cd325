"""Where and how things run, in one place for the evaluator and the trainer: the device, the numeric
precision, batch sizes, the memory layout of the Inception forward, and progress display.

Progress: on a terminal a rich bar (transient, on stderr); anywhere else (CI logs, files, pipes) plain lines
on stderr - one every ``LOG_EVERY_S`` seconds while a step runs and one when it ends, if it took longer than
``QUIET_BELOW_S`` - so a log shows what happened instead of the blank lines a bar leaves there.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

import torch

from gan_eval.errors import UserError

PRECISIONS = ("fp32", "tf32", "bf16")
LOG_EVERY_S = 10.0
"""Seconds between two plain progress lines in a log."""
QUIET_BELOW_S = 2.0
"""Steps shorter than this print nothing in a log."""


# ----------------------------------------------------------------------------- device and precision
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cpu``; ``cuda[:k]``. UserError for anything else or for
    cuda on a machine without it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"--device {device!r}: {e}; expected auto, cpu or cuda[:k]") from None
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device}: expected auto, cpu or cuda[:k]")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    return dev


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    return precision


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """fp32: exact (TF32 off); tf32: TF32 matmuls/convs on CUDA; bf16: autocast to bfloat16."""
    check_precision(precision)
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if precision == "bf16":
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def default_batch_size(extractor_name: str, device: torch.device) -> int:
    """Images per extractor batch when none is given."""
    if extractor_name == "inception":
        return 256 if device.type == "cuda" else 32
    # the LeNets on a CPU: 250 keeps a batch's activations in cache (5,000 images: 0.64 s at 250, 0.98 s at
    # 1,000 on 2 cores; benchmarks/bench_tracker.py); on a GPU larger batches fill the device
    return 1000 if device.type == "cuda" else 250


def inception_channels_last(device: torch.device, precision: str) -> bool:
    """The faster memory layout for the Inception forward, measured (benchmarks/RESULTS.md): channels_last on
    the CPU (1.4x) and for tf32/bf16 on CUDA (1.1x); NCHW for exact fp32 on CUDA (channels_last 16% slower on
    an H200). Features agree to ~1e-6 either way."""
    return not (device.type == "cuda" and precision == "fp32")


# ----------------------------------------------------------------------------- time estimates
#: Inception images per second and CPU thread (benchmarks/RESULTS.md: 14.8 images/s end to end on 2 cores).
INCEPTION_CPU_RATE_PER_THREAD = 7.4
#: Passes estimated to take longer than this get one line up front, with the fast alternatives.
ANNOUNCE_ABOVE_S = 60.0


def announce_slow_pass(extractor: str, device: torch.device, n_images: int, *, enabled: bool = True) -> str:
    """One line on stderr before an Inception pass on the CPU estimated to exceed a minute (the default
    extractor on a laptop: ~11 minutes for 10,000 images), naming the faster choices; returns it ("" when
    nothing was said)."""
    if not enabled or extractor != "inception" or device.type != "cpu" or n_images <= 0:
        return ""
    threads = max(1, torch.get_num_threads())
    rate = INCEPTION_CPU_RATE_PER_THREAD * threads
    seconds = n_images / rate
    if seconds <= ANNOUNCE_ABOVE_S:
        return ""
    line = (
        f"gan-eval: note: Inception on the CPU: about {seconds / 60:.0f} min for {n_images:,} images "
        f"(~{rate:.0f} images/s on {threads} threads); on MNIST `-e mnist-lenet` takes seconds, or use a GPU "
        "(--device cuda)"
    )
    print(line, file=sys.stderr, flush=True)
    return line


# ----------------------------------------------------------------------------- TensorBoard
TENSORBOARD_HINT = "pip install 'gan-eval[tensorboard]' (or pip install tensorboard)"


def check_tensorboard() -> None:
    """UserError in one line when the tensorboard package is missing (checked before any work)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise UserError(f"TensorBoard logging needs the tensorboard package: {TENSORBOARD_HINT}")


def summary_writer(logdir: str | Any) -> Any:
    """A TensorBoard ``SummaryWriter`` writing to ``logdir`` (created); UserError when tensorboard is
    missing."""
    check_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(logdir))


# ----------------------------------------------------------------------------- progress
def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Progress of one long step (``with Progress(label, total) as p: p.update(done)``).

    ``unit`` names what is counted (``images``, ``steps``); ``rate`` adds "N unit/s". ``enabled=False``
    shows nothing. ``update(completed, description=...)`` sets the absolute count (and optionally a new
    description, e.g. running losses; a new ``total``)."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "images",
        enabled: bool = True,
        rate: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.label, self.total, self.unit, self.show_rate = label, int(total), unit, rate
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.completed = 0
        self.description = label
        self._bar: Any = None
        self._task: Any = None
        self._t0 = self._last_line = 0.0
        self._finished = False

    def __enter__(self) -> Progress:
        self._t0 = self._last_line = time.perf_counter()
        if self.enabled and _is_terminal(self.stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        return self

    def _rate_text(self) -> str:
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        return f"{self.completed / elapsed:,.0f} {self.unit}/s" if self.show_rate else ""

    def update(self, completed: int, description: str | None = None, total: int | None = None) -> None:
        self.completed = int(completed)
        if description is not None:
            self.description = description
        if total is not None:  # a step that learns its total once it starts (the bootstrap's tiles)
            self.total = int(total)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=self.completed,
                total=self.total,
                description=self.description,
                rate=self._rate_text(),
            )
            return
        now = time.perf_counter()
        if now - self._last_line >= LOG_EVERY_S and self.completed < self.total:
            self._last_line = now
            self._line(f"{self.completed:,}/{self.total:,} {self.unit}")

    def reset(self, total: int, description: str) -> None:
        """Start counting again (the trainer's next epoch)."""
        self.total, self.completed, self.description = int(total), 0, description
        self._t0 = self._last_line = time.perf_counter()
        self._finished = False
        if self._bar is not None:
            self._bar.reset(self._task, total=self.total, description=description)

    def _line(self, what: str) -> None:
        rate = self._rate_text()
        elapsed = time.perf_counter() - self._t0
        print(
            f"{self.description}: {what} ({elapsed:.1f} s{', ' + rate if rate else ''})",
            file=self.stream,
            flush=True,
        )

    def done(self) -> None:
        """The final line in a log (the trainer calls it at the end of each epoch)."""
        if self._finished:
            return
        self._finished = True
        if self.enabled and self._bar is None and time.perf_counter() - self._t0 >= QUIET_BELOW_S:
            self._line(f"{self.completed:,}/{self.total:,} {self.unit} done")

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, *rest)
        elif exc_type is None:
            self.done()
