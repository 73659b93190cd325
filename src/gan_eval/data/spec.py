"""One parser for source specs, shared by every command.

Forms: ``mnist``, ``mnist:train``, ``mnist:test``, ``fashion-mnist[:train|:test]``, a folder of images, a
``.zip`` of images, a ``.npz``/``.npy`` array, a generator checkpoint ``.pt``/``.pth`` (our format or
TorchScript), or a user's generator ``FILE.py:NAME`` / ``package.module:NAME`` (a class with ``--weights``,
a function returning a generator, or a module).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gan_eval.data.base import DEFAULT_SUBSET_SEED, Source
from gan_eval.errors import UserError

DATASET_RE = re.compile(r"^(mnist|fashion-mnist)(?::(train|test))?$")
CALLABLE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def is_stats_file(spec: str) -> bool:
    """True for a ``.npz`` holding precomputed statistics rather than images: ``mu`` with ``sigma`` (ours,
    pytorch-fid's) or ``sigma_triu`` (``gan-eval stats --compact``, the shipped statistics)."""
    p = Path(spec).expanduser()
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    import numpy as np

    try:
        with np.load(p, allow_pickle=False) as z:
            return "mu" in z.files and ("sigma" in z.files or "sigma_triu" in z.files)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the array loader
        return False


def parse_source(
    spec: str,
    *,
    data_root: str | None = None,
    limit: int | None = None,
    seed: int = DEFAULT_SUBSET_SEED,
    value_range: Sequence[float] | None = None,
    n: int | None = None,
    limit_option: str = "--limit",
    **generator_options: Any,
) -> Source:
    """Turn a spec into a :class:`Source`.

    Args:
        limit: use a seeded subset of this many images (``seed``; default 0) of a dataset, folder or array.
        limit_option: the option that gave ``limit`` (``--real-limit``, ``--fake-limit``), for messages.
        n, generator_options: for generator sources: how many samples to draw and e.g. ``z_dim``,
            ``device``, ``use_ema``, ``sample_seed``.
    """
    spec = spec.strip()
    if not spec:
        raise UserError("empty source spec; expected e.g. mnist:test, a folder, x.zip, x.npz or ckpt.pt")
    if limit is not None and limit <= 0:
        raise UserError(f"{limit_option} {limit}: expected a positive number of images (omit it for all)")
    class_options = [k for k in ("weights", "weights_key", "arch_args") if generator_options.get(k)]
    m = DATASET_RE.match(spec.lower())
    if m:
        _refuse_class_options(spec, class_options)
        from gan_eval.data.datasets import load_dataset

        return load_dataset(m.group(1), m.group(2) or "train", data_root).subset(limit, seed)
    head, _, tail = spec.lower().partition(":")
    if tail and head in ("mnist", "fashion-mnist"):
        raise UserError(
            f"{spec}: unknown source (unknown split {tail!r}; expected {head}:train or {head}:test)"
        )
    from gan_eval.data.user_generators import is_user_spec

    if is_user_spec(spec):  # FILE.py:NAME, package.module:NAME (a class with --weights, a function, a module)
        from gan_eval.data.generators import generator_source

        return generator_source(spec, n=n, value_range=value_range, **generator_options)
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:  # (a checkpoint's loader says why they do not apply to it)
        _refuse_class_options(spec, class_options)
    if path.is_dir():
        from gan_eval.data.files import FolderSource

        return FolderSource(path, spec=spec, limit=limit, seed=seed)
    if suffix == ".zip":
        from gan_eval.data.files import ZipSource

        return ZipSource(path, spec=spec, limit=limit, seed=seed)
    if suffix in (".npz", ".npy"):
        from gan_eval.data.files import array_source

        return array_source(path, spec=spec, value_range=value_range, limit=limit, seed=seed)
    if suffix in CHECKPOINT_SUFFIXES:
        from gan_eval.data.generators import generator_source

        return generator_source(spec, n=n, value_range=value_range, **generator_options)
    if not path.exists() and ("/" in spec or "." in spec):
        raise UserError(f"{spec}: no such file or folder")
    raise UserError(
        f"{spec}: unknown source; expected mnist[:train|:test], fashion-mnist[:train|:test], "
        "a folder of images, "
        "a .zip, a .npz/.npy array, a generator checkpoint .pt, or FILE.py:Generator / package.module:NAME"
    )


def _refuse_class_options(spec: str, given: list[str]) -> None:
    if given:
        options = ", ".join("--" + k.replace("_", "-") for k in given)
        hint = "; the feature extractor's weights are --extractor-weights" if "weights" in given else ""
        raise UserError(
            f"{spec}: {options} apply to a generator class or function (--fake FILE.py:Generator "
            f"--weights g.pt), not to this source{hint}"
        )
