"""What one evaluation gives (:class:`EvalResult`) and its rows in the results table (:func:`result_rows`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gan_eval.results.table import compute_fingerprint, make_rows

if TYPE_CHECKING:
    from gan_eval.config import EvalConfig


@dataclass
class EvalResult:
    """The numbers of one evaluation.

    ``values``: result key -> value; ``stds``: value key -> spread over splits/subsets; ``cis``: value key ->
    95% bootstrap interval; ``fingerprint``: the fields that decide the numbers plus ``fingerprint`` (their
    hash, :func:`gan_eval.results.table.compute_fingerprint`) and where they were computed; ``n_real``: per
    value key, how many real samples it used; ``source_info``: what the generated set's source knows about
    itself (a checkpoint's path, epoch and step); ``class_counts``: argmax histogram of the generated
    samples the classifier recognises (mode collapse; all of them when it has no recognition rule);
    ``unrecognised``: how many it does not recognise (None: no rule); ``n_fake_used``: per value key that
    uses part of the generated set (recognised samples, one class's samples), how many (else ``n_fake``).
    """

    values: dict[str, float]
    stds: dict[str, float]
    cis: dict[str, tuple[float, float]]
    fingerprint: dict[str, Any]
    n_real: dict[str, int | None]
    n_fake: int
    duration_s: float
    diagnostics: dict[str, Any] = field(default_factory=dict)
    class_counts: np.ndarray | None = None
    source_info: dict[str, Any] = field(default_factory=dict)
    details: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # metric/name -> arrays (report)
    unrecognised: int | None = None
    n_fake_used: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_counts"] = None if self.class_counts is None else self.class_counts.tolist()
        d["details"] = {k: sorted(v) for k, v in self.details.items()}  # the arrays' names, not the arrays
        return d


def fingerprint_fields(
    extractor: dict[str, Any],
    *,
    real: str,
    n_fake: int,
    seed: int,
    precision: str,
    device: str,
    value_range: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The fingerprint of an evaluation: ``extractor`` is the extractor's ``fingerprint()`` (name, protocol,
    weights sha256, feature dim), ``real`` the real set's identity, ``value_range`` the float range the
    generated images were quantized from (generators and float arrays; None, and not hashed, for images
    stored as integers). Adds the environment (not hashed) and ``fingerprint`` itself."""
    from gan_eval import __version__

    fields = {
        **extractor,
        "real": real,
        "n_fake": n_fake,
        "seed": seed,
        "precision": precision,
        "device": device,
        "gan_eval_version": __version__,
        "torch_version": _torch_version(),
        "python": _python_version(),
    }
    if value_range is not None:
        fields["value_range"] = [float(value_range[0]), float(value_range[1])]
    fields["fingerprint"] = compute_fingerprint(fields)
    return fields


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def _python_version() -> str:
    import platform

    return platform.python_version()


def result_rows(res: EvalResult, cfg: EvalConfig, *, run_id: str = "", details: str = "") -> pd.DataFrame:
    """The results-table rows (one per metric value) of one evaluation; ``cfg`` is the evaluation's config
    (its real/fake specs as the user wrote them, precision, seed). Checkpoint, epoch and step come from
    ``res.source_info``. ``run_id`` "" means the default, :func:`gan_eval.results.run_id.default_run_id` of
    ``cfg.fake`` (the ``runs/NAME`` folder of a checkpoint, else its name). ``details``: the path of the
    evaluation's arrays (:func:`gan_eval.results.details.save_details`), relative to the table's folder."""
    from gan_eval.results.run_id import default_run_id

    fp = res.fingerprint
    frames = []
    # n_real may differ per metric (FID uses the whole real set, kid/pr/dc a seeded subset of its features),
    # and n_fake too (the class metrics use the recognised samples, a per-class FID its class's samples)
    counts = {k: (res.n_real.get(k), res.n_fake_used.get(k, res.n_fake)) for k in res.values}
    for n_real, n_fake in sorted(set(counts.values()), key=lambda t: (t[0] or 0, -t[1])):
        keys = [k for k in res.values if counts[k] == (n_real, n_fake)]
        meta: dict[str, Any] = {
            "real": cfg.real or "",
            "fake": res.source_info.get("fake", cfg.fake),  # a user's generator: class, args, weights sha256
            "n_real": n_real,
            "n_fake": n_fake,
            "extractor": fp["extractor"],
            "protocol": fp["protocol"],
            "precision": cfg.precision,
            "seed": cfg.seed,
            "device": fp["device"],
            "run_id": run_id or default_run_id(cfg.weights or cfg.fake),
            "duration_s": res.duration_s,
            # one evaluation, one fingerprint: the rows of every metric share it (gates select by it)
            "fingerprint": fp["fingerprint"],
            "weights_sha256": fp.get("weights_sha256", ""),
            "details": details,
            **{k: res.source_info[k] for k in ("checkpoint", "epoch", "step") if k in res.source_info},
        }
        frames.append(
            make_rows(
                {k: res.values[k] for k in keys},
                stds={k: v for k, v in res.stds.items() if k in keys},
                cis={k: v for k, v in res.cis.items() if k in keys},
                meta=meta,
            )
        )
    return pd.concat(frames, ignore_index=True)
