"""Our seeded k-means against scikit-learn's KMeans (Lloyd, k-means++): inertia on the same data, and the
invariants of any k-means result (labels = nearest centroid, centroids = cluster means, inertia = sum)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans

from gan_eval.errors import UserError
from gan_eval.metrics.kmeans import kmeans


def blobs(seed: int, k: int = 6, per: int = 200, d: int = 5, spread: float = 8.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * spread
    return np.concatenate([c + rng.standard_normal((per, d)) for c in centres])


def test_separated_blobs_reach_sklearns_optimum():
    x = blobs(0)
    ours = kmeans(x, 6, seed=0, n_init=3)
    ref = KMeans(6, n_init=10, random_state=0).fit(x)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-6)
    # the same partition, up to the cluster numbering
    pairs = set(zip(ours.labels.tolist(), ref.labels_.tolist(), strict=True))
    assert len(pairs) == 6


def test_unstructured_data_inertia_no_worse_than_sklearn():
    x = np.random.default_rng(1).standard_normal((1000, 8))
    ours = kmeans(x, 10, seed=1, n_init=5)
    ref = KMeans(10, n_init=5, random_state=1).fit(x)
    # local optima differ; five seedings each land within 1% of one another
    assert ours.inertia <= ref.inertia_ * 1.01


def test_result_invariants():
    x = blobs(3, k=4, per=150, d=7, spread=3.0)
    res = kmeans(x, 9, seed=5)
    d2 = cdist(x, res.centroids, "sqeuclidean")
    assert (d2.argmin(axis=1) == res.labels).mean() > 0.999  # float32 assignment: rare near-ties may differ
    assert res.inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-5)
    for c in range(9):
        np.testing.assert_allclose(res.centroids[c], x[res.labels == c].mean(axis=0), rtol=1e-5, atol=1e-5)
    assert res.labels.dtype == np.int64 and res.centroids.dtype == np.float64
    assert 1 <= res.n_iter <= 300


def test_seeded_and_uint8_input():
    x = blobs(4)
    a, b = kmeans(x, 5, seed=7), kmeans(x, 5, seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    pix = np.random.default_rng(0).integers(0, 256, (300, 64), dtype=np.uint8)
    np.testing.assert_array_equal(
        kmeans(pix, 4, seed=1).labels, kmeans(pix.astype(np.float32), 4, seed=1).labels
    )


def test_fewer_distinct_points_than_clusters_and_errors():
    x = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]), 10, axis=0)
    res = kmeans(x, 5, seed=0)  # empty clusters are re-seeded; nothing becomes NaN
    assert np.isfinite(res.centroids).all()
    assert res.inertia == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(UserError, match="at least 5 points"):
        kmeans(x[:4], 5)
    with pytest.raises(UserError, match=">= 1"):
        kmeans(x, 0)
