"""Minima, index-1 saddles, barriers, merge tree and basins of a 2-D landscape.

The stages live in submodules: ``grid`` (evaluation, validation, neighbourhoods),
``merge_tree`` (merge tree, barriers, basins), ``refine`` (Newton refinement, the saddle
acceptance test) and ``results`` (:class:`Minimum`, :class:`Saddle`, :class:`SliceAnalysis`);
this module composes them (:func:`analyze_grid`) and holds the entry points.

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

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from optlab.landscape._util import check_bounds, check_resolution
from optlab.landscape.analysis.grid import Grid, descent_sinks, evaluate_grid, prepare_grid
from optlab.landscape.analysis.merge_tree import (
    MergeTree,
    barrier_matrices,
    basin_labels,
    group_minima,
    merge_barriers,
    merge_tree,
    single_linkage,
)
from optlab.landscape.analysis.refine import (
    MinimaFit,
    SaddleFit,
    critical_saddles,
    refine_minima,
    refine_saddles,
)
from optlab.landscape.analysis.results import Minimum, Saddle, SliceAnalysis

__all__ = [
    "Minimum",
    "Saddle",
    "SliceAnalysis",
    "analyze_grid",
    "analyze_slice",
    "evaluate_grid",
    "find_minima",
]


def _check_scalar(f: Callable) -> None:
    """``ValueError`` unless ``f`` maps a shape-(2,) point to one number (traced abstractly)."""
    if not callable(f):
        raise TypeError(f"f must be a function z (2,) -> scalar, got {type(f).__name__}")
    out = jax.eval_shape(f, jax.ShapeDtypeStruct((2,), jnp.float32))
    shape = getattr(out, "shape", None)
    if shape is None or math.prod(shape) != 1:
        got = f"output shape {shape}" if shape is not None else f"{type(out).__name__} output"
        raise ValueError(
            f"f must map a shape-(2,) point to a scalar (shape ()), got {got}; reduce it, "
            "e.g. with jnp.sum or by picking one output"
        )


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
    _check_scalar(f)
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
    grid = prepare_grid(values, alphas, betas, persistence_threshold)
    tree = merge_tree(grid.values, grid.threshold)
    fit = refine_minima(f, grid, tree.kept, refine_dtype)
    merges = _merge_saddles(f, grid, tree, refine_dtype)
    keep, remap = group_minima(fit.point, fit.value, grid.cell)
    bars = merge_barriers(barrier_matrices(tree, merges.value, merges.ok), remap, len(keep))
    np.fill_diagonal(bars.refined, [fit.value[t] for t in keep])
    np.fill_diagonal(bars.grid, [grid.values.flat[tree.kept[t]] for t in keep])
    basins = basin_labels(descent_sinks(grid.values), tree, remap, grid.values.shape)
    fractions = np.array([np.mean(basins == t) for t in range(len(keep))])
    minima = _minima(grid, tree, fit, keep, fractions, global_tol)
    saddles, saddle_of_pair = _saddles(grid, tree, merges, bars.saddle, remap)
    return SliceAnalysis(
        alphas=grid.alphas,
        betas=grid.betas,
        values=np.where(grid.finite, grid.values, grid.raw),
        minima=minima,
        saddles=saddles,
        barriers=bars.refined,
        barriers_grid=bars.grid,
        merge_tree=single_linkage(bars.refined, saddle_of_pair),
        basins=basins,
        basin_fractions=fractions,
        persistence_threshold=float(grid.threshold),
        n_grid_minima=len(tree.births),
        nonfinite_fraction=grid.nonfinite_fraction,
        critical_saddles=(
            critical_saddles(f, grid, saddles, refine_dtype) if f is not None else []
        ),
    )


def _merge_saddles(f, grid: Grid, tree: MergeTree, dtype) -> SaddleFit:
    """The merge events' saddles, refined with ``f`` (else left at their grid vertices)."""
    starts = np.array([grid.vertex(e.vertex)[0] for e in tree.events]).reshape(-1, 2)
    if f is not None and tree.events:
        return refine_saddles(f, starts, grid, dtype)
    levels = np.array([e.level for e in tree.events])
    n = len(tree.events)
    return SaddleFit(starts, levels, np.full((n, 2), np.nan), np.zeros(n, bool))


def _minima(grid: Grid, tree: MergeTree, fit: MinimaFit, keep, fractions, global_tol):
    """The :class:`Minimum` of each group (``keep`` order: lowest first)."""
    vmin = min(fit.value[t] for t in keep) if keep else np.nan
    minima = []
    for r, t in enumerate(keep):
        gp, gi = grid.vertex(tree.kept[t])
        minima.append(
            Minimum(
                point=np.asarray(fit.point[t], np.float64),
                value=float(fit.value[t]),
                is_global=bool(abs(fit.value[t] - vmin) <= global_tol * max(1.0, abs(vmin))),
                on_boundary=bool(fit.on_boundary[t]),
                grid_point=gp,
                grid_value=float(grid.values.flat[tree.kept[t]]),
                grid_index=gi,
                refined=bool(fit.refined[t]),
                gradient_norm=float(fit.gradient_norm[t]),
                hessian_eigenvalues=np.asarray(fit.eigenvalues[t], np.float64),
                persistence=float(tree.persistence[tree.kept[t]]),
                basin_fraction=float(fractions[r]),
            )
        )
    return minima


def _saddles(grid: Grid, tree: MergeTree, merges: SaddleFit, event_of_pair, remap):
    """The :class:`Saddle` of each merge still separating distinct minima, and the matrix of
    saddle positions (in the returned list; -1: none) per pair of minima."""
    vidx = {v: t for t, v in enumerate(tree.kept)}
    used = sorted({int(s) for s in event_of_pair[event_of_pair >= 0].ravel()})
    saddles = []
    for e in used:
        ev, ok = tree.events[e], merges.ok[e]
        gp, gi = grid.vertex(ev.vertex)
        saddles.append(
            Saddle(
                point=np.asarray(merges.point[e] if ok else gp, np.float64),
                value=float(merges.value[e]) if ok else float(ev.level),
                grid_point=gp,
                grid_value=float(ev.level),
                grid_index=gi,
                refined=bool(ok),
                on_boundary=bool(not ok and grid.on_edge(*gi)),
                hessian_eigenvalues=np.asarray(merges.eigenvalues[e], np.float64),
                minima=(
                    remap[vidx[tree.survivor(ev.elder)]],
                    remap[vidx[tree.survivor(ev.young)]],
                ),
            )
        )
    pos = {e: r for r, e in enumerate(used)}
    if not len(event_of_pair):
        return saddles, event_of_pair
    where = np.vectorize(lambda e: pos.get(int(e), -1))(event_of_pair)
    return saddles, np.where(event_of_pair >= 0, where, -1)
