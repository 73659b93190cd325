"""The default ``run_id`` of an evaluation: the name of the run the evaluated samples come from.

``gan-eval train --out runs/NAME`` writes its checkpoints to ``runs/NAME/``, so a checkpoint (or a folder,
zip or array of samples) anywhere under a ``runs/NAME/`` folder belongs to run ``NAME``. In order:

- ``runs/mlp/ckpt_epoch_005.pt``, ``runs/mlp/samples/``, ``/data/runs/mlp/ckpts/last.pt`` -> ``mlp``
  (the innermost ``runs/NAME`` folder);
- ``exp/dcgan/ckpt_epoch_005.pt`` -> ``dcgan``, ``exp/dcgan/checkpoints/last.pt`` -> ``dcgan``: a checkpoint
  with a generic file name is named by its folder, skipping generic folders (``GENERIC_FOLDERS``);
- ``tests/data/mlp_gan_mnist.pt`` -> ``mlp_gan_mnist``: a named file names itself (its stem);
- ``samples/`` -> ``samples``, ``gen.zip`` / ``gen.npz`` -> ``gen``: the folder name or file stem;
- ``mnist:test`` -> ``mnist:test``, ``mnist`` -> ``mnist:train``: the dataset split;
- ``pkg.mod:make_generator`` -> ``pkg.mod:make_generator``: the spec itself.

A checkpoint file name is generic when every part of it (split at ``_ - .``) is one of ``GENERIC_NAME_WORDS``
optionally followed by digits, or only digits (``ckpt_epoch_005``, ``network-snapshot-000400``, ``G_ema``,
``last``, ``checkpoint_100000``). The function is pure: it looks at the string only, never at the disk.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

RUNS_FOLDER = "runs"

#: Words that name a checkpoint's role rather than its model (see the module docstring).
GENERIC_NAME_WORDS = frozenset(
    {
        "ckpt",
        "checkpoint",
        "model",
        "generator",
        "gen",
        "g",
        "netg",
        "ema",
        "last",
        "best",
        "final",
        "latest",
        "epoch",
        "ep",
        "e",
        "step",
        "iter",
        "iteration",
        "it",
        "network",
        "snapshot",
        "state",
        "weights",
    }
)
#: Folders that hold a run's checkpoints without naming the run; the folder above them names it.
GENERIC_FOLDERS = frozenset({"checkpoints", "checkpoint", "ckpts", "ckpt", "weights", "models", "snapshots"})

# The dataset and callable forms of gan_eval.data.spec (repeated here so the results table needs no torch;
# tests/results/test_run_id.py checks that they agree).
_DATASET_RE = re.compile(r"^(mnist|fashion-mnist)(?::(train|test))?$")
_CALLABLE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_NAME_PART_RE = re.compile(r"[_\-.\s]+")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
_FILE_SUFFIXES = (*_CHECKPOINT_SUFFIXES, ".zip", ".npz", ".npy", ".png")


def _is_generic_file_name(stem: str) -> bool:
    parts = [p for p in _NAME_PART_RE.split(stem.lower()) if p]
    if not parts:
        return True
    for part in parts:
        m = re.fullmatch(r"([a-z]*)(\d*)", part)
        if m is None or (m.group(1) and m.group(1) not in GENERIC_NAME_WORDS) or not part:
            return False
    return True


def default_run_id(fake_spec: str) -> str:
    """The run_id recorded for an evaluation of ``fake_spec`` when none is given (rules in the module
    docstring): the ``NAME`` of a ``runs/NAME/`` folder above it, else its run folder (for generic checkpoint
    names), else its file stem or folder name; dataset splits and ``pkg.mod:fn`` specs name themselves.
    Returns ``""`` only for an empty spec."""
    spec = fake_spec.strip()
    if not spec:
        return ""
    m = _DATASET_RE.match(spec.lower())
    if m:
        return f"{m.group(1)}:{m.group(2) or 'train'}"
    posix = spec.replace("\\", "/")
    if _CALLABLE_RE.match(spec) and "/" not in posix:
        return spec
    is_folder = posix.endswith("/") or PurePosixPath(posix).suffix.lower() not in _FILE_SUFFIXES
    parts = [p for p in PurePosixPath(posix).parts if p not in ("/", ".", "..", "")]
    if not parts:
        return spec
    # the innermost runs/NAME/ folder above the evaluated file (or the folder itself)
    folders = parts if is_folder else parts[:-1]
    for i in range(len(folders) - 2, -1, -1):
        if folders[i] == RUNS_FOLDER:
            return folders[i + 1]
    if is_folder:
        return parts[-1]
    stem, suffix = PurePosixPath(parts[-1]).stem, PurePosixPath(parts[-1]).suffix.lower()
    if suffix in _CHECKPOINT_SUFFIXES and _is_generic_file_name(stem):
        for folder in reversed(folders):
            if folder.lower() not in GENERIC_FOLDERS:
                return folder
    return stem
