"""``gan-eval human new|serve|export|score`` as a user runs them: what they print and write, one-line errors
(exit 2), a kill -9 of the server mid-study (no answered trial lost, the session resumes), and the rows in
the results table that ``report`` and ``gate`` read like any metric's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.human.client import ApiClient, ApiError, always, run_session
from gan_eval.human.store import RatingStore
from gan_eval.human.study import load_study
from gan_eval.results import load_results

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _start_server(study: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gan_eval", "human", "serve", str(study), "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"on (http://\S+?)/?$", line.strip())
    assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, m.group(1)


def test_new_score_export_through_the_cli(tmp_path, study_factory):
    template = study_factory(n_arms=2)  # only for its arrays
    fakes = [a.spec for a in template.arms]
    args = ["human", "new", "--fake", fakes[0], "--fake", fakes[1], "--real", template.real]
    code, out, err = _run(*args, "-o", str(tmp_path / "s"), "--pool", "60", "--seed", "5")
    assert code == 0, err
    assert "2 arm(s)" in out and "arm 1: " in out and "115 in all" in out and "gan-eval human serve" in out
    study = load_study(tmp_path / "s")
    base_store = RatingStore(study)
    for k in range(2):
        s, _ = base_store.start_session(f"r{k}")
        while (t := base_store.next_trial(s.id)) is not None:
            base_store.answer(s.id, t.id, "fake" if t.kind == "catch" else "real", 400)
    table = tmp_path / "results.csv"
    code, out, err = _run("human", "score", str(tmp_path / "s"), "--results", str(table))
    assert code == 0, err
    assert "10 rows appended" in out and "Wilson" in out
    df = load_results(table)
    assert set(df["extractor"]) == {"human"} and set(df["protocol"]) == {"hype-inf"}
    hype = df[df["metric"] == "hype_inf"]
    assert list(hype["value"]) == [0.5, 0.5] and list(hype["n_ratings"]) == [100, 100]
    assert (
        list(hype["n_raters"]) == [1, 1] and list(hype["n_fake"]) == [60, 60] and set(hype["n_real"]) == {60}
    )
    assert hype["ci_low"].notna().all() and (hype["ci_low"] < 0.5).all() and (hype["ci_high"] > 0.5).all()
    assert df["fingerprint"].nunique() == 1 and set(df["run_id"]) == {"s"}  # the arms are comparable
    code, out, err = _run("human", "export", str(tmp_path / "s"), "-o", str(tmp_path / "t.csv"))
    assert code == 0 and "230 trials, 2 sessions" in out
    trials = pd.read_csv(tmp_path / "t.csv")
    assert list(trials.columns[:6]) == ["session", "rater", "arm", "arm_label", "arm_spec", "position"]
    assert (
        trials["practice"].sum() == 20 and trials["catch"].sum() == 10 and trials["response_ms"].eq(400).all()
    )
    code, out, _ = _run("human", "score", str(tmp_path / "s"), "--no-save", "--json")
    assert code == 0 and '"hype_inf": 0.5' in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["human", "new", "--fake", "nowhere.npz", "-o", "{tmp}/x"], "no such file"),
        (["human", "serve", "{tmp}"], "not a study folder"),
        (["human", "serve", "{study}", "--host", "0.0.0.0"], "name the raters"),
        (["human", "score", "{study}", "--catch-min", "2"], "--catch-min 2.0"),
        (["human", "score", "{tmp}"], "not a study folder"),
        (["human", "export", "{study}", "-o", "{tmp}"], "is a folder"),
        (["eval", "--fake", "{fake}", "--real", "mnist", "--metrics", "hype"], "measured by people"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, study_factory, args, words):
    study = study_factory(n_arms=1)
    filled = [a.format(tmp=tmp_path, study=study.folder, fake=study.arms[0].spec) for a in args]
    code, out, err = _run(*filled)
    assert code == 2, (out, err)
    assert err.startswith("gan-eval: error: ") and words in err and err.count("\n") == 1


def test_a_killed_server_loses_no_answered_trial_and_the_session_resumes(study_factory):
    """A rater answers while the server is killed with SIGKILL: every answer the rater got a reply for is in
    the database (and at most the one in flight besides), and after a restart the same rater resumes the
    same session at the first unanswered trial."""
    study = study_factory(n_arms=2)
    proc, base = _start_server(study.folder)
    client = ApiClient(base, timeout=10)
    sid = client.start("kim")["session"]
    confirmed: list[str] = []
    stop = threading.Event()

    def answer_until_killed() -> None:
        try:
            while not stop.is_set():
                t = client.next(sid)
                client.answer(sid, t["trial"], "real", 100)
                confirmed.append(t["trial"])
        except (OSError, ApiError):
            return  # the server is gone

    worker = threading.Thread(target=answer_until_killed)
    worker.start()
    while len(confirmed) < 25:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    stop.set()
    worker.join(timeout=20)
    stored = [r["trial"] for r in RatingStore(study).rows() if r["answer"] is not None]
    assert set(confirmed) <= set(stored) and len(stored) - len(confirmed) <= 1
    proc, base = _start_server(study.folder)
    try:
        client = ApiClient(base, timeout=10)
        resumed = client.start("kim")
        assert resumed["session"] == sid and resumed["answered"] == len(stored)
        assert client.next(sid)["position"] == len(stored)  # the first unanswered trial
        assert run_session(client, "kim", always("fake")).done
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped" in out


def test_serve_beyond_loopback_prints_a_token_link_per_rater(study_factory):
    from gan_eval.human.app import rater_token

    study = study_factory(n_arms=1)
    proc, shown = _start_server(study.folder, "--host", "0.0.0.0", "--rater", "ann", "--rater", "bo b")
    base = "http://127.0.0.1:" + shown.rsplit(":", 1)[1]  # all interfaces: loopback among them
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines[0] == f"ann: {shown}/?rater=ann&token={rater_token(study, 'ann')}"
        assert lines[1].startswith(f"bo b: {shown}/?rater=bo+b&token=")
        with pytest.raises(ApiError) as e:
            ApiClient(base).start("ann")
        assert e.value.status == 401
        assert ApiClient(base, token=rater_token(study, "ann")).call("POST", "/api/session", {"rater": "ann"})
    finally:
        proc.kill()
        proc.wait()


def test_help_lists_the_human_commands_with_examples():
    code, out, _ = _run("--help")
    assert code == 0 and "human" in out
    for cmd in ("new", "serve", "export", "score"):
        code, out, _ = _run("human", cmd, "--help")
        assert code == 0 and "Example" in out, cmd
