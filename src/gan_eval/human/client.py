"""A Python client of the rating API (standard library only) and simulated raters that drive it.

Simulated raters check the machinery end to end (a rater who always answers "real" must score exactly 0.5,
one who knows the answers 0.0, one who guesses about 0.5), and let a study be smoke-tested before people
spend time on it::

    client = ApiClient("http://127.0.0.1:8023")
    run_session(client, "sim-1", random_rater(seed=1))

A policy is ``policy(png: bytes, phase: str) -> "real" | "fake"``; it sees what a person sees: the image's
bytes and whether the trial is practice.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Policy = Callable[[bytes, str], str]


class ApiError(Exception):
    """A refused call: its HTTP ``status`` and the server's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ApiClient:
    """Calls to one study's server at ``base`` (``http://host:port``), with ``token`` when it needs one."""

    def __init__(self, base: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-Rater-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error", "")
            except ValueError:
                message = str(e.reason)
            raise ApiError(e.code, message) from None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call; the decoded JSON reply, or ApiError for a 4xx/5xx."""
        return dict(json.loads(self._request(method, path, body)))

    def study(self) -> dict[str, Any]:
        return self.call("GET", "/api/study")

    def start(self, rater: str) -> dict[str, Any]:
        return self.call("POST", "/api/session", {"rater": rater})

    def next(self, session: str) -> dict[str, Any]:
        return self.call("GET", f"/api/session/{session}/next")

    def answer(self, session: str, trial: str, answer: str, response_ms: float = 800) -> dict[str, Any]:
        body = {"trial": trial, "answer": answer, "response_ms": response_ms}
        return self.call("POST", f"/api/session/{session}/answer", body)

    def progress(self, session: str) -> dict[str, Any]:
        return self.call("GET", f"/api/session/{session}/progress")

    def image(self, url: str) -> bytes:
        """The PNG at ``url`` (a trial's ``image``, relative to the server)."""
        return self._request("GET", url)


@dataclass(frozen=True)
class SessionRun:
    """What a simulated rater did: the session, how many trials it answered, and whether it finished."""

    session: str
    answered: int
    done: bool


def run_session(
    client: ApiClient, rater: str, policy: Policy, *, stop_after: int | None = None
) -> SessionRun:
    """Start (or resume) ``rater``'s session and answer its trials with ``policy``, all of them or
    ``stop_after`` of them (to leave a session unfinished)."""
    session = client.start(rater)["session"]
    answered = 0
    while stop_after is None or answered < stop_after:
        trial = client.next(session)
        if trial["done"]:
            return SessionRun(session, answered, True)
        png = client.image(trial["image"])
        client.answer(session, trial["trial"], policy(png, trial["phase"]))
        answered += 1
    return SessionRun(session, answered, client.progress(session)["done"])


def always(answer: str) -> Policy:
    """A rater who gives the same answer every time."""
    return lambda png, phase: answer


def random_rater(seed: int = 0) -> Policy:
    """A rater who guesses: "real" or "fake" with equal chance, seeded."""
    rng = np.random.default_rng(seed)
    return lambda png, phase: "real" if rng.random() < 0.5 else "fake"


def oracle(study: Any) -> Policy:
    """A rater who knows every answer: the study's own files (a :class:`~gan_eval.human.study.Study`) map
    each image's bytes to its truth (the served bytes are the stored file)."""
    truth = {hashlib.sha256(study.image_path(i).read_bytes()).hexdigest(): t for i, t in study.truth.items()}
    return lambda png, phase: truth[hashlib.sha256(png).hexdigest()]
