"""Benchmark helpers: machine description, interleaved timing, MNIST PNG folders, offline weights.

Every ratio is measured side by side in one process run: the two sides alternate (ours, theirs, ours, ...)
and each side keeps its best time, so a change in machine load hits both.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "tests" / "data" / "mlp_gan_mnist.pt"


@dataclass
class Row:
    """One line of the results table. ``ours``/``theirs`` are display strings; ``ratio`` is theirs / ours
    (speed-up) where it applies; ``met`` is None where no target applies."""

    name: str
    command: str
    ours: str
    theirs: str = "-"
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None
    notes: list[str] = field(default_factory=list)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def other_load() -> str:
    """Load average and the other busy processes (CPU %), to state what the figures were measured under."""
    la = os.getloadavg()
    busy = []
    try:
        out = subprocess.run(
            ["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu", "--no-headers"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        me = os.getpid()
        for line in out.splitlines()[:6]:
            pid, pcpu, args = line.strip().split(None, 2)
            if int(pid) != me and float(pcpu) >= 20:
                busy.append(f"{args[:60]} ({pcpu}% CPU)")
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    text = f"load average {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} (1/5/15 min)"
    return text + ("; other processes: " + "; ".join(busy) if busy else "")


def machine() -> dict[str, str]:
    import torch

    return {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpus": str(os.cpu_count()),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "torch_threads": str(torch.get_num_threads()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, log: Callable[[str], None] = print) -> dict:
    """Call each function in turn, ``repeats`` rounds; returns {name: (best seconds, last value)}."""
    best: dict[str, float] = {}
    value: dict[str, Any] = {}
    for r in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            value[name] = fn()
            dt = time.perf_counter() - t0
            best[name] = min(dt, best.get(name, float("inf")))
            log(f"  round {r + 1}/{repeats} {name:<28s} {dt:8.2f} s")
    return {k: (best[k], value[k]) for k in fns}


def write_mnist_pngs(folder: Path, split: str, start: int, n: int) -> Path:
    """``n`` MNIST digits ``[start, start + n)`` of ``split`` as 28x28 grayscale PNGs ``00000.png``..."""
    from PIL import Image

    from gan_eval.data.datasets import load_arrays

    images, _ = load_arrays("mnist", split)
    if start + n > len(images):
        raise SystemExit(f"mnist:{split} has {len(images)} images, asked for [{start}, {start + n})")
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images[start : start + n]):
        Image.fromarray(np.ascontiguousarray(img), mode="L").save(folder / f"{i:05d}.png")
    return folder


def load_folder_uint8(folder: Path) -> np.ndarray:
    """All PNGs of ``folder`` (sorted) as uint8 [N, 1, H, W]."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(p))[None] for p in sorted(folder.glob("*.png"))])


def patch_pytorch_fid_sqrtm() -> None:
    """pytorch-fid 0.3.0 calls ``scipy.linalg.sqrtm(..., disp=False)``: SciPy 1.16-1.17 warn, 1.18 removed
    ``disp``. Same numbers without it (as tests/test_agreement.py does)."""
    import scipy.linalg
    from pytorch_fid import fid_score

    sqrtm = scipy.linalg.sqrtm

    def sqrtm_compat(a, disp=True, **kw):  # type: ignore[no-untyped-def]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            root = sqrtm(a, **kw)
        return root if disp else (root, None)

    fid_score.linalg.sqrtm = sqrtm_compat  # type: ignore[attr-defined]


def offline_weights(tmp: Path) -> dict[str, Path]:
    """Our Inception weights, and the same weights exported for pytorch-fid ($TORCH_HOME is pointed at them,
    so it "downloads" nothing) and for torch-fidelity (``feature_extractor_weights_path``)."""
    from gan_eval.features.weights import (
        PYTORCH_FID_FILENAME,
        TORCH_FIDELITY_FILENAME,
        export_weights,
        fetch_weights,
    )

    ours = fetch_weights(quiet=True)
    torch_home = tmp / "torch_home"
    pf = export_weights("pytorch-fid", torch_home / "hub" / "checkpoints" / PYTORCH_FID_FILENAME, source=ours)
    tf = export_weights("torch-fidelity", tmp / TORCH_FIDELITY_FILENAME, source=ours)
    os.environ["TORCH_HOME"] = str(torch_home)
    return {"ours": Path(ours), "pytorch-fid": Path(pf), "torch-fidelity": Path(tf)}


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)
