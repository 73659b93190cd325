"""Class coverage and imbalance of predicted-class counts: numbers against hand computation, thresholds at
their boundaries, the sentences, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.reporting.class_balance import (
    COVERAGE_FRACTION,
    IMBALANCE_RATIO,
    RARE_SHARE,
    class_balance,
    class_balance_text,
)

# shaped like the 5-epoch demo checkpoint: 48 % eights, zeros and sixes nearly absent
DEMO = np.array([4, 80, 90, 95, 70, 60, 2, 80, 480, 39])


def test_demo_collapse_is_stated_plainly():
    cb = class_balance(DEMO)
    assert cb.total == 1000
    np.testing.assert_array_equal(cb.shares, DEMO / 1000)
    assert cb.not_covered == (0, 6)  # 0.4 % and 0.2 % < 2.5 % (a quarter of 10 %); 3.9 % is covered
    assert cb.covered == (1, 2, 3, 4, 5, 7, 8, 9)
    assert (cb.largest, cb.largest_share) == (8, 0.48)
    assert cb.largest_ratio == pytest.approx(4.8)
    assert cb.rare == (0, 6) and cb.missing == ()
    assert cb.imbalanced
    text = class_balance_text(DEMO)
    assert text.startswith("Coverage 8 of 10 classes (not covered: 0 at 0.4 %, 6 at 0.2 %;")
    assert "Largest class 8: 48 % of samples (4.8x the uniform share)." in text
    assert "Under 1 %: 0, 6." in text
    assert "⚠ Imbalanced: class 8 holds more than 2x its uniform share (possible mode collapse)." in text
    assert "**" not in text  # bold means "best" in the report; flags get ⚠
    assert "All 10 classes" not in text


def test_balanced_samples():
    cb = class_balance(np.full(10, 100))
    assert cb.covered == tuple(range(10)) and not cb.not_covered and not cb.rare and not cb.imbalanced
    assert class_balance_text(np.full(10, 100)).endswith("Balanced: no class above 2x its uniform share.")


def test_thresholds_are_inclusive_as_documented():
    k, n = 10, 100_000
    # exactly a quarter of the uniform share is covered; exactly 2x uniform is not flagged
    at_edges = np.array([int(n * COVERAGE_FRACTION / k), int(n * IMBALANCE_RATIO / k)] + [0] * (k - 2))
    at_edges[2:] = (n - at_edges[:2].sum()) // (k - 2)
    at_edges[2] += n - at_edges.sum()
    cb = class_balance(at_edges)
    assert 0 in cb.covered and not cb.imbalanced and cb.total == n
    one_more = at_edges.copy()
    one_more[1] += 1
    one_more[2] -= 1
    assert class_balance(one_more).imbalanced
    one_less = at_edges.copy()
    one_less[0] -= 1
    one_less[2] += 1
    assert 0 in class_balance(one_less).not_covered
    assert RARE_SHARE == 0.01


def test_missing_classes_are_named():
    counts = np.array([100, 0, 90, 110, 0, 95, 100, 105, 98, 102])
    cb = class_balance(counts)
    assert cb.missing == (1, 4) and cb.not_covered == (1, 4)
    assert "(never predicted: 1, 4)" in cb.text()


def test_real_reference_shares():
    """Against the real set's shares a class at its real share is neither uncovered nor over-produced."""
    real = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])  # MNIST train
    cb = class_balance(real, real)
    assert cb.reference == "real" and not cb.imbalanced and not cb.not_covered
    assert cb.largest == 1 and cb.largest_ratio == pytest.approx(1.0)
    # a class over 2x its real share is flagged even when it is not the largest
    skewed = np.array([50, 50, 50, 50, 50, 50, 50, 50, 50, 20])
    expected = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0.1])
    cb = class_balance(skewed, expected)
    assert cb.most_over == 9 and cb.largest == 0 and cb.imbalanced
    assert "class 9 holds more than 2x its real-set share" in cb.text()


@pytest.mark.parametrize(
    "counts, expected",
    [
        ([1.5, 2], None),
        ([-1, 2], None),
        ([5], None),
        ([[1, 2]], None),
        ([0, 0], None),
        ([1, 2], [1, 0]),
        ([1, 2], [1, 1, 1]),
    ],
)
def test_bad_input(counts, expected):
    with pytest.raises(ValueError):
        class_balance(counts, expected)


def test_mostly_unrecognised_samples_get_no_collapse_verdict():
    """The issue's early checkpoint: 8 holds most of the few recognised samples, but 95 % are unrecognised."""
    counts = np.array([0, 1, 10, 21, 8, 0, 0, 0, 50, 19])
    cb = class_balance(counts, unrecognised=1891)
    assert (cb.recognised, cb.total) == (109, 2000) and cb.unrecognised_share == pytest.approx(0.9455)
    assert cb.imbalanced and cb.mostly_unrecognised and not cb.collapse
    assert cb.text() == (
        "⚠ Most samples are not recognisable as digits (95 %, 1891 of 2000); the 109 recognised samples are "
        "too few to judge the class balance, so there is no verdict on mode collapse."
    )
    # exactly half unrecognised is "most" (no verdict); one fewer and the recognised samples are judged
    assert class_balance(np.array([1000, 0, 0]), unrecognised=1000).mostly_unrecognised
    almost = class_balance(np.array([1001, 0, 0]), unrecognised=999)
    assert almost.collapse and "possible mode collapse" in almost.text()
    # nothing recognised at all: still a sentence, not an error
    none = class_balance(np.zeros(10, dtype=int), unrecognised=50, kind="clothing items")
    assert none.text().startswith("⚠ Most samples are not recognisable as clothing items (100 %, 50 of 50)")


def test_recognised_samples_are_judged_with_the_unrecognised_share_stated():
    cb = class_balance(DEMO, unrecognised=250)
    assert cb.total == 1250 and not cb.mostly_unrecognised and cb.collapse
    text = cb.text()
    assert text.startswith("Unrecognised: 20 % of samples (not counted in the class shares). Coverage 8 ")
    assert "Largest class 8: 48 % of recognised samples" in text
    assert text.endswith("(possible mode collapse).")
    with pytest.raises(ValueError, match="unrecognised"):
        class_balance(DEMO, unrecognised=-1)
    with pytest.raises(ValueError, match="no samples"):
        class_balance(np.zeros(3, dtype=int), unrecognised=0)
