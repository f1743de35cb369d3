"""Curvature of a loss: Hessian-vector products, Lanczos eigenpairs, Hutchinson's trace, SLQ.

Everything works on any ``loss_fn(params) -> scalar`` and any params pytree, without ever
forming the Hessian: ``hvp`` is forward-over-reverse (``jax.jvp`` of ``jax.grad``), which
costs about one extra gradient. Lanczos and Hutchinson run as compiled loops over the
flattened parameter vector (``jax.flatten_util.ravel_pytree``).

References:
  B. Pearlmutter. Fast exact multiplication by the Hessian. Neural Computation 6 (1994).
  C. Lanczos (1950); G. Golub, C. Van Loan, Matrix Computations, Sec. 10.1 (full
  reorthogonalization).
  M. Hutchinson. A stochastic estimator of the trace of the influence matrix for Laplacian
  smoothing splines (1989).
  B. Ghorbani, S. Krishnan, Y. Xiao. An investigation into neural net optimization via Hessian
  eigenvalue density. ICML 2019 (stochastic Lanczos quadrature).
  Z. Yao, A. Gholami, K. Keutzer, M. Mahoney. PyHessian. IEEE BigData 2020.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from optlab.landscape._util import cast_tree, check_same_tree, precision, resolve_dtype, unflat


def hvp(loss_fn: Callable, params, v):
    """Hessian-vector product ``H(params) v`` (forward-over-reverse), a pytree like ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> hvp(lambda p: jnp.sum(p**3), jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))
      Array([ 6., 12.], dtype=float32)
    """
    check_same_tree(params, v, "v")
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


def _flat_matvec(loss_fn, params):
    flat, unravel = ravel_pytree(params)

    def mv(x):
        return ravel_pytree(jax.jvp(jax.grad(loss_fn), (params,), (unravel(x),))[1])[0]

    return flat, unravel, mv


@functools.partial(jax.jit, static_argnames=("loss_fn", "num_iter"))
def _lanczos_run(loss_fn, params, v0, num_iter):
    flat, _, mv = _flat_matvec(loss_fn, params)
    p = flat.size
    dt = flat.dtype
    v0 = v0.astype(dt) / jnp.linalg.norm(v0)
    V = jnp.zeros((num_iter + 1, p), dt).at[0].set(v0)
    alpha = jnp.zeros(num_iter, dt)
    beta = jnp.zeros(num_iter, dt)
    rows = jnp.arange(num_iter + 1)

    def body(i, carry):
        V, alpha, beta = carry
        w = mv(V[i])
        a = jnp.vdot(w, V[i])
        mask = (rows <= i).astype(dt)[:, None]
        Vm = V * mask
        for _ in range(2):  # full reorthogonalization, twice is enough
            w = w - Vm.T @ (Vm @ w)
        b = jnp.linalg.norm(w)
        nxt = jnp.where(b > 0, w / jnp.where(b > 0, b, 1.0), jnp.zeros_like(w))
        return V.at[i + 1].set(nxt), alpha.at[i].set(a), beta.at[i].set(b)

    V, alpha, beta = jax.lax.fori_loop(0, num_iter, body, (V, alpha, beta))
    return V, alpha, beta


def _tridiag_eig(alpha: np.ndarray, beta: np.ndarray):
    """Eigen-decomposition of the Lanczos tridiagonal, truncated at an invariant subspace."""
    m = alpha.size
    scale = max(float(np.max(np.abs(alpha))), float(np.max(np.abs(beta))), 1e-300)
    cut = m
    for i in range(m - 1):
        if beta[i] <= 1e-10 * scale:
            cut = i + 1
            break
    T = np.diag(alpha[:cut]) + np.diag(beta[: cut - 1], 1) + np.diag(beta[: cut - 1], -1)
    theta, Y = np.linalg.eigh(T)
    return theta, Y, cut


class Eigen(NamedTuple):
    """Eigenpairs of the Hessian, largest first.

    Attributes:
      values: ``(k,)`` eigenvalues (Ritz values), descending.
      vectors: list of ``k`` unit-norm numpy pytrees shaped like the params.
      residuals: ``(k,)`` true residual norms ``||H v - lambda v||`` of the returned pairs,
        from one more Hessian-vector product each (the Lanczos estimate ``|beta_m y_m|``
        drops to round-off once the Krylov space is invariant, and says nothing then).
      num_iter: Lanczos iterations used.
    """

    values: np.ndarray
    vectors: list
    residuals: np.ndarray
    num_iter: int

    def __repr__(self) -> str:
        vals = np.array2string(np.asarray(self.values), precision=4, separator=", ")
        res = np.array2string(np.asarray(self.residuals), precision=2, separator=", ")
        return (
            f"Eigen(values={vals}, residuals={res}, num_iter={self.num_iter}, "
            f"vectors=<{len(self.vectors)} pytrees>)"
        )


def _leading_size(batch) -> int:
    leaves = jax.tree_util.tree_leaves(batch)
    return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 1


def _batches_of(batches):
    """A fresh iterator over ``batches`` (a re-iterable, or a callable returning an iterator)."""
    it = batches() if callable(batches) else batches
    if iter(it) is it and not callable(batches):
        raise TypeError(
            "batches must be re-iterable (a list, or a function returning a fresh iterator): "
            "every Hessian-vector product passes over all of them"
        )
    return iter(it)


def _averaged_matvec(loss_fn, params, batches):
    """``(flat, unravel, mv)`` with ``mv(x) = sum_b n_b H_b x / sum_b n_b`` over the batches
    (``loss_fn(params, batch)``; ``n_b`` the batch's leading size), as PyHessian averages
    over a data loader. One compiled HVP, called once per batch."""
    flat, unravel = ravel_pytree(params)

    @jax.jit
    def one(x, batch):
        g = jax.grad(lambda p: loss_fn(p, batch))
        return ravel_pytree(jax.jvp(g, (params,), (unravel(x),))[1])[0]

    def mv(x):
        total, n = 0.0, 0
        for b in _batches_of(batches):
            w = _leading_size(b)
            total = total + w * np.asarray(one(jnp.asarray(x, flat.dtype), b), np.float64)
            n += w
        if n == 0:
            raise ValueError("batches is empty")
        return total / n

    return flat, unravel, mv


def _lanczos_host(mv, v0: np.ndarray, m: int):
    """Lanczos with full reorthogonalization in numpy around a host ``mv`` (batched HVPs)."""
    p = v0.size
    V = np.zeros((m + 1, p))
    V[0] = v0 / np.linalg.norm(v0)
    alpha, beta = np.zeros(m), np.zeros(m)
    for i in range(m):
        w = np.asarray(mv(V[i]), np.float64)
        alpha[i] = w @ V[i]
        for _ in range(2):
            w = w - V[: i + 1].T @ (V[: i + 1] @ w)
        beta[i] = np.linalg.norm(w)
        if beta[i] > 0:
            V[i + 1] = w / beta[i]
    return V, alpha, beta


@functools.partial(jax.jit, static_argnames=("loss_fn",))
def _flat_hvp(loss_fn, params, x):
    return _flat_matvec(loss_fn, params)[2](x)


def _start_vector(key, params, dtype):
    flat, _ = ravel_pytree(params)
    return jax.random.normal(key, flat.shape, dtype)


def lanczos(
    loss_fn: Callable,
    params,
    *,
    k: int = 1,
    num_iter: int | None = None,
    key: jax.Array | None = None,
    which: str = "largest",
    dtype=None,
    batches=None,
) -> Eigen:
    """Top-``k`` (or bottom-``k``) Hessian eigenpairs by Lanczos with full reorthogonalization.

    ``num_iter`` Hessian-vector products build an orthonormal Krylov basis ``V`` and a
    tridiagonal ``T = V^T H V``; the extreme eigenvalues of ``T`` (Ritz values) converge
    quickly to the extreme eigenvalues of ``H``. With ``num_iter`` equal to the number of
    parameters the result is exact up to round-off. Memory: ``num_iter + 1`` parameter
    vectors.

    Args:
      loss_fn: ``params -> scalar``, twice differentiable almost everywhere.
      params: where to evaluate the Hessian.
      k: number of eigenpairs (small, e.g. 1-5).
      num_iter: Krylov dimension; default ``min(n_params, max(3k + 20, 30))``.
      key: PRNG key for the start vector (default ``jax.random.key(0)``).
      which: ``"largest"`` (algebraic, default), ``"smallest"`` or ``"magnitude"``.
      dtype: ``"float32"`` (default) or ``"float64"``.
      batches: for data that do not fit one batch: a list of batches (or a function returning
        a fresh iterator over them); ``loss_fn`` is then ``loss_fn(params, batch)`` and every
        Hessian-vector product is the size-weighted average over the batches (PyHessian's
        data-loader mode), the Lanczos loop running on the host.

    Returns:
      An :class:`Eigen` (``residuals`` are the true ``||H v - lambda v||``).
    """
    if which not in ("largest", "smallest", "magnitude"):
        raise ValueError(f"which must be 'largest', 'smallest' or 'magnitude', got {which!r}")
    n = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params))
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, n_params={n}], got {k!r}")
    m = int(num_iter) if num_iter is not None else min(n, max(3 * k + 20, 30))
    if not k <= m <= n:
        raise ValueError(f"num_iter must be in [k={k}, n_params={n}], got {num_iter!r}")
    key = jax.random.key(0) if key is None else key
    with precision(dtype) as dt:
        p = cast_tree(params, dt)
        v0 = _start_vector(key, p, dt)
        if batches is None:
            V, alpha, beta = _lanczos_run(loss_fn, p, v0, m)

            def mv(x):
                return np.asarray(_flat_hvp(loss_fn, p, jnp.asarray(x, dt)), np.float64)
        else:
            _, _, mv = _averaged_matvec(loss_fn, p, batches)
            V, alpha, beta = _lanczos_host(mv, np.asarray(v0, np.float64), m)
        V = np.asarray(V, np.float64)
        alpha = np.asarray(alpha, np.float64)
        beta = np.asarray(beta, np.float64)
        theta, Y, cut = _tridiag_eig(alpha, beta)
        if which == "largest":
            idx = np.argsort(-theta)
        elif which == "smallest":
            idx = np.argsort(theta)
        else:
            idx = np.argsort(-np.abs(theta))
        idx = idx[: min(k, cut)]
        vecs = V[:cut].T @ Y[:, idx]
        vecs /= np.linalg.norm(vecs, axis=0, keepdims=True)
        res = np.array(
            [np.linalg.norm(mv(vecs[:, j]) - theta[i] * vecs[:, j]) for j, i in enumerate(idx)]
        )
    np_dt = np.float64 if resolve_dtype(dtype) == "float64" else np.float32
    vectors = [
        jax.tree_util.tree_map(lambda t: np.asarray(t, np_dt), unflat(vecs[:, j], params))
        for j in range(vecs.shape[1])
    ]
    return Eigen(values=theta[idx], vectors=vectors, residuals=res, num_iter=cut)


def hessian_directions(
    loss_fn: Callable,
    params,
    *,
    key: jax.Array | None = None,
    num_iter: int | None = None,
    dtype=None,
) -> tuple[Any, Any, np.ndarray]:
    """``(d1, d2, eigenvalues)``: the top two Hessian eigenvectors (unit norm) as directions."""
    eig = lanczos(loss_fn, params, k=2, num_iter=num_iter, key=key, dtype=dtype)
    if len(eig.vectors) < 2:
        raise ValueError("the Hessian's Krylov space has dimension < 2 at these params")
    return eig.vectors[0], eig.vectors[1], eig.values


class TraceEstimate(NamedTuple):
    """Hutchinson's estimate: ``mean`` with its ``stderr`` over ``num_probes`` samples."""

    mean: float
    stderr: float
    samples: np.ndarray

    def __repr__(self) -> str:
        return (
            f"TraceEstimate(mean={self.mean:.6g}, stderr={self.stderr:.3g}, "
            f"num_probes={np.size(self.samples)})"
        )


@functools.partial(jax.jit, static_argnames=("loss_fn", "batch_size"))
def _quad_forms(loss_fn, params, probes, batch_size):
    _, _, mv = _flat_matvec(loss_fn, params)
    return jax.lax.map(lambda z: jnp.vdot(z, mv(z)), probes, batch_size=batch_size)


def hutchinson_trace(
    loss_fn: Callable,
    params,
    *,
    key: jax.Array,
    num_probes: int = 100,
    batch_size: int = 8,
    dtype=None,
    batches=None,
) -> TraceEstimate:
    """Hutchinson's trace estimator ``tr H ~ mean_i z_i^T H z_i`` with Rademacher ``z_i``.

    Unbiased; its variance is ``2 sum_{i != j} H_ij^2`` per probe (exact for diagonal
    ``H``). Probes are processed ``batch_size`` at a time (vmapped HVPs) in one compiled map.
    With ``batches`` (see :func:`lanczos`), ``loss_fn(params, batch)`` and each ``H z`` is the
    size-weighted average over the batches, probe by probe.

    Returns:
      A :class:`TraceEstimate`.
    """
    if int(num_probes) != num_probes or num_probes < 1:
        raise ValueError(f"num_probes must be a positive int, got {num_probes!r}")
    with precision(dtype) as dt:
        p = cast_tree(params, dt)
        flat, _ = ravel_pytree(p)
        z = jax.random.rademacher(key, (int(num_probes), flat.size), dtype=dt)
        if batches is None:
            q = _quad_forms(loss_fn, p, z, int(min(batch_size, num_probes)))
            q = np.asarray(q, np.float64)
        else:
            _, _, mv = _averaged_matvec(loss_fn, p, batches)
            zs = np.asarray(z, np.float64)
            q = np.array([zi @ mv(zi) for zi in zs])
    se = float(q.std(ddof=1) / np.sqrt(q.size)) if q.size > 1 else float("nan")
    return TraceEstimate(mean=float(q.mean()), stderr=se, samples=q)


def spectral_density(
    loss_fn: Callable,
    params,
    *,
    key: jax.Array,
    num_probes: int = 4,
    num_iter: int = 40,
    grid: np.ndarray | None = None,
    sigma: float | None = None,
    dtype=None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al., 2019).

    Each probe runs ``num_iter`` Lanczos steps from a random unit vector; the Ritz values
    ``theta_j`` with weights ``tau_j = y_{1j}^2`` form a quadrature of the spectral measure.
    The density is the probe average of ``sum_j tau_j N(t; theta_j, sigma^2)``.

    Returns:
      ``(grid, density, nodes)``: evaluation grid, density on it (integrates to ~1) and
      ``{"theta": (probes, m), "weights": (probes, m)}``.
    """
    n = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params))
    m = min(int(num_iter), n)
    thetas, weights = [], []
    with precision(dtype) as dt:
        p = cast_tree(params, dt)
        for i in range(int(num_probes)):
            v0 = _start_vector(jax.random.fold_in(key, i), p, dt)
            _, alpha, beta = _lanczos_run(loss_fn, p, v0, m)
            theta, Y, cut = _tridiag_eig(
                np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
            )
            thetas.append(np.pad(theta, (0, m - cut), constant_values=np.nan))
            weights.append(np.pad(Y[0] ** 2, (0, m - cut)))
    th = np.array(thetas)
    w = np.array(weights)
    lo, hi = np.nanmin(th), np.nanmax(th)
    pad = 0.05 * (hi - lo + 1e-12)
    if grid is None:
        grid = np.linspace(lo - pad, hi + pad, 1000)
    grid = np.asarray(grid, np.float64)
    if sigma is None:
        sigma = max((hi - lo) / 200.0, 1e-12)
    ok = np.isfinite(th)
    t = np.where(ok, th, 0.0)
    dens = np.sum(
        np.where(ok[..., None], w[..., None], 0.0)
        * np.exp(-0.5 * ((grid - t[..., None]) / sigma) ** 2)
        / (sigma * np.sqrt(2 * np.pi)),
        axis=1,
    ).mean(axis=0)
    return grid, dens, {"theta": th, "weights": w}


def sharpness_at(
    loss_fn: Callable,
    params,
    d1,
    d2,
    points: Sequence,
    *,
    key: jax.Array | None = None,
    num_iter: int = 20,
    dtype=None,
) -> np.ndarray:
    """Top Hessian eigenvalue of the full loss at ``params + a d1 + b d2`` for each ``(a, b)``.

    Use it with the minima of a slice: ``sharpness_at(loss, p, d1, d2, [m.point for m in
    minima])``. (Each :class:`~optlab.landscape.Minimum` also carries the 2x2 Hessian of the
    slice itself, ``m.hessian_eigenvalues``.)
    """
    check_same_tree(params, d1, "d1")
    check_same_tree(params, d2, "d2")
    key = jax.random.key(0) if key is None else key
    n = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params))
    num_iter = min(int(num_iter), n)
    out = []
    for i, (a, b) in enumerate(np.asarray(points, np.float64).reshape(-1, 2)):
        p = jax.tree_util.tree_map(lambda x, u, v: x + a * u + b * v, params, d1, d2)  # noqa: B023
        eig = lanczos(
            loss_fn, p, k=1, num_iter=num_iter, key=jax.random.fold_in(key, i), dtype=dtype
        )
        out.append(eig.values[0])
    return np.asarray(out)
