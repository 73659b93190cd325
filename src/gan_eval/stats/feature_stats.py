"""Streaming, mergeable feature statistics in float64, and the ``.npz`` statistics file.

``FeatureStats`` keeps the count ``n``, the mean ``float64 [D]`` and the centred sum of outer products
``M2 = sum_i (x_i - mean)(x_i - mean)^T`` (``float64 [D, D]``). Batches are folded in with the parallel
merge of Chan, Golub and LeVeque (1979)::

    n = na + nb,  delta = mean_b - mean_a,  mean = mean_a + delta * nb / n,
    M2 = M2_a + M2_b + delta delta^T * na * nb / n

which is what the sum / sum-of-outer-products form ``(S - n mu mu^T) / (n - 1)`` computes, without its
catastrophic cancellation when the features have a large mean (float64 loses ~8 digits at a mean offset of
1e4; see tests/stats). Each batch's ``M2_b`` is one float64 matmul of the centred batch (in row chunks),
run on the device of the first batch (a GPU keeps up with a GPU extractor; the CPU would not).

Merging across processes: ``to_state()`` gives a plain dict of numpy arrays; gather the states of all ranks
(e.g. ``torch.distributed.all_gather_object``) and fold them with ``FeatureStats.from_state(s)`` and
``merge_``. A plain sum all-reduce of the states is *not* correct (means are not additive).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.atomic import atomic_write
from gan_eval.errors import UserError, describe_exception

FORMAT_VERSION = 1
"""Version of the ``.npz`` statistics format written by ``save_moments`` (part of every cache key)."""

ROW_CHUNK = 4096
"""Rows per float64 outer-product matmul in ``update`` (4096 x 2048 float64 = 64 MiB per chunk)."""


def as_feature_tensor(
    x: Any, name: str = "features", dim: int | None = None, check_finite: bool = True
) -> torch.Tensor:
    """Return ``x`` (torch tensor or numpy array ``[N, D]``) as a 2-D floating torch tensor, without
    copying when possible. UserError on wrong rank, wrong ``D`` (if ``dim`` is given) or non-finite values
    (``check_finite=False`` skips that check, which waits for a GPU; the caller then checks once at the
    end)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise UserError(f"{name}: expected a 2-D array [N, D], got shape {tuple(t.shape)}")
    if dim is not None and t.shape[1] != dim:
        raise UserError(
            f"{name}: expected feature dimension {dim}, got {t.shape[1]} (shape {tuple(t.shape)})"
        )
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if check_finite and t.numel() and not bool(torch.isfinite(t).all()):
        raise UserError(f"{name}: features contain NaN or infinite values")
    return t


@dataclass(frozen=True, eq=False)
class Moments:
    """Mean and covariance of one feature set, as stored in a statistics file.

    ``mu`` float64 [D]; ``sigma`` float64 [D, D] (covariance with N-1); ``n`` the sample count (None for
    files that do not record it, e.g. pytorch-fid's); ``metadata`` the fingerprint dict saved with them.
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


class FeatureStats:
    """Streaming count, mean and covariance (float64) of features ``[N, D]``; optionally keeps the features.

    ``keep_features``: also keep the features (float32, on the CPU) for KID / precision-recall; ``max_kept``:
    keep at most the first ``max_kept`` rows (None: all).
    """

    def __init__(self, dim: int, keep_features: bool = False, max_kept: int | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if max_kept is not None and max_kept < 0:
            raise ValueError(f"max_kept must be >= 0 or None, got {max_kept}")
        self.dim = int(dim)
        self.keep_features = bool(keep_features)
        self.max_kept = max_kept
        self._n = 0
        self._mean: torch.Tensor | None = None  # float64 [D]
        self._m2: torch.Tensor | None = None  # float64 [D, D]
        self._kept: list[np.ndarray] = []
        self._n_kept = 0

    # -- accumulation -------------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of feature rows seen."""
        return self._n

    def update(self, feats: Any, check_finite: bool = True) -> FeatureStats:
        """Fold in a batch ``[N, D]`` (torch tensor on any device, or numpy array; any float dtype).
        ``check_finite=False``: no NaN/inf check (it would wait for the GPU each batch). Returns ``self``."""
        x = as_feature_tensor(feats, dim=self.dim, check_finite=check_finite)
        if x.shape[0] == 0:
            return self
        if self._mean is not None and x.device != self._mean.device:
            x = x.to(self._mean.device)
        if self.keep_features:
            self._keep(x)
        for start in range(0, x.shape[0], ROW_CHUNK):
            xb = x[start : start + ROW_CHUNK].to(torch.float64)
            mean_b = xb.mean(dim=0)
            centred = xb - mean_b
            self._fold(xb.shape[0], mean_b, centred.T @ centred)
        return self

    def _fold(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        """Chan et al. parallel merge of (n_b, mean_b, m2_b) into self (may take ownership of m2_b)."""
        if self._mean is None or self._m2 is None or self._n == 0:
            self._n, self._mean, self._m2 = n_b, mean_b.clone(), m2_b.clone()
            return
        mean_b, m2_b = mean_b.to(self._mean.device), m2_b.to(self._mean.device)
        n_a = self._n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean += delta * (n_b / n)
        self._m2 += m2_b
        self._m2.addr_(delta, delta, alpha=n_a * n_b / n)
        self._n = n

    def _keep(self, x: torch.Tensor) -> None:
        room = x.shape[0] if self.max_kept is None else max(self.max_kept - self._n_kept, 0)
        if room == 0:
            return
        rows = x[:room].detach().to("cpu", torch.float32).numpy().copy()
        self._kept.append(rows)
        self._n_kept += rows.shape[0]

    def merge_(self, other: FeatureStats) -> FeatureStats:
        """Fold ``other`` into ``self`` in place (kept features are appended, up to ``max_kept``)."""
        if other.dim != self.dim:
            raise UserError(f"cannot merge statistics of dimension {other.dim} into dimension {self.dim}")
        if self.keep_features:
            for rows in other._kept:
                self._keep(torch.from_numpy(rows))
        if other._n and other._mean is not None and other._m2 is not None:
            self._fold(other._n, other._mean, other._m2)
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Return a new FeatureStats holding ``self`` followed by ``other``; neither is modified."""
        out = FeatureStats.from_state(self.to_state())
        return out.merge_(other)

    # -- results ------------------------------------------------------------------------------------------

    def mean(self) -> np.ndarray:
        """float64 [D]. Raises UserError when no features were seen."""
        if self._n == 0 or self._mean is None:
            raise UserError("no features were accumulated; cannot compute a mean")
        return self._mean.cpu().numpy().copy()

    def cov(self) -> np.ndarray:
        """float64 [D, D], unbiased (divides by N-1), exactly symmetric. Raises UserError when N < 2."""
        if self._n < 2 or self._m2 is None:
            raise UserError(f"a covariance needs at least 2 samples, got {self._n}")
        m2 = self._m2.cpu().numpy()
        return (m2 + m2.T) / (2.0 * (self._n - 1))

    def features(self) -> np.ndarray | None:
        """The kept features, float32 [n_kept, D] (first ``max_kept`` rows), or None if not kept."""
        if not self.keep_features:
            return None
        if not self._kept:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(self._kept) > 1:
            self._kept = [np.concatenate(self._kept, axis=0)]
        return self._kept[0]

    def moments(self, metadata: Mapping[str, Any] | None = None) -> Moments:
        """Mean, covariance and count as a ``Moments`` record."""
        return Moments(self.mean(), self.cov(), self._n, dict(metadata or {}))

    # -- state and files ----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, np.ndarray]:
        """A plain dict of numpy arrays (copies): ``dim``, ``n`` int64 scalars, ``mean`` float64 [D],
        ``m2`` float64 [D, D] (centred sum of outer products), ``keep_features`` bool, ``max_kept`` int64
        (-1: no limit) and, when kept, ``features`` float32 [n_kept, D]."""
        d = self.dim
        state: dict[str, np.ndarray] = {
            "dim": np.asarray(d, dtype=np.int64),
            "n": np.asarray(self._n, dtype=np.int64),
            "mean": self._mean.cpu().numpy().copy() if self._mean is not None else np.zeros(d),
            "m2": self._m2.cpu().numpy().copy() if self._m2 is not None else np.zeros((d, d)),
            "keep_features": np.asarray(self.keep_features),
            "max_kept": np.asarray(-1 if self.max_kept is None else self.max_kept, dtype=np.int64),
        }
        feats = self.features()
        if feats is not None:
            state["features"] = feats.copy()
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FeatureStats:
        """Rebuild from ``to_state()`` output (arrays may be numpy or torch)."""
        arr = {
            k: (v.cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in state.items()
        }
        max_kept = int(arr.get("max_kept", -1))
        out = cls(int(arr["dim"]), bool(arr.get("keep_features", False)), None if max_kept < 0 else max_kept)
        n = int(arr["n"])
        if n:
            out._fold(
                n,
                torch.from_numpy(arr["mean"].astype(np.float64)),
                torch.from_numpy(arr["m2"].astype(np.float64)),
            )
        if out.keep_features and "features" in arr and len(arr["features"]):
            out._keep(torch.from_numpy(arr["features"].astype(np.float32)))
        return out

    def save(
        self, path: str | Path, metadata: Mapping[str, Any] | None = None, *, compact: bool = False
    ) -> Path:
        """Write mean, covariance, n and ``metadata`` to ``path`` (.npz) atomically; see ``save_moments``."""
        return save_moments(path, self.moments(metadata), compact=compact)

    @staticmethod
    def load(path: str | Path) -> Moments:
        """Read a statistics file; see ``load_moments``."""
        return load_moments(path)


def save_moments(path: str | Path, moments: Moments, *, compact: bool = False) -> Path:
    """Write ``moments`` as ``.npz`` via ``gan_eval.cache.atomic_write`` (temp file, rename, sha256 sidecar).

    Keys: ``mu`` float64 [D]; ``sigma`` float64 [D, D], or with ``compact=True`` ``sigma_triu`` float32
    [D(D+1)/2] (the upper triangle, row-major; about 4x smaller); ``n`` int64; ``metadata`` JSON string;
    ``format_version`` int64. pytorch-fid reads the non-compact form (it only looks at mu and sigma).
    """
    mu = np.asarray(moments.mu, dtype=np.float64)
    sigma = np.asarray(moments.sigma, dtype=np.float64)
    arrays: dict[str, np.ndarray] = {
        "mu": mu,
        "n": np.asarray(-1 if moments.n is None else moments.n, dtype=np.int64),
        "metadata": np.asarray(json.dumps(dict(moments.metadata), sort_keys=True)),
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
    }
    if compact:
        arrays["sigma_triu"] = sigma[np.triu_indices(sigma.shape[0])].astype(np.float32)
    else:
        arrays["sigma"] = sigma

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the temp name
            np.savez(f, **arrays)  # type: ignore[arg-type]

    return atomic_write(Path(path), write)


def load_moments(path: str | Path) -> Moments:
    """Read a statistics ``.npz``: ours (``save_moments``) or pytorch-fid style (only ``mu`` and ``sigma``).

    Returns ``Moments`` with float64 arrays; ``n`` is None when the file does not record it.
    A missing, unreadable or inconsistent file raises UserError.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"statistics file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except MemoryError:
        raise UserError(f"{path}: the statistics file is too large to load") from None
    except Exception as e:  # noqa: BLE001 - numpy/zipfile/zlib raise many types for a damaged file
        raise UserError(f"{path} is not a readable .npz statistics file ({describe_exception(e)})") from None
    try:
        return _moments_from_arrays(path, data)
    except (TypeError, ValueError, IndexError) as e:  # e.g. a string where a number belongs
        raise UserError(f"{path}: malformed statistics file ({describe_exception(e)})") from None


def _moments_from_arrays(path: Path, data: dict[str, np.ndarray]) -> Moments:
    version = int(data["format_version"]) if "format_version" in data else 0
    if version > FORMAT_VERSION:
        raise UserError(
            f"{path}: statistics format {version} is newer than this gan-eval reads ({FORMAT_VERSION})"
        )
    if "mu" not in data or ("sigma" not in data and "sigma_triu" not in data):
        raise UserError(f"{path}: a statistics file needs 'mu' and 'sigma' arrays; found {sorted(data)}")
    mu = data["mu"].astype(np.float64)
    if mu.ndim != 1 or mu.shape[0] < 1:
        raise UserError(f"{path}: 'mu' must be a 1-D array, got shape {mu.shape}")
    d = mu.shape[0]
    sigma = data["sigma"].astype(np.float64) if "sigma" in data else data["sigma_triu"].astype(np.float64)
    if sigma.ndim == 1:  # compact: the upper triangle, row-major
        triu = sigma
        if triu.shape != (d * (d + 1) // 2,):
            expected = d * (d + 1) // 2
            raise UserError(f"{path}: compact covariance has {triu.size} values, expected {expected}")
        sigma = np.zeros((d, d))
        sigma[np.triu_indices(d)] = triu
        sigma = sigma + np.triu(sigma, 1).T
    if sigma.shape != (d, d):
        raise UserError(f"{path}: 'sigma' has shape {sigma.shape}, expected ({d}, {d}) to match 'mu'")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{path}: statistics contain NaN or infinite values")

    n: int | None = None
    if "n" in data and int(data["n"]) >= 0:
        n = int(data["n"])
    metadata: dict[str, Any] = {}
    if "metadata" in data:
        try:
            metadata = json.loads(str(data["metadata"][()]))
        except (json.JSONDecodeError, TypeError) as e:
            raise UserError(f"{path}: the metadata is not valid JSON ({e})") from None
        if not isinstance(metadata, dict):
            raise UserError(f"{path}: the metadata must be a JSON object")
    return Moments(mu, sigma, n, metadata)
