"""HYPE scores: hand-computed cases, the intervals against independent computations, flagged and unfinished
sessions, and simulated raters through the API (always "real": exactly 0.5; an oracle: 0; guessing: about
0.5, inside its interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_eval.human.client import ApiClient, always, oracle, random_rater, run_session
from gan_eval.human.export import score_study, trials_frame
from gan_eval.human.scoring import (
    SessionCounts,
    bootstrap_over_raters,
    error_rates,
    interval_label,
    score_arms,
    session_counts,
    wilson_interval,
)


def _rows(
    session: str, arm: int, fake_wrong: int, real_wrong: int, catch_passed: int = 5, n: int = 50
) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "session": session,
                "rater": session,
                "arm": arm,
                "kind": "scored",
                "truth": "fake",
                "answer": "real" if i < fake_wrong else "fake",
            }
        )
        rows.append(
            {
                "session": session,
                "rater": session,
                "arm": arm,
                "kind": "scored",
                "truth": "real",
                "answer": "fake" if i < real_wrong else "real",
            }
        )
    for i in range(5):
        rows.append(
            {
                "session": session,
                "rater": session,
                "arm": arm,
                "kind": "catch",
                "truth": "fake",
                "answer": "fake" if i < catch_passed else "real",
            }
        )
    rows.append(
        {
            "session": session,
            "rater": session,
            "arm": arm,
            "kind": "practice",
            "truth": "real",
            "answer": "fake",
        }
    )
    return rows  # fmt: skip


def test_hand_computed_error_rates():
    """20 of 50 fakes judged real and 10 of 50 reals judged fake: hype_inf 30/100, fake error 0.4, real 0.2;
    practice and catch answers do not count."""
    counts = session_counts(_rows("s", 0, fake_wrong=20, real_wrong=10, catch_passed=4))
    assert counts == [SessionCounts("s", "s", 0, True, 20, 50, 10, 50, 4, 5)]
    (score,) = score_arms(counts, 1)
    assert score.values["hype_inf"] == 0.3 and score.values["hype_fake_error"] == 0.4
    assert score.values["hype_real_error"] == 0.2 and score.values["hype_catch_pass"] == 0.8
    assert score.values["hype_flagged_sessions"] == 0 and score.n_ratings == 100 and score.n_raters == 1
    assert error_rates(0, 0, 3, 4)["hype_fake_error"] != error_rates(0, 0, 3, 4)["hype_fake_error"]  # NaN


def test_wilson_interval_matches_its_closed_form_values():
    """Reference values of the Wilson score interval (z = 1.96): 50/100 -> (0.4038, 0.5962), 0/10 ->
    (0, 0.2775), 10/10 -> (0.7225, 1); cross-checked against the textbook formula written out here."""
    assert wilson_interval(50, 100) == pytest.approx((0.40383, 0.59617), abs=5e-5)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=5e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=5e-5)
    z, k, n = 1.959963984540054, 37, 115
    p = k / n
    lo = (p + z**2 / (2 * n) - z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))) / (1 + z**2 / n)
    assert wilson_interval(k, n)[0] == pytest.approx(lo, rel=1e-12)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_the_bootstrap_resamples_raters_like_an_independent_loop():
    sessions = [
        SessionCounts(f"s{i}", f"r{i}", 0, True, fw, 50, rw, 50, 5, 5)
        for i, (fw, rw) in enumerate([(10, 5), (25, 20), (30, 10), (5, 2), (40, 30)])
    ]
    got = bootstrap_over_raters(sessions, n_boot=4000, seed=11)
    rng = np.random.default_rng(11)  # the same draws, resampled one at a time
    idx = rng.integers(0, 5, size=(4000, 5))
    hype = []
    for row in idx:
        picked = [sessions[i] for i in row]
        wrong = sum(s.fake_wrong + s.real_wrong for s in picked)
        hype.append(wrong / sum(s.n_fake + s.n_real for s in picked))
    assert got["hype_inf"] == pytest.approx((np.percentile(hype, 2.5), np.percentile(hype, 97.5)), rel=1e-12)
    same = [SessionCounts(f"s{i}", "r", 0, True, 10, 50, 20, 50, 5, 5) for i in range(4)]
    assert bootstrap_over_raters(same, n_boot=200)["hype_inf"] == pytest.approx((0.3, 0.3))


def test_flagged_and_unfinished_sessions_are_excluded_and_counted():
    rows = _rows("good1", 0, 20, 10) + _rows("good2", 0, 30, 20, catch_passed=4)
    rows += _rows("sleepy", 0, 50, 50, catch_passed=3)  # 3 of 5 catch trials: below 0.8, flagged
    unfinished = _rows("gone", 0, 0, 0)
    unfinished[-3]["answer"] = None
    (score,) = score_arms(session_counts(rows + unfinished), 1, n_boot=500)
    assert score.n_raters == 2 and score.n_flagged == 1 and score.n_incomplete == 1
    assert score.values["hype_inf"] == pytest.approx((20 + 10 + 30 + 20) / 200)
    assert score.values["hype_flagged_sessions"] == 1
    assert score.values["hype_catch_pass"] == pytest.approx(
        (5 + 4 + 3) / 15
    )  # how the raters did, all of them
    assert score.interval.startswith("bootstrap over 2 raters")
    (lenient,) = score_arms(session_counts(rows), 1, catch_min=0.6)
    assert lenient.n_raters == 3
    (empty,) = score_arms([], 1)
    assert empty.n_raters == 0 and math.isnan(empty.values["hype_inf"]) and not empty.cis
    assert "image sampling only" in interval_label(1) and interval_label(4) == "bootstrap over 4 raters"


@pytest.mark.parametrize("policy", ["always-real", "oracle", "random"])
def test_simulated_raters_through_the_api(study_factory, live_server, policy):
    """Always "real": every fake judged real, every real right: hype_inf exactly 0.5 (fake error 1, real
    error 0). An oracle: 0. A guesser (3 raters): about 0.5, inside the bootstrap interval."""
    study = study_factory(n_arms=1)
    client = ApiClient(live_server(study))
    raters = {
        "always-real": [always("real")],
        "oracle": [oracle(study)],
        "random": [random_rater(s) for s in range(3)],
    }
    for k, p in enumerate(raters[policy]):
        assert run_session(client, f"{policy}-{k}", p).done
    _, (score,), rows = score_study(study.folder, catch_min=0.8 if policy == "oracle" else 0.0)
    v = score.values
    if policy == "always-real":
        assert (v["hype_inf"], v["hype_fake_error"], v["hype_real_error"]) == (0.5, 1.0, 0.0)
        assert v["hype_catch_pass"] == 0.0 and score.n_raters == 1 and score.n_ratings == 100
        _, (strict,), strict_rows = score_study(study.folder)  # by default the catch trials flag this rater
        assert strict.n_raters == 0 and strict.n_flagged == 1 and strict_rows.empty
    elif policy == "oracle":
        assert (v["hype_inf"], v["hype_fake_error"], v["hype_real_error"]) == (0.0, 0.0, 0.0)
        assert v["hype_catch_pass"] == 1.0 and score.cis["hype_inf"][0] == 0.0
    else:
        lo, hi = score.cis["hype_inf"]
        assert lo <= v["hype_inf"] <= hi and lo < 0.5 < hi and abs(v["hype_inf"] - 0.5) < 0.12
        assert score.n_raters == 3 and score.n_ratings == 300
    frame = trials_frame(study)
    assert len(frame) == 115 * len(raters[policy]) and frame["answer"].notna().all()
    assert set(rows["metric"]) == {
        "hype_inf",
        "hype_fake_error",
        "hype_real_error",
        "hype_catch_pass",
        "hype_flagged_sessions",
    }
