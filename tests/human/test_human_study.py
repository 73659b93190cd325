"""A study on disk: every image encoded identically, pools drawn once (seeded), sessions, arm assignment."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_eval.errors import UserError
from gan_eval.human.images import catch_images, default_scale, encode_png, png_chunks, upscale
from gan_eval.human.sessions import choose_arm, plan_session, session_rng
from gan_eval.human.study import Protocol, create_study, load_study


def test_encoding_is_nearest_neighbour_and_leaks_nothing():
    """Two images as different as possible (noise and black; grey and RGB) encode to PNGs of one length with
    only IHDR/IDAT/IEND, and decode to each source pixel repeated as a scale x scale block."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (1, 28, 28), dtype=np.uint8)
    black = np.zeros((1, 28, 28), dtype=np.uint8)
    a, b = encode_png(noise, 8), encode_png(black, 8)
    assert len(a) == len(b)
    assert set(png_chunks(a)) == {"IHDR", "IDAT", "IEND"} and png_chunks(a) == png_chunks(b)
    decoded = np.asarray(Image.open(io.BytesIO(a)))
    assert decoded.shape == (224, 224)
    for y, x in ((0, 0), (13, 27), (27, 5)):
        assert (decoded[8 * y : 8 * y + 8, 8 * x : 8 * x + 8] == noise[0, y, x]).all()
    rgb = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    c, d = encode_png(rgb, 7), encode_png(np.full_like(rgb, 255), 7)
    assert len(c) == len(d) and set(png_chunks(c)) == {"IHDR", "IDAT", "IEND"}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(c))), upscale(rgb, 7).transpose(1, 2, 0))
    assert default_scale(28, 28) == 8 and default_scale(32, 32) == 7 and default_scale(512, 512) == 1


def test_catch_images_keep_the_pixels_but_lose_the_shape():
    rng = np.random.default_rng(1)
    base = np.zeros((2, 1, 28, 28), dtype=np.uint8)
    base[:, :, 8:20, 8:20] = 255
    out = catch_images(base, rng)
    assert out.shape == base.shape and out.dtype == np.uint8
    for i in range(2):
        assert np.array_equal(np.sort(out[i].ravel()), np.sort(base[i].ravel()))  # same pixel values
    assert (out[:, :, 8:20, 8:20] == 255).mean() < 0.5  # the square is gone


def test_a_study_holds_every_image_once_encoded_the_same(study_factory):
    study = study_factory(n_arms=2, pool=60)
    p = study.protocol
    assert (
        len(study.real_pool) == 60 and len(study.real_practice) == p.practice // 2 and len(study.catch) == 5
    )
    assert all(len(a.pool) == 60 and len(a.practice) == p.practice // 2 for a in study.arms)
    files = sorted((study.folder / "images").iterdir())
    assert len(files) == len(study.truth) == 60 + 5 + 5 + 2 * (60 + 5)
    assert len({f.stat().st_size for f in files}) == 1  # one length for all
    assert len({int(f.stat().st_mtime) for f in files}) == 1  # one date for all
    assert all(len(f.stem) == 16 and int(f.stem, 16) >= 0 for f in files)  # opaque ids
    assert Counter(study.truth.values()) == {"real": 65, "fake": 5 + 130}
    assert oct((study.folder / "secret").stat().st_mode & 0o777) == "0o600"
    again = load_study(study.folder)
    assert again == study
    doc = json.loads((study.folder / "study.json").read_text())
    assert doc["arms"][0]["spec"].endswith("arm0.npz") and doc["format"] == 1


def test_the_same_seed_draws_the_same_study(tmp_path, study_factory):
    a = study_factory(name="a", seed=3)
    b = create_study([arm.spec for arm in a.arms], a.real, tmp_path / "b", pool=60, seed=3)
    c = create_study([arm.spec for arm in a.arms], a.real, tmp_path / "c", pool=60, seed=4)
    assert a.real_pool == b.real_pool and a.arms[1].pool == b.arms[1].pool
    assert a.image_path(a.arms[1].pool[7]).read_bytes() == b.image_path(b.arms[1].pool[7]).read_bytes()
    assert a.real_pool != c.real_pool
    assert (a.folder / "secret").read_bytes() != (b.folder / "secret").read_bytes()  # never seeded


def test_bad_studies_are_refused_and_leave_nothing(tmp_path, study_factory):
    study = study_factory()
    real, fakes = study.real, [a.spec for a in study.arms]
    with pytest.raises(UserError, match="not an empty folder"):
        create_study(fakes, real, study.folder)
    with pytest.raises(UserError, match="given twice"):
        create_study([fakes[0], fakes[0]], real, tmp_path / "x")
    with pytest.raises(UserError, match="arm0.npz: 70 images, the study needs 95"):  # --fake checked first
        create_study(fakes, real, tmp_path / "x", pool=90)  # 70 per array
    np.savez(tmp_path / "small.npz", images=np.zeros((80, 1, 16, 16), dtype=np.uint8))
    with pytest.raises(UserError, match="same shape"):
        create_study([str(tmp_path / "small.npz")], real, tmp_path / "x", pool=60)
    with pytest.raises(UserError, match="at least that"):
        create_study(fakes, real, tmp_path / "x", pool=20)
    with pytest.raises(UserError, match="even number"):
        Protocol(scored=99)
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    with pytest.raises(UserError, match="not a study folder"):
        load_study(tmp_path)


def test_a_session_has_practice_then_half_real_scored_trials_with_catch_trials_among_them(study_factory):
    study = study_factory(pool=60)
    trials = plan_session(study, 1, session_rng(study, 0))
    assert len(trials) == 115 and [t.position for t in trials] == list(range(115))
    practice = trials[:10]
    assert {t.kind for t in practice} == {"practice"} and Counter(t.truth for t in practice) == {
        "real": 5,
        "fake": 5,
    }
    rest = trials[10:]
    scored = [t for t in rest if t.kind == "scored"]
    assert Counter(t.truth for t in scored) == {"real": 50, "fake": 50}
    assert sum(t.kind == "catch" for t in rest) == 5 and all(
        t.truth == "fake" for t in rest if t.kind == "catch"
    )
    assert len({t.image_id for t in trials}) == 115  # no image twice in a session
    assert {t.image_id for t in scored if t.truth == "fake"} <= set(study.arms[1].pool)
    assert {t.image_id for t in scored if t.truth == "real"} <= set(study.real_pool)
    again = plan_session(study, 1, session_rng(study, 0))
    other = plan_session(study, 1, session_rng(study, 1))
    assert again == trials and [t.image_id for t in other] != [t.image_id for t in trials]


def test_arms_are_assigned_evenly_and_once_per_rater():
    rng = np.random.default_rng(0)
    counts = [0, 0, 0]
    for _ in range(30):  # 30 raters, one session each
        counts[choose_arm(counts, set(), rng)] += 1
    assert counts == [10, 10, 10]
    assert choose_arm([5, 0, 0], {1, 2}, rng) == 0  # the only arm left, however busy
    assert choose_arm([1, 1], {0, 1}, rng) is None
    firsts = {choose_arm([0, 0, 0], set(), np.random.default_rng(k)) for k in range(20)}
    assert firsts == {0, 1, 2}  # ties broken at random: no fixed order of arms


def test_a_generator_checkpoint_is_an_arm_with_its_epoch(tmp_path):
    ck = os.path.join(os.path.dirname(__file__), "..", "data", "mlp_gan_mnist.pt")
    real_images = np.random.default_rng(0).integers(0, 256, (70, 1, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "real.npz", images=real_images)
    study = create_study([ck], str(tmp_path / "real.npz"), tmp_path / "s", pool=60)
    arm = study.arms[0]
    assert Path(arm.checkpoint).name == arm.label == "mlp_gan_mnist.pt" and arm.epoch is not None
    assert len(arm.pool) == 60
