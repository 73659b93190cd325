"""Every session and answer of a study in SQLite (``study/ratings.sqlite``), written when it is given.

WAL journal, ``synchronous=FULL``, one ``BEGIN IMMEDIATE`` transaction per change: an answer is on disk before
the server replies, so a killed server loses no answered trial, and several raters at once (one connection
per call, writers serialised by SQLite's lock) are safe. A session's trials are all written when it starts,
in their seeded order; "the next trial" is the first one without an answer, so a session resumes where it
stopped and cannot go back.

What a caller may get wrong is refused with :class:`Refused` (an HTTP status and a message) and changes
nothing: an unknown session or trial (404), another session's trial (403), a second answer to a trial or an
answer out of order (409), a malformed answer or rater name (400), a rater who has rated every arm (409).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gan_eval.human.sessions import ANSWERS, choose_arm, plan_session, session_rng
from gan_eval.human.study import Study

MAX_RESPONSE_MS = 24 * 3600 * 1000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    rater TEXT NOT NULL,
    arm INTEGER NOT NULL,
    number INTEGER NOT NULL UNIQUE,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (rater, arm)
);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('practice', 'scored', 'catch')),
    truth TEXT NOT NULL CHECK (truth IN ('real', 'fake')),
    image_id TEXT NOT NULL,
    answer TEXT CHECK (answer IN ('real', 'fake')),
    response_ms INTEGER,
    answered_at TEXT,
    UNIQUE (session_id, position)
);
"""


class Refused(Exception):
    """A request the store will not carry out; nothing was changed. ``status``: the HTTP status for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SessionState:
    """Where a session stands: ``answered`` of ``total`` trials (``practice`` of them practice)."""

    id: str
    rater: str
    arm: int
    answered: int
    total: int
    practice: int

    @property
    def done(self) -> bool:
        return self.answered >= self.total


@dataclass(frozen=True)
class Trial:
    """A trial as the store knows it (``truth`` never leaves the server for a scored trial)."""

    id: str
    session_id: str
    position: int
    kind: str
    truth: str
    image_id: str
    answer: str | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_rater(rater: Any) -> str:
    """A rater's name: 1-64 printable characters (surrounding spaces dropped); Refused(400) otherwise."""
    name = rater.strip() if isinstance(rater, str) else ""
    if not name or len(name) > 64 or not name.isprintable():
        raise Refused(400, "rater: expected a name of 1 to 64 printable characters")
    return name


class RatingStore:
    """The ratings of one study (``study.db_path``); created on first use."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.path = Path(study.db_path)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: the write lock first), committed at the end; rolled
        back on any exception, Refused included."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ------------------------------------------------------------------------------------------- sessions
    def start_session(self, rater: str) -> tuple[SessionState, bool]:
        """The rater's unfinished session (resumed), else a new one on the arm ``choose_arm`` picks, with
        all its trials. Returns (its state, whether it is new). Refused(409) when the rater has rated every
        arm."""
        rater = check_rater(rater)
        with self._transaction() as db:
            open_ = db.execute(
                "SELECT id FROM sessions WHERE rater = ? AND finished_at IS NULL", (rater,)
            ).fetchone()
            if open_ is not None:
                return self._state(db, open_[0]), False
            done = {a for (a,) in db.execute("SELECT arm FROM sessions WHERE rater = ?", (rater,))}
            counts = [0] * len(self.study.arms)
            for arm, n in db.execute("SELECT arm, COUNT(*) FROM sessions GROUP BY arm"):
                counts[arm] = n
            (number,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            rng = session_rng(self.study, number)
            arm = choose_arm(counts, done, rng)
            if arm is None:
                raise Refused(409, f"rater {rater!r} has rated every arm of this study; thank you")
            sid = secrets.token_hex(12)
            db.execute(
                "INSERT INTO sessions (id, rater, arm, number, started_at) VALUES (?, ?, ?, ?, ?)",
                (sid, rater, arm, number, _now()),
            )
            db.executemany(
                "INSERT INTO trials (id, session_id, position, kind, truth, image_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (secrets.token_hex(12), sid, t.position, t.kind, t.truth, t.image_id)
                    for t in plan_session(self.study, arm, rng)
                ],
            )
            return self._state(db, sid), True

    def arms_left(self, rater: str) -> int:
        """How many arms ``rater`` has not started a session on."""
        with self._connect() as db:
            (n,) = db.execute("SELECT COUNT(*) FROM sessions WHERE rater = ?", (rater,)).fetchone()
        return len(self.study.arms) - int(n)

    def state(self, session_id: str) -> SessionState:
        """Where session ``session_id`` stands; Refused(404) for an unknown id."""
        with self._connect() as db:
            return self._state(db, session_id)

    def _state(self, db: sqlite3.Connection, session_id: str) -> SessionState:
        row = db.execute("SELECT rater, arm FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise Refused(404, "no such session")
        answered, total, practice = db.execute(
            "SELECT COUNT(answer), COUNT(*), SUM(kind = 'practice') FROM trials WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        return SessionState(session_id, row[0], int(row[1]), int(answered), int(total), int(practice or 0))

    # --------------------------------------------------------------------------------------------- trials
    def next_trial(self, session_id: str) -> Trial | None:
        """The session's first unanswered trial, None when it is finished; Refused(404) for an unknown id."""
        with self._connect() as db:
            self._state(db, session_id)
            row = db.execute(
                "SELECT id, session_id, position, kind, truth, image_id, answer FROM trials "
                "WHERE session_id = ? AND answer IS NULL ORDER BY position LIMIT 1",
                (session_id,),
            ).fetchone()
        return None if row is None else Trial(*row)

    def trial(self, trial_id: str) -> Trial:
        """Trial ``trial_id``; Refused(404) for an unknown id."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, session_id, position, kind, truth, image_id, answer FROM trials WHERE id = ?",
                (trial_id,),
            ).fetchone()
        if row is None:
            raise Refused(404, "no such trial")
        return Trial(*row)

    def answer(
        self, session_id: str, trial_id: str, answer: Any, response_ms: Any
    ) -> tuple[Trial, SessionState]:
        """Record ``answer`` (``"real"`` or ``"fake"``) to the session's current trial, in one transaction.
        Returns (the trial, answered, and the session's new state). Refused, with nothing changed, for a
        malformed answer or time (400), an unknown session or trial (404), another session's trial (403), a
        trial already answered or not the current one (409)."""
        if answer not in ANSWERS:
            raise Refused(400, 'answer: expected "real" or "fake"')
        if isinstance(response_ms, bool) or not isinstance(response_ms, (int, float)):
            raise Refused(400, "response_ms: expected a number of milliseconds")
        if not 0 <= response_ms <= MAX_RESPONSE_MS:
            raise Refused(400, f"response_ms: expected 0 to {MAX_RESPONSE_MS} milliseconds")
        with self._transaction() as db:
            self._state(db, session_id)
            row = db.execute(
                "SELECT id, session_id, position, kind, truth, image_id, answer FROM trials WHERE id = ?",
                (trial_id,),
            ).fetchone()
            if row is None:
                raise Refused(404, "no such trial")
            trial = Trial(*row)
            if trial.session_id != session_id:
                raise Refused(403, "this trial belongs to another session")
            if trial.answer is not None:
                raise Refused(409, "this trial is already answered; answers cannot be changed")
            (current,) = db.execute(
                "SELECT MIN(position) FROM trials WHERE session_id = ? AND answer IS NULL", (session_id,)
            ).fetchone()
            if trial.position != current:
                raise Refused(409, "not the current trial: trials are answered in order, without going back")
            db.execute(
                "UPDATE trials SET answer = ?, response_ms = ?, answered_at = ? WHERE id = ?",
                (answer, int(round(response_ms)), _now(), trial_id),
            )
            state = self._state(db, session_id)
            if state.done:
                db.execute("UPDATE sessions SET finished_at = ? WHERE id = ?", (_now(), session_id))
        return replace(trial, answer=answer), state

    # ------------------------------------------------------------------------------------------ read-outs
    def rows(self) -> list[dict[str, Any]]:
        """Every trial of every session with its session's rater and arm, in session then trial order."""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            cur = db.execute(
                "SELECT s.id AS session, s.rater, s.arm, s.number, s.started_at, s.finished_at, "
                "t.id AS trial, t.position, t.kind, t.truth, t.image_id, t.answer, t.response_ms, "
                "t.answered_at "
                "FROM trials t JOIN sessions s ON s.id = t.session_id ORDER BY s.number, t.position"
            )
            return [dict(r) for r in cur.fetchall()]
