"""A study on disk: its arms (the generated sets rated), one real set, and every image it will ever show.

``create_study`` draws each pool once (seeded), encodes every image the same way (:mod:`.images`) under an
opaque random id, and writes the folder atomically (a temporary folder, then a rename)::

    study/
      study.json       arms, pools (image ids), protocol, seed: what the server and the scorer read
      images/<id>.png  every image, real, generated or catch, encoded identically, one mtime for all
      secret           the key of the per-rater tokens (``--host`` other than loopback), mode 0600
      ratings.sqlite   created by the first session (:mod:`.store`)

Pools: each arm has ``pool`` generated images for scored trials plus its own practice images; the real pool
(shared by every arm, so arms are compared on the same real images) has ``pool`` images plus practice
images; catch images are real images, never shown otherwise, with their pixels shuffled. Practice images are
never scored, so the feedback on them says nothing about a scored image.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.errors import UserError
from gan_eval.human.images import catch_images, default_scale, encode_png

STUDY_FILE = "study.json"
IMAGES_DIR = "images"
SECRET_FILE = "secret"
DB_FILE = "ratings.sqlite"
FORMAT_VERSION = 1
_MTIME = 946684800  # 2000-01-01: every image file gets this mtime, so no file date tells the classes apart


@dataclass(frozen=True)
class Protocol:
    """One session: ``practice`` trials with feedback (half real), then ``scored`` trials (half real, half
    generated, the rater told so) with ``catch`` broken images among them; all in a seeded order."""

    practice: int = 10
    scored: int = 100
    catch: int = 5

    def __post_init__(self) -> None:
        for name in ("practice", "scored"):
            n = getattr(self, name)
            if n < 2 or n % 2:
                raise UserError(f"--{name} {n}: expected an even number >= 2 (half real, half generated)")
        if self.catch < 0:
            raise UserError(f"--catch {self.catch}: expected 0 or more catch trials")

    @property
    def total(self) -> int:
        return self.practice + self.scored + self.catch


@dataclass(frozen=True)
class Arm:
    """One generated set rated in the study: its spec as given, its label (checkpoint file name, else the
    spec), what a checkpoint says about itself (its path, epoch, step), and the ids of its scored pool and
    practice images."""

    index: int
    spec: str
    label: str
    checkpoint: str
    epoch: int | None
    step: int | None
    pool: tuple[str, ...]
    practice: tuple[str, ...]


@dataclass(frozen=True)
class Study:
    """A study as read from ``folder/study.json`` (:func:`load_study`)."""

    folder: Path
    name: str
    seed: int
    real: str
    shape: tuple[int, int, int]
    scale: int
    protocol: Protocol
    real_pool: tuple[str, ...]
    real_practice: tuple[str, ...]
    catch: tuple[str, ...]
    arms: tuple[Arm, ...]
    created: str = ""

    @cached_property
    def truth(self) -> dict[str, str]:
        """image id -> ``"real"`` or ``"fake"`` (catch images are generated: the right answer is "fake")."""
        out = dict.fromkeys((*self.real_pool, *self.real_practice), "real")
        out.update(dict.fromkeys(self.catch, "fake"))
        for arm in self.arms:
            out.update(dict.fromkeys((*arm.pool, *arm.practice), "fake"))
        return out

    def image_path(self, image_id: str) -> Path:
        return self.folder / IMAGES_DIR / f"{image_id}.png"

    @property
    def db_path(self) -> Path:
        return self.folder / DB_FILE

    def secret(self) -> bytes:
        return (self.folder / SECRET_FILE).read_bytes()


def _read_all(source: Any, what: str) -> np.ndarray:
    batches = [np.asarray(b.cpu() if hasattr(b, "cpu") else b, dtype=np.uint8) for b in source.batches(256)]
    if not batches:
        raise UserError(f"{what}: no images")
    return np.concatenate(batches)


def _open(spec: str, need: int, *, seed: int, what: str, data_root: str | None, device: str) -> Any:
    """``spec`` as a source of ``need`` images (a seeded subset of a dataset or folder; ``need`` samples of
    a generator with noise seed ``seed``), checked but not read yet."""
    from gan_eval.data import parse_source

    source = parse_source(
        spec, data_root=data_root, limit=need, seed=seed, n=need, sample_seed=seed, device=device
    )
    if len(source) < need:
        raise UserError(f"{what} {spec}: {len(source)} images, the study needs {need}")
    return source


def _draw(source: Any, spec: str, need: int, *, what: str) -> Any:
    """The ``need`` images of an opened source as (uint8 [need, C, H, W], the source's info)."""
    images = _read_all(source, f"{what} {spec}")[:need]
    if images.shape[1] not in (1, 3):
        raise UserError(
            f"{what} {spec}: images with {images.shape[1]} channels; expected 1 (grey) or 3 (RGB)"
        )
    return images, dict(getattr(source, "info", {}) or {})


def create_study(
    fakes: list[str],
    real: str,
    out: Path | str,
    *,
    pool: int = 200,
    seed: int = 0,
    scale: int | None = None,
    protocol: Protocol | None = None,
    data_root: str | None = None,
    device: str = "cpu",
) -> Study:
    """Draw every image of a study of ``fakes`` (one arm each) against ``real`` and write it to ``out``.

    ``pool``: generated images per arm for the scored trials, and real images shared by the arms (each
    session draws half its scored trials from each); ``seed``: the subsets, the generators' noise, the ids
    and every session's order; ``scale``: the upscale factor (default: about 224 pixels shown). Refuses an
    ``out`` that exists and is not empty, fewer images than needed, and arms whose image shape differs from
    the real set's (the shape alone would give the answer away).
    """
    protocol = protocol or Protocol()
    out = Path(out)
    if not fakes:
        raise UserError("a study needs at least one --fake")
    if len(set(fakes)) != len(fakes):
        raise UserError("the same --fake is given twice; each arm is one generated set")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"-o {out}: exists and is not an empty folder; choose a new study folder")
    half_scored, half_practice = protocol.scored // 2, protocol.practice // 2
    if pool < half_scored:
        raise UserError(
            f"--pool {pool}: a session shows {half_scored} images of each pool; use at least that"
        )
    rng = np.random.default_rng(seed)
    # every input opened (and checked) before any is read: a missing --fake fails before the real set loads
    n_real, n_fake = pool + half_practice + protocol.catch, pool + half_practice
    fake_sources = [
        _open(spec, n_fake, seed=seed, what="--fake", data_root=data_root, device=device) for spec in fakes
    ]
    real_source = _open(real, n_real, seed=seed, what="--real", data_root=data_root, device=device)
    real_images, _ = _draw(real_source, real, n_real, what="--real")
    real_images = real_images[rng.permutation(len(real_images))]
    shape = tuple(int(x) for x in real_images.shape[1:])
    scale = scale or default_scale(shape[1], shape[2])
    if scale < 1:
        raise UserError(f"--scale {scale}: expected a positive integer")
    used_ids: set[str] = set()

    def new_ids(n: int) -> list[str]:
        ids: list[str] = []
        while len(ids) < n:
            candidate = rng.bytes(8).hex()
            if candidate not in used_ids:
                used_ids.add(candidate)
                ids.append(candidate)
        return ids

    images: dict[str, np.ndarray] = {}
    groups: dict[str, list[str]] = {}
    for name, block in (
        ("real_pool", real_images[:pool]),
        ("real_practice", real_images[pool : pool + half_practice]),
        ("catch", catch_images(real_images[pool + half_practice :], rng)),
    ):
        groups[name] = new_ids(len(block))
        images.update(zip(groups[name], block, strict=True))
    arms = []
    for i, (spec, source) in enumerate(zip(fakes, fake_sources, strict=True)):
        fake, info = _draw(source, spec, n_fake, what="--fake")
        if tuple(fake.shape[1:]) != shape:
            raise UserError(
                f"--fake {spec}: images are {'x'.join(map(str, fake.shape[1:]))}, the real set's "
                f"{'x'.join(map(str, shape))}; real and generated images must have the same shape, or the "
                "shape alone tells them apart"
            )
        fake = fake[rng.permutation(len(fake))]
        arm_pool, arm_practice = new_ids(pool), new_ids(half_practice)
        images.update(zip(arm_pool, fake[:pool], strict=True))
        images.update(zip(arm_practice, fake[pool:], strict=True))
        checkpoint = str(info.get("checkpoint") or "")  # as the evaluation rows record it (the path)
        arms.append(
            Arm(
                index=i,
                spec=spec,
                label=Path(checkpoint).name if checkpoint else spec,
                checkpoint=checkpoint,
                epoch=None if info.get("epoch") is None else int(info["epoch"]),
                step=None if info.get("step") is None else int(info["step"]),
                pool=tuple(arm_pool),
                practice=tuple(arm_practice),
            )
        )
    study = Study(
        folder=out,
        name=out.resolve().name,
        seed=seed,
        real=real,
        shape=(shape[0], shape[1], shape[2]),
        scale=scale,
        protocol=protocol,
        real_pool=tuple(groups["real_pool"]),
        real_practice=tuple(groups["real_practice"]),
        catch=tuple(groups["catch"]),
        arms=tuple(arms),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    _write(study, images, rng)
    return study


def _document(study: Study) -> dict[str, Any]:
    doc = {k: v for k, v in asdict(study).items() if k != "folder"}
    doc["format"] = FORMAT_VERSION
    return doc


def _write(study: Study, images: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    out = study.folder
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / IMAGES_DIR).mkdir()
        ids = list(images)
        for k in rng.permutation(len(ids)):  # written in a random order: no inode order by class
            path = tmp / IMAGES_DIR / f"{ids[k]}.png"
            path.write_bytes(encode_png(images[ids[k]], study.scale))
            os.utime(path, (_MTIME, _MTIME))
        fd = os.open(tmp / SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))  # not seeded: tokens must not follow from the study's seed
        (tmp / STUDY_FILE).write_text(json.dumps(_document(study), indent=1) + "\n")
        tmp.chmod(0o755)
        if out.exists():
            out.rmdir()  # empty (checked by create_study)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_study(folder: Path | str) -> Study:
    """The study in ``folder``; UserError when it is not a study folder (or one this version cannot read)."""
    folder = Path(folder)
    path = folder / STUDY_FILE
    if not path.is_file():
        raise UserError(f"{folder}: not a study folder (no {STUDY_FILE}); make one with `gan-eval human new`")
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT_VERSION:
            raise UserError(
                f"{path}: study format {doc.get('format')!r}, this gan-eval reads {FORMAT_VERSION}"
            )
        arms = tuple(
            Arm(**{**a, "pool": tuple(a["pool"]), "practice": tuple(a["practice"])}) for a in doc["arms"]
        )
        return Study(
            folder=folder,
            name=str(doc["name"]),
            seed=int(doc["seed"]),
            real=str(doc["real"]),
            shape=(int(doc["shape"][0]), int(doc["shape"][1]), int(doc["shape"][2])),
            scale=int(doc["scale"]),
            protocol=Protocol(**doc["protocol"]),
            real_pool=tuple(doc["real_pool"]),
            real_practice=tuple(doc["real_practice"]),
            catch=tuple(doc["catch"]),
            arms=arms,
            created=str(doc.get("created", "")),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a readable study file ({type(e).__name__}: {e})") from None


def describe_study(study: Study) -> list[str]:
    """What a study holds, as lines for the terminal."""
    c, h, w = study.shape
    p = study.protocol
    lines = [
        f"study {study.name} in {study.folder}: {len(study.arms)} arm(s), real set {study.real}, "
        f"seed {study.seed}",
        f"images: {c}x{h}x{w}, shown at {study.scale}x ({h * study.scale}x{w * study.scale} pixels), PNG",
        f"real pool: {len(study.real_pool)} images (+{len(study.real_practice)} practice, "
        f"{len(study.catch)} catch images made from real ones)",
    ]
    for arm in study.arms:
        lines.append(f"arm {arm.index}: {arm.label} ({len(arm.pool)} images, +{len(arm.practice)} practice)")
    lines.append(
        f"a session: {p.practice} practice trials with feedback, {p.scored} scored (half real), "
        f"{p.catch} catch trials; {p.total} in all"
    )
    return lines
