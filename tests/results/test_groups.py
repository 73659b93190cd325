"""Comparable groups of a results table and gate expectations ([evaluation]) against its rows."""

from __future__ import annotations

import pandas as pd
import pytest

from gan_eval.results.groups import (
    EVALUATION_COLUMNS,
    canonical_spec,
    comparable_groups,
    distinguishing_fields,
    expectation_differences,
    matches_expectation,
)
from gan_eval.results.table import FINGERPRINT_COLUMNS, make_rows

META = dict(
    real="mnist",
    n_real=60000,
    n_fake=10000,
    extractor="mnist-lenet",
    protocol="lenet-28",
    precision="fp32",
    seed=0,
    device="cpu",
)


def rows(fake: str, **meta) -> pd.DataFrame:
    return make_rows({"fid": 1.0, "is_mean": 2.0}, meta={**META, "fake": fake, **meta})


def test_evaluation_columns_are_the_fingerprint_columns_but_metric_and_n_real():
    assert set(EVALUATION_COLUMNS) == set(FINGERPRINT_COLUMNS) - {"metric", "n_real"}


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("mnist", "mnist:train", True),
        ("MNIST:train", "mnist", True),
        ("mnist", "mnist:test", False),
        ("fashion-mnist", "fashion-mnist:train", True),
        ("./stats/x.npz", "stats/x.npz", True),
        ("samples/", "samples", True),
        ("a.npz", "b.npz", False),
    ],
)
def test_canonical_spec(a, b, same):
    assert (canonical_spec(a) == canonical_spec(b)) is same


def test_expectation_differences_name_each_key():
    meta = {**META, "extractor": "inception", "protocol": "tf1", "n_fake": 100}
    expect = {"extractor": "mnist-lenet", "protocol": "lenet-28", "n_fake": 10000, "real": "mnist:train"}
    assert expectation_differences(meta, expect) == [
        "extractor is inception, expected mnist-lenet",
        "protocol is tf1, expected lenet-28",
        "n_fake is 100, expected 10000",
    ]  # real "mnist" is "mnist:train": no difference
    assert expectation_differences(META, {"seed": 0, "precision": "fp32"}) == []
    assert expectation_differences({"seed": None}, {"seed": 0}) == ["seed is unknown, expected 0"]


def test_matches_expectation_masks_rows():
    df = pd.concat([rows("a"), rows("b", n_fake=500), rows("c", real="mnist:test")], ignore_index=True)
    mask = matches_expectation(df, {"n_fake": 10000, "real": "mnist:train"})
    assert list(df.loc[mask, "fake"]) == ["a", "a"]
    assert matches_expectation(df, {}).all()


def test_comparable_groups_split_by_every_fingerprint_column():
    df = pd.concat(
        [
            # pipeline rows hash the real set's content, so "mnist" and "mnist:train" share a fingerprint
            rows("a", fingerprint="f" * 16),
            rows("b", fingerprint="f" * 16),
            rows("c", real="mnist:train", fingerprint="f" * 16),  # the same set as "mnist": same group
            rows("a", n_fake=500),
            rows("a", seed=1),
            rows("a", extractor="inception", protocol="pytorch-fid"),
        ],
        ignore_index=True,
    )
    groups = comparable_groups(df)
    sizes = [(g.extractor, g.n_fake, g.seed, sorted(set(r["fake"]))) for g, r in groups]
    # the group with the most evaluated fakes first, then in order of appearance
    assert sizes == [
        ("mnist-lenet", 10000, 0, ["a", "b", "c"]),
        ("mnist-lenet", 500, 0, ["a"]),
        ("mnist-lenet", 10000, 1, ["a"]),
        ("inception", 10000, 0, ["a"]),
    ]
    assert sum(len(r) for _, r in groups) == len(df)
    show = distinguishing_fields([g for g, _ in groups])
    assert show == ("seed",)  # n_fake and extractor are always in the name; seed tells groups 1 and 3 apart
    assert groups[2][0].name(show) == "mnist-lenet, lenet-28, n_fake 10000, seed 1"


def test_groups_with_the_same_columns_but_other_weights_are_told_apart_by_fingerprint():
    df = pd.concat([rows("a", fingerprint="1" * 16), rows("b", fingerprint="2" * 16)], ignore_index=True)
    groups = comparable_groups(df)
    assert len(groups) == 2
    show = distinguishing_fields([g for g, _ in groups])
    assert "fingerprint" in show and groups[0][0].name(show).endswith("fingerprint 1111111111111111")
