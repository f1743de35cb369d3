"""Stage 1 of the analysis: the grid of values, its vertex neighbourhoods and descent sinks.

``evaluate_grid`` evaluates ``f`` on the grid (compiled, chunked, sharded over devices);
``prepare_grid`` validates a grid of values and gathers what later stages share (a
:class:`Grid`); ``descent_sinks`` and ``saddle_candidates`` read the 8-neighbourhoods of the
vertices.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _cache, distributed
from optlab.landscape._util import as_grid_axis, precision
from optlab.landscape.slices import auto_batch_size

# the 8-neighbourhood of a vertex, in row-major order (merge tree, descent)
OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
# the same neighbours in ring order around the vertex (saddle candidates count arcs)
RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


@functools.partial(jax.jit, static_argnames=("f", "batch_size"))
def _eval_f(f, pts, batch_size):
    return jax.lax.map(lambda z: jnp.asarray(f(z)), pts, batch_size=batch_size)


def evaluate_grid(
    f: Callable, alphas, betas, *, batch_size: int | None = None, dtype=None
) -> np.ndarray:
    """``out[i, j] = f([alphas[i], betas[j]])``, compiled and chunked (float64 copy)."""
    a = as_grid_axis(alphas, "alphas")
    b = as_grid_axis(betas, "betas")
    aa, bb = np.meshgrid(a, b, indexing="ij")
    pts = np.stack([aa.ravel(), bb.ravel()], axis=1)
    with precision(dtype) as dt:
        z = jnp.asarray(pts, dt)
        bs = int(min(batch_size or auto_batch_size(f, z[0], len(pts)), len(pts)))
        if jax.device_count() > 1 and len(pts) >= jax.device_count():
            # the grid points split over every device, each mapping its share in chunks
            out = distributed.map_sharded(_scalar_of(f), z, batch_size=bs)
        else:
            out = _eval_f(f, z, bs)
        return np.asarray(out, np.float64).reshape(a.size, b.size)


_SCALAR_FNS = _cache.Cache(maxsize=64)


def _scalar_of(f):
    """A stable wrapper ``z -> jnp.asarray(f(z))`` per ``f`` (so compiled programs are reused)."""
    return _SCALAR_FNS.get(_cache.ref(f), lambda: lambda z: jnp.asarray(f(z)))


class Grid(NamedTuple):
    """A validated grid of values and what every later stage reads from it.

    ``values`` has non-finite entries replaced by ``+inf`` (walls); ``raw`` is the grid as
    given. ``cell`` is the grid spacing per axis, ``box`` the box size, ``scale`` the range
    of the finite values (at least 1e-300), ``threshold`` the persistence threshold.
    """

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    raw: np.ndarray
    finite: np.ndarray
    bounds: tuple
    cell: np.ndarray
    box: np.ndarray
    fmin: float
    scale: float
    threshold: float

    def vertex(self, v: int) -> tuple[np.ndarray, tuple[int, int]]:
        """``(point, (i, j))`` of the flat vertex index ``v``."""
        i, j = divmod(int(v), self.values.shape[1])
        return np.array([self.alphas[i], self.betas[j]]), (i, j)

    def on_edge(self, i: int, j: int) -> bool:
        n, m = self.values.shape
        return i in (0, n - 1) or j in (0, m - 1)

    @property
    def nonfinite_fraction(self) -> float:
        return float(np.mean(~self.finite))


def prepare_grid(values, alphas, betas, persistence_threshold: float | None) -> Grid:
    """Validate ``values`` on ``alphas x betas`` (increasing, evenly spaced, >= 3 per axis)."""
    a = as_grid_axis(alphas, "alphas")
    b = as_grid_axis(betas, "betas")
    if a.size < 3 or b.size < 3:
        raise ValueError(f"resolution must be >= 3 per axis, got {(a.size, b.size)}")
    if np.any(np.diff(a) <= 0) or np.any(np.diff(b) <= 0):
        raise ValueError("alphas and betas must be strictly increasing")
    vals = np.array(values, dtype=np.float64)
    if vals.shape != (a.size, b.size):
        raise ValueError(f"values has shape {vals.shape}, expected {(a.size, b.size)}")
    finite = np.isfinite(vals)
    vals[~finite] = np.inf
    if finite.any():
        fmin, fmax = float(vals[finite].min()), float(vals[finite].max())
    else:
        fmin = fmax = 0.0
    frange = fmax - fmin
    if persistence_threshold is None:
        threshold = 1e-6 * frange
    else:
        threshold = float(persistence_threshold)
        if not threshold >= 0:
            raise ValueError(f"persistence_threshold must be >= 0, got {persistence_threshold}")
    return Grid(
        alphas=a,
        betas=b,
        values=vals,
        raw=np.asarray(values, np.float64),
        finite=finite,
        bounds=((a[0], a[-1]), (b[0], b[-1])),
        cell=np.array([(a[-1] - a[0]) / (a.size - 1), (b[-1] - b[0]) / (b.size - 1)]),
        box=np.array([a[-1] - a[0], b[-1] - b[0]]),
        fmin=fmin,
        scale=max(frange, 1e-300),
        threshold=threshold,
    )


def descent_sinks(values: np.ndarray) -> np.ndarray:
    """For every vertex the sink reached by steepest descent (``-1`` for non-finite)."""
    n, m = values.shape
    flat = values.ravel()
    total = flat.size
    finite = np.isfinite(flat)
    v = np.where(np.isfinite(values), values, np.inf)
    order = np.lexsort((np.arange(total), v.ravel()))
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total)
    rank = rank.reshape(n, m)
    vp = np.pad(v, 1, constant_values=np.inf)
    rp = np.pad(rank, 1, constant_values=np.iinfo(np.int64).max)
    ii, jj = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    best_slope = np.zeros((n, m))
    best_idx = np.arange(total).reshape(n, m).copy()
    low_rank = rank.copy()
    low_idx = best_idx.copy()
    with np.errstate(invalid="ignore"):
        for di, dj in OFFSETS:
            nv = vp[1 + di : 1 + di + n, 1 + dj : 1 + dj + m]
            nr = rp[1 + di : 1 + di + n, 1 + dj : 1 + dj + m]
            nidx = np.clip(ii + di, 0, n - 1) * m + np.clip(jj + dj, 0, m - 1)
            slope = (v - nv) / math.hypot(di, dj)
            slope = np.where(np.isfinite(slope), slope, -np.inf)
            better = slope > best_slope
            best_slope = np.where(better, slope, best_slope)
            best_idx = np.where(better, nidx, best_idx)
            lower = nr < low_rank
            low_rank = np.where(lower, nr, low_rank)
            low_idx = np.where(lower, nidx, low_idx)
    ptr = np.where(best_slope > 0, best_idx, low_idx).ravel()
    ptr[~finite] = np.flatnonzero(~finite)
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    ptr[~finite] = -1
    return ptr


def saddle_candidates(vals: np.ndarray, max_candidates: int = 512) -> np.ndarray:
    """Interior vertices whose lower neighbours form >= 2 arcs of the 8-neighbour ring."""
    n, m = vals.shape
    total = vals.size
    order = np.lexsort((np.arange(total), vals.ravel()))
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total)
    rank = rank.reshape(n, m)
    fin = np.isfinite(vals)
    rank = np.where(fin, rank, np.iinfo(np.int64).max)
    c = rank[1:-1, 1:-1]
    lower = [rank[1 + di : n - 1 + di, 1 + dj : m - 1 + dj] < c for di, dj in RING]
    arcs = sum((lower[k] & ~lower[k - 1]).astype(int) for k in range(8))
    cand = (arcs >= 2) & fin[1:-1, 1:-1]
    ii, jj = np.nonzero(cand)
    idx = np.stack([ii + 1, jj + 1], axis=1)
    if len(idx) > max_candidates:  # keep the lowest ones
        keep = np.argsort(vals[idx[:, 0], idx[:, 1]])[:max_candidates]
        idx = idx[keep]
    return idx
