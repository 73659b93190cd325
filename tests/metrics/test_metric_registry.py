"""The metric registry: names, directions, and the uniform compute() over one set of inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_eval.errors import UserError
from gan_eval.metrics import METRICS, MetricInputs, get_metric, higher_is_better, keys, list_metrics
from gan_eval.metrics import registry as reg
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.stats import FeatureStats


def test_names_and_directions() -> None:
    assert list_metrics() == [
        "classes", "copy", "dc", "fid", "fid_class", "fid_inf", "hype", "is", "is_inf", "kid", "pr", "prd",
        "vendi",
    ]  # fmt: skip
    lower = {keys.FID, keys.KID_MEAN, "fid_inf", "class_kl", "class_tv", "near_copies", "near_copy_frac"}
    lower |= {"class_unrecognised"}
    higher = {keys.IS_MEAN, keys.PRECISION, keys.RECALL, keys.DENSITY, keys.COVERAGE, "is_inf", "auth_pct"}
    higher |= {"prd_f8", "prd_f1_8", "vendi", "vendi_real", "class_coverage", "class_coverage_frac"}
    lower |= {"near_copies_pixels", "near_copy_frac_pixels"}
    higher |= {"auth_pct_pixels"}
    higher |= {keys.HYPE_INF, keys.HYPE_FAKE_ERROR, keys.HYPE_REAL_ERROR}  # people's error rates
    for key in lower:
        assert higher_is_better(key) is False
    for key in higher:
        assert higher_is_better(key) is True
    assert higher_is_better("fid_class_7") is False and reg.value_direction("fid_class_7") is False
    two_sided = {"copying_ct", "copying_ct_pixels"}  # about 0 is right: a value, but no ranking
    two_sided |= {keys.HYPE_CATCH_PASS, keys.HYPE_FLAGGED}  # the raters' attention, not the model's quality
    assert set(reg.direction_table()) == lower | higher | two_sided
    for key in two_sided:
        assert reg.value_direction(key) is None
        with pytest.raises(UserError, match="no single good direction"):
            higher_is_better(key)
    for key in (keys.IS_STD, keys.KID_STD, keys.FID_CLIPPED_EIGS, "fid_class_x", "nonsense"):
        with pytest.raises(UserError, match="not a metric value"):
            higher_is_better(key)
    with pytest.raises(UserError, match="available: classes, copy, dc, fid"):
        get_metric("fjd")
    assert get_metric("is").needs == frozenset({"logits"}) and not get_metric("is").needs_real
    assert all(spec.name == name for name, spec in METRICS.items())


def test_register_validation() -> None:
    with pytest.raises(ValueError, match="needs"):
        reg.register_metric("bad", higher_is_better=True, needs={"colours"}, keys=("x",))
    with pytest.raises(ValueError, match="both directions"):
        reg.register_metric("bad2", higher_is_better=True, needs={"stats"}, keys=(keys.FID,))(lambda r, f: {})
    assert "bad2" not in METRICS


def test_compute_all_from_one_set_of_inputs() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(60, 6, generator=g), torch.randn(50, 6, generator=g) + 0.5
    logits = torch.randn(50, 10, generator=g)
    r_stats, f_stats = FeatureStats(6).update(real), FeatureStats(6).update(fake)
    r_in = MetricInputs(stats=r_stats.moments(), features=real)
    f_in = MetricInputs(stats=f_stats, features=fake, logits=logits)  # FeatureStats is accepted too
    fid = get_metric("fid").compute(r_in, f_in)
    assert fid["fid"] == fid_from_stats(r_stats.mean(), r_stats.cov(), f_stats.mean(), f_stats.cov())["fid"]
    assert set(get_metric("is").compute(None, f_in, splits=5)) == {"is_mean", "is_std"}
    assert get_metric("kid").compute(r_in, f_in, subset_size=40, subsets=3)["kid_subset_size"] == 40
    assert set(get_metric("pr").compute(r_in, f_in)) == {"precision", "recall"}
    assert set(get_metric("dc").compute(r_in, f_in)) == {"density", "coverage"}
    for spec in METRICS.values():
        assert all(key in reg.direction_table() or key in keys.STD_OF.values() for key in spec.keys)
        assert spec.no_bootstrap is None or len(spec.no_bootstrap) > 20  # a stated reason, not a flag

    class Duck:  # the pipeline's own record: mu / sigma / n attributes
        def __init__(self, s: FeatureStats) -> None:
            self.stats, self.mu, self.sigma, self.n = None, s.mean(), s.cov(), s.n

    assert get_metric("fid").compute(real=Duck(r_stats), fake=Duck(f_stats))["fid"] == pytest.approx(
        fid["fid"]
    )
    with pytest.raises(UserError, match="needs the real set's features"):
        get_metric("kid").compute(MetricInputs(), f_in)
    with pytest.raises(UserError, match="statistics"):
        get_metric("fid").compute(MetricInputs(features=np.zeros((3, 6))), f_in)
