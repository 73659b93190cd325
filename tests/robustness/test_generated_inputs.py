"""Generated inputs (Hypothesis) into every reader of user files: each either works or raises UserError.

Arrays of random shapes, dtypes and values into the ``.npy``/``.npz`` source; random bytes, truncations and
byte flips of valid files into the checkpoint, statistics, results-table, TOML and image readers; random
typed values into the three TOML configs. Any other exception is a bug (a traceback for the user). Where a
reader succeeds, what it returns is checked against an independent computation (the pixels of an array
source, the bytes of an append). Runs are derandomized (the same examples every run, no example database
written into the tree) and small (``max_examples`` 25-60).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from robust_helpers import CKPT

from gan_eval.errors import UserError
from gan_eval.results.table import COLUMNS, LEGACY_HEADERS

REPO = Path(__file__).resolve().parents[2]
FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def user_error_or(fn, *args, **kwargs):
    """``fn(...)``'s result, or None when it raised UserError; anything else propagates (a failure)."""
    try:
        return fn(*args, **kwargs)
    except UserError as e:
        assert str(e) and "\n" not in str(e).strip(), repr(str(e))  # one line for the CLI
        return None


# ---------------------------------------------------------------- mutations of valid files
@st.composite
def mutated(draw, data: bytes, max_flips: int = 4) -> bytes:
    """``data`` truncated at a random point, and/or with a few random bytes overwritten, or random bytes."""
    kind = draw(st.sampled_from(["truncate", "flip", "both", "random"]))
    if kind == "random":
        return draw(st.binary(min_size=0, max_size=512))
    out = bytearray(data)
    if kind in ("truncate", "both"):
        out = out[: draw(st.integers(0, max(len(out) - 1, 0)))]
    if kind in ("flip", "both") and out:
        for _ in range(draw(st.integers(1, max_flips))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out)


# ---------------------------------------------------------------- arrays into the npz/npy source
DTYPES = [
    np.uint8,
    np.int8,
    np.int16,
    np.uint16,
    np.int32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
    np.complex64,
]


@st.composite
def image_arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(
        st.one_of(
            hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
            st.tuples(st.integers(1, 3), st.sampled_from([1, 2, 3, 4]), st.integers(1, 6), st.integers(1, 6)),
            st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3])),
        )
    )
    if np.issubdtype(dtype, np.floating) and draw(st.booleans()):
        elements = st.floats(-1.0, 1.0, width=dtype.itemsize * 8)  # mostly in range, sometimes not
    elif np.issubdtype(dtype, np.integer) and draw(st.booleans()):
        elements = st.integers(0, min(255, int(np.iinfo(dtype).max)))
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@FAST
@given(arr=image_arrays(), as_npz=st.booleans(), rng=st.sampled_from([None, (-1.0, 1.0), (0.0, 1.0)]))
def test_random_arrays_load_as_uint8_images_or_user_error(arr, as_npz, rng):
    from gan_eval.data.files import load_array_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("x.npz" if as_npz else "x.npy")
        if as_npz:
            np.savez(path, images=arr)
        else:
            np.save(path, arr)
        out = user_error_or(load_array_file, path, spec=str(path), value_range=rng)
    if out is None:
        return
    assert out.dtype == np.uint8 and out.ndim == 4 and out.shape[1] in (1, 3) and min(out.shape) >= 1
    assert out.size == arr.size
    # the pixel values, layout aside, are what a PNG writer would store (independent computation)
    if arr.dtype == np.uint8 or (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        expected = arr.astype(np.int64)
    else:
        assert np.issubdtype(arr.dtype, np.floating)
        lo, hi = rng or (-1.0, 1.0)  # the range float arrays are taken to lie in unless given
        if rng is None:  # ... and accepted only when some value is negative (else: a [0, 1] array, refused)
            assert arr.min() < -1e-3 * 2
        expected = np.clip(np.rint((arr.astype(np.float64) - lo) * (255.0 / (hi - lo))), 0, 255)
    assert np.array_equal(np.sort(out.ravel()).astype(np.int64), np.sort(expected.ravel()).astype(np.int64))


# ---------------------------------------------------------------- bytes into the file readers
@FAST
@given(data=mutated(CKPT.read_bytes(), max_flips=8))
def test_damaged_checkpoints_load_or_fail_with_user_error(data):
    from gan_eval.data.checkpoint_format import load_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.pt"
        path.write_bytes(data)
        ckpt = user_error_or(load_checkpoint, path)
    assert ckpt is None or {"generator", "latent"} <= set(ckpt)


def _zip_central_field(data: bytes, offset: int, value: int) -> bytes:
    """``data`` (a zip) with a 2-byte field of every central-directory entry set to ``value``: offset 8 is
    the flags (1: encrypted), 10 the compression method (99: unknown)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        out[at + offset : at + offset + 2] = value.to_bytes(2, "little")
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def _stats_bytes(compact: bool) -> bytes:
    from gan_eval.stats import Moments, save_moments

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "s.npz"
        save_moments(p, Moments(np.arange(6.0), np.eye(6) * 2, 50, {"spec": "x"}), compact=compact)
        return p.read_bytes()


@FAST
@given(data=st.one_of(mutated(_stats_bytes(False)), mutated(_stats_bytes(True))))
@example(data=_zip_central_field(_stats_bytes(False), 8, 1))  # found by this test: "encrypted" members
@example(data=_zip_central_field(_stats_bytes(True), 10, 99))  # found by this test: unknown compression
def test_damaged_statistics_files_load_or_fail_with_user_error(data):
    from gan_eval.stats import load_moments

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.npz"
        path.write_bytes(data)
        m = user_error_or(load_moments, path)
    if m is not None:
        d = m.mu.shape[0]
        assert m.sigma.shape == (d, d) and np.isfinite(m.sigma).all() and np.isfinite(m.mu).all()


def _results_bytes() -> bytes:
    from gan_eval.results import append_results, make_rows

    meta = {
        "real": "r, with a comma",
        "fake": 'f "quoted"',
        "n_real": 10,
        "n_fake": 5,
        "extractor": "dummy",
        "protocol": "p",
        "precision": "fp32",
        "seed": 0,
        "device": "cpu",
    }
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "r.csv"
        append_results(make_rows({"fid": 1.5, "kid_mean": 0.25}, meta=meta), p)
        append_results(make_rows({"fid": 2.5}, meta={**meta, "run_id": "b"}), p)
        return p.read_bytes()


def _one_row():
    from gan_eval.results import make_rows

    meta = {
        "real": "a",
        "fake": "b",
        "n_real": 1,
        "n_fake": 1,
        "extractor": "dummy",
        "protocol": "p",
        "precision": "fp32",
        "seed": 0,
        "device": "cpu",
    }
    return make_rows({"fid": 9.0}, meta=meta)


@settings(FAST, max_examples=60)
@given(data=mutated(_results_bytes(), max_flips=3))
@example(data=b"\r" + _results_bytes())  # found by this test: a carriage return in the header
@example(data=_results_bytes().split(b"\n")[0].replace(b",n_ratings,n_raters", b""))  # found: a legacy header
def test_damaged_results_tables_load_and_append_safely(data):
    """load: a DataFrame or UserError. append: UserError with the file byte-identical, or the old bytes
    (plus at most one added line end) followed by exactly the new row; a table that loaded before still
    loads after, with that one row more."""
    from gan_eval.results import append_results, load_results

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.csv"
        path.write_bytes(data)
        before = user_error_or(load_results, path)
        row = _one_row()
        if user_error_or(append_results, row, path) is None:
            assert path.read_bytes() == data
            return
        after = path.read_bytes()
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
        if tuple(first.split(",")) in LEGACY_HEADERS:  # an earlier header: migrated, then appended
            assert after.split(b"\n", 1)[0].decode() == ",".join(COLUMNS)
            assert before is not None and len(load_results(path)) == len(before) + 1
            return
        assert after.startswith(data)
        added = after[len(data) :]
        if data and not data.endswith(b"\n"):
            assert added.startswith(b"\n")
            added = added[1:]
        buf = io.StringIO()
        row.to_csv(buf, index=False, header=not data, lineterminator="\n")
        assert added.decode() == buf.getvalue()
        if before is not None:
            now = load_results(path)
            assert len(now) == len(before) + 1 and now["value"].iloc[-1] == 9.0


# ---------------------------------------------------------------- TOML configs
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if np.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v)
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


VALUES = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
)
EVAL_KEYS = ["real", "fake", "metrics", "extractor", "protocol", "n", "seed", "batch_size", "precision"]
EVAL_KEYS += ["real_limit", "value_range", "bootstrap", "z_dim", "device", "nope"]


@settings(FAST, max_examples=60)
@given(
    values=st.dictionaries(st.sampled_from(EVAL_KEYS), VALUES, max_size=5),
    raw=mutated(b'real = "mnist"\nfake = "x.npz"\nn = 100\nmetrics = ["fid"]\n'),
    use_raw=st.booleans(),
)
def test_eval_configs_parse_or_fail_with_user_error(values, raw, use_raw):
    from gan_eval.config import load_eval_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.toml"
        path.write_bytes(
            raw if use_raw else "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()).encode()
        )
        user_error_or(load_eval_config, path)


@settings(FAST, max_examples=40)
@given(raw=mutated((REPO / "configs" / "train" / "mlp_gan.toml").read_bytes(), max_flips=3))
def test_train_configs_parse_or_fail_with_user_error(raw):
    from gan_eval.train import load_train_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.toml"
        path.write_bytes(raw)
        user_error_or(load_train_config, path)


@settings(FAST, max_examples=40)
@given(
    rule=st.dictionaries(st.sampled_from(["min", "max", "rel", "nope"]), VALUES, max_size=3),
    metric=st.sampled_from(["fid", "is_mean", "kid_mean", "precision", "bogus"]),
    section=st.sampled_from(["absolute", "regression", "other"]),
    raw=mutated((REPO / "configs" / "gates" / "mnist.toml").read_bytes(), max_flips=3),
    use_raw=st.booleans(),
)
def test_gate_configs_parse_or_fail_with_user_error(rule, metric, section, raw, use_raw):
    from gan_eval.reporting import load_gate_config

    body = (
        f"[{section}]\n{metric} = {{ "
        + ", ".join(f"{k} = {_toml_value(v)}" for k, v in rule.items())
        + " }\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.toml"
        path.write_bytes(raw if use_raw else body.encode())
        user_error_or(load_gate_config, path)


# ---------------------------------------------------------------- image files
def _png_bytes(mode: str) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (6, 5, 3) if mode == "RGB" else (6, 5), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


@settings(FAST, max_examples=40)
@given(first=mutated(_png_bytes("L"), max_flips=6), second=mutated(_png_bytes("RGB"), max_flips=6))
def test_damaged_images_decode_or_fail_with_user_error(first, second):
    from gan_eval.data.files import FolderSource

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        (folder / "a.png").write_bytes(first)
        (folder / "b.png").write_bytes(second)
        src = user_error_or(FolderSource, folder, spec=str(folder))
        if src is not None:
            batches = user_error_or(lambda: list(src.batches(2)))
            if batches is not None:
                x = batches[0]
                assert x.dtype.is_floating_point is False and x.shape[0] == 2 and x.shape[1] in (1, 3)


def test_the_generated_suite_is_derandomized():
    """The fuzz suite must not be flaky in CI nor write an example database into the tree."""
    assert FAST.derandomize and FAST.database is None


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
