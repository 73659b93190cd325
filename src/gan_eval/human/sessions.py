"""Which arm a rater rates next, and the trials of one session in their seeded order (pure functions).

A session is one rater on one arm. Arms are assigned so raters spread evenly: the arm with the fewest
sessions (finished or not) among those the rater has not rated, ties broken at random (seeded), so a rater
who rates every arm does not always meet them in the same order (raters get better at the task as they go).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gan_eval.human.study import Study

KINDS = ("practice", "scored", "catch")
ANSWERS = ("real", "fake")


@dataclass(frozen=True)
class PlannedTrial:
    """One trial of a session: its place (0-based), kind (``practice``: feedback, not scored; ``scored``;
    ``catch``: an obviously broken image, not scored, checks attention), the right answer and the image."""

    position: int
    kind: str
    truth: str
    image_id: str


def session_rng(study: Study, number: int) -> np.random.Generator:
    """The generator of session ``number`` (0, 1, ... in the order sessions were started in the study)."""
    return np.random.default_rng([study.seed, 7919, number])


def choose_arm(counts: Sequence[int], done: set[int], rng: np.random.Generator) -> int | None:
    """The arm for a rater's next session: among the arms not in ``done`` (the rater's earlier arms), one of
    those with the fewest sessions (``counts[arm]``), chosen by ``rng``; None when the rater has done all."""
    free = [a for a in range(len(counts)) if a not in done]
    if not free:
        return None
    least = min(counts[a] for a in free)
    ties = [a for a in free if counts[a] == least]
    return int(ties[int(rng.integers(len(ties)))])


def plan_session(study: Study, arm_index: int, rng: np.random.Generator) -> list[PlannedTrial]:
    """The trials of one session on arm ``arm_index``: the practice trials (the study's real practice images
    and the arm's generated ones, shuffled), then the scored trials (half drawn from the real pool, half from
    the arm's pool, without replacement, shuffled) with the catch images at random places among them."""
    arm = study.arms[arm_index]
    p = study.protocol
    practice = [("practice", "real", i) for i in study.real_practice] + [
        ("practice", "fake", i) for i in arm.practice
    ]
    practice = [practice[k] for k in rng.permutation(len(practice))]
    half = p.scored // 2
    real = rng.choice(len(study.real_pool), size=half, replace=False)
    fake = rng.choice(len(arm.pool), size=half, replace=False)
    scored = [("scored", "real", study.real_pool[k]) for k in real] + [
        ("scored", "fake", arm.pool[k]) for k in fake
    ]
    scored = [scored[k] for k in rng.permutation(len(scored))]
    for k in rng.permutation(len(study.catch))[: p.catch]:
        scored.insert(int(rng.integers(len(scored) + 1)), ("catch", "fake", study.catch[k]))
    return [PlannedTrial(i, kind, truth, image) for i, (kind, truth, image) in enumerate(practice + scored)]
