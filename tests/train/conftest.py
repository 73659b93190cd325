"""Train tests run single-threaded: tiny networks gain nothing from more threads, and on a busy CI machine
oversubscribed OpenMP threads make them several times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
