"""Stage 3 of the analysis: Newton refinement of grid minima and saddles below grid resolution.

Minima: damped Newton with the exact autodiff gradient and 2x2 Hessian (eigenvalues floored
in absolute value where the Hessian is not positive definite), a trust radius of three grid
cells, a backtracking search so ``f`` never increases, and an active set that holds a
coordinate fixed at a bound whose gradient points outward. Saddles: undamped Newton on
``grad f = 0`` (trust radius 1.5 cells), accepted by :func:`refine_saddles` when the Hessian
there has one negative and one positive eigenvalue, the gradient vanishes and the point
stayed within three cells of its start. All starts run batched in one compiled program, which
stops as soon as no start moves any more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab.landscape._util import precision
from optlab.landscape.analysis.grid import Grid, saddle_candidates
from optlab.landscape.analysis.results import Saddle


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
def _refine(f, starts, lo, hi, radius, mode, n_iter):
    """Vectorized Newton refinement; ``mode`` is ``"min"`` or ``"saddle"``."""
    dt = starts.dtype
    f0 = f
    f = lambda x: jnp.asarray(f0(x)).astype(dt)  # noqa: E731
    eye = jnp.eye(starts.shape[-1], dtype=dt)

    def derivatives(x):
        """``(f, grad, Hessian)`` at ``x`` in one pass: forward-mode over one reverse pass,
        one tangent per coordinate (a smaller program to compile than three separate ones)."""
        vg = jax.value_and_grad(f)
        jvp = lambda e: jax.jvp(vg, (x,), (e,))  # noqa: E731
        (fx, g), (_, h) = jax.vmap(jvp, out_axes=((None, None), 0))(eye)
        return fx, g.astype(dt), h.astype(dt)

    ts = 0.5 ** jnp.arange(17, dtype=starts.dtype)  # 1, 1/2, ..., 2^-16 (a sentinel)
    span = hi - lo
    btol = 1e-12 * span

    def free_mask(x, g):
        at_lo = x <= lo + btol
        at_hi = x >= hi - btol
        active = (at_lo & (g > 0)) | (at_hi & (g < 0))
        return ~active

    def body_min(_, x):
        fx, g, H = derivatives(x)
        free = free_mask(x, g)
        gf = jnp.where(free, g, 0.0)
        ff = free.astype(x.dtype)
        Hf = H * jnp.outer(ff, ff) + jnp.diag(1.0 - ff)
        s = _safe_solve(Hf, gf, 1e-6, signed=False)
        s = jnp.where(free, s, 0.0)
        ns = jnp.linalg.norm(s)
        s = s * jnp.minimum(1.0, radius / jnp.maximum(ns, 1e-300))

        # backtracking: halve the step until f does not increase (at most 16 halvings); a
        # loop rather than all 16 candidates at once, as the full step is usually accepted
        def worse(state):
            k, y, fy = state
            return (k < ts.shape[0]) & ~(fy <= fx)

        def halve(state):
            k, _, _ = state
            y = jnp.clip(x + ts[k + 1] * s, lo, hi)
            return k + 1, y, f(y)

        y0 = jnp.clip(x + s, lo, hi)
        k, y, fy = jax.lax.while_loop(worse, halve, (0, y0, f(y0)))
        ok = (fy <= fx) & (k < ts.shape[0])
        return jnp.where(ok & jnp.all(jnp.isfinite(s)), y, x)

    def body_saddle(_, x):
        _, g, H = derivatives(x)
        s = _safe_solve(H, g, 1e-8, signed=True)
        ns = jnp.linalg.norm(s)
        s = s * jnp.minimum(1.0, radius / jnp.maximum(ns, 1e-300))
        return jnp.where(jnp.all(jnp.isfinite(s)), jnp.clip(x + s, lo, hi), x)

    body = body_min if mode == "min" else body_saddle

    def final(x):
        fx, g, H = derivatives(x)
        free = free_mask(x, g) if mode == "min" else jnp.ones_like(x, dtype=bool)
        gf = jnp.where(free, g, 0.0)
        w = jnp.linalg.eigvalsh(H)
        return x, fx, jnp.linalg.norm(gf), jnp.linalg.norm(g), w, ~free

    # the loop runs over batched iterates (vmap inside the loop body, not around the loop) and
    # stops once no start moves by more than a few ulps of the box: Newton converges in a few
    # steps, and each step of a network's slice costs ~20 evaluations of the loss per start
    tol = 1e-6 * radius + 8 * jnp.finfo(dt).eps * jnp.maximum(
        jnp.max(jnp.abs(lo)), jnp.max(jnp.abs(hi))
    )

    def cond(state):
        i, _, moved = state
        return (i < n_iter) & moved

    def step(state):
        i, X, _ = state
        Y = jax.vmap(lambda x: body(i, x))(X)
        return i + 1, Y, jnp.max(jnp.abs(Y - X)) > tol

    _, xs, _ = jax.lax.while_loop(cond, step, (0, starts, jnp.array(True)))
    return jax.vmap(final)(xs)


def _run_refine(f, starts, *, bounds, radius: float, mode: str, dtype, n_iter: int = 40):
    """:func:`_refine` from ``starts`` (numpy), as float64 numpy arrays (bool masks kept)."""
    # pad the batch to a power of two so that different counts reuse one compiled program
    n = len(starts)
    size = 1 << max(0, (n - 1).bit_length())
    starts = np.concatenate([starts, np.repeat(starts[:1], size - n, axis=0)])
    with precision(dtype) as dt:
        lo = jnp.asarray([bounds[0][0], bounds[1][0]], dt)
        hi = jnp.asarray([bounds[0][1], bounds[1][1]], dt)
        out = _refine(f, jnp.asarray(starts, dt), lo, hi, jnp.asarray(radius, dt), mode, n_iter)
        return [(np.asarray(o, np.float64) if o.dtype != bool else np.asarray(o))[:n] for o in out]


class MinimaFit(NamedTuple):
    """Refined minima, one row per start: location, value, free gradient norm, Hessian
    eigenvalues (ascending), whether refinement converged, whether it ends on the box edge."""

    point: np.ndarray
    value: np.ndarray
    gradient_norm: np.ndarray
    eigenvalues: np.ndarray
    refined: np.ndarray
    on_boundary: np.ndarray


def _converged(gradient_norm: np.ndarray, grid: Grid) -> np.ndarray:
    """The gradient is negligible: crossing the box at that slope changes ``f`` by less
    than 1e-3 of the grid's value range."""
    return gradient_norm * float(grid.box.max()) <= 1e-3 * max(grid.scale, 1e-12)


def refine_minima(f: Callable | None, grid: Grid, vertices, dtype) -> MinimaFit:
    """Refine the grid minima at flat vertex indices ``vertices`` (unrefined without ``f``).

    A refinement that would increase the value is rejected (the grid vertex is kept). A
    minimum left on the box edge without converging is flagged ``on_boundary``.
    """
    k = len(vertices)
    starts = np.array([grid.vertex(v)[0] for v in vertices]).reshape(k, 2)
    at_vertex = np.array([grid.values.flat[v] for v in vertices])
    if f is not None and k:
        x, fx, gfree, _, eig, active = _run_refine(
            f, starts, bounds=grid.bounds, radius=3.0 * float(grid.cell.max()), mode="min",
            dtype=dtype,
        )  # fmt: skip
        refined = _converged(gfree, grid) & np.isfinite(fx)
        # only accept a refinement that does not increase the value
        worse = ~(fx <= at_vertex + 1e-9 * (1 + abs(grid.fmin)))
        x = np.where(worse[:, None], starts, x)
        fx = np.where(worse, at_vertex, fx)
        refined &= ~worse
        on_b = active.any(axis=1) & ~worse
    else:
        x, fx = starts, at_vertex
        gfree = np.full(k, np.nan)
        eig = np.full((k, 2), np.nan)
        refined = np.zeros(k, bool)
        on_b = np.array([grid.on_edge(*grid.vertex(v)[1]) for v in vertices], bool).reshape(k)
    if f is not None:
        # edge grid minima that refinement left at the edge (e.g. corners) are boundary minima
        (a0, a1), (b0, b1) = grid.bounds
        for t in range(k):
            at_edge = (
                np.isclose(x[t, 0], a0)
                or np.isclose(x[t, 0], a1)
                or np.isclose(x[t, 1], b0)
                or np.isclose(x[t, 1], b1)
            )
            if at_edge and not refined[t]:
                on_b[t] = True
    return MinimaFit(x, fx, gfree, eig, refined, on_b)


class SaddleFit(NamedTuple):
    """Refined saddles, one row per start: location, value, Hessian eigenvalues, accepted."""

    point: np.ndarray
    value: np.ndarray
    eigenvalues: np.ndarray
    ok: np.ndarray


def refine_saddles(f: Callable, starts: np.ndarray, grid: Grid, dtype) -> SaddleFit:
    """Newton on ``grad f = 0`` from each start; the one acceptance test for index-1 saddles.

    A start is accepted (``ok``) when it converged (negligible gradient), the Hessian has one
    negative and one positive eigenvalue, it moved at most three grid cells and ``f`` is
    finite there.
    """
    sx, sf, _, sg, seig, _ = _run_refine(
        f, starts, bounds=grid.bounds, radius=1.5 * float(grid.cell.max()), mode="saddle",
        dtype=dtype,
    )  # fmt: skip
    dist = np.max(np.abs(sx - starts) / grid.cell, axis=1)
    ok = (
        _converged(sg, grid) & (seig[:, 0] < 0) & (seig[:, 1] > 0) & (dist <= 3.0) & np.isfinite(sf)
    )
    return SaddleFit(sx, sf, seig, ok)


def critical_saddles(f: Callable, grid: Grid, tree_saddles: list[Saddle], dtype) -> list[Saddle]:
    """Every index-1 saddle in the box: refined grid candidates, deduplicated, sorted by value.

    A saddle that coincides with a refined merge-tree saddle takes its ``minima``; the others
    get ``(-1, -1)``.
    """
    idx = saddle_candidates(grid.values)
    if len(idx) == 0:
        return []
    a, b, cell = grid.alphas, grid.betas, grid.cell
    starts = np.stack([a[idx[:, 0]], b[idx[:, 1]]], axis=1)
    fit = refine_saddles(f, starts, grid, dtype)
    sx, sf, ok = fit.point, fit.value, fit.ok
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
                grid_value=float(grid.values[i, j]),
                grid_index=(i, j),
                refined=True,
                on_boundary=False,
                hessian_eigenvalues=np.asarray(fit.eigenvalues[t], np.float64),
                minima=match[0].minima if match else (-1, -1),
            )
        )
    return out
