"""A study's answers as a table (``human export``) and as scores and results rows (``human score``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gan_eval.human.scoring import CATCH_MIN, N_BOOTSTRAP, ArmScore, result_rows, score_arms, session_counts
from gan_eval.human.store import RatingStore
from gan_eval.human.study import Study, load_study

TRIAL_COLUMNS = (
    "session",
    "rater",
    "arm",
    "arm_label",
    "arm_spec",
    "position",
    "trial",
    "image",
    "kind",
    "truth",
    "answer",
    "response_ms",
    "answered_at",
    "practice",
    "catch",
)
"""The columns of ``human export``: one row per trial, answered or not (``answer`` empty)."""


def trials_frame(study: Study) -> pd.DataFrame:
    """Every trial of every session of ``study``, in session then trial order (``TRIAL_COLUMNS``)."""
    rows = RatingStore(study).rows()
    df = pd.DataFrame(rows, columns=list(rows[0]) if rows else None)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TRIAL_COLUMNS})
    df = df.assign(
        arm_label=[study.arms[a].label for a in df["arm"]],
        arm_spec=[study.arms[a].spec for a in df["arm"]],
        image=df["image_id"],
        practice=df["kind"] == "practice",
        catch=df["kind"] == "catch",
        response_ms=df["response_ms"].astype("Int64"),
    )
    return df.loc[:, list(TRIAL_COLUMNS)]


def score_study(
    study_dir: Path | str, *, catch_min: float = CATCH_MIN, n_boot: int = N_BOOTSTRAP, run_id: str = ""
) -> tuple[Study, list[ArmScore], Any]:
    """(the study, one :class:`ArmScore` per arm, their results-table rows) from the study's ratings."""
    study = load_study(study_dir)
    counts = session_counts(RatingStore(study).rows())
    scores = score_arms(counts, len(study.arms), catch_min=catch_min, n_boot=n_boot, seed=study.seed)
    return study, scores, result_rows(study, scores, run_id=run_id)
