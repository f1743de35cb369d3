"""Minima, index-1 saddles, barriers, merge tree and basins of a 2-D landscape.

One code path serves analytic test functions and network slices: ``f`` is any jittable map
from a point ``z`` of shape ``(2,)`` to a scalar (for a network use
:func:`optlab.landscape.slice_function`). The analysis runs in four stages.

1. **Grid.** ``f`` is evaluated on a ``resolution`` grid over ``bounds`` (compiled, chunked).
   NaN and +-Inf are treated as ``+inf``: those vertices are left out (they act as walls)
   and their share is reported.
2. **Merge tree** (0-dimensional persistent homology of the sublevel sets). Vertices are
   added in increasing order of value (ties broken by index, which makes plateaus well
   defined) and joined to their already-added 8-neighbours with union-find. A vertex with no
   added neighbour is a grid local minimum; where two components meet, the younger one (the
   one whose minimum is higher) dies: its *persistence* is ``level - its minimum's value``
   (elder rule). Minima with persistence ``<= persistence_threshold`` are noise and are
   absorbed. For every pair of remaining minima the merge level is the *barrier*: the lowest
   possible maximum of ``f`` along an 8-connected grid path between them (minimax path), and
   the merge vertex is an approximate index-1 saddle.
3. **Refinement.** Minima are refined by Newton's method with the exact autodiff gradient and
   2x2 Hessian (eigenvalues floored in absolute value where the Hessian is not positive
   definite, a trust radius of a few grid cells, and a backtracking search so ``f`` never
   increases), projected to stay in the box: a coordinate at a bound whose gradient points
   outward is held fixed (active set). A minimum that ends on the box edge with an outward
   gradient is not a critical point and is flagged ``on_boundary``. Saddles are refined by
   undamped Newton on ``grad f = 0`` and accepted when the Hessian there has one negative
   and one positive eigenvalue; barriers then use the refined saddle values. Minima that
   converge to the same point are merged.
4. **Basins.** Every grid vertex follows its steepest-descent neighbour (slope over distance;
   down the tie order on plateaus) to a sink; sinks are mapped to the remaining minimum that
   absorbed them; each minimum's basin is reported as a label grid and as a fraction of the
   box.

References:
  H. Edelsbrunner, D. Letscher, A. Zomorodian. Topological persistence and simplification.
  Discrete Comput. Geom. 28 (2002).
  D. J. Wales. Energy Landscapes. Cambridge University Press (2003) (disconnectivity graphs).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optlab.landscape._util import (
    as_grid_axis,
    check_bounds,
    check_resolution,
    precision,
)

_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclasses.dataclass(frozen=True)
class Minimum:
    """A local minimum of a 2-D function on a box.

    Attributes:
      point: refined location, shape ``(2,)``.
      value: ``f(point)``.
      is_global: the lowest minimum found (ties within ``global_tol`` all count).
      on_boundary: it sits on the box edge with the gradient pointing outward, so it is a
        minimum of ``f`` restricted to the box, not a critical point of ``f``.
      grid_point, grid_value, grid_index: the grid vertex it was found at.
      refined: the refinement converged (to a critical point, or to a constrained minimum on
        the edge).
      gradient_norm: norm of the gradient's free part at ``point``.
      hessian_eigenvalues: eigenvalues of the 2x2 Hessian at ``point`` (ascending).
      persistence: merge-tree persistence (``inf`` for the lowest minimum of its component).
      basin_fraction: fraction of the box's grid vertices whose steepest descent ends here.
    """

    point: np.ndarray
    value: float
    is_global: bool
    on_boundary: bool
    grid_point: np.ndarray
    grid_value: float
    grid_index: tuple[int, int]
    refined: bool
    gradient_norm: float
    hessian_eigenvalues: np.ndarray
    persistence: float
    basin_fraction: float = float("nan")

    @property
    def sharpness(self) -> float:
        """Largest Hessian eigenvalue of the slice at the minimum."""
        return float(np.max(self.hessian_eigenvalues))

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Saddle:
    """An index-1 saddle: the point where two minima's basins (sublevel sets) merge.

    Attributes:
      point, value: refined location and value (the grid vertex if not ``refined``).
      grid_point, grid_value, grid_index: the merge vertex of the grid.
      refined: Newton converged to a critical point with one negative Hessian eigenvalue.
      on_boundary: the merge vertex is on the box edge and refinement did not converge.
      hessian_eigenvalues: at ``point`` (ascending).
      minima: indices (into the result's ``minima``) of the lowest minimum on each side.
    """

    point: np.ndarray
    value: float
    grid_point: np.ndarray
    grid_value: float
    grid_index: tuple[int, int]
    refined: bool
    on_boundary: bool
    hessian_eigenvalues: np.ndarray
    minima: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class SliceAnalysis:
    """Everything :func:`analyze_slice` finds.

    Attributes:
      alphas, betas: grid coordinates; ``values`` the grid, shape ``(len(alphas), len(betas))``.
      minima: sorted by value.
      saddles: the index-1 saddles of the merge tree (one per merge of two components).
      barriers: ``(k, k)`` barrier level between minima ``i`` and ``j``: the lowest possible
        maximum of ``f`` along a path between them (the refined saddle value where the saddle
        was refined, the grid level otherwise); ``inf`` when only paths through non-finite
        regions connect them; the diagonal holds each minimum's value.
      barriers_grid: the same on the grid alone.
      merge_tree: rows ``(node_a, node_b, level, saddle_index)`` in scipy linkage order:
        leaves ``0..k-1`` are minima, row ``r`` creates node ``k + r``; ``saddle_index`` is
        ``-1`` if the merge has no finite saddle.
      basins: int grid, the index of the minimum each vertex drains to (``-1``: non-finite).
      basin_fractions: ``(k,)`` share of grid vertices draining to each minimum.
      persistence_threshold: minima with persistence at or below it were dropped.
      n_grid_minima: grid local minima before the persistence filter.
      nonfinite_fraction: share of grid vertices where ``f`` was NaN or Inf.
      critical_saddles: every index-1 saddle found in the box (refined, with ``f``): grid
        vertices whose lower 8-neighbourhood ring has two or more components, refined by
        Newton and kept when they converge to a point with one negative and one positive
        Hessian eigenvalue; includes saddles that are not barriers (e.g. one that closes a
        loop around a maximum). ``minima`` is ``(-1, -1)`` for those not in ``saddles``.
    """

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    minima: list[Minimum]
    saddles: list[Saddle]
    barriers: np.ndarray
    barriers_grid: np.ndarray
    merge_tree: np.ndarray
    basins: np.ndarray
    basin_fractions: np.ndarray
    persistence_threshold: float
    n_grid_minima: int
    nonfinite_fraction: float
    critical_saddles: list[Saddle] = dataclasses.field(default_factory=list)

    @property
    def global_minimum(self) -> Minimum | None:
        return self.minima[0] if self.minima else None

    def barrier_heights(self) -> np.ndarray:
        """``(k, k)``: the barrier seen from minimum ``i`` toward ``j``: ``barriers[i, j] -
        value_i`` (0 on the diagonal)."""
        vals = np.array([m.value for m in self.minima])
        return self.barriers - vals[:, None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (no grids; save those with :mod:`optlab.landscape.io`)."""
        return _jsonable(
            {
                "minima": [m.to_dict() for m in self.minima],
                "saddles": [s.to_dict() for s in self.saddles],
                "barriers": self.barriers,
                "barriers_grid": self.barriers_grid,
                "barrier_heights": self.barrier_heights(),
                "merge_tree": self.merge_tree,
                "basin_fractions": self.basin_fractions,
                "persistence_threshold": self.persistence_threshold,
                "n_grid_minima": self.n_grid_minima,
                "nonfinite_fraction": self.nonfinite_fraction,
                "critical_saddles": [c.to_dict() for c in self.critical_saddles],
                "bounds": [
                    [float(self.alphas[0]), float(self.alphas[-1])],
                    [float(self.betas[0]), float(self.betas[-1])],
                ],
                "resolution": [int(self.alphas.size), int(self.betas.size)],
            }
        )


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --------------------------------------------------------------------------- grid


@functools.partial(jax.jit, static_argnames=("f", "batch_size"))
def _eval_f(f, pts, batch_size):
    return jax.lax.map(lambda z: jnp.asarray(f(z)), pts, batch_size=batch_size)


def evaluate_grid(
    f: Callable, alphas, betas, *, batch_size: int | None = None, dtype=None
) -> np.ndarray:
    """``out[i, j] = f([alphas[i], betas[j]])``, compiled and chunked (float64 copy)."""
    from optlab.landscape.slices import auto_batch_size

    a = as_grid_axis(alphas, "alphas")
    b = as_grid_axis(betas, "betas")
    aa, bb = np.meshgrid(a, b, indexing="ij")
    pts = np.stack([aa.ravel(), bb.ravel()], axis=1)
    with precision(dtype) as dt:
        z = jnp.asarray(pts, dt)
        bs = int(min(batch_size or auto_batch_size(f, z[0], len(pts)), len(pts)))
        if jax.device_count() > 1 and len(pts) >= jax.device_count():
            # the grid points split over every device, each mapping its share in chunks
            from optlab import distributed

            out = distributed.map_sharded(_scalar_of(f), z, batch_size=bs)
        else:
            out = _eval_f(f, z, bs)
        return np.asarray(out, np.float64).reshape(a.size, b.size)


_SCALAR_FNS: dict = {}


def _scalar_of(f):
    """A stable wrapper ``z -> jnp.asarray(f(z))`` per ``f`` (so compiled programs are reused)."""
    g = _SCALAR_FNS.get(f)
    if g is None:
        g = _SCALAR_FNS[f] = lambda z: jnp.asarray(f(z))
    return g


# --------------------------------------------------------------------------- merge tree


def _merge_tree(values: np.ndarray, threshold: float):
    """Union-find over the 8-neighbour grid graph (see module docstring).

    Returns births (vertex ids of all grid minima), persistence per birth, absorbed map
    (noise birth -> the birth that absorbed it), kept births, and events: list of
    (vertex, level, kept_births_a, kept_births_b, rep_a, rep_b).
    """
    n, m = values.shape
    flat = values.ravel()
    total = flat.size
    finite = np.isfinite(flat)
    order = np.lexsort((np.arange(total), np.where(finite, flat, np.inf)))
    order = order[finite[order]]
    rank = np.full(total, total, dtype=np.int64)
    rank[order] = np.arange(order.size)
    parent = np.full(total, -1, dtype=np.int64)
    rep: dict[int, int] = {}
    kept: dict[int, list[int]] = {}
    births: list[int] = []
    persistence: dict[int, float] = {}
    absorbed: dict[int, int] = {}
    events = []

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for v in order.tolist():
        i, j = divmod(v, m)
        roots = set()
        for di, dj in _OFFSETS:
            ni, nj = i + di, j + dj
            if 0 <= ni < n and 0 <= nj < m:
                u = ni * m + nj
                if parent[u] >= 0:
                    roots.add(find(u))
        if not roots:
            parent[v] = v
            rep[v] = v
            kept[v] = [v]
            births.append(v)
            continue
        rs = sorted(roots, key=lambda r: rank[rep[r]])
        elder = rs[0]
        parent[v] = elder
        level = float(flat[v])
        for r in rs[1:]:
            young = rep[r]
            pers = level - float(flat[young])
            persistence[young] = pers
            if pers > threshold:
                events.append((v, level, list(kept[elder]), list(kept[r]), rep[elder], young))
                kept[elder] = kept[elder] + kept[r]
            else:
                absorbed[young] = rep[elder]
            parent[r] = elder
            del kept[r]
    for b in births:
        persistence.setdefault(b, math.inf)
    kept_births = [b for b in births if persistence[b] > threshold]
    return births, persistence, absorbed, kept_births, events


def _descent_sinks(values: np.ndarray) -> np.ndarray:
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
        for di, dj in _OFFSETS:
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


# --------------------------------------------------------------------------- refinement


def _safe_solve(H, g, floor, signed):
    w, V = jnp.linalg.eigh(H)
    scale = jnp.maximum(jnp.max(jnp.abs(w)), 1.0)
    fl = floor * scale
    if signed:
        wm = jnp.where(jnp.abs(w) < fl, jnp.where(w < 0, -fl, fl), w)
    else:
        wm = jnp.maximum(jnp.abs(w), fl)
    return -V @ ((V.T @ g) / wm)


@functools.partial(jax.jit, static_argnames=("f", "mode", "n_iter"))
def _refine(f, starts, lo, hi, radius, f_scale, mode, n_iter):
    """Vectorized Newton refinement; ``mode`` is ``"min"`` or ``"saddle"``."""
    dt = starts.dtype
    grad = lambda x: jax.grad(f)(x).astype(dt)  # noqa: E731
    hess = lambda x: jax.hessian(f)(x).astype(dt)  # noqa: E731
    f0 = f
    f = lambda x: jnp.asarray(f0(x)).astype(dt)  # noqa: E731
    ts = 0.5 ** jnp.arange(16, dtype=starts.dtype)
    span = hi - lo
    btol = 1e-12 * span

    def free_mask(x, g):
        at_lo = x <= lo + btol
        at_hi = x >= hi - btol
        active = (at_lo & (g > 0)) | (at_hi & (g < 0))
        return ~active

    def body_min(_, x):
        fx = f(x)
        g = grad(x)
        H = hess(x)
        free = free_mask(x, g)
        gf = jnp.where(free, g, 0.0)
        ff = free.astype(x.dtype)
        Hf = H * jnp.outer(ff, ff) + jnp.diag(1.0 - ff)
        s = _safe_solve(Hf, gf, 1e-6, signed=False)
        s = jnp.where(free, s, 0.0)
        ns = jnp.linalg.norm(s)
        s = s * jnp.minimum(1.0, radius / jnp.maximum(ns, 1e-300))
        cands = jnp.clip(x[None, :] + ts[:, None] * s[None, :], lo, hi)
        fc = jax.vmap(f)(cands)
        ok = fc <= fx
        first = jnp.argmax(ok)
        return jnp.where(jnp.any(ok) & jnp.all(jnp.isfinite(s)), cands[first], x)

    def body_saddle(_, x):
        g = grad(x)
        H = hess(x)
        s = _safe_solve(H, g, 1e-8, signed=True)
        ns = jnp.linalg.norm(s)
        s = s * jnp.minimum(1.0, radius / jnp.maximum(ns, 1e-300))
        return jnp.where(jnp.all(jnp.isfinite(s)), jnp.clip(x + s, lo, hi), x)

    body = body_min if mode == "min" else body_saddle

    def final(x):
        g = grad(x)
        H = hess(x)
        free = free_mask(x, g) if mode == "min" else jnp.ones_like(x, dtype=bool)
        gf = jnp.where(free, g, 0.0)
        w = jnp.linalg.eigvalsh(H)
        return x, f(x), jnp.linalg.norm(gf), jnp.linalg.norm(g), w, ~free

    # the loop runs over batched iterates (vmap inside the loop body, not around the loop)
    xs = jax.lax.fori_loop(0, n_iter, lambda i, X: jax.vmap(lambda x: body(i, x))(X), starts)
    return jax.vmap(final)(xs)


def _run_refine(f, starts, bounds, radius, f_scale, mode, dtype, n_iter=40):
    # pad the batch to a power of two so that different counts reuse one compiled program
    n = len(starts)
    size = 1 << max(0, (n - 1).bit_length())
    starts = np.concatenate([starts, np.repeat(starts[:1], size - n, axis=0)])
    with precision(dtype) as dt:
        lo = jnp.asarray([bounds[0][0], bounds[1][0]], dt)
        hi = jnp.asarray([bounds[0][1], bounds[1][1]], dt)
        out = _refine(
            f,
            jnp.asarray(starts, dt),
            lo,
            hi,
            jnp.asarray(radius, dt),
            jnp.asarray(f_scale, dt),
            mode,
            n_iter,
        )
        return [(np.asarray(o, np.float64) if o.dtype != bool else np.asarray(o))[:n] for o in out]


# --------------------------------------------------------------------------- analysis


def analyze_slice(
    f: Callable,
    bounds,
    resolution=101,
    *,
    persistence_threshold: float | None = None,
    refine: bool = True,
    dtype=None,
    refine_dtype=None,
    batch_size: int | None = None,
    global_tol: float = 1e-6,
) -> SliceAnalysis:
    """Grid, merge tree, refined minima and saddles, barriers and basins of ``f`` on a box.

    Args:
      f: jittable ``z (2,) -> scalar``.
      bounds: ``((x_lo, x_hi), (y_lo, y_hi))``, finite with ``lo < hi``.
      resolution: grid points per axis (int or pair), at least 3.
      persistence_threshold: minima whose persistence is at or below it are dropped as
        noise; ``None`` uses ``1e-6`` times the range of the finite grid values (which
        removes plateau and round-off artefacts but keeps every real minimum).
      refine: refine minima and saddles with Newton's method (needs a differentiable ``f``).
      dtype: grid evaluation precision (``"float32"`` default or ``"float64"``).
      refine_dtype: refinement precision; ``None`` (default) uses ``dtype``. Newton's method
        in float32 locates well-conditioned minima to about 1e-6 of the box size; use
        ``dtype="float64"`` for more.
      batch_size: points per ``lax.map`` chunk for the grid; ``None`` = automatic.
      global_tol: minima within ``global_tol * max(1, |f_min|)`` of the lowest are global.

    Returns:
      A :class:`SliceAnalysis`.

    Example:
      >>> import jax.numpy as jnp
      >>> f = lambda z: (z[0] ** 2 - 1) ** 2 + z[1] ** 2
      >>> res = analyze_slice(f, ((-2, 2), (-1, 1)), 40)
      >>> [round(float(m.point[0]), 6) for m in res.minima], round(float(res.barriers[0, 1]), 6)
      ([-1.0, 1.0], 1.0)
    """
    bounds = check_bounds(bounds)
    nx, ny = check_resolution(resolution)
    alphas = np.linspace(bounds[0][0], bounds[0][1], nx)
    betas = np.linspace(bounds[1][0], bounds[1][1], ny)
    values = evaluate_grid(f, alphas, betas, batch_size=batch_size, dtype=dtype)
    return analyze_grid(
        values,
        alphas,
        betas,
        f if refine else None,
        persistence_threshold=persistence_threshold,
        refine_dtype=dtype if refine_dtype is None else refine_dtype,
        global_tol=global_tol,
    )


def find_minima(
    f: Callable,
    bounds,
    resolution=101,
    **kwargs,
) -> list[Minimum]:
    """The refined local minima of ``f`` on the box ``bounds``, sorted by value.

    Each :class:`Minimum` has ``point`` (shape ``(2,)``), ``value``, ``is_global`` and
    ``on_boundary`` (plus grid location, persistence, Hessian eigenvalues and basin share).
    Grid minima over the 8-neighbourhood are found through the merge tree, filtered by
    persistence, refined by Newton's method with exact autodiff derivatives (staying in the
    box) and deduplicated. See :func:`analyze_slice` for the keyword arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> def camel(z):
      ...     x, y = z[0], z[1]
      ...     return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2
      >>> ms = find_minima(camel, ((-3, 3), (-2, 2)), 101)
      >>> len(ms), round(ms[0].value, 4), sum(m.is_global for m in ms)
      (6, -1.0316, 2)
    """
    return analyze_slice(f, bounds, resolution, **kwargs).minima


def analyze_grid(
    values,
    alphas,
    betas,
    f: Callable | None = None,
    *,
    persistence_threshold: float | None = None,
    refine_dtype=None,
    global_tol: float = 1e-6,
) -> SliceAnalysis:
    """:func:`analyze_slice` on precomputed grid values (e.g. a saved slice).

    ``values[i, j]`` is the value at ``(alphas[i], betas[j])``; the axes must be increasing
    and evenly spaced. With ``f`` (``z (2,) -> scalar``) the minima and saddles are refined;
    without it they stay at grid vertices (``refined=False``).
    """
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
    nonfinite_fraction = float(np.mean(~finite))
    bounds = ((a[0], a[-1]), (b[0], b[-1]))
    cell = np.array([(a[-1] - a[0]) / (a.size - 1), (b[-1] - b[0]) / (b.size - 1)])
    n, m = vals.shape
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

    births, persistence, absorbed, kept, events = _merge_tree(vals, threshold)
    n_grid_minima = len(births)
    sinks = _descent_sinks(vals)

    def grid_xy(v):
        i, j = divmod(int(v), m)
        return np.array([a[i], b[j]]), (i, j)

    # ---- refine minima
    k = len(kept)
    starts = np.array([grid_xy(v)[0] for v in kept]).reshape(k, 2)
    scale = max(frange, 1e-300)
    box = np.array([a[-1] - a[0], b[-1] - b[0]])
    if f is not None and k:
        x, fx, gfree, _, eig, active = _run_refine(
            f, starts, bounds, 3.0 * float(cell.max()), scale, "min", refine_dtype
        )
        grad_ok = gfree * float(box.max()) <= 1e-3 * max(scale, 1e-12)
        refined = grad_ok & np.isfinite(fx)
        # only accept a refinement that does not increase the value
        worse = ~(fx <= np.array([vals.flat[v] for v in kept]) + 1e-9 * (1 + abs(fmin)))
        x = np.where(worse[:, None], starts, x)
        fx = np.where(worse, np.array([vals.flat[v] for v in kept]), fx)
        refined &= ~worse
        on_b = active.any(axis=1) & ~worse
    else:
        x = starts
        fx = np.array([vals.flat[v] for v in kept])
        gfree = np.full(k, np.nan)
        eig = np.full((k, 2), np.nan)
        refined = np.zeros(k, bool)
        on_b = np.zeros(k, bool)
        for t, v in enumerate(kept):
            i, j = divmod(v, m)
            on_b[t] = i in (0, n - 1) or j in (0, m - 1)
    # edge grid minima that refinement left at the edge (e.g. corners) are boundary minima
    if f is not None:
        for t, v in enumerate(kept):
            i, j = divmod(v, m)
            at_edge = (
                np.isclose(x[t, 0], a[0])
                or np.isclose(x[t, 0], a[-1])
                or np.isclose(x[t, 1], b[0])
                or np.isclose(x[t, 1], b[-1])
            )
            if at_edge and not refined[t]:
                on_b[t] = True

    # ---- saddles of the merge events
    vidx = {v: t for t, v in enumerate(kept)}
    ev_starts = np.array([grid_xy(e[0])[0] for e in events]).reshape(len(events), 2)
    ev_levels = np.array([e[1] for e in events])
    if f is not None and events:
        sx, sf, _, sg, seig, _ = _run_refine(
            f, ev_starts, bounds, 1.5 * float(cell.max()), scale, "saddle", refine_dtype
        )
        dist = np.max(np.abs(sx - ev_starts) / cell, axis=1)
        s_ok = (
            (sg * float(box.max()) <= 1e-3 * max(scale, 1e-12))
            & (seig[:, 0] < 0)
            & (seig[:, 1] > 0)
            & (dist <= 3.0)
            & np.isfinite(sf)
        )
    else:
        sx, sf, seig = ev_starts, ev_levels, np.full((len(events), 2), np.nan)
        s_ok = np.zeros(len(events), bool)

    # barrier matrices over kept minima (before dedup)
    bar_grid = np.full((k, k), np.inf)
    bar = np.full((k, k), np.inf)
    sad_of = np.full((k, k), -1, dtype=np.int64)
    for e_i, (_, level, left, right, _, _) in enumerate(events):
        lev_ref = float(sf[e_i]) if s_ok[e_i] else level
        for p in left:
            for q in right:
                ip, iq = vidx[p], vidx[q]
                bar_grid[ip, iq] = bar_grid[iq, ip] = level
                bar[ip, iq] = bar[iq, ip] = lev_ref
                sad_of[ip, iq] = sad_of[iq, ip] = e_i

    # ---- deduplicate minima that refined to the same point
    groups = list(range(k))
    order = np.argsort(fx, kind="stable")
    tol = 0.5 * cell
    for ii, p in enumerate(order):
        for q in order[:ii]:
            if groups[q] == q and np.all(np.abs(x[p] - x[q]) <= tol):
                groups[p] = int(q)
                break
    keep_idx = [t for t in order if groups[t] == t]
    remap = {t: keep_idx.index(groups[t]) for t in range(k)}
    kk = len(keep_idx)
    B = np.full((kk, kk), np.inf)
    BG = np.full((kk, kk), np.inf)
    S = np.full((kk, kk), -1, dtype=np.int64)
    for p in range(k):
        for q in range(k):
            rp, rq = remap[p], remap[q]
            if rp == rq:
                continue
            if bar[p, q] < B[rp, rq]:
                B[rp, rq] = bar[p, q]
                S[rp, rq] = sad_of[p, q]
            BG[rp, rq] = min(BG[rp, rq], bar_grid[p, q])
    final_vals = np.array([fx[t] for t in keep_idx])
    np.fill_diagonal(B, final_vals)
    np.fill_diagonal(BG, [vals.flat[kept[t]] for t in keep_idx])

    # ---- basins
    def resolve(s):
        while s not in vidx:
            s = absorbed[s]
        return remap[vidx[s]]

    sink_map = {}
    flat_basins = np.full(vals.size, -1, dtype=np.int64)
    for s in np.unique(sinks[sinks >= 0]).tolist():
        sink_map[s] = resolve(s)
    valid = sinks >= 0
    if valid.any():
        lut_keys = np.array(sorted(sink_map))
        lut_vals = np.array([sink_map[s] for s in lut_keys])
        flat_basins[valid] = lut_vals[np.searchsorted(lut_keys, sinks[valid])]
    basins = flat_basins.reshape(n, m)
    fractions = np.array([np.mean(basins == t) for t in range(kk)])

    # ---- minima objects
    vmin = final_vals.min() if kk else np.nan
    minima = []
    for r, t in enumerate(keep_idx):
        gp, gi = grid_xy(kept[t])
        minima.append(
            Minimum(
                point=np.asarray(x[t], np.float64),
                value=float(fx[t]),
                is_global=bool(abs(fx[t] - vmin) <= global_tol * max(1.0, abs(vmin))),
                on_boundary=bool(on_b[t]),
                grid_point=gp,
                grid_value=float(vals.flat[kept[t]]),
                grid_index=gi,
                refined=bool(refined[t]),
                gradient_norm=float(gfree[t]),
                hessian_eigenvalues=np.asarray(eig[t], np.float64),
                persistence=float(persistence[kept[t]]),
                basin_fraction=float(fractions[r]),
            )
        )

    # ---- saddles (only the events still separating distinct minima)
    used = sorted({int(s) for s in S[S >= 0].ravel()})
    saddle_pos = {e: r for r, e in enumerate(used)}
    saddles = []
    for e in used:
        _, level, _, _, rep_a, rep_b = events[e]
        gp, gi = grid_xy(events[e][0])
        saddles.append(
            Saddle(
                point=np.asarray(sx[e] if s_ok[e] else gp, np.float64),
                value=float(sf[e]) if s_ok[e] else float(level),
                grid_point=gp,
                grid_value=float(level),
                grid_index=gi,
                refined=bool(s_ok[e]),
                on_boundary=bool(not s_ok[e] and (gi[0] in (0, n - 1) or gi[1] in (0, m - 1))),
                hessian_eigenvalues=np.asarray(seig[e], np.float64),
                minima=(
                    remap[vidx[_lowest_kept(rep_a, vidx, absorbed)]],
                    remap[vidx[_lowest_kept(rep_b, vidx, absorbed)]],
                ),
            )
        )
    S_pos = np.where(S >= 0, np.vectorize(lambda e: saddle_pos.get(int(e), -1))(S), -1) if kk else S
    tree = _single_linkage(B, S_pos)
    critical = (
        _critical_saddles(f, vals, a, b, bounds, cell, box, scale, refine_dtype, saddles)
        if f is not None
        else []
    )
    return SliceAnalysis(
        alphas=a,
        betas=b,
        values=np.where(finite, vals, np.asarray(values, np.float64)),
        minima=minima,
        saddles=saddles,
        barriers=B,
        barriers_grid=BG,
        merge_tree=tree,
        basins=basins,
        basin_fractions=fractions,
        persistence_threshold=float(threshold),
        n_grid_minima=n_grid_minima,
        nonfinite_fraction=nonfinite_fraction,
        critical_saddles=critical,
    )


_RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def _grid_saddle_candidates(vals: np.ndarray, max_candidates: int = 512) -> np.ndarray:
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
    lower = [rank[1 + di : n - 1 + di, 1 + dj : m - 1 + dj] < c for di, dj in _RING]
    arcs = sum((lower[k] & ~lower[k - 1]).astype(int) for k in range(8))
    cand = (arcs >= 2) & fin[1:-1, 1:-1]
    ii, jj = np.nonzero(cand)
    idx = np.stack([ii + 1, jj + 1], axis=1)
    if len(idx) > max_candidates:  # keep the lowest ones
        keep = np.argsort(vals[idx[:, 0], idx[:, 1]])[:max_candidates]
        idx = idx[keep]
    return idx


def _critical_saddles(f, vals, a, b, bounds, cell, box, scale, dtype, tree_saddles):
    idx = _grid_saddle_candidates(vals)
    if len(idx) == 0:
        return []
    starts = np.stack([a[idx[:, 0]], b[idx[:, 1]]], axis=1)
    sx, sf, _, sg, seig, _ = _run_refine(
        f, starts, bounds, 1.5 * float(cell.max()), scale, "saddle", dtype
    )
    dist = np.max(np.abs(sx - starts) / cell, axis=1)
    ok = (
        (sg * float(box.max()) <= 1e-3 * max(scale, 1e-12))
        & (seig[:, 0] < 0)
        & (seig[:, 1] > 0)
        & (dist <= 3.0)
        & np.isfinite(sf)
    )
    out: list[Saddle] = []
    for t in np.flatnonzero(ok)[np.argsort(sf[ok], kind="stable")]:
        if any(np.all(np.abs(sx[t] - o.point) <= 0.5 * cell) for o in out):
            continue
        match = [
            s for s in tree_saddles if s.refined and np.all(np.abs(sx[t] - s.point) <= 0.5 * cell)
        ]
        i, j = int(idx[t, 0]), int(idx[t, 1])
        out.append(
            Saddle(
                point=np.asarray(sx[t], np.float64),
                value=float(sf[t]),
                grid_point=np.array([a[i], b[j]]),
                grid_value=float(vals[i, j]),
                grid_index=(i, j),
                refined=True,
                on_boundary=False,
                hessian_eigenvalues=np.asarray(seig[t], np.float64),
                minima=match[0].minima if match else (-1, -1),
            )
        )
    return out


def _lowest_kept(rep, vidx, absorbed):
    while rep not in vidx:
        rep = absorbed[rep]
    return rep


def _single_linkage(B: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Kruskal on the barrier matrix: rows ``(node_a, node_b, level, saddle)`` (linkage order).

    The barrier (minimax) matrix is an ultrametric, so single linkage recovers the merge
    tree. Pairs separated by an infinite barrier are never merged (the tree is a forest).
    """
    k = B.shape[0]
    if k < 2:
        return np.zeros((0, 4))
    iu, ju = np.triu_indices(k, 1)
    lev = B[iu, ju]
    order = np.argsort(lev, kind="stable")
    parent = list(range(k))
    node = list(range(k))
    rows = []

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for o in order:
        if not np.isfinite(lev[o]):
            break
        p, q = find(iu[o]), find(ju[o])
        if p == q:
            continue
        level = max([lev[o], *(rows[node[r] - k][2] for r in (p, q) if node[r] >= k)])
        rows.append((node[p], node[q], level, S[iu[o], ju[o]]))
        parent[q] = p
        node[p] = k + len(rows) - 1
    return np.array(rows, dtype=np.float64).reshape(-1, 4)
