"""Mode collapse stated plainly: class coverage and imbalance of generated samples from a classifier's
predicted-class counts (``mnist-lenet``'s argmax over 10 digits) of the samples it *recognises*.

**Unrecognised samples first.** A classifier puts every image in some class, noise included (``mnist-lenet``
calls noisy, malformed digits 8s with high confidence), so the counts are of the samples its recognition rule
accepts (:mod:`gan_eval.features.recognition`), and the unrecognised ones are counted apart. When most samples
(``MOSTLY_UNRECOGNISED``, half or more) are unrecognised, the verdict is "most samples are not recognisable as
digits (N %)" and nothing is said about collapse: the few recognised samples do not tell. Otherwise the
findings below are about the recognised samples, and the unrecognised share is stated beside them.

Each class has an *expected share*: the real set's share when given (e.g. MNIST train: 9.0 % fives,
11.2 % ones), else uniform (1/K). From the predicted-class counts of N generated samples:

- **covered**: classes whose share is at least ``COVERAGE_FRACTION`` (a quarter) of their expected share
  (for 10 uniform classes: at least 2.5 % of the samples). A class below that is all but missing - the
  generator has (nearly) dropped that mode;
- **largest class** and its share, and how many times its expected share that is;
- **rare**: classes under ``RARE_SHARE`` (1 %) of the samples, and **missing**: never predicted;
- **imbalanced** when the largest share exceeds ``IMBALANCE_RATIO`` (2) times its expected share - for 10
  classes, one class holding more than 20 % of the samples. A healthy generator at 10,000 samples sits
  well below (binomial noise of a 10 % class is +-0.3 %); a flagged one is over-producing some modes.

The thresholds are deliberately coarse: they name collapse that a reader should see in the sample grid,
not small biases (``kid``/``fid`` and precision/recall measure those).

Example: 1,000 recognised samples predicted as 8 in 48 % of cases and as 0 and 6 in under 1 % give
"Coverage 8 of 10 classes (not covered: 0 at 0.4 %, 6 at 0.2 %, below a quarter of the uniform share 10 %).
Largest class 8: 48 % of samples (4.8x uniform). Under 1 %: 0, 6. ⚠ Imbalanced: ... (possible mode
collapse)." Flags are marked with ⚠ (in the report, bold means "best" only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A class is covered when its share is at least this fraction of its expected share.
COVERAGE_FRACTION = 0.25
#: Classes under this share of the samples are listed as rare.
RARE_SHARE = 0.01
#: The samples are flagged imbalanced when the largest class exceeds this many times its expected share.
IMBALANCE_RATIO = 2.0
#: From this unrecognised share on, the verdict is "most samples are not recognisable" (none on collapse).
MOSTLY_UNRECOGNISED = 0.5
#: The mark of a flagged finding or table cell (bold is kept for "best" in the report).
FLAG = "⚠"


@dataclass(frozen=True, eq=False)
class ClassBalance:
    """Coverage and imbalance of predicted-class counts (see the module docstring).

    ``counts`` int64 [K] of the recognised samples; ``shares`` (of the recognised samples; zeros when there
    are none) and ``expected`` float64 [K] summing to 1; class indices are ints in 0..K-1 and ``names`` their
    display names; ``unrecognised``: samples not recognised (None: the classifier has no recognition rule, and
    every sample counts); ``kind``: what the classes are ("digits"), for the sentences.
    """

    counts: np.ndarray
    shares: np.ndarray
    expected: np.ndarray
    reference: str  # "uniform" or "real"
    names: tuple[str, ...]
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]
    rare: tuple[int, ...]
    missing: tuple[int, ...]
    largest: int  # the class with the largest share
    largest_share: float
    largest_ratio: float  # largest_share / its expected share
    most_over: int  # the class furthest above its expected share (= largest for a uniform reference)
    imbalanced: bool  # the share of most_over exceeds IMBALANCE_RATIO x its expected share
    unrecognised: int | None = None
    kind: str = "digits"

    @property
    def recognised(self) -> int:
        return int(self.counts.sum())

    @property
    def total(self) -> int:
        return self.recognised + (self.unrecognised or 0)

    @property
    def unrecognised_share(self) -> float | None:
        return None if self.unrecognised is None else self.unrecognised / self.total

    @property
    def mostly_unrecognised(self) -> bool:
        """Half or more of the samples are unrecognised: no verdict about collapse."""
        share = self.unrecognised_share
        return share is not None and share >= MOSTLY_UNRECOGNISED

    @property
    def collapse(self) -> bool:
        """The "possible mode collapse" verdict: imbalanced recognised samples, most samples recognised."""
        return self.imbalanced and not self.mostly_unrecognised

    def text(self) -> str:
        """The findings in two to five plain sentences (Markdown-safe, no line breaks)."""
        share = self.unrecognised_share
        if share is not None and self.mostly_unrecognised:
            return (
                f"{FLAG} Most samples are not recognisable as {self.kind} ({_pct(share)}, "
                f"{self.unrecognised} of {self.total}); the {self.recognised} recognised samples are too few "
                "to judge the class balance, so there is no verdict on mode collapse."
            )
        unrec = (
            f"Unrecognised: {_pct(share)} of samples (not counted in the class shares). "
            if share is not None
            else ""
        )
        return unrec + self._findings()

    def _findings(self) -> str:
        k = len(self.counts)
        pct = _pct
        ref = "uniform share" if self.reference == "uniform" else "real-set share"
        out = [f"Coverage {len(self.covered)} of {k} classes"]
        if self.not_covered:
            listed = ", ".join(f"{self.names[i]} at {pct(self.shares[i])}" for i in self.not_covered)
            exp = f" {pct(self.expected[self.not_covered[0]])}" if self.reference == "uniform" else ""
            out[0] += f" (not covered: {listed}; below a quarter of the {ref}{exp})"
        out[0] += "."
        of = "of samples" if self.unrecognised is None else "of recognised samples"
        out.append(
            f"Largest class {self.names[self.largest]}: {pct(self.largest_share)} {of} "
            f"({self.largest_ratio:.2g}x the {ref})."
        )
        if self.rare:
            missing = (
                f" (never predicted: {', '.join(self.names[i] for i in self.missing)})"
                if self.missing
                else ""
            )
            out.append(f"Under {pct(RARE_SHARE)}: {', '.join(self.names[i] for i in self.rare)}{missing}.")
        if self.imbalanced:
            i = self.most_over
            out.append(
                f"{FLAG} Imbalanced: class {self.names[i]} holds more than {IMBALANCE_RATIO:g}x its {ref}"
                f"{'' if i == self.largest else f' ({pct(self.shares[i])})'} (possible mode collapse)."
            )
        elif not self.not_covered:
            out.append(f"Balanced: no class above {IMBALANCE_RATIO:g}x its {ref}.")
        return " ".join(out)


def _pct(x: float) -> str:
    return f"{100 * x:.2g} %" if x < 0.1 else f"{100 * x:.0f} %"


def class_balance(
    counts: np.ndarray | Sequence[int],
    expected: np.ndarray | Sequence[float] | None = None,
    *,
    names: Sequence[str] | None = None,
    unrecognised: int | None = None,
    kind: str = "digits",
) -> ClassBalance:
    """Coverage and imbalance of the predicted-class ``counts`` (int [K], non-negative, K >= 2) of the
    recognised samples, with ``unrecognised`` samples beside them (None: no recognition rule).

    ``expected``: the real set's class shares or counts (float [K], normalised here); None: uniform.
    ``names``: display names of the classes (default ``"0"``..``"K-1"``); ``kind``: what they are, for the
    sentences. ValueError for bad input.
    """
    c = np.asarray(counts)
    if c.ndim != 1 or c.size < 2 or not np.isfinite(c).all() or (c < 0).any() or (c % 1 != 0).any():
        raise ValueError(f"class counts must be a 1-D array of >= 2 non-negative integers, got {counts!r}")
    c = c.astype(np.int64)
    if unrecognised is not None and (int(unrecognised) != unrecognised or unrecognised < 0):
        raise ValueError(f"unrecognised must be a non-negative integer, got {unrecognised!r}")
    if c.sum() == 0 and not unrecognised:
        raise ValueError("class counts are all zero: no samples")
    k = c.size
    if expected is None:
        exp, reference = np.full(k, 1.0 / k), "uniform"
    else:
        e = np.asarray(expected, dtype=np.float64)
        if e.shape != (k,) or not np.isfinite(e).all() or (e <= 0).any():
            raise ValueError(f"expected shares must be {k} positive numbers, got {expected!r}")
        exp, reference = e / e.sum(), "real"
    label = tuple(str(n) for n in names) if names is not None else tuple(str(i) for i in range(k))
    if len(label) != k:
        raise ValueError(f"{len(label)} class names for {k} classes")
    shares = c / c.sum() if c.sum() else np.zeros(k)
    ratio = shares / exp
    covered = shares >= COVERAGE_FRACTION * exp
    largest, over = int(np.argmax(shares)), int(np.argmax(ratio))
    return ClassBalance(
        counts=c,
        shares=shares,
        expected=exp,
        reference=reference,
        names=label,
        covered=tuple(int(i) for i in np.flatnonzero(covered)),
        not_covered=tuple(int(i) for i in np.flatnonzero(~covered)),
        rare=tuple(int(i) for i in np.flatnonzero(shares < RARE_SHARE)),
        missing=tuple(int(i) for i in np.flatnonzero(c == 0)),
        largest=largest,
        largest_share=float(shares[largest]),
        largest_ratio=float(ratio[largest]),
        most_over=over,
        imbalanced=bool(ratio[over] > IMBALANCE_RATIO),
        unrecognised=None if unrecognised is None else int(unrecognised),
        kind=kind,
    )


def class_balance_text(
    counts: np.ndarray | Sequence[int],
    expected: np.ndarray | Sequence[float] | None = None,
    *,
    names: Sequence[str] | None = None,
    unrecognised: int | None = None,
    kind: str = "digits",
) -> str:
    """``class_balance(...).text()``: the sentences for reports and the console."""
    return class_balance(counts, expected, names=names, unrecognised=unrecognised, kind=kind).text()


def class_kind(extractor: str) -> str:
    """What an extractor's classes are, for the sentences: "digits" (mnist-lenet), "clothing items"
    (fashion-mnist-lenet), else "any of the classifier's classes"."""
    known = {"mnist-lenet": "digits", "fashion-mnist-lenet": "clothing items"}
    return known.get(extractor, "any of the classifier's classes")
