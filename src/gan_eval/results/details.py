"""The arrays behind an evaluation's rows - FID-inf fit points, PRD curves, the memorization distances and
most-copied images, class counts - saved next to the results table for the report to draw.

``<table folder>/<table stem>_details/<fingerprint>-<evaluated data hash>-<time>.npz``, written atomically;
each array is stored as ``<metric>/<name>/<array>`` (e.g. ``prd/curve/precision``). The rows of the
evaluation name the file in their ``details`` column (relative to the table's folder), so the table and its
folder move together.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.atomic import atomic_write
from gan_eval.errors import UserError


def details_folder(results: Path) -> Path:
    return results.parent / f"{results.stem}_details"


def save_details(res: Any, results: Path, fake: str) -> str:
    """Write ``res.details`` (metric/name -> {array name: array}) of the evaluation of ``fake`` for the table
    ``results``; returns the path relative to the table's folder."""
    digest = hashlib.sha256(fake.encode()).hexdigest()[:8]
    name = f"{res.fingerprint.get('fingerprint', 'x')}-{digest}-{time.time_ns()}.npz"
    arrays = {f"{k}/{a}": np.asarray(v) for k, group in res.details.items() for a, v in group.items()}
    path = details_folder(results) / name

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]

    atomic_write(path, write)
    return path.relative_to(results.parent).as_posix()


def load_details(results: Path, rel: str) -> dict[str, dict[str, np.ndarray]]:
    """The arrays a row's ``details`` column names (metric/name -> {array: values}); empty when the file is
    gone. A damaged file is a UserError naming it."""
    if not rel:
        return {}
    path = Path(results).parent / rel
    if not path.is_file():
        return {}
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - numpy raises many types for a damaged file
        raise UserError(f"details file {path} is damaged ({type(e).__name__}); remove it") from None
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, a in flat.items():
        group, _, name = key.rpartition("/")
        out.setdefault(group, {})[name] = a
    return out
