"""Table-driven bad inputs through the CLI: every source kind, every option type, every output path.

Each case runs the CLI in this process (typer's CliRunner) and asserts exit code 2, exactly one stderr line
that names the input, no traceback, and that no file appeared, changed or disappeared: not in the inputs,
not in the working folder (results tables stay byte-identical), not in the cache. Among them: compare with
one corrupt checkpoint appends nothing (issue 15 item 3), and numeric options are validated at parse time
(item 9).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from robust_helpers import CKPT, assert_one_line_error, invoke, tree, unwritable_folder

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")

Setup = Callable[[Path, "object"], None]


@dataclass(frozen=True)
class Case:
    """``args``/``names``: ``{ws}`` (valid inputs), ``{tmp}`` (this case's folder), ``{ro}`` (a folder
    nobody can write) are filled in; ``setup(tmp, ws)`` makes this case's bad input first."""

    id: str
    args: tuple[str, ...]
    names: tuple[str, ...]
    setup: Setup | None = None
    env: tuple[tuple[str, str], ...] = ()
    marks: tuple = ()
    cache_may_grow: bool = False  # real statistics computed before the failure may be cached (verified)


def fid(fake: str, *more: str, real: str = "{ws}/real.npz") -> tuple[str, ...]:
    return ("fid", "--real", real, "--fake", fake, "-e", "dummy", "--no-save", "-q", *more)


# ---------------------------------------------------------------- setups: this case's bad input
def write(name: str, data: bytes) -> Setup:
    def make(tmp: Path, ws) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)

    return make


def npz(name: str, **arrays) -> Setup:
    def make(tmp: Path, ws) -> None:
        np.savez(tmp / name, **arrays)

    return make


def mkdir(name: str) -> Setup:
    return lambda tmp, ws: (tmp / name).mkdir(parents=True)


def png_folder(name: str, images: dict[str, np.ndarray], raw: dict[str, bytes] | None = None) -> Setup:
    def make(tmp: Path, ws) -> None:
        folder = tmp / name
        folder.mkdir()
        for fname, arr in images.items():
            Image.fromarray(arr).save(folder / fname)
        for fname, data in (raw or {}).items():
            (folder / fname).write_bytes(data)

    return make


def copy_ws(key: str, name: str) -> Setup:
    return lambda tmp, ws: shutil.copy(ws[key], tmp / name)


def truncated(key: str, name: str, keep: float | int) -> Setup:
    def make(tmp: Path, ws) -> None:
        data = Path(ws[key]).read_bytes()
        (tmp / name).write_bytes(data[: int(len(data) * keep)] if isinstance(keep, float) else data[:keep])

    return make


def torch_save(name: str, obj_fn: Callable[[], object]) -> Setup:
    return lambda tmp, ws: torch.save(obj_fn(), tmp / name)


def modified_ckpt(name: str, change: Callable[[dict], None]) -> Setup:
    def make(tmp: Path, ws) -> None:
        ckpt = torch.load(CKPT, weights_only=True)
        change(ckpt)
        torch.save(ckpt, tmp / name)

    return make


def nan_weights(ckpt: dict) -> None:
    for key in ("generator", "generator_ema"):
        if ckpt.get(key):
            for t in ckpt[key].values():
                if t.is_floating_point():
                    t.fill_(float("nan"))


def zip_of(name: str, members: dict[str, bytes]) -> Setup:
    def make(tmp: Path, ws) -> None:
        with zipfile.ZipFile(tmp / name, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)

    return make


def stats_file(name: str, **arrays) -> Setup:
    def make(tmp: Path, ws) -> None:
        base = {"mu": np.zeros(16), "sigma": np.eye(16)}
        base.update(arrays)
        np.savez(tmp / name, **{k: v for k, v in base.items() if v is not None})

    return make


def declared_size(name: str, size: int) -> Setup:
    """Make the zip's last member declare ``size`` bytes (its central directory entry; the data stays)."""

    def make(tmp: Path, ws) -> None:
        data = bytearray((tmp / name).read_bytes())
        struct.pack_into("<I", data, data.rfind(b"PK\x01\x02") + 24, size)
        (tmp / name).write_bytes(bytes(data))

    return make


def both(*setups: Setup) -> Setup:
    def make(tmp: Path, ws) -> None:
        for s in setups:
            s(tmp, ws)

    return make


def glued_results(tmp: Path, ws) -> None:
    lines = Path(ws["results"]).read_text().splitlines(keepends=True)
    (tmp / "glued.csv").write_text(lines[0] + lines[1].rstrip("\n") + lines[2])  # two rows on one line


def damaged_results(damage: str) -> Setup:
    """The workspace's results table (header, 2 rows) with one line damaged: a byte that is not UTF-8, a
    NUL byte, a row cut to 5 fields, a value of the wrong type."""

    def make(tmp: Path, ws) -> None:
        head, row1, row2 = Path(ws["results"]).read_bytes().splitlines(keepends=True)
        if damage == "not-utf8-on-line-3":
            row2 = b"\xff\xfe" + row2
        elif damage == "nul-byte":
            row2 = row2[:30] + b"\0" + row2[30:]
        elif damage == "short-row-in-the-middle":
            row1 = b",".join(row1.split(b",")[:5]) + b"\n"
        else:
            cells = row2.split(b",")
            cells[head.decode().split(",").index("n_fake")] = b"many"
            row2 = b",".join(cells)
        (tmp / "r.csv").write_bytes(head + row1 + row2)

    return make


def foreign_parquet(tmp: Path, ws) -> None:
    pd.DataFrame({"a": [1], "b": [2]}).to_parquet(tmp / "r.parquet")


def rng_u8(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


SAVING_FID = ("fid", "--real", "{ws}/real.npz", "--fake", "{ws}/fake.npz", "-e", "dummy", "-q")
SAVING_FID += ("--results", "{tmp}/r.csv")
GRAY = rng_u8(16, 16)
RGB = rng_u8(16, 16, 3)
_png = io.BytesIO()
Image.fromarray(GRAY).save(_png, "PNG")
PNG = _png.getvalue()

# ---------------------------------------------------------------- the cases
CASES: list[Case] = [
    # --- datasets
    Case("dataset-unknown-split", fid("mnist:validation"), ("mnist:validation", "split")),
    Case("fashion-unknown-split", fid("fashion-mnist:dev"), ("fashion-mnist:dev",)),
    Case(
        "dataset-missing-data-root",
        ("fid", "--real", "mnist:test", "--fake", "{ws}/fake.npz", "-e", "dummy", "--no-save", "-q")
        + ("--data-root", "{tmp}/no-such-root"),
        ("--data-root", "no-such-root"),
    ),
    Case("unknown-spec", fid("nonsense"), ("nonsense",)),
    Case("missing-file", fid("{tmp}/missing.npz"), ("missing.npz", "no such file")),
    # --- folders of images
    Case("folder-empty", fid("{tmp}/empty"), ("empty", "no images"), mkdir("empty")),
    Case(
        "folder-corrupt-image",
        fid("{tmp}/f"),
        ("bad.png", "cannot read image"),
        png_folder("f", {"a.png": GRAY}, {"bad.png": b"\x89PNG garbage"}),
    ),
    Case(
        "folder-truncated-png",
        fid("{tmp}/f"),
        ("b.png", "cannot read image"),
        both(png_folder("f", {"a.png": GRAY}), truncated("big_header", "f/b.png", 20)),
    ),
    Case(
        "folder-mixed-sizes",
        fid("{tmp}/f"),
        ("mixed image sizes", "b.png"),
        png_folder("f", {"a.png": GRAY, "b.png": rng_u8(20, 20)}),
    ),
    Case(
        "folder-gray-then-rgb",
        fid("{tmp}/f"),
        ("grayscale and color", "b.png"),
        png_folder("f", {"a.png": GRAY, "b.png": RGB}),
    ),
    Case(
        "folder-decompression-bomb",  # 20000x20000: Pillow refuses it unread
        fid("{tmp}/f"),
        ("bomb.png", "too large"),
        both(mkdir("f"), lambda tmp, ws: shutil.copy(ws["bomb"], tmp / "f" / "bomb.png")),
    ),
    Case(
        "folder-huge-image-among-small",  # 9000x9000 header, no pixel data: refused by size, never decoded
        fid("{tmp}/f"),
        ("mixed image sizes", "zz.png", "9000x9000"),
        both(
            png_folder("f", {"a.png": GRAY}),
            lambda tmp, ws: shutil.copy(ws["big_header"], tmp / "f" / "zz.png"),
        ),
    ),
    # --- zips
    Case(
        "zip-garbage", fid("{tmp}/x.zip"), ("x.zip", "not a readable zip"), write("x.zip", b"PK\x03\x04 nope")
    ),
    Case("zip-no-images", fid("{tmp}/x.zip"), ("x.zip", "no images"), zip_of("x.zip", {"a.txt": b"hi"})),
    Case(
        "zip-corrupt-member",
        fid("{tmp}/x.zip"),
        ("a.png", "cannot read image"),
        zip_of("x.zip", {"a.png": b"\x89PNG\r\n\x1a\n broken"}),
    ),
    # --- arrays
    Case("npz-garbage", fid("{tmp}/x.npz"), ("x.npz", "not a readable"), write("x.npz", b"garbage" * 10)),
    Case("npz-truncated", fid("{tmp}/x.npz"), ("x.npz", "not a readable"), truncated("fake", "x.npz", 0.5)),
    Case(
        "npy-truncated", fid("{tmp}/x.npy"), ("x.npy",), truncated("npy", "x.npy", 0.5)
    ),  # header fine, data short
    Case(
        "npy-pickled-objects",
        fid("{tmp}/x.npy"),
        ("x.npy", "not a readable"),
        lambda tmp, ws: np.save(tmp / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True),
    ),
    Case(
        "npz-float-without-range",
        fid("{tmp}/x.npz"),
        ("x.npz", "--value-range"),
        npz("x.npz", images=np.random.default_rng(0).random((4, 1, 16, 16)).astype(np.float32)),
    ),
    Case(
        "npz-float-out-of-range",
        fid("{tmp}/x.npz", "--value-range", "0,1"),
        ("x.npz", "outside the declared range"),
        npz("x.npz", images=np.full((4, 1, 16, 16), 2.0, np.float32)),
    ),
    Case(
        "npz-nan",
        fid("{tmp}/x.npz", "--value-range", "0,1"),
        ("x.npz", "NaN"),
        npz("x.npz", images=np.full((4, 1, 16, 16), np.nan, np.float32)),
    ),
    Case("npz-5d", fid("{tmp}/x.npz"), ("x.npz", "shape"), npz("x.npz", images=rng_u8(2, 1, 1, 16, 16))),
    Case(
        "npz-2-channels", fid("{tmp}/x.npz"), ("x.npz", "channels"), npz("x.npz", images=rng_u8(4, 2, 16, 16))
    ),
    Case(
        "npz-no-images", fid("{tmp}/x.npz"), ("x.npz", "no images"), npz("x.npz", images=rng_u8(0, 1, 16, 16))
    ),
    Case(
        "npz-no-pixels", fid("{tmp}/x.npz"), ("x.npz", "no pixels"), npz("x.npz", images=rng_u8(4, 1, 0, 16))
    ),
    Case(
        "npz-bool",
        fid("{tmp}/x.npz"),
        ("x.npz", "unsupported array dtype"),
        npz("x.npz", images=np.ones((4, 1, 16, 16), bool)),
    ),
    Case(
        "npz-int16-over-255",
        fid("{tmp}/x.npz"),
        ("x.npz", "0..255"),
        npz("x.npz", images=np.full((4, 1, 16, 16), 1000, np.int16)),
    ),
    Case(
        "npz-complex",
        fid("{tmp}/x.npz"),
        ("x.npz", "unsupported"),
        npz("x.npz", images=np.ones((4, 1, 16, 16), np.complex64)),
    ),
    Case(
        "npz-strings",
        fid("{tmp}/x.npz"),
        ("x.npz", "unsupported"),
        npz("x.npz", images=np.full((4, 1, 16, 16), "a")),
    ),
    Case(
        "npz-unknown-keys",
        fid("{tmp}/x.npz"),
        ("x.npz", "no image array"),
        npz("x.npz", a=rng_u8(4, 16, 16), b=rng_u8(4, 16, 16)),
    ),
    # a statistics file as --fake gives FID (tests/test_setup_and_defaults.py); any other metric is refused
    Case(
        "npz-stats-as-fake-with-kid",
        ("eval", "--real", "{ws}/real.npz", "--fake", "{ws}/stats.npz", "-m", "fid,kid", "-e", "dummy", "-q"),
        ("stats.npz", "statistics file holds moments only"),
    ),
    Case(
        "npz-compact-stats-as-fake-with-is",
        (
            "eval",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/stats_compact.npz",
            "-m",
            "is",
            "-e",
            "dummy",
            "-q",
        ),
        ("stats_compact.npz", "statistics file holds moments only"),
    ),
    Case(
        "npz-features-file-as-fake",
        fid("{tmp}/k.features.npz"),
        ("k.features.npz", "features"),
        npz("k.features.npz", features=np.zeros((4, 16), np.float32), logits=np.zeros((4, 10), np.float32)),
    ),
    # --- checkpoints
    Case("ckpt-garbage", fid("{tmp}/g.pt"), ("g.pt",), write("g.pt", b"\x80\x02garbage")),
    Case("ckpt-truncated", fid("{tmp}/g.pt"), ("g.pt", "corrupt"), truncated("ckpt", "g.pt", 0.5)),
    Case(
        "ckpt-pickled-object",  # a non-allowlisted global: weights_only refuses to unpickle it
        fid("{tmp}/g.pt"),
        ("g.pt", "pickled Python objects"),
        torch_save("g.pt", lambda: {"generator": argparse.Namespace(a=1)}),
    ),
    Case(
        "ckpt-bare-state-dict",
        fid("{tmp}/g.pt"),
        ("g.pt", "state_dict without its architecture"),
        torch_save("g.pt", lambda: torch.nn.Linear(2, 2).state_dict()),
    ),
    Case(
        "ckpt-missing-keys",
        fid("{tmp}/g.pt"),
        ("g.pt", "missing keys"),
        torch_save("g.pt", lambda: {"generator": {}}),
    ),
    Case("ckpt-named-folder", fid("{tmp}/d.pt"), ("d.pt", "no images"), mkdir("d.pt")),  # a folder source
    Case(
        "ckpt-unknown-arch",
        fid("{tmp}/g.pt"),
        ("g.pt", "unknown generator architecture"),
        modified_ckpt("g.pt", lambda c: c["generator_arch"].update(name="stylegan9")),
    ),
    Case(
        "ckpt-weights-do-not-fit",
        fid("{tmp}/g.pt"),
        ("g.pt", "do not match"),
        modified_ckpt("g.pt", lambda c: c["generator_arch"]["args"].update(hidden=7)),
    ),
    Case("ckpt-nan-weights", fid("{tmp}/g.pt"), ("g.pt", "NaN"), modified_ckpt("g.pt", nan_weights)),
    # --- TorchScript and module:function generators
    Case(
        "torchscript-wrong-z-dim", fid("{ws}/gen_ts.pt", "--z-dim", "7"), ("gen_ts.pt", "--z-dim", "[500, 7]")
    ),
    Case("torchscript-no-z-dim", fid("{ws}/gen_ts.pt"), ("gen_ts.pt", "--z-dim")),
    Case(
        "torchscript-corrupt",
        fid("{tmp}/ts.pt", "--z-dim", "100"),
        ("ts.pt", "TorchScript"),
        zip_of("ts.pt", {"ts/code/__torch__.py": b"garbage", "ts/constants.pkl": b"\x80"}),
    ),
    Case("callable-raises", fid("robust_gens:boom"), ("robust_gens:boom", "RuntimeError", "not found")),
    Case(
        "callable-bad-shape", fid("robust_gens:bad_shape"), ("robust_gens:bad_shape", "the generator failed")
    ),
    Case("callable-nan", fid("robust_gens:nan"), ("robust_gens:nan", "NaN")),
    Case("callable-not-a-generator", fid("robust_gens:not_a_generator"), ("not_a_generator", "int")),
    Case("callable-no-such-function", fid("robust_gens:nope"), ("robust_gens:nope", "not defined there")),
    Case("callable-no-such-module", fid("no_such_module_xyz:make"), ("no_such_module_xyz", "cannot import")),
    Case(
        "callable-import-raises",
        fid("broken_gens_xyz:make"),
        ("broken_gens_xyz", "ZeroDivisionError"),
        write("broken_gens_xyz.py", b"x = 1 / 0\n"),
    ),
    # --- statistics files as --real
    Case(
        "stats-nan",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "NaN"),
        stats_file("s.npz", mu=np.full(16, np.nan)),
    ),
    Case(
        "stats-sigma-shape",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "sigma"),
        stats_file("s.npz", sigma=np.eye(3)),
    ),
    Case(
        "stats-mu-2d",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "mu"),
        stats_file("s.npz", mu=np.zeros((4, 4))),
    ),
    Case(
        "stats-compact-wrong-size",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "compact covariance"),
        stats_file("s.npz", sigma=None, sigma_triu=np.ones(5, np.float32)),
    ),
    Case(
        "stats-other-dimension",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "8-d features", "16-d"),
        stats_file("s.npz", mu=np.zeros(8), sigma=np.eye(8)),
    ),
    Case(
        "stats-metadata-not-json",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "metadata"),
        stats_file("s.npz", metadata=np.asarray("{not json")),
    ),
    Case(
        "stats-newer-format",
        fid("{ws}/fake.npz", real="{tmp}/s.npz"),
        ("s.npz", "newer"),
        stats_file("s.npz", format_version=np.asarray(99)),
    ),
    Case(
        "stats-kid-needs-features",
        ("kid", "--real", "{ws}/stats.npz", "--fake", "{ws}/fake.npz", "-e", "dummy", "--no-save", "-q"),
        ("stats.npz", "no features"),
    ),
    Case(
        "compact-stats-pr-needs-features",
        (
            "pr",
            "--real",
            "{ws}/stats_compact.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "--no-save",
            "-q",
        ),
        ("stats_compact.npz", "no features"),
    ),
    # --- options
    Case("extractor-unknown", fid("{ws}/fake.npz", "-e", "vgg99"), ("vgg99",)),
    Case("precision-unknown", fid("{ws}/fake.npz", "--precision", "fp8"), ("--precision", "fp8")),
    Case("device-unknown", fid("{ws}/fake.npz", "--device", "tpu"), ("--device", "tpu")),
    Case(
        "device-cuda-absent", fid("{ws}/fake.npz", "--device", "cuda"), ("--device", "cuda"), marks=(NO_CUDA,)
    ),
    Case(
        "metrics-empty",
        ("eval", "--real", "{ws}/real.npz", "--fake", "{ws}/fake.npz", "-e", "dummy", "--no-save", "-m", ","),
        ("--metrics",),
    ),
    Case(
        "metrics-unknown",
        (
            "eval",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "--no-save",
            "-m",
            "fid,fud",
        ),
        ("fud",),
    ),
    Case("value-range-reversed", fid("{ws}/fake.npz", "--value-range", "1,0"), ("--value-range", "1,0")),
    Case("value-range-text", fid("{ws}/fake.npz", "--value-range", "x"), ("--value-range",)),
    Case(
        "weights-missing",
        fid("{ws}/fake.npz", "-e", "mnist-lenet", "--extractor-weights", "{tmp}/w.pt"),
        ("w.pt",),
    ),
    Case(
        "weights-garbage",
        fid("{ws}/fake.npz", "-e", "mnist-lenet", "--extractor-weights", "{tmp}/w.pt"),
        ("w.pt",),
        write("w.pt", b"not torch"),
    ),
    Case("config-missing", fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"), ("c.toml",)),
    Case(
        "config-bad-toml",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml",),
        write("c.toml", b"n = ["),
    ),
    Case(
        "config-non-utf8",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml",),
        write("c.toml", b"\xff\xfe"),
    ),
    Case(
        "config-unknown-key",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "nn"),
        write("c.toml", b"nn = 5\n"),
    ),
    Case(
        "config-wrong-type",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "many"),
        write("c.toml", b'n = "many"\n'),
    ),
    Case("n-not-a-number", fid("{ws}/fake.npz", "--n", "abc"), ("--n", "integer")),
    Case("batch-size-not-a-number", fid("{ws}/fake.npz", "--batch-size", "1.5"), ("--batch-size",)),
    Case("unknown-option", fid("{ws}/fake.npz", "--frobnicate"), ("--frobnicate",)),
    Case("real-limit-zero", fid("{ws}/fake.npz", "--real-limit", "0"), ("--real-limit", "0")),
    Case("fake-limit-negative", fid("{ws}/fake.npz", "--fake-limit", "-2"), ("--fake-limit", "-2")),
    Case(
        "stats-limit-zero",
        ("stats", "{ws}/real.npz", "-o", "{tmp}/s.npz", "-e", "dummy", "--limit", "0"),
        ("--limit",),
    ),
    Case("n-zero", fid(str(CKPT), "--n", "0"), ("--n",)),
    Case("n-negative", fid(str(CKPT), "--n", "-5"), ("--n",)),
    Case("batch-size-negative", fid("{ws}/fake.npz", "--batch-size", "-3"), ("--batch-size",)),
    Case("batch-size-zero", fid("{ws}/fake.npz", "--batch-size", "0"), ("--batch-size",)),
    Case("bootstrap-negative", fid("{ws}/fake.npz", "--bootstrap", "-1"), ("--bootstrap",)),
    Case("seed-negative", fid("{ws}/fake.npz", "--seed", "-2", "--bootstrap", "3"), ("--seed",)),
    Case("z-dim-negative", fid("{ws}/gen_ts.pt", "--z-dim", "-1"), ("--z-dim",)),
    Case("sample-n-zero", ("sample", str(CKPT), "-n", "0", "-o", "{tmp}/g.png"), ("-n",)),
    Case("sample-nrow-zero", ("sample", str(CKPT), "--nrow", "0", "-o", "{tmp}/g.png"), ("--nrow",)),
    # --- results tables (--results): checked before the evaluation
    Case(
        "results-is-a-folder",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/adir",
        ),
        ("--results", "adir"),
        mkdir("adir"),
    ),
    Case(
        "results-under-a-file",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/f.txt/r.csv",
        ),
        ("--results", "f.txt"),
        write("f.txt", b"x"),
    ),
    Case(
        "results-unwritable-folder",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{ro}/r.csv",
        ),
        ("--results", "r.csv"),
    ),
    Case(
        "results-not-utf8",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/r.csv",
        ),
        ("r.csv", "UTF-8"),
        write("r.csv", b"\xff\xfe\x00garbage\n"),
    ),
    Case(
        "results-foreign-header",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/r.csv",
        ),
        ("r.csv", "gan-eval columns"),
        write("r.csv", b"a,b\n1,2\n"),
    ),
    Case(
        "results-truncated-last-row",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/r.csv",
        ),
        ("r.csv", "incomplete row"),
        truncated("results", "r.csv", -60),
    ),
    Case(
        "results-parquet-garbage",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/r.parquet",
        ),
        ("r.parquet",),
        write("r.parquet", b"PAR1 garbage"),
    ),
    Case(
        "results-parquet-foreign",
        (
            "fid",
            "--real",
            "{ws}/real.npz",
            "--fake",
            "{ws}/fake.npz",
            "-e",
            "dummy",
            "-q",
            "--results",
            "{tmp}/r.parquet",
        ),
        ("r.parquet", "gan-eval columns"),
        foreign_parquet,
    ),
    Case(
        "compare-results-unwritable",
        (
            "compare",
            str(CKPT),
            "--real",
            "{ws}/real.npz",
            "-e",
            "dummy",
            "--n",
            "40",
            "-q",
            "--results",
            "{ro}/r.csv",
        ),
        ("--results",),
    ),
    Case(
        "compare-corrupt-checkpoint",
        ("compare", str(CKPT), "{tmp}/bad.pt", "--real", "{ws}/real.npz", "-e", "dummy", "--n", "40", "-q")
        + ("--bootstrap", "0", "--results", "{tmp}/r.csv"),
        ("bad.pt",),
        write("bad.pt", b"\x80\x02broken"),
        cache_may_grow=True,
    ),
    Case(
        "compare-missing-checkpoint",
        ("compare", "{tmp}/nope.pt", "--real", "{ws}/real.npz", "--no-save"),
        ("nope.pt",),
    ),
    # --- other outputs
    Case(
        "stats-o-unwritable",
        ("stats", "{ws}/real.npz", "-e", "dummy", "-q", "-o", "{ro}/s.npz"),
        ("-o", "s.npz"),
    ),
    Case(
        "stats-o-under-a-file",
        ("stats", "{ws}/real.npz", "-e", "dummy", "-q", "-o", "{tmp}/f.txt/s.npz"),
        ("-o", "f.txt"),
        write("f.txt", b"x"),
    ),
    Case(
        "sample-o-folder-not-empty",
        ("sample", str(CKPT), "-n", "4", "-o", "{tmp}/adir"),
        ("adir",),
        write("adir/keep.txt", b"a file a user has there"),
    ),
    Case("sample-o-unwritable", ("sample", str(CKPT), "-n", "4", "-o", "{ro}/g.png"), ("-o", "g.png")),
    Case(
        "sample-corrupt-checkpoint",
        ("sample", "{tmp}/g.pt", "-o", "{tmp}/g.png"),
        ("g.pt",),
        write("g.pt", b"PK\x03\x04"),
    ),
    Case(
        "report-o-unwritable",
        ("report", "--results", "{ws}/results.csv", "--no-samples", "-o", "{ro}/r.md"),
        ("r.md",),
    ),
    Case(
        "report-glued-rows",
        ("report", "--results", "{tmp}/glued.csv", "--no-samples", "-o", "{tmp}/r.md"),
        ("glued.csv", "line 2"),
        glued_results,
    ),
    Case(
        "report-truncated-last-row",
        ("report", "--results", "{tmp}/r.csv", "--no-samples", "-o", "{tmp}/r.md"),
        ("r.csv", "incomplete row"),
        truncated("results", "r.csv", -60),
    ),
    Case(
        "report-missing-results", ("report", "--results", "{tmp}/nope.csv", "-o", "{tmp}/r.md"), ("nope.csv",)
    ),
    Case(
        "report-unknown-run",
        ("report", "--results", "{ws}/results.csv", "--run", "zzz", "-o", "{tmp}/r.md"),
        ("zzz",),
    ),
    Case(
        "gate-glued-rows",
        ("gate", "--config", "{ws}/gate.toml", "--results", "{tmp}/glued.csv"),
        ("glued.csv",),
        glued_results,
    ),
    Case(
        "gate-config-bad",
        ("gate", "--config", "{tmp}/g.toml", "--results", "{ws}/results.csv"),
        ("g.toml",),
        write("g.toml", b"[absolute\n"),
    ),
    Case(
        "gate-junit-unwritable",
        ("gate", "--config", "{ws}/gate.toml", "--results", "{ws}/results.csv", "--junit", "{ro}/g.xml"),
        ("g.xml",),
    ),
    Case(
        "gate-baseline-unwritable",
        (
            "gate",
            "--config",
            "{ws}/gate.toml",
            "--results",
            "{ws}/results.csv",
            "--save-baseline",
            "{ro}/b.json",
        ),
        ("b.json",),
    ),
    Case("train-config-missing", ("train", "--config", "{tmp}/t.toml"), ("t.toml",)),
    Case(
        "train-config-bad", ("train", "--config", "{tmp}/t.toml"), ("t.toml",), write("t.toml", b"epochs = [")
    ),
    # --- issue 22 section 5, items 1 and 2: checkpoint metadata of the wrong type or size, at read time
    Case(
        "ckpt-output-range-strings",
        fid("{tmp}/g.pt"),
        ("g.pt", "output_range", "'a'"),
        modified_ckpt("g.pt", lambda c: c.update(output_range=["a", "b"])),
    ),
    Case(
        "ckpt-image-shape-strings",
        fid("{tmp}/g.pt"),
        ("g.pt", "image_shape", "'28'"),
        modified_ckpt("g.pt", lambda c: c.update(image_shape=["1", "28", "28"])),
    ),
    Case(
        "ckpt-format-version-string",
        fid("{tmp}/g.pt"),
        ("g.pt", "format_version", "'1'"),
        modified_ckpt("g.pt", lambda c: c.update(format_version="1")),
    ),
    Case(
        "ckpt-epoch-string",  # used to fail only when the rows were appended, after the whole evaluation
        fid("{tmp}/g.pt"),
        ("g.pt", "epoch", "'abc'"),
        modified_ckpt("g.pt", lambda c: c.update(epoch="abc")),
    ),
    Case(
        "ckpt-step-negative",
        fid("{tmp}/g.pt"),
        ("g.pt", "global_step"),
        modified_ckpt("g.pt", lambda c: c.update(global_step=-3)),
    ),
    Case(
        "ckpt-seed-float",
        fid("{tmp}/g.pt"),
        ("g.pt", "seed"),
        modified_ckpt("g.pt", lambda c: c.update(seed=1.5)),
    ),
    Case(
        "ckpt-dataset-not-a-string",
        fid("{tmp}/g.pt"),
        ("g.pt", "dataset"),
        modified_ckpt("g.pt", lambda c: c.update(dataset=7)),
    ),
    Case(
        "gate-fake-ckpt-epoch-string",  # was exit 1, which a CI reads as a failed gate
        ("gate", "--config", "{ws}/gate.toml", "--fake", "{tmp}/g.pt", "--real", "{ws}/real.npz", "-e")
        + ("dummy", "--n", "40", "-m", "fid", "--bootstrap", "0", "-q"),
        ("g.pt", "epoch"),
        modified_ckpt("g.pt", lambda c: c.update(epoch="abc")),
    ),
    Case(
        "sample-ckpt-output-range-strings",
        ("sample", "{tmp}/g.pt", "-n", "4", "-o", "{tmp}/g.png"),
        ("g.pt", "output_range"),
        modified_ckpt("g.pt", lambda c: c.update(output_range=["a", "b"])),
    ),
    Case(
        "ckpt-hidden-negative",
        fid("{tmp}/g.pt"),
        ("g.pt", "hidden = -5", "1..65,536"),
        modified_ckpt("g.pt", lambda c: c["generator_arch"]["args"].update(hidden=-5)),
    ),
    Case(
        "ckpt-hidden-huge",  # was an attempt to allocate 40 GB
        fid("{tmp}/g.pt"),
        ("g.pt", "hidden = 100000000"),
        modified_ckpt("g.pt", lambda c: c["generator_arch"]["args"].update(hidden=10**8)),
    ),
    Case(
        "ckpt-latent-huge",
        fid("{tmp}/g.pt"),
        ("g.pt", "latent"),
        modified_ckpt(
            "g.pt",
            lambda c: (c["latent"].update(dim=10**9), c["generator_arch"]["args"].update(latent_dim=10**9)),
        ),
    ),
    Case(
        "ckpt-too-many-parameters",  # every size within bounds, their product not: counted, never allocated
        fid("{tmp}/g.pt"),
        ("g.pt", "parameters", "268,435,456"),
        modified_ckpt(
            "g.pt",
            lambda c: c["generator_arch"]["args"].update(hidden=65_536, img_shape=[1, 4096, 4096]),
        ),
    ),
    Case(
        "train-config-latent-huge",
        ("train", "--config", "{tmp}/t.toml", "--out", "{tmp}/run"),
        ("t.toml", "latent.dim", "65,536"),
        write(
            "t.toml",
            b'[latent]\ndim = 1000000000\n[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n',
        ),
    ),
    Case(
        "train-config-hidden-negative",
        ("train", "--config", "{tmp}/t.toml", "--out", "{tmp}/run"),
        ("t.toml", "hidden = -5"),
        write(
            "t.toml", b'[generator]\narch = "mlp"\nargs = { hidden = -5 }\n[discriminator]\narch = "mlp"\n'
        ),
    ),
    Case(
        "train-config-d-hidden-huge",
        ("train", "--config", "{tmp}/t.toml", "--out", "{tmp}/run"),
        ("t.toml", "discriminator.args hidden"),
        write(
            "t.toml",
            b'[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n'
            b"args = { hidden = [512, 10000000] }\n",
        ),
    ),
    Case(
        "train-config-too-many-parameters",
        ("train", "--config", "{tmp}/t.toml", "--out", "{tmp}/run"),
        ("t.toml", "4,346,544,129 parameters", "268,435,456"),
        write(
            "t.toml",
            b'[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\nargs = { hidden = [65536, 65536] }\n',
        ),
    ),
    # --- item 3: counts bounded by what a machine can do, refused at parse time
    Case("n-huge", fid(str(CKPT), "--n", "99999999999999999999999"), ("--n", "100,000,000")),
    Case("n-9.2e18", fid(str(CKPT), "--n", "9200000000000000000"), ("--n", "9200000000000000000")),
    Case("seed-2-64", fid("{ws}/fake.npz", "--seed", str(2**64)), ("--seed", str(2**64), "2^63-1")),
    Case("seed-2-63", fid("{ws}/fake.npz", "--seed", str(2**63)), ("--seed", "int64")),  # ran, then failed
    Case("bootstrap-huge", fid("{ws}/fake.npz", "--bootstrap", "100000000"), ("--bootstrap", "10,000")),
    Case("batch-size-huge", fid("{ws}/fake.npz", "--batch-size", "10000000"), ("--batch-size", "65,536")),
    Case("real-limit-huge", fid("{ws}/fake.npz", "--real-limit", str(10**12)), ("--real-limit",)),
    Case("z-dim-huge", fid("{ws}/gen_ts.pt", "--z-dim", str(10**9)), ("--z-dim", "65,536")),
    Case(
        "compare-bootstrap-huge",
        ("compare", str(CKPT), "--real", "{ws}/real.npz", "-e", "dummy", "--bootstrap", "100000000"),
        ("--bootstrap",),
    ),
    Case(
        "gate-bootstrap-huge",
        ("gate", "--config", "{ws}/gate.toml", "--fake", str(CKPT), "--bootstrap", "100000000"),
        ("--bootstrap",),
    ),
    Case("sample-n-huge", ("sample", str(CKPT), "-n", str(10**12), "-o", "{tmp}/g.png"), ("-n",)),
    Case("sample-seed-2-64", ("sample", str(CKPT), "--seed", str(2**64), "-o", "{tmp}/g.png"), ("--seed",)),
    Case(
        "stats-limit-huge",
        ("stats", "{ws}/real.npz", "-o", "{tmp}/s.npz", "-e", "dummy", "--limit", str(10**12)),
        ("--limit",),
    ),
    Case(
        "train-seed-2-64",
        ("train", "--config", "{ws}/train.toml", "--seed", str(2**64)),
        ("--seed", "2^63-1"),
    ),
    Case(
        "train-epochs-huge", ("train", "--config", "{ws}/train.toml", "--epochs", str(10**9)), ("--epochs",)
    ),
    Case(
        "config-seed-2-64",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "seed", "2^63-1"),
        write("c.toml", b"seed = 18446744073709551616\n"),
    ),
    Case(
        "train-config-seed-2-64",
        ("train", "--config", "{tmp}/t.toml", "--out", "{tmp}/run"),
        ("t.toml", "seed"),
        write(
            "t.toml",
            b'seed = 18446744073709551616\n[generator]\narch = "mlp"\n[discriminator]\narch = "mlp"\n',
        ),
    ),
    # --- item 4: train --out that cannot be a run folder, refused before any work
    Case(
        "train-out-is-a-file",
        ("train", "--config", "{ws}/train.toml", "--out", "{tmp}/f.txt"),
        ("--out", "f.txt", "is a file"),
        write("f.txt", b"x"),
    ),
    Case(
        "train-out-under-a-file",
        ("train", "--config", "{ws}/train.toml", "--out", "{tmp}/f.txt/run"),
        ("--out", "f.txt"),
        write("f.txt", b"x"),
    ),
    Case(
        "train-out-unwritable",
        ("train", "--config", "{ws}/train.toml", "--out", "{ro}/run"),
        ("--out", "run"),
    ),
    # --- item 5: non-finite or empty value ranges
    Case("value-range-infinite", fid("{ws}/fake.npz", "--value-range=-inf,inf"), ("--value-range", "finite")),
    Case("value-range-nan", fid("{ws}/fake.npz", "--value-range=nan,1"), ("--value-range", "finite")),
    Case("value-range-empty", fid("{ws}/fake.npz", "--value-range=1,1"), ("--value-range", "1,1")),
    Case(
        "value-range-overflowing-width",
        fid("{ws}/fake.npz", "--value-range=-1e308,1e308"),
        ("--value-range",),
    ),
    Case(
        "config-value-range-infinite",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "value_range", "finite"),
        write("c.toml", b"value_range = [-inf, inf]\n"),
    ),
    Case(
        "ckpt-output-range-infinite",
        fid("{tmp}/g.pt"),
        ("g.pt", "output_range", "inf"),
        modified_ckpt("g.pt", lambda c: c.update(output_range=(-float("inf"), float("inf")))),
    ),
    Case(
        "torchscript-value-range-infinite",
        fid("{ws}/gen_ts.pt", "--z-dim", "100", "--value-range=0,inf"),
        ("--value-range", "finite"),
    ),
    # --- item 6: a config file's values get the command line's checks, also when an option replaces them
    Case(
        "config-seed-negative",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "seed = -1", ">= 0"),
        write("c.toml", b"seed = -1\n"),
    ),
    Case(
        "config-batch-size-zero",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "batch_size = 0", ">= 1"),
        write("c.toml", b"batch_size = 0\n"),
    ),
    Case(
        "config-n-wrong-type-overridden",
        fid(str(CKPT), "--config", "{tmp}/c.toml", "--n", "40"),
        ("c.toml", "n must be an integer", "abc"),
        write("c.toml", b'n = "abc"\n'),
    ),
    Case(
        "config-seed-negative-overridden",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml", "--seed", "3"),
        ("c.toml", "seed = -1"),
        write("c.toml", b"seed = -1\n"),
    ),
    Case(
        "config-bootstrap-huge",
        fid("{ws}/fake.npz", "--config", "{tmp}/c.toml"),
        ("c.toml", "bootstrap", "10,000"),
        write("c.toml", b"bootstrap = 100000000\n"),
    ),
    Case(
        "config-n-huge",
        fid(str(CKPT), "--config", "{tmp}/c.toml"),
        ("c.toml", "n = 99999999999999999999999"),
        write("c.toml", b"n = 99999999999999999999999\n"),
    ),
    # --- item 7: zips read member by member, each member's declared size checked first
    Case(
        "zip-member-declares-3-gib",  # a 3 MB zip of 3 GiB used 6.9 GB before failing
        fid("{tmp}/x.zip"),
        ("x.zip", "b.png", "declares 3,221,225,472 bytes"),
        both(zip_of("x.zip", {"a.png": PNG, "b.png": PNG}), declared_size("x.zip", 3 * 2**30)),
    ),
    Case(
        "zip-member-holds-more-than-declared",  # zipfile reads what is declared, then the CRC fails
        fid("{tmp}/x.zip"),
        ("x.zip", "b.png", "cannot read member"),
        both(zip_of("x.zip", {"a.png": PNG, "b.png": PNG}), declared_size("x.zip", 10)),
    ),
    # --- item 9: every row of a --results target checked before the evaluation; report and gate name the line
    *(
        Case(
            f"{command}-results-{damage}",
            {
                "fid": SAVING_FID,
                "report": ("report", "--results", "{tmp}/r.csv", "--no-samples", "-o", "{tmp}/r.md"),
                "gate": ("gate", "--config", "{ws}/gate.toml", "--results", "{tmp}/r.csv"),
            }[command],
            ("r.csv", *names),
            damaged_results(damage),
        )
        for command in ("fid", "report", "gate")
        for damage, names in (
            ("not-utf8-on-line-3", ("UTF-8", "line 3")),
            ("nul-byte", ("NUL", "line 3")),
            ("short-row-in-the-middle", ("line 2 has 5 fields",)),
            ("wrong-type-value", ("n_fake (expected int64, got 'many') on line 3",)),
        )
    ),
    Case(
        "results-dangling-symlink",  # passed the up-front check, then failed after the evaluation
        SAVING_FID,
        ("--results", "r.csv", "broken symbolic link"),
        lambda tmp, ws: (tmp / "r.csv").symlink_to(tmp / "nowhere" / "r.csv"),
    ),
    # --- the cache root
    Case(
        "cache-root-is-a-file",
        fid("{ws}/fake.npz"),
        ("$GAN_EVAL_CACHE", "cachefile"),
        write("cachefile", b"x"),
        env=(("GAN_EVAL_CACHE", "{tmp}/cachefile"),),
    ),
    Case(
        "cache-root-under-a-file",
        fid("{ws}/fake.npz"),
        ("$GAN_EVAL_CACHE", "cachefile"),
        write("cachefile", b"x"),
        env=(("GAN_EVAL_CACHE", "{tmp}/cachefile/sub"),),
    ),
    Case(
        "cache-ls-root-is-a-file",
        ("cache", "ls"),
        ("$GAN_EVAL_CACHE",),
        write("cachefile", b"x"),
        env=(("GAN_EVAL_CACHE", "{tmp}/cachefile"),),
    ),
    Case(
        "cache-clear-root-is-a-file",
        ("cache", "clear", "all", "--yes"),
        ("$GAN_EVAL_CACHE",),
        write("cachefile", b"x"),
        env=(("GAN_EVAL_CACHE", "{tmp}/cachefile"),),
    ),
    Case("cache-clear-unknown-kind", ("cache", "clear", "junk", "--yes"), ("junk",)),
    Case("unknown-command", ("frobnicate",), ("frobnicate",)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_exits_2_with_one_line_and_changes_no_file(
    case, ws, tmp_path, tmp_cache, gens_on_path, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))  # for a module:function case's own module
    ro = unwritable_folder(tmp_path) if any("{ro}" in a for a in case.args) else Path("/nonexistent")
    fill = {"ws": ws.root, "tmp": work, "ro": ro}
    if case.setup is not None:
        case.setup(work, ws)
    tmp_cache.mkdir(exist_ok=True)
    watched = (ws.root, work) if case.cache_may_grow else (ws.root, work, tmp_cache)
    before = tree(*watched)
    env = {k: v.format(**fill) for k, v in case.env} or None
    result = invoke([a.format(**fill) for a in case.args], env=env)
    assert_one_line_error(result, tuple(n.format(**fill) for n in case.names))
    after = tree(*watched)
    if case.cache_may_grow:
        from gan_eval.atomic import verified

        for f in tmp_cache.rglob("*.npz"):
            assert verified(f) == f
    assert after == before, {
        k: (before.get(k), after.get(k))
        for k in set(before) ^ set(after) | {k for k in before if before[k] != after.get(k)}
    }


def test_every_case_id_is_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_a_valid_run_in_the_same_setup_succeeds(ws, tmp_path, tmp_cache, monkeypatch):
    """The harness itself: the same inputs, correctly used, give exit 0 and one results row per metric."""
    monkeypatch.chdir(tmp_path)
    r = invoke(
        [
            "fid",
            "--real",
            ws["real"],
            "--fake",
            ws["fake"],
            "-e",
            "dummy",
            "-q",
            "--results",
            "r.csv",
            "--json",
        ]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["values"]["fid"] > 0 and (tmp_path / "r.csv").is_file()
