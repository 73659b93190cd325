"""Exact k-nearest neighbours (Euclidean) by blocked matrix products, memory-bounded.

``nearest_neighbours(query [N, D], ref [M, D], k)`` returns, for every query row, its ``k`` nearest rows of
``ref`` (distances float64 ascending, indices int64; ties between equal distances go to the lower index).
It never holds an N x M matrix: a tile is a block of query rows against all of ``ref`` (up to ``MAX_COLS``
columns), about 16M entries (64 MiB) in all.

How it stays exact and fast:

1. **Candidates from a fast, approximate pass.** Each tile holds ``||r||^2 - 2 q.r`` (the squared distance
   less the row constant ``||q||^2``) from one GEMM: float32 (``torch.addmm``) for float inputs, or, for
   ``uint8`` inputs (pixels), an int8 GEMM on ``x - 128`` (``torch._int_mm``, AMX/VNNI on recent x86)
   whose int32 results are *exact*. The ``k + extra`` smallest entries of each row are kept. Selection is
   cheap: the minimum of each group of 64 consecutive columns is taken first (one vectorised pass), and
   only the best groups are searched element by element.
2. **Exact distances for the candidates**: recomputed in float64 as ``sum((q - r)^2)`` from the original
   values (float32 inputs are promoted exactly), so a near-duplicate at distance ~1e-4 is not lost in the
   cancellation of ``||q||^2 + ||r||^2 - 2 q.r``.
3. **A certificate per row.** Every approximate value is within ``err = (2 D + 16) u (||q|| + R)^2`` of the
   exact one (u = 2^-24 for float32 matmuls, 2^-11 / 2^-8 if ``torch.set_float32_matmul_precision`` allows
   TF32 / bfloat16; R = the largest ``||r||``): the cross term's rounding is at most ``gamma_D ||q|| ||r||``
   (the standard dot-product bound), and with the norms' and the inputs' rounding the total stays below
   ``(1.5 D + 6) u (||q|| + R)^2``. The int8 path has err = 0 (its exactness is checked once per process,
   ``int8_gemm_is_exact``). A row is certified when its true k-th distance (exact) is strictly below the
   smallest approximate value it did *not* keep, minus err: then no discarded entry can be nearer, nor tie.
   Rows that fail (ties at the k-th distance, huge norms relative to the distances) are redone exactly:
   every entry whose approximate value lies within err of the k-th distance is recomputed in float64. The
   result is the exact k-NN of the inputs, whatever the data.

Scale: inputs are multiplied by a power of two (exact) so the largest norm is about 1 before the float32
pass, so neither overflow nor underflow can break the bound.

Cost: ``2 N M D`` multiply-adds plus about 1.5 ns per distance entry for the selection. Measured on one
thread of a shared AVX-512/AMX Xeon (load ~6): 10,000 x 60,000 MNIST digits in pixel space (uint8, D = 784,
k = 50) ~7 s; 60,000 x 60,000 with ``exclude_self`` 31-49 s (pixels) / 22-28 s (128-d float features),
depending on the load; see benchmarks/bench_new_metrics.py.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np
import torch

from gan_eval.errors import UserError
from gan_eval.stats.feature_stats import as_feature_tensor

GROUP = 64
"""Columns per group in the candidate selection (one ``amin`` per group, then element-wise search)."""

TILE_ELEMENTS = 1 << 24
"""Entries per distance tile (16M: 64 MiB as float32 or int32)."""

MAX_COLS = 1 << 20
"""Reference rows per tile (a tile spans the whole reference set up to this size)."""

MIN_INT8_DIM = 8
"""Smallest row dimension given to the int8 GEMM (the float32 path, also exact after the float64 recompute,
serves smaller ones)."""

_INT_MAX = torch.iinfo(torch.int32).max


class Neighbours(NamedTuple):
    """``distances`` float64 [N, k] ascending (Euclidean, in the inputs' units); ``indices`` int64 [N, k]
    rows of ``ref``. Unpacks as ``(distances, indices)``."""

    distances: np.ndarray
    indices: np.ndarray


@functools.lru_cache(maxsize=1)
def int8_gemm_is_exact() -> bool:
    """Whether ``torch._int_mm`` (a private torch API) exists on the CPU and returns exact int32 products,
    checked once on a few shapes (odd sizes, a transposed operand, an ``out=`` buffer) and on values that
    saturate the 16-bit pair sums of pre-VNNI int8 kernels (``pmaddubsw``). (torch 2.x returned garbage for
    an inner dimension of 1, hence ``MIN_INT8_DIM``.)"""
    if not hasattr(torch, "_int_mm"):
        return False
    try:
        g = torch.Generator().manual_seed(0)
        for m, n, d in ((24, 40, 784), (5, 70, 17), (33, 65, 64)):
            a = torch.randint(-128, 128, (m, d), dtype=torch.int8, generator=g)
            b = torch.randint(-128, 128, (n, d), dtype=torch.int8, generator=g)
            a[::3] = 127
            b[::2] = 127
            b[1::4] = -128
            out = torch.empty(m, n, dtype=torch.int32)
            torch._int_mm(a, b.T, out=out)
            want = a.to(torch.float64) @ b.to(torch.float64).T
            if not bool((out.to(torch.float64) == want).all()):
                return False
        return True
    except (RuntimeError, NotImplementedError, TypeError):
        return False


def _as_input(x: Any, name: str, dim: int | None = None) -> torch.Tensor:
    """A 2-D tensor: ``uint8`` kept (the exact integer path), anything else via ``as_feature_tensor``."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        x = torch.from_numpy(x)
    if isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
        if x.ndim != 2:
            raise UserError(f"{name}: expected a 2-D array [N, D], got shape {tuple(x.shape)}")
        if dim is not None and x.shape[1] != dim:
            raise UserError(f"{name}: expected dimension {dim}, got {x.shape[1]} (shape {tuple(x.shape)})")
        return x
    return as_feature_tensor(x, name, dim=dim)


def _exact_sq(
    q: torch.Tensor, ref: torch.Tensor, idx: torch.Tensor, chunk_elems: int = 1 << 22
) -> torch.Tensor:
    """float64 [B, c] squared distances ``sum((q_i - ref[idx_ij])^2)`` for q [B, D] and idx int64 [B, c]."""
    b, c = idx.shape
    out = torch.empty(b, c, dtype=torch.float64, device=q.device)
    d = q.shape[1]
    step = max(1, chunk_elems // max(1, c * d))
    for i0 in range(0, b, step):
        qi = q[i0 : i0 + step].to(torch.float64)
        ri = ref[idx[i0 : i0 + step]].to(torch.float64)  # [b', c, D]
        out[i0 : i0 + step] = (ri - qi[:, None, :]).square_().sum(dim=2)
    return out


class _Prepared(NamedTuple):
    """The two inputs as the approximate pass needs them (see ``_prepare``)."""

    q_fast: torch.Tensor  # [N, D] float32 (scaled) or int8 (shifted)
    r_fast: torch.Tensor  # [M_pad, D] same dtype, zero rows as padding
    col_term: torch.Tensor  # [M_pad] ||r||^2 (float32 scaled, or int32 exact); +inf / INT_MAX on padding
    q_norm2: torch.Tensor  # [N] float64 ||q||^2 in the same units as the approximate values
    err: torch.Tensor  # [N] float64 bound of |approx - exact| in those units (0 for the exact int path)
    unit2: float  # exact squared distance (float64, input units) * unit2 = approximate units
    integer: bool


CHUNK_ROWS = 8192
"""Rows per chunk when converting or reducing whole inputs (bounds float64 temporaries to ~50 MiB)."""


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    """float64 [N] squared row norms, in row chunks (no float64 copy of all of ``x``)."""
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    for i0 in range(0, x.shape[0], CHUNK_ROWS):
        out[i0 : i0 + CHUNK_ROWS] = x[i0 : i0 + CHUNK_ROWS].to(torch.float64).square().sum(dim=1)
    return out


def _scaled_f32(x: torch.Tensor, scale: float, out: torch.Tensor) -> torch.Tensor:
    """``out[:N] = float32(x * scale)``, in row chunks (the product in float64: exact for a power of two)."""
    for i0 in range(0, x.shape[0], CHUNK_ROWS):
        i1 = min(x.shape[0], i0 + CHUNK_ROWS)
        out[i0:i1] = x[i0:i1].to(torch.float64) * scale
    return out


def _prepare(query: torch.Tensor, ref: torch.Tensor, m_pad: int) -> _Prepared:
    n, d = query.shape
    m = ref.shape[0]
    dev = query.device
    # int32 holds ||a_r||^2 - 2 a_q.a_r (|.| <= 3 D 128^2) below the padding value 2^30 for D <= 16384
    if (
        query.dtype == torch.uint8
        and ref.dtype == torch.uint8
        and MIN_INT8_DIM <= d <= 16384
        and dev.type == "cpu"
        and int8_gemm_is_exact()
    ):
        # x - 128 as int8 has the bits of x ^ 0x80: one pass, no wider temporary
        q8 = torch.bitwise_xor(query, 128).view(torch.int8)
        r8 = torch.zeros(m_pad, d, dtype=torch.int8, device=dev)
        torch.bitwise_xor(ref, 128, out=r8[:m].view(torch.uint8))
        col = torch.full((m_pad,), _INT_MAX // 2, dtype=torch.int32, device=dev)
        col[:m] = _sq_norms(r8[:m]).to(torch.int32)
        return _Prepared(
            q8, r8, col, _sq_norms(q8), torch.zeros(n, dtype=torch.float64, device=dev), 1.0, True
        )
    q64n, r64n = _sq_norms(query), _sq_norms(ref)
    top = float(max(q64n.max().sqrt().item() if n else 0.0, r64n.max().sqrt().item() if m else 0.0))
    # a power of two, so the scaling is exact: the largest norm becomes ~1 (no float32 overflow/underflow)
    scale = 2.0 ** -math.frexp(top)[1] if top > 0 else 1.0
    q32 = _scaled_f32(query, scale, torch.empty(n, d, dtype=torch.float32, device=dev))
    r32 = torch.zeros(m_pad, d, dtype=torch.float32, device=dev)
    _scaled_f32(ref, scale, r32)
    col32 = torch.full((m_pad,), math.inf, dtype=torch.float32, device=dev)
    col32[:m] = (r64n * scale**2).to(torch.float32)
    unit = _matmul_unit_roundoff(dev)
    big_r = float(r64n.max().sqrt().item()) * scale if m else 0.0
    err = (2 * d + 16) * unit * (q64n.sqrt() * scale + big_r) ** 2
    return _Prepared(q32, r32, col32, q64n * scale**2, err, scale**2, False)


def _matmul_unit_roundoff(dev: torch.device) -> float:
    """Unit roundoff of a float32 matmul on ``dev``: 2^-24, unless reduced precision is allowed
    (``torch.set_float32_matmul_precision``: "high" permits TF32 (10 mantissa bits), "medium" bfloat16
    (7 bits), on CUDA and, in recent torch, on CPU through oneDNN)."""
    setting = torch.get_float32_matmul_precision()
    if setting == "medium":
        return 2.0**-8
    if setting == "high" or (dev.type == "cuda" and torch.backends.cuda.matmul.allow_tf32):
        return 2.0**-11
    return 2.0**-24


def _tile(p: _Prepared, i0: int, i1: int, j0: int, j1: int, buf: torch.Tensor | None = None) -> torch.Tensor:
    """Approximate ``||r||^2 - 2 q.r`` for query rows [i0, i1) and padded ref rows [j0, j1), written into
    ``buf`` (a reused buffer of at least that size) when given: a fresh 64 MiB tensor per tile costs more in
    page faults than the selection itself."""
    out = None if buf is None else buf[: i1 - i0, : j1 - j0]
    if out is not None and not out.is_contiguous():
        out = None
    if p.integer:
        s = torch._int_mm(p.q_fast[i0:i1], p.r_fast[j0:j1].T, out=out) if out is not None else None
        if s is None:
            s = torch._int_mm(p.q_fast[i0:i1], p.r_fast[j0:j1].T)
        return torch.add(p.col_term[j0:j1], s, alpha=-2, out=s)
    if out is not None:
        return torch.addmm(p.col_term[j0:j1], p.q_fast[i0:i1], p.r_fast[j0:j1].T, alpha=-2.0, out=out)
    return torch.addmm(p.col_term[j0:j1], p.q_fast[i0:i1], p.r_fast[j0:j1].T, alpha=-2.0)


def _fill_self(t: torch.Tensor, i0: int, j0: int) -> None:
    """Set entries whose query row index equals the ref column index to +inf (``exclude_self``)."""
    offset = i0 - j0
    if -t.shape[0] < offset < t.shape[1]:
        t.diagonal(offset=offset).fill_(_INT_MAX if t.dtype == torch.int32 else math.inf)


def _tile_smallest(t: torch.Tensor, kc: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, column indices) of the ``kc`` smallest entries per row of tile ``t`` [B, C], C % GROUP = 0."""
    b, c = t.shape
    kc = min(kc, c)
    groups = c // GROUP
    if kc * GROUP * 4 > c:  # the groups would cover much of the tile: a plain topk is as cheap
        return t.topk(kc, dim=1, largest=False, sorted=False)
    gmin = t.reshape(b, groups, GROUP).amin(dim=2)
    gsel = gmin.topk(kc, dim=1, largest=False, sorted=False).indices  # [B, kc]
    cols = (gsel[:, :, None] * GROUP + torch.arange(GROUP, device=t.device)).reshape(b, kc * GROUP)
    vals, pos = t.gather(1, cols).topk(kc, dim=1, largest=False, sorted=False)
    return vals, cols.gather(1, pos)


def _merge(
    best_v: torch.Tensor | None, best_i: torch.Tensor | None, v: torch.Tensor, i: torch.Tensor, kc: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``kc`` smallest of the running candidates and a tile's (values [B, *], indices [B, *])."""
    if best_v is None or best_i is None:
        return v, i
    v, i = torch.cat([best_v, v], dim=1), torch.cat([best_i, i], dim=1)
    v, pos = v.topk(min(kc, v.shape[1]), dim=1, largest=False, sorted=False)
    return v, i.gather(1, pos)


def _sort_by_distance(d2: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by (d2, idx): ties in distance go to the lower index."""
    by_idx = idx.argsort(dim=1)
    d2, idx = d2.gather(1, by_idx), idx.gather(1, by_idx)
    by_d = d2.argsort(dim=1, stable=True)
    return d2.gather(1, by_d), idx.gather(1, by_d)


def nearest_neighbours(
    query: Any,
    ref: Any,
    k: int,
    *,
    exclude_self: bool = False,
    extra: int | None = None,
    block_rows: int | None = None,
) -> Neighbours:
    """The ``k`` nearest rows of ``ref`` [M, D] for each row of ``query`` [N, D], exactly (Euclidean).

    Inputs: torch tensors (copied to the CPU, where this runs) or numpy arrays; ``uint8`` on both sides uses
    the exact integer path (pixels: distances are then in pixel-value units, divide by 255 for [0, 1]
    images); anything else is treated as float (computed in float32, then recomputed in float64).
    ``exclude_self``: ``query`` is ``ref`` (same rows, same order) and row i must not be its own neighbour;
    other rows at distance 0 (exact duplicates) still count. ``extra``: candidates kept beyond k in the fast
    pass (default ``2 + k // 8``; only speed depends on it). ``block_rows``: query rows per tile (default:
    tiles of ~16M entries).

    Returns ``Neighbours(distances float64 [N, k] ascending, indices int64 [N, k])``. Memory: O(tile +
    (N + M) D). Raises UserError when ``k`` is not in [1, M] (``M - 1`` with ``exclude_self``) or the
    shapes disagree.
    """
    ref_t = _as_input(ref, "reference rows")
    query_t = _as_input(query, "query rows", dim=ref_t.shape[1])
    if query_t.dtype == torch.uint8 and ref_t.dtype != torch.uint8:
        query_t = query_t.to(ref_t.dtype)
    if ref_t.dtype == torch.uint8 and query_t.dtype != torch.uint8:
        ref_t = ref_t.to(query_t.dtype)
    # on the CPU: the int8 path is CPU-only, and the fallback bookkeeping assumes one device
    ref_t, query_t = ref_t.cpu(), query_t.cpu()
    n, d = query_t.shape
    m = ref_t.shape[0]
    if exclude_self and n != m:
        raise UserError(f"exclude_self needs the query to be the reference set, got {n} and {m} rows")
    k_max = m - 1 if exclude_self else m
    if not 1 <= k <= k_max:
        raise UserError(f"k-nearest neighbours: k must be in [1, {k_max}] for {m} reference rows, got k={k}")
    if n == 0:
        return Neighbours(np.zeros((0, k)), np.zeros((0, k), dtype=np.int64))
    if d == 0:
        raise UserError("k-nearest neighbours: the rows have 0 dimensions")
    kc = min(k + (2 + k // 8 if extra is None else max(0, int(extra))), k_max)

    m_pad = -(-m // GROUP) * GROUP
    # wide, short tiles: each selection call (topk) then covers a whole row of the reference set, and its
    # per-row overhead is paid once per query row rather than once per tile
    cols = min(m_pad, MAX_COLS)
    rows = block_rows or max(16, TILE_ELEMENTS // cols)
    p = _prepare(query_t, ref_t, m_pad)
    buf = torch.empty(
        min(rows, n), cols, dtype=torch.int32 if p.integer else torch.float32, device=query_t.device
    )

    out_d2 = torch.empty(n, k, dtype=torch.float64)
    out_i = torch.empty(n, k, dtype=torch.int64)
    failed: list[torch.Tensor] = []
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        best_v: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for j0 in range(0, m_pad, cols):
            j1 = min(m_pad, j0 + cols)
            t = _tile(p, i0, i1, j0, j1, buf)
            if exclude_self:
                _fill_self(t, i0, j0)
            v, i = _tile_smallest(t, kc)
            best_v, best_i = _merge(best_v, best_i, v, i + j0, kc)
        assert best_v is not None and best_i is not None
        # exact squared distances of the candidates, ordered by (distance, index)
        cand = best_i.clamp(max=m - 1)  # padding columns never win (they are +inf), but stay in range
        if p.integer:  # the int8 GEMM values are exact: ||a_q||^2 + (||a_r||^2 - 2 a_q.a_r)
            d2 = best_v.to(torch.float64) + p.q_norm2[i0:i1, None]
        else:
            d2 = _exact_sq(query_t[i0:i1], ref_t, cand)
        d2 = torch.where(best_i < m, d2, torch.full_like(d2, math.inf))
        if exclude_self:
            d2 = torch.where(cand == torch.arange(i0, i1, device=cand.device)[:, None], math.inf, d2)
        d2, idx = _sort_by_distance(d2, cand)
        # certificate: every entry not kept has approximate value >= the largest kept one
        theta = best_v.to(torch.float64).amax(dim=1) + p.q_norm2[i0:i1]
        if best_v.shape[1] < m_pad - (1 if exclude_self else 0):
            ok = d2[:, k - 1] * p.unit2 < theta - p.err[i0:i1] * (1 + 1e-9)
        else:
            ok = torch.ones(i1 - i0, dtype=torch.bool)  # every reference row is a candidate
        out_d2[i0:i1], out_i[i0:i1] = d2[:, :k].cpu(), idx[:, :k].cpu()
        if not bool(ok.all()):
            failed.append(torch.nonzero(~ok).flatten() + i0)
    if failed:
        rows_failed = torch.cat(failed)
        d2f, idxf = _exact_rows(
            p, query_t, ref_t, rows_failed, out_d2[rows_failed, k - 1], k, exclude_self, cols
        )
        out_d2[rows_failed], out_i[rows_failed] = d2f, idxf
    # numpy's sqrt is IEEE correctly rounded; torch's float64 sqrt on CPU can be 1 ulp off
    return Neighbours(np.sqrt(out_d2.numpy()), out_i.numpy())


def _exact_rows(
    p: _Prepared,
    query: torch.Tensor,
    ref: torch.Tensor,
    rows: torch.Tensor,
    kth_d2: torch.Tensor,
    k: int,
    exclude_self: bool,
    cols: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k-NN for the query ``rows`` whose certificate failed: every entry whose approximate value is
    within the error bound of the row's known k-th exact squared distance ``kth_d2`` is recomputed in
    float64, keeping a running best k by (distance, index)."""
    m = ref.shape[0]
    m_pad = p.r_fast.shape[0]
    f = rows.shape[0]
    best_d2 = torch.full((f, k), math.inf, dtype=torch.float64)
    best_i = torch.full((f, k), m, dtype=torch.int64)
    # entries with exact d2 <= kth_d2 have approximate value <= kth_d2 * unit2 + err (slack for rounding)
    limit = (kth_d2.to(p.q_norm2.device) * p.unit2 + p.err[rows]) * (1 + 1e-9)
    qsub = _Prepared(p.q_fast[rows], p.r_fast, p.col_term, p.q_norm2[rows], p.err[rows], p.unit2, p.integer)
    step = max(1, TILE_ELEMENTS // cols)
    for a0 in range(0, f, step):
        a1 = min(f, a0 + step)
        for j0 in range(0, m_pad, cols):
            j1 = min(m_pad, j0 + cols)
            t = _tile(qsub, a0, a1, j0, j1).to(torch.float64) + qsub.q_norm2[a0:a1, None]
            hit = t <= limit[a0:a1, None]
            hit[:, max(0, m - j0) :] = False
            if exclude_self:
                own = rows[a0:a1] - j0
                inside = (own >= 0) & (own < j1 - j0)
                hit[inside.nonzero().flatten(), own[inside]] = False
            r_loc, c_loc = hit.nonzero(as_tuple=True)
            if r_loc.numel() == 0:
                continue
            c_glob = c_loc + j0
            d2 = torch.empty(r_loc.shape[0], dtype=torch.float64)
            for s0 in range(0, r_loc.shape[0], 4096):
                qq = query[rows[a0:a1][r_loc[s0 : s0 + 4096]]].to(torch.float64)
                rr = ref[c_glob[s0 : s0 + 4096]].to(torch.float64)
                d2[s0 : s0 + 4096] = (qq - rr).square_().sum(dim=1).cpu()
            # merge the hits into the running best k of their rows
            r_all = torch.cat([torch.arange(a0, a1).repeat_interleave(k), r_loc.cpu() + a0])
            d_all = torch.cat([best_d2[a0:a1].flatten(), d2])
            i_all = torch.cat([best_i[a0:a1].flatten(), c_glob.cpu()])
            order = np.lexsort((i_all.numpy(), d_all.numpy(), r_all.numpy()))
            r_s, d_s, i_s = r_all[order], d_all[order], i_all[order]
            start = torch.searchsorted(r_s, torch.arange(a0, a1))
            rank = torch.arange(r_s.shape[0]) - start[r_s - a0]
            keep = rank < k
            best_d2[r_s[keep], rank[keep]] = d_s[keep]
            best_i[r_s[keep], rank[keep]] = i_s[keep]
    return best_d2, best_i
