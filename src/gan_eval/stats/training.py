"""The training side of the memorization metrics (``--metrics copy``): the training set's images and
features, and, per space, the reference that depends on the training and held-out sets alone - the
train-to-train nearest-neighbour distances, the k-means cells of C_T and the held-out baseline
(:class:`~gan_eval.metrics.memorization.TrainingReference`). The reference is the expensive part (60,000 MNIST
digits: ~30-50 s in pixel space on 2 cores), so it is cached like the real-set statistics, keyed by
everything that changes it; the training features come through the real-set cache (:func:`real_statistics`).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch

from gan_eval.atomic import read_verified
from gan_eval.cache import cache_dir, cache_write
from gan_eval.data import Source, parse_source
from gan_eval.data.spec import DATASET_RE
from gan_eval.errors import UserError
from gan_eval.metrics import memorization
from gan_eval.metrics.catalog import CopyContext
from gan_eval.stats.reference import real_statistics, stats_key

REFERENCE_VERSION = 1
"""Part of every cached reference's key: bump it when the reference's computation changes."""


def default_split(real: str | None, split: str) -> str | None:
    """The ``split`` (train or test) of the dataset the real spec names (``mnist`` -> ``mnist:train``), or
    None when the real set is not a named dataset."""
    if real is None:
        return None
    m = DATASET_RE.match(real.strip().lower())
    return f"{m.group(1)}:{split}" if m else None


def _images(source: Source) -> np.ndarray:
    """All images of ``source``, uint8 [N, C, H, W]."""
    return torch.cat(list(source.batches(4096))).numpy()


def _reference(
    space: str,
    rows: np.ndarray,
    heldout_rows: np.ndarray,
    key_fields: dict[str, Any],
    use_cache: bool,
) -> memorization.TrainingReference:
    """The cached reference of ``rows`` (training) / ``heldout_rows`` in ``space``, or a new one (cached
    unless ``use_cache`` is False)."""
    key = stats_key({**key_fields, "space": space, "kind": "copy-reference", "version": REFERENCE_VERSION})
    path = cache_dir("stats") / f"copyref-{key[:32]}.npz"
    data = read_verified(path) if use_cache else None
    if data is not None:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return memorization.TrainingReference.from_state({k: z[k] for k in z.files})
    ref = memorization.training_reference(rows, heldout_rows, n_cells=key_fields["n_cells"], seed=0)
    state = ref.to_state()

    def write(tmp: Any) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **state)  # type: ignore[arg-type]

    if use_cache:
        cache_write(path, write)
    return ref


def copy_context(
    *,
    train: str,
    heldout: str,
    spaces: tuple[str, ...],
    extractor: Any,
    device: torch.device,
    precision: str,
    batch_size: int | None,
    data_root: str | None,
    use_cache: bool,
    progress: bool,
    n_cells: int = memorization.DEFAULT_CELLS,
) -> CopyContext:
    """The :class:`CopyContext` of training set ``train`` and held-out set ``heldout`` (source specs) in
    ``spaces`` (``features``: the extractor's, ``pixels``: the images)."""
    if train == heldout:
        raise UserError(f"--train and --heldout are both {train}: the held-out set must be other images")
    train_src = parse_source(train, data_root=data_root, limit_option="--train")
    held_src = parse_source(heldout, data_root=data_root, limit_option="--heldout")
    if train_src.shape != held_src.shape:
        raise UserError(
            f"--train {train} has images of shape {train_src.shape}, --heldout {heldout} {held_src.shape}"
        )
    train_images = _images(train_src)
    rows: dict[str, Any] = {}
    refs: dict[str, memorization.TrainingReference] = {}
    base = {"train": train_src.identity, "heldout": held_src.identity, "n_cells": n_cells}
    if "pixels" in spaces:
        rows["pixels"] = train_images.reshape(len(train_images), -1)
        held_px = _images(held_src).reshape(len(held_src), -1)
        refs["pixels"] = _reference("pixels", rows["pixels"], held_px, base, use_cache)
    if "features" in spaces:
        feats = {}
        for name, src in (("train", train_src), ("heldout", held_src)):
            ex = real_statistics(
                src,
                extractor,
                device=device,
                precision=precision,
                batch_size=batch_size,
                need_features=len(src),  # every image: the nearest neighbours are over the whole set
                need_logits=False,
                use_cache=use_cache,
                seed=0,
                progress=progress,
            )
            assert ex.features is not None
            feats[name] = ex.features
        rows["features"] = feats["train"]
        fp = {**base, "extractor": extractor.fingerprint(), "precision": precision}
        refs["features"] = _reference("features", feats["train"], feats["heldout"], fp, use_cache)
    return CopyContext(rows, refs, train_images, train, heldout)
