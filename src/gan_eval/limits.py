"""The largest counts and sizes gan-eval accepts, in one place for the command line, the TOML configs and
checkpoints. A value beyond its bound is refused before any work, in one line naming the option or key and
the bound, instead of running for hours, allocating hundreds of GB or failing after the evaluation.

=====================================  ==============  ===================================================
what                                   bound           why
=====================================  ==============  ===================================================
samples (``--n``, ``--real-limit``,    100,000,000     10,000 times the usual 10,000; their Inception
``--fake-limit``, ``--limit``)                         features (kept for kid, pr, --bootstrap): 800 GB
seeds (``--seed``, ``seed =``)         0 .. 2^63-1     the results table's ``seed`` column is int64
``--bootstrap``                        10,000          95% percentile intervals need about 2,000
``--batch-size``                       65,536          that many Inception inputs alone take 70 GB
``--z-dim``, latent and layer sizes    65,536          the reference networks use 64 to 1,024
parameters of a checkpoint's network   2^28            1 GiB of float32 weights; the reference GANs
                                                       have under 1 M
``--epochs``, ``--eval-every``         100,000
``--threads``                          1,024
``--nrow``                             1,024
=====================================  ==============  ===================================================
"""

from __future__ import annotations

from typing import Any

from gan_eval.errors import UserError

MAX_SAMPLES = 100_000_000
MAX_SEED = 2**63 - 1
MAX_BOOTSTRAP = 10_000
MAX_BATCH = 65_536
MAX_LAYER = 65_536
MAX_PARAMS = 2**28
MAX_EPOCHS = 100_000
MAX_THREADS = 1_024
MAX_NROW = 1_024
MAX_POOL = 100_000  # images per arm of a human study (each a PNG in the study folder)
MAX_TRIALS = 10_000  # trials of one kind per rating session
MAX_SCALE = 64  # upscale factor of a shown image
MAX_PORT = 65_535

#: option or config key (``-`` and ``_`` alike) -> (smallest, largest) accepted value
COUNTS: dict[str, tuple[int, int]] = {
    "n": (1, MAX_SAMPLES),
    "real_limit": (1, MAX_SAMPLES),
    "fake_limit": (1, MAX_SAMPLES),
    "limit": (1, MAX_SAMPLES),
    "max_real_features": (1, MAX_SAMPLES),
    "seed": (0, MAX_SEED),
    "bootstrap": (0, MAX_BOOTSTRAP),
    "batch_size": (1, MAX_BATCH),
    "z_dim": (1, MAX_LAYER),
    "epochs": (1, MAX_EPOCHS),
    "eval_every": (0, MAX_EPOCHS),
    "threads": (1, MAX_THREADS),
    "nrow": (1, MAX_NROW),
    "pool": (2, MAX_POOL),
    "practice": (2, MAX_TRIALS),
    "scored": (2, MAX_TRIALS),
    "catch": (0, MAX_TRIALS),
    "scale": (1, MAX_SCALE),
    "port": (0, MAX_PORT),
}

_WHY = {  # by bound (the bounds listed here are distinct)
    MAX_SEED: "the results table stores seeds as int64",
    MAX_SAMPLES: "10,000 times the usual 10,000",
    MAX_BOOTSTRAP: "95% intervals need about 2,000",
    MAX_PORT: "the largest TCP port",
}


def show(value: int) -> str:
    """``2^63-1`` for the seed bound, ``100,000,000`` for the others."""
    return "2^63-1" if value == MAX_SEED else f"{value:,}"


def count_key(name: str) -> str:
    """``--real-limit`` -> ``real_limit``: the key of :data:`COUNTS` for an option or config key."""
    return name.lstrip("-").replace("-", "_")


def check_count(label: str, value: Any, low: int, high: int | None) -> int:
    """``value`` if it is an integer in ``low .. high`` (``high`` None: no upper bound); else UserError
    ``"<label> <value>: expected an integer >= 1"`` / ``"... <= 65,536"``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{label} {value!r}: expected an integer")
    if value < low:
        raise UserError(f"{label} {value}: expected an integer >= {low}")
    if high is not None and value > high:
        why = f" ({_WHY[high]})" if high in _WHY else ""
        raise UserError(f"{label} {value}: expected an integer <= {show(high)}{why}")
    return value


def check_value_range(label: str, value: Any) -> tuple[float, float]:
    """A declared value range ``(low, high)``: two finite numbers with ``low < high``; else UserError
    naming ``label`` (an infinite or empty range would quantize every image to one constant)."""
    import math

    try:
        lo, hi = (float(v) for v in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise UserError(f"{label} {value!r}: expected two numbers like -1,1") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)):
        raise UserError(f"{label} {lo:g},{hi:g}: expected two finite numbers like -1,1")
    if not lo < hi:
        raise UserError(f"{label} {lo:g},{hi:g}: the upper bound must exceed the lower")
    return lo, hi


#: architecture arguments that may be 0 (the layer is left out)
ZERO_SIZE_OK = ("fc",)


def arch_size_problems(label: str, args: dict[str, Any]) -> list[str]:
    """What is wrong with the sizes in a network's constructor arguments (a checkpoint's or a train config's
    ``args``): every integer, alone or in a list, must lie in 1..:data:`MAX_LAYER` (0 too for
    :data:`ZERO_SIZE_OK`). Other values (names, flags) are the constructor's to check."""
    problems = []
    for key, value in args.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            low = 0 if key in ZERO_SIZE_OK else 1
            if isinstance(v, int) and not isinstance(v, bool) and not low <= v <= MAX_LAYER:
                what = "integers" if isinstance(value, (list, tuple)) else "an integer"
                problems.append(f"{label} {key} = {value!r}: expected {what} in {low}..{show(MAX_LAYER)}")
                break
    return problems
