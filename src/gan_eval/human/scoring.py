"""HYPE-infinity scores from people's answers (Zhou et al. 2019), with their intervals (pure functions).

- ``hype_inf``: the error rate over every scored trial (generated judged real plus real judged generated,
  over all scored trials); 0.5 means people cannot tell the arm's images from real ones (with half of each).
- ``hype_fake_error``: the share of generated images judged real; ``hype_real_error``: of real judged
  generated.
- The 95 % interval: with several raters, a percentile bootstrap over raters (sessions resampled with
  replacement, as in the paper: it covers both which images were drawn and who rated them); with one rater, a
  Wilson score interval over that rater's trials, which covers image sampling only (another person could
  differ by more).
- Catch trials (obviously broken images, right answer "generated") measure attention: a session that passes
  fewer than ``catch_min`` of them is flagged, excluded from the scores and counted; so is a session not
  finished.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan_eval.metrics.keys import HYPE_CATCH_PASS, HYPE_FAKE_ERROR, HYPE_FLAGGED, HYPE_INF, HYPE_REAL_ERROR

Z95 = 1.959963984540054
CATCH_MIN = 0.8
"""Default: a session must answer at least 80 % of its catch trials "generated" (4 of 5) to count."""
N_BOOTSTRAP = 2000
RATED = (HYPE_INF, HYPE_FAKE_ERROR, HYPE_REAL_ERROR)


@dataclass(frozen=True)
class SessionCounts:
    """One session's scored answers as counts, and its catch trials."""

    session: str
    rater: str
    arm: int
    complete: bool
    fake_wrong: int
    n_fake: int
    real_wrong: int
    n_real: int
    catch_passed: int
    catch_total: int

    def flagged(self, catch_min: float = CATCH_MIN) -> bool:
        return self.catch_total > 0 and self.catch_passed < catch_min * self.catch_total - 1e-9


def error_rates(fake_wrong: float, n_fake: float, real_wrong: float, n_real: float) -> dict[str, float]:
    """``hype_inf``, ``hype_fake_error``, ``hype_real_error`` from counts (NaN where a count is 0)."""

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {
        HYPE_INF: ratio(fake_wrong + real_wrong, n_fake + n_real),
        HYPE_FAKE_ERROR: ratio(fake_wrong, n_fake),
        HYPE_REAL_ERROR: ratio(real_wrong, n_real),
    }


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (Wilson 1927); (nan, nan) for n = 0."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends: no 1e-18 left by rounding
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def session_counts(rows: Iterable[Mapping[str, Any]]) -> list[SessionCounts]:
    """Trial rows (``session, rater, arm, kind, truth, answer``; answer None when not given) -> one
    :class:`SessionCounts` per session, in order of first appearance."""
    acc: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = acc.setdefault(
            str(r["session"]),
            {"rater": str(r["rater"]), "arm": int(r["arm"]), "complete": True, "fw": 0, "nf": 0, "rw": 0,
             "nr": 0, "cp": 0, "ct": 0},
        )  # fmt: skip
        answer, truth, kind = r["answer"], r["truth"], r["kind"]
        if answer is None or (isinstance(answer, float) and math.isnan(answer)) or answer == "":
            s["complete"] = False
            continue
        if kind == "scored":
            if truth == "fake":
                s["nf"] += 1
                s["fw"] += answer == "real"
            else:
                s["nr"] += 1
                s["rw"] += answer == "fake"
        elif kind == "catch":
            s["ct"] += 1
            s["cp"] += answer == "fake"
    return [
        SessionCounts(
            sid, s["rater"], s["arm"], s["complete"], s["fw"], s["nf"], s["rw"], s["nr"], s["cp"], s["ct"]
        )
        for sid, s in acc.items()
    ]


def bootstrap_over_raters(
    sessions: Sequence[SessionCounts], *, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Percentile 95 % intervals of the three error rates, resampling whole sessions (raters) with
    replacement ``n_boot`` times; each resample pools its sessions' trials as the score itself does."""
    counts = np.array([[s.fake_wrong, s.n_fake, s.real_wrong, s.n_real] for s in sessions], dtype=np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(counts), size=(n_boot, len(counts)))
    sums = counts[pick].sum(axis=1)  # [n_boot, 4]
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = {
            HYPE_INF: (sums[:, 0] + sums[:, 2]) / (sums[:, 1] + sums[:, 3]),
            HYPE_FAKE_ERROR: sums[:, 0] / sums[:, 1],
            HYPE_REAL_ERROR: sums[:, 2] / sums[:, 3],
        }
    return {k: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))) for k, v in draws.items()}


@dataclass(frozen=True)
class ArmScore:
    """The scores of one arm. ``values``: the ``RATED`` error rates, the catch pass rate (over every finished
    session, flagged ones included: it is how the raters did) and the number of flagged sessions; ``cis``:
    95 % intervals of the error rates; ``interval``: how they were computed (for the reader)."""

    arm: int
    values: dict[str, float]
    cis: dict[str, tuple[float, float]] = field(default_factory=dict)
    interval: str = ""
    n_ratings: int = 0
    n_raters: int = 0
    n_flagged: int = 0
    n_incomplete: int = 0


def score_arms(
    sessions: Sequence[SessionCounts],
    n_arms: int,
    *,
    catch_min: float = CATCH_MIN,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> list[ArmScore]:
    """One :class:`ArmScore` per arm (0 .. ``n_arms`` - 1) from the sessions' counts: finished, unflagged
    sessions are pooled; the interval is a bootstrap over raters with two or more, a Wilson interval over
    trials with one; with none the values are NaN."""
    out = []
    for arm in range(n_arms):
        mine = [s for s in sessions if s.arm == arm]
        finished = [s for s in mine if s.complete]
        kept = [s for s in finished if not s.flagged(catch_min)]
        catch_total = sum(s.catch_total for s in finished)
        fw, nf, rw, nr = (
            sum(getattr(s, a) for s in kept) for a in ("fake_wrong", "n_fake", "real_wrong", "n_real")
        )
        values = error_rates(fw, nf, rw, nr)
        values[HYPE_CATCH_PASS] = (
            sum(s.catch_passed for s in finished) / catch_total if catch_total else math.nan
        )
        values[HYPE_FLAGGED] = float(len(finished) - len(kept))
        cis: dict[str, tuple[float, float]] = {}
        interval = "no finished session passed the catch trials"
        if len(kept) == 1:
            cis = {
                HYPE_INF: wilson_interval(fw + rw, nf + nr),
                HYPE_FAKE_ERROR: wilson_interval(fw, nf),
                HYPE_REAL_ERROR: wilson_interval(rw, nr),
            }
            interval = f"Wilson over {nf + nr} trials of one rater: covers image sampling only, not raters"
        elif len(kept) > 1:
            cis = bootstrap_over_raters(kept, n_boot=n_boot, seed=seed + arm)
            interval = f"bootstrap over {len(kept)} raters ({n_boot} resamples)"
        out.append(
            ArmScore(
                arm=arm,
                values=values,
                cis=cis,
                interval=interval,
                n_ratings=nf + nr,
                n_raters=len(kept),
                n_flagged=len(finished) - len(kept),
                n_incomplete=len(mine) - len(finished),
            )
        )
    return out


def interval_label(n_raters: int) -> str:
    """How a row's interval was computed, from its ``n_raters`` (the report's note under a human table)."""
    if n_raters <= 0:
        return "no interval"
    if n_raters == 1:
        return "Wilson interval over one rater's trials: image sampling only"
    return f"bootstrap over {n_raters} raters"


EXTRACTOR = "human"
PROTOCOL = "hype-inf"


def result_rows(study: Any, scores: Sequence[ArmScore], *, run_id: str = "") -> Any:
    """The results-table rows of ``scores`` (arms of ``study``, a :class:`~gan_eval.human.study.Study`), one
    per value, arms without a scored session left out: extractor ``human``, protocol ``hype-inf``,
    ``n_real`` / ``n_fake`` the real and the arm's pool sizes (the images, as for any metric), the answers
    and raters behind the value in ``n_ratings`` / ``n_raters``, ``run_id`` the study's name unless given."""
    import pandas as pd

    from gan_eval.results.table import make_rows

    frames = []
    for score in scores:
        if score.n_raters == 0:
            continue
        arm = study.arms[score.arm]
        meta: dict[str, Any] = {
            "real": study.real,
            "fake": arm.spec,
            "n_real": len(study.real_pool),
            "n_fake": len(arm.pool),
            "extractor": EXTRACTOR,
            "protocol": PROTOCOL,
            "precision": "n/a",
            "seed": study.seed,
            "device": "people",
            "run_id": run_id or study.name,
            "checkpoint": arm.checkpoint,
            "epoch": arm.epoch,
            "step": arm.step,
            "n_ratings": score.n_ratings,
            "n_raters": score.n_raters,
        }
        frames.append(make_rows(score.values, cis=score.cis, meta=meta))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
