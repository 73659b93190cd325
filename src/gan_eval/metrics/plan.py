"""Which metrics one evaluation computes and what the passes must keep for them (``MetricPlan``), and the
run of those metrics over the two passes' results (``run_metrics``).

``--metrics all`` asks for every registered metric that applies to the inputs: those that compare with a
real set only when there is one, those that read logits only when the extractor has a classifier head,
the class metrics only with a classifier of the data's own classes (mnist-lenet, not Inception's 1008
ImageNet classes), the memorization metric only when a training and a held-out set are known; never the
human ratings (``hype``), which people give (:mod:`gan_eval.human`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan_eval.errors import UserError
from gan_eval.metrics.keys import STD_OF
from gan_eval.metrics.registry import METRICS, MetricSpec, get_metric, list_metrics

ALL = "all"
DOMAIN_CLASSIFIER_MAX_CLASSES = 100
"""An extractor head with at most this many classes is taken for a classifier of the data's own classes."""


@dataclass(frozen=True)
class MetricPlan:
    """The metrics of one evaluation and what they need the passes to keep."""

    specs: tuple[MetricSpec, ...]

    def _any(self, need: str, *, real: bool | None = None) -> bool:
        return any(need in s.needs and (real is None or s.needs_real == real) for s in self.specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def need_real(self) -> bool:
        return any(s.needs_real for s in self.specs)

    @property
    def need_logits(self) -> bool:
        return self._any("logits")

    @property
    def need_fake_features(self) -> bool:
        return self._any("features")

    @property
    def need_real_features(self) -> bool:
        return self._any("features", real=True)

    @property
    def need_labels(self) -> bool:
        return self._any("labels")

    @property
    def need_pixels(self) -> bool:
        return self._any("pixels")

    @property
    def need_train(self) -> bool:
        return self._any("train")


def check_computable(names: Sequence[str]) -> None:
    """Refuse a metric that no extractor computes (one measured by people), before any input is opened."""
    for name in dict.fromkeys(names):
        if name == ALL:
            continue
        spec = get_metric(name)
        if "ratings" in spec.needs:
            raise UserError(
                f"metric {spec.name!r} is measured by people, not computed from images: make a study "
                "with `gan-eval human new`, serve it with `gan-eval human serve`, score it with "
                "`gan-eval human score`"
            )


def plan_metrics(
    names: Sequence[str], *, logits: bool, classifier: bool, real: bool, train: bool
) -> MetricPlan:
    """The plan for ``names`` (registered metric names, or ``all``). ``logits``: the extractor has a
    classifier head; ``classifier``: that head classifies the data's own classes; ``real``: a real set is
    given; ``train``: a training and a held-out set are known (for ``copy``)."""
    if ALL not in names:
        check_computable(names)
        return MetricPlan(tuple(get_metric(n) for n in dict.fromkeys(names)))
    if len(names) > 1:
        raise UserError(f"--metrics {','.join(names)}: 'all' stands alone")

    def applies(spec: MetricSpec) -> bool:
        return (
            (real or not spec.needs_real)
            and (logits or "logits" not in spec.needs)
            and (classifier or "labels" not in spec.needs)
            and (train or "train" not in spec.needs)
            and "ratings" not in spec.needs
        )

    return MetricPlan(tuple(METRICS[n] for n in list_metrics() if applies(METRICS[n])))


@dataclass
class MetricOutputs:
    """What the metrics gave: ``values`` (value key -> float), ``stds`` (value key -> spread),
    ``n_real`` (value key -> real samples it used), ``n_fake`` (value key -> generated samples it used,
    for the values that use part of them: the class metrics' recognised samples, a class's samples),
    ``diagnostics`` (other floats), ``details`` (metric -> name -> array, for the report)."""

    values: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    n_real: dict[str, int | None] = field(default_factory=dict)  # None: unknown (a statistics file's)
    n_fake: dict[str, int] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _n_real_used(spec: MetricSpec, real: Any, key: str, diagnostics: dict[str, Any]) -> int | None:
    """How many real samples a value used: all of them for statistics (None when unknown: a statistics
    file that does not record its count), the kept subset for feature metrics, the class's real images
    for a per-class value, the training rows for a memorization value, none for metrics of the generated
    set alone."""
    per_key = diagnostics.get(f"{key}_n_real")  # per-class FIDs, the memorization metrics' training rows
    if per_key is not None:
        return int(per_key)
    if not spec.needs_real or real is None:
        return 0
    if "stats" in spec.needs:
        return None if real.n is None else int(real.n)
    return 0 if real.features is None else len(real.features)


def run_metrics(
    plan: MetricPlan, real: Any, fake: Any, *, progress: bool = False, **context: Any
) -> MetricOutputs:
    """Compute every metric of ``plan`` from the two passes (``real`` None for metrics of the generated set
    alone); ``context`` goes to the metrics that read it (``train`` for copy). ``progress``: each metric is
    a step of its own (a bar in a terminal; in a log, a line when it took more than a few seconds, as the
    k-NN metrics at 10,000 samples do)."""
    from gan_eval.runtime import Progress

    out = MetricOutputs()
    std_key_of = {std: value for value, std in STD_OF.items()}
    for spec in plan.specs:
        mine = {k: v for k, v in context.items() if k in spec.needs}  # "train" goes to copy alone
        with Progress(f"metric {spec.name}", 1, unit="metrics", enabled=progress, rate=False) as bar:
            got = spec.compute(real if spec.needs_real else None, fake, **mine)
            bar.update(1)
        own_diag = {k: v for k, v in got.items() if not k.startswith("_") and not spec.owns(k)}
        for k, v in got.items():
            if k.startswith("_"):
                arrays: Mapping[str, Any] = v  # type: ignore[assignment]
                out.details[f"{spec.name}/{k.lstrip('_')}"] = {a: np.asarray(x) for a, x in arrays.items()}
            elif k in std_key_of:
                out.stds[std_key_of[k]] = float(v)
            elif spec.owns(k):
                out.values[k] = float(v)
                out.n_real[k] = _n_real_used(spec, real, k, own_diag)
                if f"{k}_n_fake" in own_diag:  # a part of the generated set (per class, recognised)
                    out.n_fake[k] = int(own_diag[f"{k}_n_fake"])
            else:
                out.diagnostics[k] = v.item() if isinstance(v, np.generic) else v
    return out
