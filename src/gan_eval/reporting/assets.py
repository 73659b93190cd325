"""Images for the report: sample grids and mnist-lenet class histograms of checkpoints on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def report_assets(
    checkpoints: Sequence[str], folder: Path, *, n: int = 1000, seed: int = 0, device: str = "cpu"
) -> tuple[dict[str, Path], dict[str, np.ndarray], dict[str, int]]:
    """Sample grids (64 images, PNG in ``folder``), mnist-lenet class histograms of the recognised samples
    (int64 [10]) and the number of unrecognised ones, from ``n`` samples of each checkpoint on disk. Keys are
    the checkpoint strings as they appear in the results table; files that no longer exist are skipped."""
    from gan_eval.data.export import sample_grid
    from gan_eval.data.generators import generator_source
    from gan_eval.features import build_extractor

    grids: dict[str, Path] = {}
    hists: dict[str, np.ndarray] = {}
    unrecognised: dict[str, int] = {}
    lenet = build_extractor("mnist-lenet", device=device).eval()
    for ck in checkpoints:
        if not Path(ck).is_file():
            continue
        grids[ck] = sample_grid(ck, n=64, out=folder / f"grid_{Path(ck).stem}.png", seed=seed, device=device)
        src = generator_source(ck, n=n, seed=seed, device=device)
        counts = np.zeros(10, dtype=np.int64)
        unrecognised[ck] = 0
        with torch.inference_mode():
            for batch in src.batches(500):
                out = lenet(batch)
                rec = out["recognised"].cpu().numpy()  # the shipped classifier has a recognition rule
                counts += np.bincount(out["logits"].argmax(1).cpu().numpy()[rec], minlength=10)
                unrecognised[ck] += int((~rec).sum())
        hists[ck] = counts
    return grids, hists, unrecognised
