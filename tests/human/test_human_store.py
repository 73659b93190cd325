"""The ratings store (SQLite, WAL): sessions start, resume and finish; every refusal changes nothing; several
raters at once; and the JSON API over it, refusals included (4xx, nothing changed)."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter

import pytest

from gan_eval.human.app import create_app, rater_token
from gan_eval.human.client import ApiClient, always, run_session
from gan_eval.human.store import RatingStore, Refused


def _answer_all(store: RatingStore, sid: str, answer: str = "real") -> None:
    while (t := store.next_trial(sid)) is not None:
        store.answer(sid, t.id, answer, 500)


def test_sessions_start_resume_finish_and_one_per_rater_per_arm(study_factory):
    study = study_factory(n_arms=2)
    store = RatingStore(study)
    first, new = store.start_session("ann")
    assert new and first.answered == 0 and first.total == 115 and first.practice == 10
    store.answer(first.id, store.next_trial(first.id).id, "fake", 700)
    again, new = store.start_session("  ann ")  # the same rater (spaces dropped): resumed, not new
    assert not new and again.id == first.id and again.answered == 1
    _answer_all(store, first.id)
    assert store.state(first.id).done and store.next_trial(first.id) is None
    second, new = store.start_session("ann")
    assert new and second.arm != first.arm  # her other arm
    _answer_all(store, second.id)
    with pytest.raises(Refused, match="rated every arm") as e:
        store.start_session("ann")
    assert e.value.status == 409 and store.arms_left("ann") == 0
    assert db_mode(study) == "wal"


def db_mode(study) -> str:
    with sqlite3.connect(study.db_path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def test_every_refusal_changes_nothing(study_factory, snapshot):
    study = study_factory()
    store = RatingStore(study)
    a, _ = store.start_session("ann")
    b, _ = store.start_session("bob")
    ta = store.next_trial(a.id)
    store.answer(a.id, ta.id, "real", 300)
    before = snapshot(study)
    nxt = store.next_trial(a.id)
    later = [r for r in store.rows() if r["session"] == a.id and r["position"] == nxt.position + 3][0]
    cases = [
        ((a.id, ta.id, "fake", 10), 409, "already answered"),
        ((a.id, later["trial"], "fake", 10), 409, "in order"),
        ((a.id, store.next_trial(b.id).id, "real", 10), 403, "another session"),
        ((a.id, "nope", "real", 10), 404, "no such trial"),
        (("nope", nxt.id, "real", 10), 404, "no such session"),
        ((a.id, nxt.id, "maybe", 10), 400, "answer"),
        ((a.id, nxt.id, "real", -1), 400, "response_ms"),
        ((a.id, nxt.id, "real", "fast"), 400, "response_ms"),
        ((a.id, nxt.id, "real", True), 400, "response_ms"),
    ]
    for args, status, words in cases:
        with pytest.raises(Refused, match=words) as e:
            store.answer(*args)
        assert e.value.status == status, args
        assert snapshot(study) == before, args
    for bad in ("", "  ", "x" * 65, "tab\there", None, 7):
        with pytest.raises(Refused) as e:
            store.start_session(bad)
        assert e.value.status == 400
    assert snapshot(study) == before


def test_several_raters_at_once_spread_evenly_and_lose_nothing(study_factory):
    """12 raters start and answer at the same time, each through its own connections: every session gets its
    trials, every answer is stored once, and the arms get 4 raters each."""
    study = study_factory(n_arms=3)
    store = RatingStore(study)
    errors: list[BaseException] = []

    def rater(k: int) -> None:
        try:
            s, _ = store.start_session(f"r{k}")
            for _ in range(30):
                t = store.next_trial(s.id)
                store.answer(s.id, t.id, "real" if k % 2 else "fake", 100 + k)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=rater, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = store.rows()
    per_session = Counter(r["session"] for r in rows if r["answer"] is not None)
    assert len(per_session) == 12 and set(per_session.values()) == {30}
    arms = Counter(r["arm"] for r in rows if r["position"] == 0)
    assert sorted(arms.values()) == [4, 4, 4]


# ------------------------------------------------------------------------------------------ the JSON API


def test_the_api_runs_a_session_and_refuses_with_4xx_changing_nothing(study_factory, snapshot):
    study = study_factory()
    client = create_app(study.folder).test_client()
    info = client.get("/api/study").get_json()
    assert info["scored"] == 100 and info["real_share"] == 0.5 and info["tokens"] is False
    r = client.post("/api/session", json={"rater": "ann"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    sid = r.get_json()["session"]
    assert client.post("/api/session", json={"rater": "ann"}).status_code == 200  # resumed
    phases, sizes = Counter(), set()
    while True:
        t = client.get(f"/api/session/{sid}/next").get_json()
        if t["done"]:
            break
        assert set(t) == {"done", "trial", "phase", "position", "image", "answered", "total", "practice"}
        phases[t["phase"]] += 1
        img = client.get(t["image"])
        assert img.status_code == 200 and img.mimetype == "image/png"
        assert "ETag" not in img.headers and "Last-Modified" not in img.headers
        sizes.add(len(img.data))
        reply = client.post(
            f"/api/session/{sid}/answer", json={"trial": t["trial"], "answer": "real", "response_ms": 5}
        )
        assert reply.status_code == 200
        assert (reply.get_json()["feedback"] is not None) == (t["phase"] == "practice")
    assert phases == {"practice": 10, "rated": 105}  # catch trials look like any rated trial
    assert len(sizes) == 1
    progress = client.get(f"/api/session/{sid}/progress").get_json()
    assert progress["done"] and progress["answered"] == 115 and progress["arms_left"] == 1

    b = client.post("/api/session", json={"rater": "bob"}).get_json()["session"]
    tb = client.get(f"/api/session/{b}/next").get_json()
    before = snapshot(study)
    refusals = [
        (
            "post",
            f"/api/session/{sid}/answer",
            {"trial": tb["trial"], "answer": "real", "response_ms": 1},
            403,
        ),
        ("post", f"/api/session/{b}/answer", {"trial": "0" * 24, "answer": "real", "response_ms": 1}, 404),
        ("post", f"/api/session/{b}/answer", {"trial": tb["trial"], "answer": "yes", "response_ms": 1}, 400),
        ("post", f"/api/session/{b}/answer", None, 400),
        ("post", "/api/session", {"rater": ""}, 400),
        ("get", f"/api/session/{'f' * 24}/next", None, 404),
        ("get", "/api/trial/unknown/image", None, 404),
        ("get", "/api/nothing", None, 404),
        ("delete", f"/api/session/{b}/next", None, 405),
    ]
    for method, url, body, status in refusals:
        r = (
            getattr(client, method)(url, json=body)
            if body is not None
            else getattr(client, method)(url, data="x")
        )
        assert r.status_code == status, (method, url, r.get_json())
        assert "error" in r.get_json()
        assert snapshot(study) == before
    # the answered trial of a finished session is another session's trial for bob's session
    ann_trial = [row["trial"] for row in RatingStore(study).rows() if row["session"] == sid][0]
    r = client.post(f"/api/session/{b}/answer", json={"trial": ann_trial, "answer": "fake", "response_ms": 1})
    assert r.status_code == 403 and snapshot(study) == before


def test_beyond_loopback_every_call_needs_the_raters_token(study_factory, snapshot):
    study = study_factory()
    client = create_app(study.folder, tokens=True).test_client()
    assert client.get("/api/study").get_json()["tokens"] is True
    assert client.post("/api/session", json={"rater": "ann"}).status_code == 401
    assert (
        client.post("/api/session", json={"rater": "ann", "token": rater_token(study, "bob")}).status_code
        == 403
    )
    assert snapshot(study) == []
    token = rater_token(study, "ann")
    sid = client.post("/api/session", json={"rater": "ann", "token": token}).get_json()["session"]
    assert client.get(f"/api/session/{sid}/next").status_code == 401
    t = client.get(f"/api/session/{sid}/next", headers={"X-Rater-Token": token}).get_json()
    assert t["image"].endswith(f"?token={token}")
    assert client.get(t["image"].split("?")[0]).status_code == 401
    assert client.get(t["image"]).status_code == 200
    bob = rater_token(study, "bob")
    r = client.post(
        f"/api/session/{sid}/answer",
        headers={"X-Rater-Token": bob},
        json={"trial": t["trial"], "answer": "real", "response_ms": 3},
    )
    assert r.status_code == 403 and all(row[2] is None for row in snapshot(study))
    r = client.post(
        f"/api/session/{sid}/answer",
        headers={"X-Rater-Token": token},
        json={"trial": t["trial"], "answer": "real", "response_ms": 3},
    )
    assert r.status_code == 200
    assert len(token) == 32 and token != rater_token(study, "ann ")[:0] + bob


def test_raters_at_once_over_http(study_factory, live_server):
    """Four simulated raters finish their sessions at the same time through the threaded server."""
    study = study_factory(n_arms=2)
    base = live_server(study)
    runs: dict[str, object] = {}

    def go(name: str) -> None:
        runs[name] = run_session(ApiClient(base), name, always("fake"))

    threads = [threading.Thread(target=go, args=(f"sim{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.answered for r in runs.values()) == [115] * 4 and all(r.done for r in runs.values())
    arms = Counter(r["arm"] for r in RatingStore(study).rows() if r["position"] == 0)
    assert sorted(arms.values()) == [2, 2]
