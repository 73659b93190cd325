"""A small synthetic results table: one run, three checkpoints, three metrics with stds/intervals."""

from __future__ import annotations

import pandas as pd
import pytest

from gan_eval.results.table import make_rows

BASE_META = dict(
    real="mnist",
    n_real=60000,
    n_fake=1000,
    extractor="mnist-lenet",
    protocol="native",
    precision="float32",
    seed=0,
    device="cpu",
    run_id="demo",
)

# epoch -> (fid, is_mean, precision); epoch 2 is best on fid and is_mean, epoch 3 on precision
VALUES = {1: (40.0, 6.0, 0.50), 2: (10.0, 9.0, 0.70), 3: (12.0, 8.8, 0.75)}


def evaluation(epoch: int, *, fid: float, is_mean: float, prec: float, **meta) -> pd.DataFrame:
    name = f"ckpt_epoch_{epoch:03d}.pt"
    return make_rows(
        {"fid": fid, "is_mean": is_mean, "precision": prec},
        stds={"is_mean": 0.1},
        cis={"fid": (fid - 0.5, fid + 0.5)},
        meta={
            **BASE_META,
            "fake": f"runs/demo/{name}",
            "checkpoint": name,
            "epoch": epoch,
            "timestamp": f"2025-01-01T00:00:0{epoch}+00:00",
            **meta,
        },
    )


@pytest.fixture
def make_evaluation():
    """The ``evaluation(epoch, *, fid, is_mean, prec, **meta)`` builder, for tests that add rows."""
    return evaluation


@pytest.fixture
def results_df() -> pd.DataFrame:
    return pd.concat(
        [evaluation(e, fid=f, is_mean=i, prec=p) for e, (f, i, p) in VALUES.items()], ignore_index=True
    )
