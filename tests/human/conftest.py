"""Shared fixtures of the human-evaluation tests: small studies made from arrays, and a live server."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from gan_eval.human.study import Protocol, Study, create_study


def make_arrays(
    folder: Path, n_arms: int = 2, n: int = 80, size: int = 28, seed: int = 0
) -> tuple[str, list[str]]:
    """A real set (bright squares on black) and ``n_arms`` generated sets (noisier squares) as .npz files:
    uint8 [n, 1, size, size]. Returns (real spec, fake specs)."""
    rng = np.random.default_rng(seed)

    def squares(noise: float) -> np.ndarray:
        out = np.zeros((n, 1, size, size), dtype=np.float64)
        for i in range(n):
            a, b = rng.integers(2, size // 2, size=2)
            out[i, 0, a : a + size // 3, b : b + size // 3] = 220
        out += rng.normal(0, noise, size=out.shape)
        return np.clip(out, 0, 255).astype(np.uint8)

    np.savez(folder / "real.npz", images=squares(5))
    fakes = []
    for k in range(n_arms):
        path = folder / f"arm{k}.npz"
        np.savez(path, images=squares(20 + 30 * k))
        fakes.append(str(path))
    return str(folder / "real.npz"), fakes


@pytest.fixture
def study_factory(tmp_path: Path):
    """``study_factory(n_arms=2, pool=60, protocol=Protocol(), seed=0, name="study") -> Study``."""

    def make(
        n_arms: int = 2, pool: int = 60, protocol: Protocol | None = None, seed: int = 0, name: str = "study"
    ) -> Study:
        data = tmp_path / f"{name}_data"
        data.mkdir()
        real, fakes = make_arrays(data, n_arms=n_arms, n=pool + 10)
        return create_study(fakes, real, tmp_path / name, pool=pool, seed=seed, protocol=protocol)

    return make


@pytest.fixture
def live_server():
    """``live_server(study, tokens=False) -> base URL``: the study's app on a free loopback port, in a thread
    (werkzeug's threaded server, as ``gan-eval human serve`` runs it); shut down after the test."""
    import logging

    from werkzeug.serving import make_server

    from gan_eval.human.app import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    servers = []

    def start(study: Study, tokens: bool = False) -> str:
        server = make_server("127.0.0.1", 0, create_app(study.folder, tokens=tokens), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def snapshot():
    """``snapshot(study)``: every session and trial in the study's database with its answer, to check that a
    refusal changed nothing."""
    from gan_eval.human.store import RatingStore

    def take(study: Study) -> list[tuple]:
        rows = RatingStore(study).rows()
        return [(r["session"], r["trial"], r["answer"], r["response_ms"], r["answered_at"]) for r in rows]

    return take
