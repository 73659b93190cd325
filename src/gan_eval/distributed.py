"""torch.distributed support: ``torchrun --nproc_per_node=K -m gan_eval eval ...``.

Each rank takes every K-th batch of a source (batch ``i`` goes to rank ``i % K``), extracts its
features, and the float64 statistics (and kept features / logits, reordered by global index) are
gathered to every rank, so the numbers do not depend on K. Rank 0 alone prints and writes results.
Works with the gloo backend on CPU and NCCL on GPUs, single- or multi-node (torchrun sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def init_from_env() -> tuple[int, int]:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1); returns (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return rank_world()


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_world()[0] == 0


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (a list of one element without a process group)."""
    rank, world = rank_world()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out
