"""The results table: schema, append (CSV and Parquet, concurrent writers), load checks, comparability."""

from __future__ import annotations

import math
import multiprocessing as mp
import re
from pathlib import Path

import pandas as pd
import pytest

from gan_eval.errors import UserError
from gan_eval.results import store, table
from gan_eval.results.store import append_results, load_results
from gan_eval.results.table import COLUMNS, SCHEMA, check_comparable, compute_fingerprint, make_rows

META = dict(
    real="mnist",
    fake="runs/a/ckpt_epoch_002.pt",
    checkpoint="ckpt_epoch_002.pt",
    epoch=2,
    n_real=60000,
    n_fake=1000,
    extractor="mnist-lenet",
    protocol="native",
    precision="float32",
    seed=0,
    device="cpu",
    run_id="a",
)


def rows(**over) -> pd.DataFrame:
    return make_rows(
        {"fid": 12.5, "is_mean": 8.25},
        stds={"is_mean": 0.125},
        cis={"fid": (12.0, 13.0)},
        meta={**META, **over},
    )


def test_make_rows_has_schema_columns_and_values():
    df = rows()
    assert tuple(df.columns) == COLUMNS
    assert [str(t) for t in df.dtypes] == [c.dtype for c in SCHEMA.values()]
    fid = df[df["metric"] == "fid"].iloc[0]
    assert fid["value"] == 12.5 and (fid["ci_low"], fid["ci_high"]) == (12.0, 13.0) and math.isnan(fid["std"])
    assert df[df["metric"] == "is_mean"].iloc[0]["std"] == 0.125
    assert pd.isna(fid["step"]) and fid["epoch"] == 2
    assert df["fingerprint"].nunique() == 1 and re.fullmatch(r"[0-9a-f]{16}", fid["fingerprint"])
    assert fid["torch_version"] and fid["gan_eval_version"]


def test_make_rows_rejects_incomplete_meta():
    with pytest.raises(ValueError, match="missing keys.*extractor"):
        make_rows({"fid": 1.0}, meta={k: v for k, v in META.items() if k != "extractor"})
    with pytest.raises(ValueError, match="unknown keys.*colour"):
        make_rows({"fid": 1.0}, meta={**META, "colour": "red"})


def test_fingerprint_changes_with_what_changes_the_number():
    base = compute_fingerprint(META)
    assert compute_fingerprint({**META, "fake": "other.pt", "epoch": 9}) == base
    assert compute_fingerprint({**META, "protocol": "tf1"}) != base
    assert compute_fingerprint({**META, "n_fake": 2000}) != base
    assert compute_fingerprint({**META, "weights_sha256": "ab"}) != base
    assert compute_fingerprint({**META, "device": "cuda", "run_id": "b", "duration_s": 3.0}) == base


def test_docstring_documents_every_column():
    documented = re.findall(r"^\| (\w+) \| (\w+) \|", table.__doc__ or "", flags=re.M)
    assert documented[1:] == [(name, col.dtype) for name, col in SCHEMA.items()]  # [0] is the header


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_append_and_load_round_trip(tmp_path: Path, suffix: str):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / "sub" / f"results{suffix}"
    first, second = rows(), rows(epoch=3, fake="runs/a/ckpt_epoch_003.pt")
    append_results(first, path)
    append_results(second, path)
    loaded = load_results(path)
    expected = pd.concat([first, second], ignore_index=True)
    pd.testing.assert_frame_equal(loaded, expected)


def test_parquet_without_pyarrow_is_a_user_error(tmp_path, monkeypatch):
    real_find_spec = store.importlib.util.find_spec
    monkeypatch.setattr(
        store.importlib.util, "find_spec", lambda n: None if n == "pyarrow" else real_find_spec(n)
    )
    with pytest.raises(UserError, match="pyarrow is not installed"):
        append_results(rows(), tmp_path / "r.parquet")


def _writer(path: str, worker: int, n: int) -> None:
    for i in range(n):
        append_results(make_rows({"fid": worker * 1000 + i}, meta={**META, "run_id": f"w{worker}"}), path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_concurrent_appends_lose_no_rows(tmp_path: Path, suffix: str):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"results{suffix}"
    workers, n = (8, 25) if suffix == ".csv" else (3, 10)  # parquet rewrites the file: keep it small
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    df = load_results(path)
    assert len(df) == workers * n
    assert sorted(df["value"]) == sorted(float(w * 1000 + i) for w in range(workers) for i in range(n))
    for w in range(workers):  # each writer's rows arrive whole and in its own order
        assert list(df.loc[df["run_id"] == f"w{w}", "value"]) == [float(w * 1000 + i) for i in range(n)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no lock file left behind


def test_load_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_results(tmp_path / "nope.csv")


def test_load_names_missing_columns(tmp_path):
    path = tmp_path / "r.csv"
    rows().drop(columns=["protocol", "seed"]).to_csv(path, index=False)
    with pytest.raises(UserError, match="lacks columns protocol, seed"):
        load_results(path)


def test_load_names_wrongly_typed_columns(tmp_path):
    path = tmp_path / "r.csv"
    bad = rows().astype({"value": object, "n_fake": object})
    bad.loc[0, "value"] = "twelve"
    bad.loc[1, "n_fake"] = "1.5"
    bad.to_csv(path, index=False)
    with pytest.raises(
        UserError, match=r"value \(expected float64, got 'twelve'\).*n_fake \(expected integers"
    ):
        load_results(path)


def test_append_refuses_foreign_csv(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="does not have the gan-eval columns"):
        append_results(rows(), path)
    assert path.read_text() == "a,b\n1,2\n"


def test_check_comparable_names_differences():
    same = pd.concat([rows(), rows(epoch=3, fake="other.pt")], ignore_index=True)
    assert check_comparable(same) == []
    mixed = pd.concat([rows(), rows(protocol="tf1", n_fake=5000)], ignore_index=True)
    diffs = check_comparable(mixed)
    assert "protocol differs: native vs tf1" in diffs
    assert "n_fake differs: 1000 vs 5000" in diffs
    assert not any(d.startswith("fingerprint") for d in diffs)
    hidden = pd.concat([rows(), rows(fingerprint="0123456789abcdef")], ignore_index=True)
    assert check_comparable(hidden) == [
        f"fingerprint differs: {' vs '.join(sorted(set(hidden['fingerprint'])))}"
    ]


# ---------------------------------------------------------------- issue 15: no lost rows, checked targets
def _csv(tmp_path: Path, n_appends: int = 2) -> Path:
    path = tmp_path / "r.csv"
    for i in range(n_appends):
        append_results(rows(epoch=i), path)
    return path


def test_append_after_a_complete_last_row_without_line_end_adds_one(tmp_path):
    """An editor that drops the final newline: the next row goes on its own line (item 1)."""
    path = _csv(tmp_path)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    append_results(rows(epoch=7), path)
    df = load_results(path)
    assert len(df) == 6 and list(df["epoch"]) == [0, 0, 1, 1, 7, 7]


def test_append_refuses_a_truncated_last_row_and_leaves_the_file(tmp_path):
    """The issue's reproducer: ``truncate -s -120 r.csv`` then append. Before: the new row was glued on and
    every later load failed; now: UserError naming the line, the file byte-identical (item 1)."""
    path = _csv(tmp_path)
    path.write_bytes(path.read_bytes()[:-120])
    before = path.read_bytes()
    with pytest.raises(UserError, match=r"r\.csv: its last line \(5\) is an incomplete row"):
        append_results(rows(), path)
    assert path.read_bytes() == before
    with pytest.raises(UserError, match="incomplete row"):
        load_results(path)  # the reports and gates refuse it clearly too


def test_a_cut_in_the_last_field_that_still_parses_is_kept(tmp_path):
    """The documented limit: a row cut inside its last field (n_raters) cannot be told from a whole one."""
    path = tmp_path / "r.csv"
    append_results(make_rows({"fid": 1.0}, meta={**META, "n_ratings": 1200, "n_raters": 12}), path)
    path.write_bytes(path.read_bytes()[:-2])  # "1200,12\n" -> "1200,1"
    append_results(rows(), path)
    assert list(load_results(path)["n_raters"])[0] == 1


@pytest.mark.parametrize("where", ["first", "later"])
def test_load_names_rows_glued_together(tmp_path, where):
    """A first data row longer than the header used to become pandas' index, silently."""
    path = _csv(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    k = 1 if where == "first" else 2
    lines[k] = lines[k].rstrip("\n")
    path.write_text("".join(lines))
    n = len(table.COLUMNS)
    with pytest.raises(UserError, match=f"line {k + 1} has {2 * n - 1} fields, the header {n}"):
        load_results(path)


def test_a_header_with_a_byte_order_mark_is_ours(tmp_path):
    """Spreadsheet programs save UTF-8 with a BOM."""
    path = _csv(tmp_path, 1)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    append_results(rows(), path)
    assert len(load_results(path)) == 4


def test_no_lock_file_is_left_next_to_the_table(tmp_path):
    path = _csv(tmp_path)
    load_results(path)
    pq = tmp_path / "r.parquet"
    append_results(rows(), pq)
    load_results(pq)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.parquet"]


def _put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _unwritable(tmp_path: Path) -> Path:
    import os

    from gan_eval.atomic import probe_writable

    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    if probe_writable(Path("/sys")) is None:
        pytest.skip("no folder that root cannot write")
    return Path("/sys")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: (t / "adir").mkdir() or t / "adir", "is a folder"),
        (lambda t: _put(t / "f", b"x") / "r.csv", "is a file, not a folder"),
        (lambda t: _unwritable(t) / "r.csv", "cannot write into"),
        (lambda t: _put(t / "r.csv", b"\xff\xfeoops\n"), "not UTF-8"),
        (
            lambda t: _put(t / "r.csv", b"a,b\n1,2\n"),
            "does not have the gan-eval columns",
        ),
        (lambda t: _put(t / "r.parquet", b"PAR1 junk"), "not a readable parquet"),
        (
            lambda t: pd.DataFrame({"a": [1]}).to_parquet(t / "r.parquet") or t / "r.parquet",
            "gan-eval columns",
        ),
    ],
    ids=[
        "folder",
        "under-a-file",
        "unwritable",
        "not-utf8",
        "foreign-header",
        "parquet-junk",
        "parquet-foreign",
    ],
)
def test_check_results_target_refuses_before_any_work(tmp_path, make, message):
    """Item 2: found before the evaluation, not after it; nothing is created or changed."""
    target = make(tmp_path)
    before = sorted((p, p.stat().st_size) for p in tmp_path.rglob("*"))
    with pytest.raises(UserError, match=message) as info:
        store.check_results_target(target)
    assert "\n" not in str(info.value)
    assert sorted((p, p.stat().st_size) for p in tmp_path.rglob("*")) == before


def test_check_results_target_accepts_new_existing_and_newline_less_tables(tmp_path):
    assert store.check_results_target(tmp_path / "new" / "deeper" / "r.csv")
    assert not (tmp_path / "new").exists()  # a check creates nothing
    path = _csv(tmp_path)
    assert store.check_results_target(path) == path
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert store.check_results_target(path) == path
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(UserError, match="incomplete row"):
        store.check_results_target(path)


def test_a_failed_append_leaves_no_partial_row(tmp_path, monkeypatch):
    """A full disk in the middle of the write: the file is truncated back to its previous size."""
    import errno

    path = _csv(tmp_path, 1)
    before = path.read_bytes()
    real_write = store.os.write

    def short_then_full(fd, data):
        if len(data) > 10:
            real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store.os, "write", short_then_full)
    with pytest.raises(UserError, match="the file is unchanged"):
        append_results(rows(), path)
    assert path.read_bytes() == before


def test_an_empty_csv_is_a_table_without_rows(tmp_path):
    """An append killed right after creating the file leaves it empty: it loads as no rows, and the next
    append writes the header."""
    path = tmp_path / "r.csv"
    path.write_bytes(b"")
    assert load_results(path).empty
    append_results(rows(), path)
    assert len(load_results(path)) == len(rows())


def test_a_table_from_before_the_added_columns_is_read_and_migrated_on_append(tmp_path):
    """A CSV with the 23 legacy columns loads with weights_sha256 and details empty; the next append rewrites
    it once (atomically) with the full header, keeping every old row."""
    from gan_eval.results.table import ADDED_COLUMNS, LEGACY_COLUMNS

    path = tmp_path / "old.csv"
    old = rows().drop(columns=list(ADDED_COLUMNS))
    old.to_csv(path, index=False, lineterminator="\n")
    assert path.read_text().splitlines()[0] == ",".join(LEGACY_COLUMNS)
    loaded = load_results(path)
    assert (loaded["weights_sha256"] == "").all() and (loaded["details"] == "").all()
    store.check_results_target(path)  # accepted before the evaluation
    append_results(rows(), path)
    assert path.read_text().splitlines()[0] == ",".join(table.COLUMNS)
    after = load_results(path)
    assert len(after) == 2 * len(rows())
    assert after.iloc[: len(old)]["value"].tolist() == loaded["value"].tolist()


def test_a_table_from_before_the_human_columns_is_read_and_migrated_on_append(tmp_path):
    """A CSV with the 25 columns of before n_ratings / n_raters (human evaluation) loads with them empty, a
    last row without its line end is still recognised as complete, and the next append rewrites the file
    once with the full header."""
    from gan_eval.results.table import LEGACY_HEADERS

    path = tmp_path / "v2.csv"
    old = rows().drop(columns=["n_ratings", "n_raters"])
    path.write_text(old.to_csv(index=False, lineterminator="\n").rstrip("\n"))  # an editor's last line
    assert tuple(path.read_text().splitlines()[0].split(",")) == LEGACY_HEADERS[1]
    loaded = load_results(path)
    assert loaded["n_ratings"].isna().all() and str(loaded["n_raters"].dtype) == "Int64"
    store.check_results_target(path)
    human = rows().assign(n_ratings=400, n_raters=4)
    append_results(human, path)
    assert path.read_text().splitlines()[0] == ",".join(table.COLUMNS)
    after = load_results(path)
    assert len(after) == 2 * len(rows())
    assert after["n_ratings"].isna().sum() == len(rows()) and (after["n_raters"].dropna() == 4).all()
