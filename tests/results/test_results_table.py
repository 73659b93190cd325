"""The results table: schema, append (CSV and Parquet, concurrent writers), load checks, comparability."""

from __future__ import annotations

import math
import multiprocessing as mp
import re
from pathlib import Path

import pandas as pd
import pytest

from gan_eval.errors import UserError
from gan_eval.results import table
from gan_eval.results.table import (
    COLUMNS,
    SCHEMA,
    append_results,
    check_comparable,
    compute_fingerprint,
    load_results,
    make_rows,
)

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
    real_find_spec = table.importlib.util.find_spec
    monkeypatch.setattr(
        table.importlib.util, "find_spec", lambda n: None if n == "pyarrow" else real_find_spec(n)
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
    workers, n = (4, 50) if suffix == ".csv" else (3, 10)  # parquet rewrites the file: keep it small
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
