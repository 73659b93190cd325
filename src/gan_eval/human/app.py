"""The rating page and its JSON API (Flask): a thin layer over :mod:`.store` and :mod:`.study`.

API (every body JSON; errors ``{"error": "..."}`` with a 4xx status, nothing changed):

- ``GET  /api/study``: the protocol a rater is told (trial counts, the real share, whether tokens are needed)
- ``POST /api/session`` ``{"rater": NAME, "token": T?}``: the rater's unfinished session (200), else a new one
  on the arm with the fewest sessions they have not rated (201); 409 when they have rated every arm
- ``GET  /api/session/<id>/next``: the current trial (``trial``, ``phase`` practice|rated, ``image``: its
  URL, ``position``) or ``{"done": true}``
- ``POST /api/session/<id>/answer`` ``{"trial": ID, "answer": "real"|"fake", "response_ms": MS}``: stored
  before the reply; practice trials get ``feedback`` (``truth``, ``correct``), others none
- ``GET  /api/session/<id>/progress``: ``answered``, ``total``, ``practice``, ``done``, ``arms_left``
- ``GET  /api/trial/<id>/image``: the trial's PNG (no ETag or dates; every image the same length)

With ``tokens=True`` (a server reachable beyond loopback) every call but ``/api/study`` carries the rater's
token (header ``X-Rater-Token`` or ``?token=``): 401 without one, 403 with a wrong one.
"""

from __future__ import annotations

import hmac
from hashlib import sha256
from pathlib import Path
from typing import Any

from gan_eval.human.store import RatingStore, Refused, SessionState, check_rater
from gan_eval.human.study import Study, load_study

STATIC = Path(__file__).with_name("static")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
}


def rater_token(study: Study, rater: str) -> str:
    """The token of ``rater`` in ``study``: HMAC-SHA256 of the name under the study's secret (32 hex)."""
    return hmac.new(study.secret(), rater.encode(), sha256).hexdigest()[:32]


def _state_json(state: SessionState, arms_left: int | None = None) -> dict[str, Any]:
    doc = {
        "session": state.id,
        "rater": state.rater,
        "answered": state.answered,
        "total": state.total,
        "practice": state.practice,
        "done": state.done,
    }
    if arms_left is not None:
        doc["arms_left"] = arms_left
    return doc


def create_app(study_dir: Path | str, *, tokens: bool = False) -> Any:
    """The Flask app serving ``study_dir``; ``tokens``: require each rater's token on every call."""
    from flask import Flask, Response, jsonify, request, send_from_directory
    from werkzeug.exceptions import HTTPException

    study = load_study(study_dir)
    store = RatingStore(study)
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Refused(400, "expected a JSON object in the request body")
        return data

    def given_token(data: dict[str, Any] | None = None) -> str:
        return str(
            request.headers.get("X-Rater-Token")
            or request.args.get("token")
            or (data or {}).get("token")
            or ""
        )

    def check_token(rater: str, token: str) -> None:
        if not tokens:
            return
        if not token:
            raise Refused(
                401, "this study needs the rater's token (the link printed by `gan-eval human serve`)"
            )
        if not hmac.compare_digest(token, rater_token(study, rater)):
            raise Refused(403, "wrong token for this rater")

    def session_of(session_id: str) -> SessionState:
        state = store.state(session_id)
        check_token(state.rater, given_token())
        return state

    @app.errorhandler(Refused)
    def refused(e: Refused) -> Any:
        return jsonify(error=e.message), e.status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error=e.description), e.code
        return e

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers.update(_SECURITY_HEADERS)
        if request.path.startswith("/api/") and not request.path.endswith("/image"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/")
    def index() -> Any:
        return send_from_directory(STATIC, "index.html", max_age=0)

    @app.get("/static/<path:name>")
    def static_file(name: str) -> Any:
        return send_from_directory(STATIC, name, max_age=0)

    @app.get("/api/study")
    def study_info() -> Any:
        p = study.protocol
        return jsonify(
            practice=p.practice,
            scored=p.scored,
            catch=p.catch,
            total=p.total,
            real_share=0.5,
            shape=list(study.shape),
            scale=study.scale,
            tokens=tokens,
            arms=len(study.arms),
        )

    @app.post("/api/session")
    def start() -> Any:
        data = body()
        rater = check_rater(data.get("rater"))
        check_token(rater, given_token(data))
        state, new = store.start_session(rater)
        return jsonify(_state_json(state, store.arms_left(rater))), 201 if new else 200

    @app.get("/api/session/<session_id>/progress")
    def progress(session_id: str) -> Any:
        state = session_of(session_id)
        return jsonify(_state_json(state, store.arms_left(state.rater)))

    @app.get("/api/session/<session_id>/next")
    def next_trial(session_id: str) -> Any:
        state = session_of(session_id)
        trial = store.next_trial(session_id)
        if trial is None:
            return jsonify(done=True, answered=state.answered, total=state.total)
        token = given_token()
        return jsonify(
            done=False,
            trial=trial.id,
            phase="practice" if trial.kind == "practice" else "rated",
            position=trial.position,
            image=f"/api/trial/{trial.id}/image" + (f"?token={token}" if tokens else ""),
            answered=state.answered,
            total=state.total,
            practice=state.practice,
        )

    @app.post("/api/session/<session_id>/answer")
    def answer(session_id: str) -> Any:
        data = body()
        session_of(session_id)
        trial, state = store.answer(
            session_id, str(data.get("trial", "")), data.get("answer"), data.get("response_ms")
        )
        feedback = None
        if trial.kind == "practice":
            feedback = {"truth": trial.truth, "correct": trial.answer == trial.truth}
        return jsonify(recorded=True, feedback=feedback, **_state_json(state))

    @app.get("/api/trial/<trial_id>/image")
    def image(trial_id: str) -> Any:
        trial = store.trial(trial_id)
        session_of(trial.session_id)
        data = study.image_path(trial.image_id).read_bytes()
        resp = Response(data, mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=86400"
        return resp

    return app


def serve(study_dir: Path | str, *, host: str, port: int, tokens: bool, on_ready: Any = None) -> None:
    """Serve ``study_dir`` on ``host:port`` (threads: several raters at once) until interrupted;
    ``on_ready(port)`` is called once the socket listens (``port`` 0 picks a free one)."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the terminal
    server = make_server(host, port, create_app(study_dir, tokens=tokens), threaded=True)
    if on_ready is not None:
        on_ready(server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
