"""torchmetrics' FID / KID / IS with our feature module equal gan_eval.metrics on the same images (1e-4 rel).

A tiny deterministic conv net with a real preprocessing protocol stands in for Inception, so no weights are
needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from gan_eval.errors import UserError
from gan_eval.features.protocols import get_protocol, quantize_to_uint8
from gan_eval.features.registry import Extractor
from gan_eval.features.torchmetrics_adapter import TorchmetricsFeature, torchmetrics_feature
from gan_eval.metrics import fid_from_stats, inception_score, kid
from gan_eval.stats import FeatureStats

REL = 1e-4
pytestmark = [
    pytest.mark.filterwarnings("ignore:Metric .* will save all extracted features:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning"),
]


class ConvDummy(Extractor):
    """Protocol -> fixed random conv net with a batch norm. uint8 [N, C, H, W] -> features [N, 16], logits
    [N, 10] (float32)."""

    name = "conv-dummy"
    feature_dim = 16
    num_classes = 10
    weights_sha256 = "1" * 64

    def __init__(self, protocol: str = "pytorch-fid", with_head: bool = True) -> None:
        super().__init__()
        self.protocol = protocol
        self._preprocess = get_protocol(protocol)
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=8, stride=8)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 16)
        self.head = torch.nn.Linear(16, 10, bias=False) if with_head else None
        self.num_classes = 10 if with_head else None
        self.eval()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self._preprocess(images)
        x = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.bn(self.conv(x))), 4).flatten(1)
        out = {"features": torch.tanh(self.fc(x))}
        if self.head is not None:
            out["logits"] = 30 * self.head(out["features"])
        return out


def _images(n: int, seed: int, shift: int = 0) -> torch.Tensor:
    """uint8 [n, 1, 28, 28]: blurry blobs of random contrast and brightness, shifted for the 'fake' set."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(n, 1, 28, 28, generator=g), 5, 1, 2) - 0.5
    x = x * 255 * 4 * torch.rand(n, 1, 1, 1, generator=g) + 255 * torch.rand(n, 1, 1, 1, generator=g) + shift
    return x.clamp(0, 255).to(torch.uint8)


def _our_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    s1, s2 = FeatureStats(f1.shape[1]).update(f1), FeatureStats(f2.shape[1]).update(f2)
    return fid_from_stats(s1.mean(), s1.cov(), s2.mean(), s2.cov())["fid"]


@pytest.fixture(scope="module")
def sets():
    ext = ConvDummy()
    real, fake = _images(40, seed=1), _images(40, seed=2, shift=30)
    with torch.no_grad():
        fr, ff = (ext(x)["features"].double().numpy() for x in (real, fake))
        logits = ext(fake)["logits"].double().numpy()
    return ext, real, fake, fr, ff, logits


def test_fid_equals_ours(sets):
    ext, real, fake, fr, ff, _ = sets
    metric = FrechetInceptionDistance(feature=torchmetrics_feature(ext))
    for chunk in real.split(16):  # several update() calls, like a validation loop
        metric.update(chunk, real=True)
    metric.update(fake, real=False)
    ours = _our_fid(fr, ff)
    assert ours > 0.01  # not trivially zero
    assert float(metric.compute()) == pytest.approx(ours, rel=REL)


def test_fid_float_input_is_quantized_like_png(sets):
    ext, real, fake, _, _, _ = sets
    fake_float = fake.double() / 255 + 1e-3  # within half a level of the uint8 images
    assert torch.equal(quantize_to_uint8(fake_float, value_range=(0, 1)), fake)
    a = FrechetInceptionDistance(feature=torchmetrics_feature(ext))
    b = FrechetInceptionDistance(feature=torchmetrics_feature(ext), normalize=True)
    a.update(real, real=True), a.update(fake, real=False)
    b.update(real.double() / 255, real=True), b.update(fake_float, real=False)
    assert float(a.compute()) == float(b.compute())


def test_kid_equals_ours(sets):
    ext, real, fake, fr, ff, _ = sets
    n = len(real)
    # subset_size = n, one subset: torchmetrics' random permutation cannot change the (unbiased) MMD
    metric = KernelInceptionDistance(feature=torchmetrics_feature(ext), subsets=1, subset_size=n)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    mean, std = metric.compute()
    ours = kid(fr, ff, subsets=1, subset_size=n)["kid_mean"]
    assert ours > 1e-3
    assert float(mean) == pytest.approx(ours, rel=REL)
    assert float(std) == 0.0


@pytest.mark.parametrize("splits", [1, 4])
def test_inception_score_equals_ours(sets, splits):
    ext, _, fake, _, _, logits = sets
    metric = InceptionScore(feature=torchmetrics_feature(ext, kind="logits"), splits=splits)
    metric.update(fake)
    torch.manual_seed(123)
    mean, std = metric.compute()
    torch.manual_seed(123)
    perm = torch.randperm(len(fake)).numpy()  # torchmetrics shuffles before splitting; replay its draw
    ours = inception_score(logits[perm], splits=splits, shuffle=False)
    ours_mean, ours_std = ours["is_mean"], ours["is_std"]
    assert ours_mean > 1.2
    assert float(mean) == pytest.approx(ours_mean, rel=REL)
    if splits > 1:  # torchmetrics' std is the unbiased one, torch-fidelity's (and ours) the biased one
        assert float(std) == pytest.approx(ours_std * np.sqrt(splits / (splits - 1)), rel=REL)


def test_module_attributes_and_eval_mode():
    ext = ConvDummy()
    feat = torchmetrics_feature(ext)
    assert isinstance(feat, TorchmetricsFeature) and feat.num_features == 16
    assert torchmetrics_feature(ext, kind="logits").num_features == 10
    torch.nn.Sequential(feat).train()  # e.g. LightningModule.train() reaching the metric's children
    assert not feat.training and not ext.training and not ext.bn.training
    out = feat(_images(3, seed=5))
    assert out.shape == (3, 16) and out.dtype == torch.float64 and not out.requires_grad
    assert torchmetrics_feature(ext, out_dtype=torch.float32)(_images(2, seed=5)).dtype == torch.float32


def test_build_by_name_uses_registry():
    feat = torchmetrics_feature("dummy")  # registered by tests/conftest.py
    assert feat.num_features == 16 and feat(_images(2, seed=6)).shape == (2, 16)


def test_user_errors():
    with pytest.raises(UserError, match="no classifier head"):
        torchmetrics_feature(ConvDummy(with_head=False), kind="logits")
    with pytest.raises(UserError, match="kind"):
        torchmetrics_feature(ConvDummy(), kind="probs")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="only apply"):
        torchmetrics_feature(ConvDummy(), protocol="tf1")
    with pytest.raises(UserError, match="unknown extractor"):
        torchmetrics_feature("no-such-extractor")
