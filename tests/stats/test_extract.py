"""The streaming pass (gan_eval.stats.extract): one shape per batch on devices that need it, NaN checks, and
moments that do not depend on how many processes share the work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_eval.data import ArraySource
from gan_eval.errors import UserError
from gan_eval.features import build_extractor
from gan_eval.stats import extract as ex


def _source(n: int, seed: int = 0) -> ArraySource:
    rng = np.random.default_rng(seed)
    return ArraySource(rng.integers(0, 256, (n, 1, 16, 16), dtype=np.uint8), spec="test")


def _run_as_ranks(monkeypatch, source, world: int, **kw):
    """extract() as ``world`` torchrun ranks would run it, in one process: every rank's pass runs first with
    all_gather recording what it contributes, then each rank's pass is replayed with the gathered lists
    assembled in rank order (what torch.distributed.all_gather_object gives). Returns rank 0's result."""
    contributions: dict[int, list] = {}
    for rank in range(world):
        sent: list = []
        monkeypatch.setattr(ex, "rank_world", lambda r=rank: (r, world))
        monkeypatch.setattr(ex, "all_gather", lambda obj, sent=sent: sent.append(obj) or [obj] * world)
        ex.extract(source, build_extractor("dummy"), device=torch.device("cpu"), progress=False, **kw)
        contributions[rank] = sent
    calls = iter(range(4))  # extract gathers four things: chunk states, kept features, logits, pixels
    monkeypatch.setattr(ex, "rank_world", lambda: (0, world))

    def gather(obj, it=calls):
        i = next(it)
        return [contributions[r][i] for r in range(world)]

    monkeypatch.setattr(ex, "all_gather", gather)
    return ex.extract(source, build_extractor("dummy"), device=torch.device("cpu"), progress=False, **kw)


@pytest.mark.determinism
@pytest.mark.parametrize("world", [2, 3, 5])
def test_any_number_of_ranks_gives_the_moments_of_one_process_bit_for_bit(monkeypatch, world):
    """1000 images in batches of 37 (28 batches, uneven last batch, chunks of 2 batches): the float64 moments,
    kept features and logits of K ranks equal one process's exactly (same folds in the same order)."""
    source = _source(1000)
    kw = dict(batch_size=37, keep_features=300, keep_logits=True, keep_pixels=True, subset_seed=4)
    one = ex.extract(source, build_extractor("dummy"), device=torch.device("cpu"), progress=False, **kw)
    many = _run_as_ranks(monkeypatch, source, world, **kw)
    assert many.n == one.n == 1000
    assert np.array_equal(many.mu, one.mu) and np.array_equal(many.sigma, one.sigma)
    assert np.array_equal(many.features, one.features) and np.array_equal(many.logits, one.logits)
    assert np.array_equal(many.pixels, one.pixels) and np.array_equal(one.pixels, source.images.numpy())


def test_the_reduction_chunks_depend_on_the_data_not_on_the_ranks():
    assert ex.chunk_of_batch(1000, 37) == 2  # 28 batches -> 14 chunks of 2
    assert ex.chunk_of_batch(70_000, 256) == 18  # 274 batches -> 16 chunks (MAX_CHUNKS) of at most 18
    assert ex.chunk_of_batch(10, 64) == 1


def test_device_batches_pad_to_one_shape():
    """Batches for a compiled (or CUDA) extractor are padded to one shape with the last row; the valid count
    is passed on and the real rows are untouched."""
    a = torch.arange(5 * 4, dtype=torch.uint8).view(5, 1, 2, 2)
    b = torch.arange(3 * 4, dtype=torch.uint8).view(3, 1, 2, 2) + 100
    got = list(ex._on_device(iter([(0, a), (5, b)]), torch.device("cpu"), pad_to=5))
    assert [(s, n, tuple(x.shape)) for s, n, x in got] == [(0, 5, (5, 1, 2, 2)), (5, 3, (5, 1, 2, 2))]
    assert torch.equal(got[1][2][:3], b) and torch.equal(got[1][2][3:], b[-1:].expand(2, 1, 2, 2))
    plain = list(ex._on_device(iter([(0, a), (5, b)]), torch.device("cpu"), pad_to=None))
    assert [n for _, n, _ in plain] == [5, 3] and torch.equal(plain[1][2], b)


def test_nonfinite_features_fail_once_with_one_line():
    from gan_eval.features.registry import _REGISTRY

    class NaNAfterFirst(_REGISTRY["dummy"]):  # type: ignore[misc,valid-type]
        calls = 0

        def forward(self, images):
            out = super().forward(images)
            NaNAfterFirst.calls += 1
            if NaNAfterFirst.calls > 1:
                out["features"] = out["features"] * float("nan")
            return out

    with pytest.raises(UserError, match="NaN or infinite"):
        ex.extract(_source(300), NaNAfterFirst(), device=torch.device("cpu"), batch_size=64, progress=False)
