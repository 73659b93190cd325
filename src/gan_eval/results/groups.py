"""Which rows of a results table may be compared, and whether an evaluation is the one a gate expects.

Two evaluations measure the same thing only when everything that changes the number agrees: the
``FINGERPRINT_COLUMNS`` (extractor, protocol, precision, n_fake, seed, real set; n_real per metric) and the
``fingerprint`` hash (which adds the extractor weights and the real set's content). A *comparable group* is
the set of rows sharing all of them; reports compare values within a group only, and a gate holds its
thresholds only against the group it was calibrated on (``expectation_differences``).

Dataset specs are compared by what they mean: ``mnist`` and ``mnist:train`` are the same set. An evaluation's
n_fake is the number of images it drew (``evaluation_n_fake``): the rows of the class metrics carry the part
they used, which does not make them another setup.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from gan_eval.results.table import FINGERPRINT_COLUMNS, evaluation_n_fake

#: The evaluation-level fingerprint columns: all rows of one evaluation share them (n_real differs per
#: metric: FID uses the whole real set, KID/PR/DC a subset of its features).
EVALUATION_COLUMNS: tuple[str, ...] = tuple(c for c in FINGERPRINT_COLUMNS if c not in ("metric", "n_real"))

#: The keys a gate file may declare in its ``[evaluation]`` table (see ``gan_eval.reporting.gates``).
EXPECTABLE: dict[str, type] = {
    "extractor": str,
    "protocol": str,
    "n_fake": int,
    "real": str,
    "precision": str,
    "seed": int,
}

_DATASET_RE = re.compile(r"^(mnist|fashion-mnist)(?::(train|test))?$")


def canonical_spec(spec: Any) -> str:
    """A data spec in the form used to compare specs: ``mnist`` -> ``mnist:train``, paths normalised
    (``./samples/`` -> ``samples``); anything else unchanged."""
    text = str(spec).strip()
    m = _DATASET_RE.match(text.lower())
    if m:
        return f"{m.group(1)}:{m.group(2) or 'train'}"
    if "/" in text or "\\" in text or text.startswith("."):
        return os.path.normpath(text)
    return text


def _same(column: str, a: Any, b: Any) -> bool:
    if column == "real":
        return canonical_spec(a) == canonical_spec(b)
    if EXPECTABLE.get(column) is int:
        try:
            return int(a) == int(b)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


def expectation_differences(meta: Mapping[str, Any], expect: Mapping[str, Any]) -> list[str]:
    """What differs between an evaluation (``meta``: its fingerprint columns) and what ``expect`` declares
    (a subset of ``EXPECTABLE``), one message per key in ``expect`` order, e.g.
    ``["extractor is inception, expected mnist-lenet", "n_fake is 100, expected 10000"]``."""
    out = []
    for key, want in expect.items():
        have = meta.get(key)
        missing = have is None or (isinstance(have, float) and math.isnan(have))
        if missing or not _same(key, have, want):
            out.append(f"{key} is {'unknown' if missing else have}, expected {want}")
    return out


def matches_expectation(rows: pd.DataFrame, expect: Mapping[str, Any]) -> pd.Series:
    """Boolean mask of the ``rows`` (results-table schema) whose columns satisfy ``expect`` (``n_fake``: the
    evaluation's, :func:`~gan_eval.results.table.evaluation_n_fake`)."""
    mask = pd.Series(True, index=rows.index)
    if "n_fake" in expect:
        rows = rows.assign(n_fake=evaluation_n_fake(rows))
    for key, want in expect.items():
        mask &= pd.Series([_same(key, v, want) for v in rows[key].tolist()], index=rows.index, dtype=bool)
    return mask


# ------------------------------------------------------------------------------------ comparable groups


@dataclass(frozen=True)
class ComparableGroup:
    """The fingerprint shared by the rows of one comparable group (``real`` in canonical form)."""

    extractor: str
    protocol: str
    precision: str
    n_fake: int
    seed: int
    real: str
    fingerprint: str

    def name(self, show: Iterable[str] = ()) -> str:
        """A short name: extractor, protocol and n_fake always, plus the fields in ``show`` (the ones that
        tell this group from the others), e.g. ``"mnist-lenet, lenet-28, n_fake 10000, seed 1"``."""
        parts = [self.extractor, self.protocol, f"n_fake {self.n_fake}"]
        for f in ("real", "precision", "seed", "fingerprint"):
            if f in show:
                parts.append(f"{f} {getattr(self, f)}")
        return ", ".join(parts)

    def describe(self) -> str:
        """Every field, for the line under a group's heading."""
        alone = "(no real set: metrics of the generated samples alone)"
        against = f"vs `{self.real}`" if self.real else alone
        return (
            f"extractor `{self.extractor}`, protocol `{self.protocol}`, {self.n_fake} generated samples "
            f"{against}, precision {self.precision}, seed {self.seed}, fingerprint `{self.fingerprint}`"
        )


def group_of(row: Mapping[str, Any], n_fake: int | None = None) -> ComparableGroup:
    """The comparable group of one results-table row; ``n_fake``: its evaluation's (default: the row's)."""
    return ComparableGroup(
        extractor=str(row["extractor"]),
        protocol=str(row["protocol"]),
        precision=str(row["precision"]),
        n_fake=int(row["n_fake"] if n_fake is None else n_fake),
        seed=int(row["seed"]),
        real=canonical_spec(row["real"]),
        fingerprint=str(row["fingerprint"]),
    )


def groups_of(results: pd.DataFrame) -> list[ComparableGroup]:
    """The comparable group of every row of ``results`` (with its evaluation's n_fake)."""
    n_fake = evaluation_n_fake(results).tolist()
    return [group_of(r, n) for r, n in zip(results.to_dict("records"), n_fake, strict=True)]


def comparable_groups(results: pd.DataFrame) -> list[tuple[ComparableGroup, pd.DataFrame]]:
    """Split a results table into comparable groups: (group, its rows in table order), the group with the
    most evaluated fakes (checkpoints) first, then in order of first appearance."""
    if results.empty:
        return []
    keys = groups_of(results)
    order: dict[ComparableGroup, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault(k, []).append(i)
    groups = [(g, results.iloc[idx]) for g, idx in order.items()]
    first = {g: i for i, g in enumerate(order)}
    groups.sort(key=lambda t: (-t[1]["fake"].nunique(), first[t[0]]))
    return groups


def distinguishing_fields(groups: Iterable[ComparableGroup]) -> tuple[str, ...]:
    """The fields beyond extractor/protocol/n_fake needed to tell ``groups`` apart (for their names)."""
    gs = list(groups)
    show: list[str] = []
    for f in ("real", "precision", "seed"):
        if len({getattr(g, f) for g in gs}) > 1:
            show.append(f)
    names = [g.name(show) for g in gs]
    if len(set(names)) < len(names):  # same named columns, other weights or real content
        show.append("fingerprint")
    return tuple(show)


GROUP_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ComparableGroup))
