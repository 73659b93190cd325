"""``gan-eval compare``: evaluate the checkpoints of a run the same way, rank them, and say whether the best
is separated from the runner-up beyond noise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gan_eval.config import DEFAULT_N, EvalConfig
from gan_eval.errors import UserError
from gan_eval.results.rows import EvalResult


@dataclass
class Comparison:
    """One row per checkpoint, ranked by the first metric, best first."""

    primary: str
    rows: list[dict[str, Any]]
    verdict: str
    results: list[EvalResult]

    def as_dict(self) -> dict[str, Any]:
        return {"primary": self.primary, "ranking": self.rows, "verdict": self.verdict}


def compare_checkpoints(
    checkpoints: Sequence[str],
    config: EvalConfig,
    *,
    results: str | Path | None = None,
    run_id: str = "",
    weights: Sequence[str] = (),
) -> Comparison:
    """Evaluate every checkpoint with ``config`` (its ``fake`` replaced by each checkpoint) against the same
    real statistics (computed once) with the same noise seed, rank them by the first metric (direction from
    ``higher_is_better``) and say whether the best is separated from the runner-up beyond noise
    (non-overlapping bootstrap percentile intervals over the generated samples).

    Every checkpoint is loaded and checked before the first evaluation, so a corrupt file fails the command
    before any row is appended; rows are appended to ``results`` as each evaluation finishes.

    ``weights``: with one user's generator (``checkpoints == ["gen.py:Generator"]``), the state_dicts of it to
    rank (each evaluated as ``--fake gen.py:Generator --weights W``).
    """
    from gan_eval.metrics.registry import higher_is_better
    from gan_eval.pipeline import evaluate
    from gan_eval.results import append_results
    from gan_eval.results.rows import result_rows
    from gan_eval.runtime import resolve_device
    from gan_eval.stages import copy_sets, open_extractor, open_fake_source, plan_for, real_side

    if not checkpoints:
        raise UserError("compare needs at least one checkpoint")
    if weights and len(checkpoints) != 1:
        raise UserError(
            "compare --weights ranks state_dicts of ONE generator class: give one FILE.py:Generator, got "
            f"{len(checkpoints)} specs"
        )
    # (spec, config) per ranked item; its name in the table: the checkpoint or weights file
    items = (
        [(Path(w).name, replace(config, fake=checkpoints[0], weights=w)) for w in weights]
        if weights
        else [(Path(ck).name, replace(config, fake=ck)) for ck in checkpoints]
    )
    if results is not None:
        from gan_eval.results.store import check_results_target

        check_results_target(results)
    device = resolve_device(config.device)
    for _, cfg in items:  # every input checked up front: nothing is appended for a doomed run
        open_fake_source(cfg.fake, cfg, device)
    ext = open_extractor(config, device)
    plan = plan_for(config, ext, real_given=config.real is not None, train=copy_sets(config)[0])
    real = None  # the real statistics, once for every checkpoint
    if plan.need_real:
        real = real_side(
            config, ext, device, need_features=plan.need_real_features, need_labels=plan.need_labels
        )
    from gan_eval.runtime import announce_slow_pass

    announce_slow_pass(ext.name, device, (config.n or DEFAULT_N) * len(items), enabled=config.progress)
    evaluated: list[tuple[str, EvalResult]] = []
    for i, (name, cfg) in enumerate(items, 1):
        if config.progress:
            print(f"checkpoint {i}/{len(items)}: {cfg.weights or cfg.fake}", file=sys.stderr, flush=True)
        res = evaluate(
            config=cfg,
            extractor_module=ext,
            fake_source=open_fake_source(cfg.fake, cfg, device),
            real_stats=real,
            announce=False,
        )
        evaluated.append((name, res))
        if results is not None:
            append_results(result_rows(res, cfg, run_id=run_id), results)
    primary = next(iter(evaluated[0][1].values))
    better_high = higher_is_better(primary)
    ranked = sorted(evaluated, key=lambda t: t[1].values[primary], reverse=better_high)
    rows: list[dict[str, Any]] = []
    for rank, (ck, res) in enumerate(ranked, 1):
        row: dict[str, Any] = {"rank": rank, "checkpoint": ck}
        row["epoch"] = res.source_info.get("epoch")
        for k, v in res.values.items():
            row[k] = v
            if k in res.cis:
                row[f"{k}_ci"] = f"[{res.cis[k][0]:.4g}, {res.cis[k][1]:.4g}]"
        row["best"] = "*" if rank == 1 else ""
        rows.append(row)
    verdict = f"best: {ranked[0][0]} ({primary} = {ranked[0][1].values[primary]:.4g})"
    if len(ranked) > 1:
        a, b = ranked[0][1], ranked[1][1]
        runner_up = ranked[1][0]
        if primary in a.cis and primary in b.cis:
            (alo, ahi), (blo, bhi) = a.cis[primary], b.cis[primary]
            separated = ahi < blo if not better_high else alo > bhi
            verdict += (
                f"; separated from the runner-up {runner_up} beyond noise "
                f"({config.bootstrap} bootstrap resamples, 95% intervals do not overlap)"
                if separated
                else f"; NOT separated from the runner-up {runner_up}: their 95% bootstrap "
                "intervals overlap, so the ranking between them is within noise"
            )
        else:
            verdict += "; no confidence intervals (use --bootstrap N) to tell whether it beats the runner-up"
    return Comparison(primary=primary, rows=rows, verdict=verdict, results=[r for _, r in ranked])
