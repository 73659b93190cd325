"""How well each automatic metric ranks a study's arms the way people did (Spearman and Kendall).

The human side is a study's ``hype_inf`` rows (extractor ``human``, one run); the automatic side is every
metric with a direction, one comparable setup at a time (``results.groups``: same extractor, protocol,
sample counts, seed, real set and fingerprint), that measured every arm. A metric is oriented so that a
positive correlation means agreement (FID is lower-is-better: its ranking is read from the lowest up).

p-values come from scipy: exact permutation tests while the arms are few enough to enumerate every ranking
(n! <= ``EXACT_MAX_PERMUTATIONS``, n <= 8), else scipy's asymptotic ones (scipy's own asymptotic p-value of
3 perfectly ranked arms is 0, which is why small studies are tested exactly). With n arms the smallest
two-sided p-value any ranking can reach is 2 / n!, so with fewer than ``MIN_ARMS`` (5) arms no correlation
can be significant at the 5 % level, however well the metric agrees: the report says so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gan_eval.metrics.keys import HYPE_INF
from gan_eval.results.groups import canonical_spec, group_of

EXTRACTOR = "human"
MIN_ARMS = 5
EXACT_MAX_PERMUTATIONS = 50_000


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value an exact rank-correlation test of ``n`` untied pairs can give: the
    two perfect rankings (same and reversed) out of n! orders."""
    return min(1.0, 2 / math.factorial(n)) if n >= 1 else 1.0


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho and Kendall's tau (tau-b with ties) of ``n`` pairs, with two-sided p-values;
    ``p_method``: ``exact`` or ``asymptotic``. NaN when a side has no ranking (fewer than 2 arms or all
    values equal)."""

    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float
    n: int
    p_method: str


def rank_correlation(human: Sequence[float], metric: Sequence[float]) -> Correlation:
    """Correlation of the people's values with a metric's (both oriented: higher is better).

    p-values: exact permutation tests (every pairing enumerated by ``scipy.stats.permutation_test``; Kendall
    without ties by ``kendalltau(method="exact")``) while n! <= ``EXACT_MAX_PERMUTATIONS`` (n <= 8); beyond,
    scipy's asymptotic p-values (t distribution for Spearman, normal for Kendall)."""
    from scipy import stats

    x, y = np.asarray(human, dtype=np.float64), np.asarray(metric, dtype=np.float64)
    n = len(x)
    exact = math.factorial(n) <= EXACT_MAX_PERMUTATIONS
    method = "exact" if exact else "asymptotic"
    if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(math.nan, math.nan, math.nan, math.nan, n, method)
    spearman = stats.spearmanr(x, y)
    tau = stats.kendalltau(x, y)
    if not exact:
        return Correlation(
            float(spearman.statistic),
            float(spearman.pvalue),
            float(tau.statistic),
            float(tau.pvalue),
            n,
            method,
        )

    def permuted_p(statistic: Any) -> float:
        res = stats.permutation_test(
            (x,), statistic, permutation_type="pairings", n_resamples=np.inf, alternative="two-sided"
        )
        return min(1.0, float(res.pvalue))

    spearman_p = permuted_p(lambda a: float(stats.spearmanr(a, y).statistic))
    if len(np.unique(x)) == n and len(np.unique(y)) == n:
        kendall_p = float(stats.kendalltau(x, y, method="exact").pvalue)
    else:
        kendall_p = permuted_p(lambda a: float(stats.kendalltau(a, y).statistic))
    return Correlation(float(spearman.statistic), spearman_p, float(tau.statistic), kendall_p, n, method)


def fake_key(spec: Any) -> str:
    """What makes two ``fake`` specs the same set: the real path of a file or folder, else the spec's
    canonical form."""
    text = str(spec)
    return os.path.realpath(text) if os.path.exists(text) else canonical_spec(text)


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest row (by timestamp, then table order) of each (evaluated set, metric)."""
    df = rows.assign(_order=range(len(rows)), _key=[fake_key(f) for f in rows["fake"]])
    df = df.sort_values(["timestamp", "_order"], kind="stable")
    return df.drop_duplicates(["_key", "metric"], keep="last")


@dataclass(frozen=True)
class MetricAgreement:
    """One automatic metric of one setup over the study's arms: its value per arm key, its direction and
    its correlation with the people's ranking."""

    metric: str
    setup: str
    higher_is_better: bool
    values: dict[str, float]
    correlation: Correlation


@dataclass(frozen=True)
class StudyAgreement:
    """A study's arms (key -> label), the people's ``hype_inf`` per arm (value, ci_low, ci_high, raters),
    the agreement of each metric, and the metrics left out with why."""

    run_id: str
    setup: str
    arms: dict[str, str]
    human: dict[str, tuple[float, float, float, int]]
    metrics: list[MetricAgreement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.arms)


def study_agreements(results: pd.DataFrame) -> list[StudyAgreement]:
    """One :class:`StudyAgreement` per human study in ``results`` (a results table): per run and setup of
    the ``hype_inf`` rows, every automatic metric with a direction, per comparable setup, that has a value
    for each of the study's arms (setups that measured only some arms are listed in ``skipped``)."""
    from gan_eval.errors import UserError
    from gan_eval.metrics.registry import value_direction

    if results.empty:
        return []
    human_rows = results[(results["extractor"] == EXTRACTOR) & (results["metric"] == HYPE_INF)]
    automatic = results[results["extractor"] != EXTRACTOR]
    auto_groups: dict[Any, pd.DataFrame] = {}
    if not automatic.empty:
        keys = [group_of(r) for r in automatic.to_dict("records")]
        for g in dict.fromkeys(keys):
            auto_groups[g] = _latest(automatic[[k == g for k in keys]])
    out = []
    for (run_id, _), rows in human_rows.groupby(["run_id", "fingerprint"], sort=False):
        latest = _latest(rows)
        label = {
            k: (os.path.basename(c) if c else f)
            for k, c, f in zip(latest["_key"], latest["checkpoint"], latest["fake"], strict=True)
        }
        human = {
            k: (float(v), float(lo), float(hi), int(nr) if not pd.isna(nr) else 0)
            for k, v, lo, hi, nr in zip(
                latest["_key"],
                latest["value"],
                latest["ci_low"],
                latest["ci_high"],
                latest["n_raters"],
                strict=True,
            )
        }
        study = StudyAgreement(str(run_id), group_of(latest.iloc[0]).name(), label, human)
        arm_keys = list(label)
        hx = [human[k][0] for k in arm_keys]
        for g, grows in auto_groups.items():
            for metric, mrows in grows.groupby("metric", sort=False):
                try:
                    direction = value_direction(str(metric))
                except UserError:
                    continue
                if direction is None:
                    continue
                have = dict(zip(mrows["_key"], mrows["value"], strict=True))
                covered = [k for k in arm_keys if k in have]
                if not covered:
                    continue
                if len(covered) < len(arm_keys):
                    study.skipped.append(
                        f"{metric} ({g.name()}): {len(covered)} of {len(arm_keys)} arms measured"
                    )
                    continue
                values = {k: float(have[k]) for k in arm_keys}
                oriented = [values[k] if direction else -values[k] for k in arm_keys]
                corr = rank_correlation(hx, oriented)
                study.metrics.append(MetricAgreement(str(metric), g.name(), bool(direction), values, corr))
        out.append(study)
    return out
