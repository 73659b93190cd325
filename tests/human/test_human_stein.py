"""Real human data: Stein et al. (NeurIPS 2023) released each participant's error rates on 100 real and 100
generated CIFAR-10 images for 13 models (tests/data/stein2023/, MIT). Turned back into trials, gan-eval's
scoring reproduces their published per-model error rates (the table their notebook prints, 6 decimals), and
its bootstrap over raters agrees with their standard errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gan_eval.human.scoring import score_arms, session_counts

DATA = Path(__file__).resolve().parents[1] / "data" / "stein2023"


def _trials(participants: pd.DataFrame, models: list[str]) -> list[dict]:
    """Each participant as one session of 200 scored trials on their model's arm: ``round(100 f_err_rt)``
    generated images judged real, ``round(100 r_err_rt)`` real images judged generated."""
    rows = []
    for p in participants.itertuples():
        arm = models.index(p.model)
        fake_wrong, real_wrong = round(100 * float(p.f_err_rt)), round(100 * float(p.r_err_rt))
        for i in range(100):
            common = {"session": p.id, "rater": p.id, "arm": arm, "kind": "scored"}
            rows.append({**common, "truth": "fake", "answer": "real" if i < fake_wrong else "fake"})
            rows.append({**common, "truth": "real", "answer": "fake" if i < real_wrong else "real"})
    return rows


@pytest.fixture(scope="module")
def stein() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(DATA / "cifar10_participants.csv"), pd.read_csv(DATA / "cifar10_published.csv")


def test_their_per_participant_counts_are_whole_trials(stein):
    """The released rates are counts out of 100 (each participant's num_correct = 200 - both errors)."""
    participants, _ = stein
    assert len(participants) == 328 and participants["model"].nunique() == 13
    for col in ("f_err_rt", "r_err_rt"):
        assert np.allclose(100 * participants[col], np.round(100 * participants[col]), atol=1e-9)
    wrong = np.round(100 * participants["f_err_rt"]) + np.round(100 * participants["r_err_rt"])
    assert (participants["num_correct"] == 200 - wrong).all()


def test_gan_eval_reproduces_their_per_model_error_rates(stein):
    """hype_inf = their err_rt, hype_fake_error = f_err_rt, hype_real_error = r_err_rt, for all 13 models, to
    the printed precision (5e-7). Every participant answered 200 trials, so the pooled error (ours) equals
    the mean of per-participant errors (theirs)."""
    participants, published = stein
    models = list(published["model"])
    scores = score_arms(session_counts(_trials(participants, models)), len(models), n_boot=200)
    for score, row in zip(scores, published.itertuples(), strict=True):
        n = int((participants["model"] == row.model).sum())
        assert score.n_raters == n and score.n_ratings == 200 * n and score.n_flagged == 0
        assert score.values["hype_inf"] == pytest.approx(row.err_rt, abs=5e-7), row.model
        assert score.values["hype_fake_error"] == pytest.approx(row.f_err_rt, abs=5e-7), row.model
        assert score.values["hype_real_error"] == pytest.approx(row.r_err_rt, abs=5e-7), row.model


def test_the_bootstrap_over_raters_agrees_with_their_standard_errors(stein):
    """Their error bars are the standard error of the mean over participants; the half-width of gan-eval's
    95 % percentile bootstrap over raters, divided by 1.96, is within 20 % of it for every model (the
    bootstrap's standard error is the population one, sqrt((n-1)/n) ~ 0.98 of theirs for 25 participants,
    plus Monte Carlo and percentile noise)."""
    participants, published = stein
    models = list(published["model"])
    scores = score_arms(session_counts(_trials(participants, models)), len(models), n_boot=4000, seed=1)
    ratios = []
    for score, row in zip(scores, published.itertuples(), strict=True):
        lo, hi = score.cis["hype_inf"]
        assert lo < row.err_rt < hi
        ratios.append((hi - lo) / (2 * 1.959964) / row.err_rt_sem)
    assert 0.8 < min(ratios) and max(ratios) < 1.2, ratios
    assert 0.9 < float(np.median(ratios)) < 1.05
