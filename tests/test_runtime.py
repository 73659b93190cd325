"""runtime: one device resolver for evaluator and trainer, and progress that a log can read."""

from __future__ import annotations

import io

import pytest
import torch

from gan_eval import runtime
from gan_eval.errors import UserError


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "gpu0", ""])
def test_resolve_device_refuses_what_it_cannot_use(bad):
    with pytest.raises(UserError, match="--device"):
        runtime.resolve_device(bad)


def test_resolve_device():
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    assert runtime.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert runtime.resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            runtime.resolve_device("cuda:0")


def test_progress_in_a_log_prints_plain_lines(monkeypatch):
    """Not a terminal: no bar (no blank lines); a line every LOG_EVERY_S and one at the end of a long step."""
    now = [0.0]
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: now[0])
    out = io.StringIO()
    with runtime.Progress("fake ckpt.pt", 1000, stream=out) as p:
        for t, done in ((5.0, 100), (11.0, 400), (12.0, 600), (25.0, 900), (30.0, 1000)):
            now[0] = t
            p.update(done)
    lines = out.getvalue().splitlines()
    assert lines == [
        "fake ckpt.pt: 400/1,000 images (11.0 s, 36 images/s)",
        "fake ckpt.pt: 900/1,000 images (25.0 s, 36 images/s)",
        "fake ckpt.pt: 1,000/1,000 images done (30.0 s, 33 images/s)",
    ]


def test_short_steps_print_nothing_and_disabled_progress_is_silent():
    out = io.StringIO()
    with runtime.Progress("quick", 10, stream=out) as p:
        p.update(10)
    with runtime.Progress("off", 10, stream=out, enabled=False) as p:
        p.update(10)
    assert out.getvalue() == ""


def test_the_trainer_s_epochs_each_get_one_final_line(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: now[0])
    out = io.StringIO()
    with runtime.Progress("epoch 1/2", 5, unit="steps", stream=out, rate=False) as p:
        now[0] = 3.0
        p.update(5, description="epoch 1/2 D 0.5 G 1.0")
        p.done()
        p.reset(5, "epoch 2/2")
        now[0] = 6.0
        p.update(5, description="epoch 2/2 D 0.4 G 1.1")
    assert out.getvalue().splitlines() == [
        "epoch 1/2 D 0.5 G 1.0: 5/5 steps done (3.0 s)",
        "epoch 2/2 D 0.4 G 1.1: 5/5 steps done (3.0 s)",
    ]
