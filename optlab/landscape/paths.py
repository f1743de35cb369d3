"""Low-loss paths between two solutions (mode connectivity).

Two trained solutions ``w0`` and ``w1`` are *connected* when a path between them keeps the loss
low. The straight line ``(1 - t) w0 + t w1`` usually crosses a barrier; a curve trained on the
loss often does not (Garipov et al. 2018; Draxler et al. 2018). Three kinds of path:

- ``"bezier"``: the quadratic Bezier curve ``phi(t) = (1-t)^2 w0 + 2t(1-t) theta + t^2 w1``
  whose bend ``theta`` minimizes ``E_{t ~ U(0,1)} L(phi(t))`` (Garipov et al., Sec. 3), trained
  with any optax optimizer on ``num_samples`` fresh ``t`` per step;
- ``"polychain"``: the polygonal chain ``w0 -> theta -> w1`` trained the same way;
- ``"neb"``: a nudged elastic band of ``n_images`` points (Henkelman & Jonsson 2000), with a
  climbing image, so the highest image converges to the index-1 saddle between the minima
  (the minimum energy path; Draxler et al. 2018 use AutoNEB on networks).

:func:`connect` fits one of them and evaluates the loss (and any metric) along it and along the
straight line; the *barrier* of a path is its highest loss minus the higher of its two ends.
Nothing here needs training code: any jittable ``loss_fn(params) -> scalar`` and any params
pytree work.

Example:
  >>> import jax, jax.numpy as jnp
  >>> f = lambda p: (p[0] ** 2 - 1) ** 2 + 4 * (p[1] - 1.5 * (1 - p[0] ** 2)) ** 2
  >>> line, path = connect(f, jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]),
  ...                      key=jax.random.key(0), steps=300)
  >>> round(line.barrier, 2), bool(path.barrier < 0.2 * line.barrier)
  (10.0, True)

References:
  T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov, A. G. Wilson. Loss surfaces, mode
  connectivity, and fast ensembling of DNNs. NeurIPS 2018.
  F. Draxler, K. Veschgini, M. Salmhofer, F. Hamprecht. Essentially no barriers in neural
  network energy landscape. ICML 2018.
  G. Henkelman, B. Uberuaga, H. Jonsson. A climbing image nudged elastic band method for
  finding saddle points and minimum energy paths. J. Chem. Phys. 113 (2000).
  I. Goodfellow, O. Vinyals, A. Saxe. Qualitatively characterizing neural network
  optimization problems. ICLR 2015 (the straight line).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from optlab import _checks
from optlab.landscape._util import cast_tree, check_same_tree, precision

__all__ = [
    "KINDS",
    "PathResult",
    "connect",
    "evaluate_path",
    "fit_curve",
    "fit_neb",
    "neb_arclength",
]

#: The kinds of path :func:`connect` fits (``"line"`` is the straight line, never fitted).
KINDS = ("bezier", "polychain", "neb")


class PathResult(NamedTuple):
    """The loss (and metrics) along one path from ``w0`` (``t = 0``) to ``w1`` (``t = 1``).

    Attributes:
      kind: ``"line"``, ``"bezier"``, ``"polychain"`` or ``"neb"``.
      ts: ``(n,)`` path parameter in ``[0, 1]`` (NEB: normalized arc length).
      losses: ``(n,)`` loss at each ``t``.
      metrics: ``{name: (n,)}`` values of the extra functions asked for (e.g. accuracy).
      barrier: ``max(losses) - max(losses[0], losses[-1])`` (>= 0).
      max_loss: ``max(losses)``; ``argmax_t`` the ``t`` where it is reached.
      nodes: the path's free points as params pytrees (Bezier/chain: ``[theta]``; NEB: the
        images, ends included; line: ``[]``).
      fit_losses: the training objective per step (empty for the line).
    """

    kind: str
    ts: np.ndarray
    losses: np.ndarray
    metrics: dict[str, np.ndarray]
    barrier: float
    max_loss: float
    argmax_t: float
    nodes: list
    fit_losses: np.ndarray

    def __repr__(self) -> str:
        return (
            f"PathResult(kind={self.kind!r}, points={len(self.ts)}, barrier={self.barrier:.4g}, "
            f"max_loss={self.max_loss:.4g} at t={self.argmax_t:.3g}, "
            f"ends=({self.losses[0]:.4g}, {self.losses[-1]:.4g}))"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no arrays of params)."""
        return {
            "kind": self.kind,
            "barrier": self.barrier,
            "max_loss": self.max_loss,
            "argmax_t": self.argmax_t,
            "end_losses": [float(self.losses[0]), float(self.losses[-1])],
            "points": len(self.ts),
        }


# --------------------------------------------------------------------------- curves


def _coefficients(kind: str, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(c1, c2)`` with ``phi(t) = w0 + c1 (theta - w0) + c2 (w1 - w0)``.

    Bezier: ``(1-t)^2 w0 + 2t(1-t) theta + t^2 w1 = w0 + 2t(1-t)(theta - w0) + t^2 (w1 - w0)``;
    chain: ``w0 + 2t (theta - w0)`` up to ``t = 1/2``, then ``theta + (2t - 1)(w1 - theta)``.
    """
    if kind == "bezier":
        return 2 * t * (1 - t), t**2
    first = t <= 0.5
    return jnp.where(first, 2 * t, 2 - 2 * t), jnp.where(first, 0.0, 2 * t - 1)


def _curve_point(kind, w0, theta, w1, t):
    c1, c2 = _coefficients(kind, t)
    return w0 + c1 * (theta - w0) + c2 * (w1 - w0)


@functools.partial(jax.jit, static_argnames=("loss_fn", "unravel", "kind", "opt", "steps", "m"))
def _fit_curve_run(loss_fn, unravel, kind, opt, steps, m, w0, w1, theta0, key):
    def objective(theta, t):
        pts = jax.vmap(lambda s: _curve_point(kind, w0, theta, w1, s))(t)
        return jnp.mean(jax.vmap(lambda x: loss_fn(unravel(x)))(pts))

    def step(carry, k):
        theta, state = carry
        # stratified t in [0, 1]: one uniform sample in each of m equal bins
        t = (jnp.arange(m) + jax.random.uniform(k, (m,), theta.dtype)) / m
        value, g = jax.value_and_grad(objective)(theta, t)
        updates, state = opt.update(g, state, theta)
        return (optax.apply_updates(theta, updates), state), value

    keys = jax.random.split(key, steps)
    (theta, _), values = jax.lax.scan(step, (theta0, opt.init(theta0)), keys)
    return theta, values


def _check_ends(p0, p1):
    check_same_tree(p0, p1, "p1", "p0")


def fit_curve(
    loss_fn: Callable,
    p0,
    p1,
    *,
    key: jax.Array,
    kind: str = "bezier",
    steps: int = 500,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-2,
    num_samples: int = 8,
    dtype=None,
) -> tuple[Any, np.ndarray]:
    """Train the bend ``theta`` of a Bezier curve or polygonal chain from ``p0`` to ``p1``.

    Minimizes ``E_{t ~ U(0, 1)} loss_fn(phi_theta(t))`` (Garipov et al. 2018) with
    ``num_samples`` stratified ``t`` per step, in one compiled ``lax.scan``. ``theta`` starts at
    the midpoint ``(p0 + p1) / 2`` (the curve starts as the straight line).

    Args:
      loss_fn: jittable ``params -> scalar``.
      p0, p1: the two solutions (same pytree structure).
      key: PRNG key of the ``t`` samples (split once per step).
      kind: ``"bezier"`` or ``"polychain"``.
      steps: optimizer steps.
      optimizer: an optax transformation (default ``optax.adam(learning_rate)``).
      num_samples: ``t`` samples per step.
      dtype: ``"float32"`` (default) or ``"float64"``.

    Returns:
      ``(theta, objective_per_step)``: the bend as a pytree like ``p0``, and the sampled
      objective at each step.
    """
    _checks.one_of("kind", kind, ("bezier", "polychain"))
    _checks.int_at_least("steps", steps, 1)
    _checks.int_at_least("num_samples", num_samples, 1)
    _check_ends(p0, p1)
    opt = optimizer if optimizer is not None else optax.adam(learning_rate)
    with precision(dtype) as dt:
        w0, unravel = ravel_pytree(cast_tree(p0, dt))
        w1, _ = ravel_pytree(cast_tree(p1, dt))
        theta, values = _fit_curve_run(
            loss_fn, unravel, kind, opt, int(steps), int(num_samples), w0, w1, (w0 + w1) / 2, key
        )
        return _to_tree(theta, p0), np.asarray(values, np.float64)


# --------------------------------------------------------------------------- NEB


def _tangents(x, energies):
    """Upwind tangents of the interior images (Henkelman & Jonsson 2000, eqs. 8-11)."""
    fwd = x[2:] - x[1:-1]
    bwd = x[1:-1] - x[:-2]
    e_prev, e_mid, e_next = energies[:-2], energies[1:-1], energies[2:]
    up = (e_next > e_mid) & (e_mid > e_prev)
    down = (e_next < e_mid) & (e_mid < e_prev)
    dmax = jnp.maximum(jnp.abs(e_next - e_mid), jnp.abs(e_prev - e_mid))[:, None]
    dmin = jnp.minimum(jnp.abs(e_next - e_mid), jnp.abs(e_prev - e_mid))[:, None]
    mixed = jnp.where((e_next > e_prev)[:, None], fwd * dmax + bwd * dmin, fwd * dmin + bwd * dmax)
    tau = jnp.where(up[:, None], fwd, jnp.where(down[:, None], bwd, mixed))
    return tau / jnp.maximum(jnp.linalg.norm(tau, axis=1, keepdims=True), 1e-30)


@functools.partial(jax.jit, static_argnames=("loss_fn", "unravel", "opt", "steps", "climb_after"))
def _neb_run(loss_fn, unravel, opt, steps, climb_after, images, spring):
    energy_and_grad = jax.vmap(jax.value_and_grad(lambda x: loss_fn(unravel(x))))

    def step(carry, i):
        inner, state = carry
        x = jnp.concatenate([images[:1], inner, images[-1:]])
        e, g = energy_and_grad(x)
        tau = _tangents(x, e)
        gi = g[1:-1]
        along = jnp.sum(gi * tau, axis=1, keepdims=True)
        seg = jnp.linalg.norm(x[1:] - x[:-1], axis=1)
        spring_f = spring * (seg[1:] - seg[:-1])[:, None] * tau
        # the "gradient" optax follows: minus the NEB force
        neb_g = gi - along * tau - spring_f
        top = jnp.argmax(e[1:-1])
        climb = (jnp.arange(inner.shape[0]) == top)[:, None] & (i >= climb_after)
        neb_g = jnp.where(climb, gi - 2 * along * tau, neb_g)
        updates, state = opt.update(neb_g, state, inner)
        return (optax.apply_updates(inner, updates), state), jnp.max(e)

    inner0 = images[1:-1]
    (inner, _), top_e = jax.lax.scan(step, (inner0, opt.init(inner0)), jnp.arange(steps))
    return jnp.concatenate([images[:1], inner, images[-1:]]), top_e


def fit_neb(
    loss_fn: Callable,
    p0,
    p1,
    *,
    n_images: int = 15,
    steps: int = 1000,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-2,
    spring: float = 1.0,
    climbing: bool = True,
    init: list | None = None,
    dtype=None,
) -> tuple[list, np.ndarray]:
    """A nudged elastic band from ``p0`` to ``p1`` (climbing image after half the steps).

    The ``n_images - 2`` interior images feel the loss gradient perpendicular to the path and
    a spring force along it (upwind tangents); with ``climbing`` the highest image instead
    climbs along the path and descends across it, so it converges to the saddle point.

    Args:
      loss_fn: jittable ``params -> scalar``.
      p0, p1: the two ends (fixed).
      n_images: images including both ends (>= 3).
      steps: optimizer steps (one compiled scan).
      optimizer: an optax transformation applied to minus the NEB force (default
        ``optax.sgd(learning_rate)``: plain steepest descent, the usual NEB update).
      spring: spring constant along the path.
      climbing: turn the highest image into a climbing image after ``steps // 2`` steps.
      init: optional starting images (list of ``n_images`` pytrees; default: the straight line).
      dtype: ``"float32"`` (default) or ``"float64"``.

    Returns:
      ``(images, highest_loss_per_step)``: the images as pytrees like ``p0``, ends included.
    """
    _checks.int_at_least("n_images", n_images, 3)
    _checks.int_at_least("steps", steps, 1)
    _check_ends(p0, p1)
    if init is not None and len(init) != n_images:
        raise ValueError(f"init must hold n_images={n_images} pytrees, got {len(init)}")
    opt = optimizer if optimizer is not None else optax.sgd(learning_rate)
    with precision(dtype) as dt:
        w0, unravel = ravel_pytree(cast_tree(p0, dt))
        w1, _ = ravel_pytree(cast_tree(p1, dt))
        if init is None:
            s = jnp.linspace(0.0, 1.0, n_images, dtype=dt)[:, None]
            images = (1 - s) * w0 + s * w1
        else:
            images = jnp.stack([ravel_pytree(cast_tree(p, dt))[0] for p in init])
        climb_after = steps // 2 if climbing else steps + 1
        out, top = _neb_run(
            loss_fn, unravel, opt, int(steps), int(climb_after), images, jnp.asarray(spring, dt)
        )
        out = np.asarray(out)
    return [_to_tree(x, p0) for x in out], np.asarray(top, np.float64)


# --------------------------------------------------------------------------- evaluation


def _to_tree(flat, like):
    _, unravel = ravel_pytree(like)
    return jax.tree_util.tree_map(np.asarray, unravel(jnp.asarray(flat)))


@functools.partial(jax.jit, static_argnames=("fns", "unravel", "batch_size"))
def _values_at(fns, unravel, points, batch_size):
    def one(x):
        p = unravel(x)
        return jnp.stack([jnp.asarray(f(p), points.dtype) for f in fns])

    return jax.lax.map(one, points, batch_size=batch_size)


def _path_points(kind: str, nodes_flat: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Flat params at each ``t``: line and curves in closed form; NEB piecewise linear in
    normalized arc length through its images."""
    w0, w1 = nodes_flat[0], nodes_flat[-1]
    if kind == "line":
        return (1 - ts)[:, None] * w0 + ts[:, None] * w1
    if kind in ("bezier", "polychain"):
        c1, c2 = (np.asarray(c, np.float64) for c in _coefficients(kind, jnp.asarray(ts)))
        theta = nodes_flat[1]
        return w0 + c1[:, None] * (theta - w0) + c2[:, None] * (w1 - w0)
    seg = np.linalg.norm(np.diff(nodes_flat, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-300)
    out = np.empty((ts.size, nodes_flat.shape[1]))
    for j in range(nodes_flat.shape[1]):
        out[:, j] = np.interp(ts, s, nodes_flat[:, j])
    return out


def neb_arclength(images) -> np.ndarray:
    """Normalized arc length (0 to 1) of each NEB image along the band."""
    flat = np.stack([np.asarray(ravel_pytree(p)[0], np.float64) for p in images])
    seg = np.linalg.norm(np.diff(flat, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-300)


def evaluate_path(
    loss_fn: Callable,
    kind: str,
    nodes: list,
    *,
    num_points: int = 61,
    metrics: Mapping[str, Callable] | None = None,
    batch_size: int = 16,
    dtype=None,
    fit_losses=None,
) -> PathResult:
    """The loss (and ``metrics``) at ``num_points`` equally spaced ``t`` along a path.

    Args:
      loss_fn: ``params -> scalar``.
      kind: ``"line"`` (``nodes = [w0, w1]``), ``"bezier"``/``"polychain"``
        (``nodes = [w0, theta, w1]``) or ``"neb"`` (the images, ends included; ``t`` is the
        normalized arc length, so the highest image lies on the grid: its ``t`` is added).
      nodes: pytrees of the same structure.
      num_points: points on ``[0, 1]``.
      metrics: ``{name: params -> scalar}`` evaluated at the same points.
      batch_size: points per compiled chunk.

    Returns:
      A :class:`PathResult`.
    """
    _checks.one_of("kind", kind, ("line", *KINDS))
    _checks.int_at_least("num_points", num_points, 2)
    for i, p in enumerate(nodes[1:], 1):
        check_same_tree(nodes[0], p, f"nodes[{i}]", "nodes[0]")
    ts = np.linspace(0.0, 1.0, int(num_points))
    metrics = dict(metrics or {})
    with precision(dtype) as dt:
        like = cast_tree(nodes[0], dt)
        _, unravel = ravel_pytree(like)
        flat = np.stack([np.asarray(ravel_pytree(cast_tree(p, dt))[0], np.float64) for p in nodes])
        if kind == "neb":  # put every image on the grid, so the band's top is seen exactly
            ts = np.union1d(ts, neb_arclength(nodes))
        pts = jnp.asarray(_path_points(kind, flat, ts), dt)
        fns = (loss_fn, *metrics.values())
        vals = np.asarray(_values_at(fns, unravel, pts, int(min(batch_size, len(ts)))), np.float64)
    losses = vals[:, 0]
    top = int(np.nanargmax(losses)) if np.isfinite(losses).any() else 0
    barrier = float(losses[top] - max(losses[0], losses[-1]))
    free = {"line": [], "bezier": nodes[1:2], "polychain": nodes[1:2], "neb": list(nodes)}[kind]
    return PathResult(
        kind=kind,
        ts=ts,
        losses=losses,
        metrics={k: vals[:, i + 1] for i, k in enumerate(metrics)},
        barrier=max(barrier, 0.0),
        max_loss=float(losses[top]),
        argmax_t=float(ts[top]),
        nodes=free,
        fit_losses=np.asarray([] if fit_losses is None else fit_losses, np.float64),
    )


def connect(
    loss_fn: Callable,
    p0,
    p1,
    *,
    method: str = "bezier",
    key: jax.Array | None = None,
    steps: int = 500,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float | None = None,
    num_points: int = 61,
    metrics: Mapping[str, Callable] | None = None,
    dtype=None,
    **fit_kw,
) -> tuple[PathResult, PathResult]:
    """Fit a low-loss path from ``p0`` to ``p1`` and evaluate it beside the straight line.

    Args:
      loss_fn: jittable ``params -> scalar`` (the loss the path is trained on).
      p0, p1: two solutions.
      method: one of :data:`KINDS`.
      key: PRNG key (curves sample ``t``; default ``jax.random.key(0)``).
      steps: fitting steps.
      optimizer: an optax transformation (default: Adam for curves, SGD for NEB).
      learning_rate: of the default optimizer (default 1e-2).
      num_points: evaluation points along each path.
      metrics: extra ``{name: params -> scalar}`` evaluated along both (e.g. accuracy).
      fit_kw: passed to :func:`fit_curve` (``num_samples``) or :func:`fit_neb`
        (``n_images``, ``spring``, ``climbing``).

    Returns:
      ``(line, path)``: two :class:`PathResult`; compare ``line.barrier`` with
      ``path.barrier``.
    """
    _checks.one_of("method", method, KINDS)
    key = jax.random.key(0) if key is None else key
    lr = 1e-2 if learning_rate is None else float(learning_rate)
    if method == "neb":
        nodes, fit = fit_neb(
            loss_fn, p0, p1, steps=steps, optimizer=optimizer, learning_rate=lr, dtype=dtype,
            **fit_kw,
        )  # fmt: skip
    else:
        theta, fit = fit_curve(
            loss_fn, p0, p1, key=key, kind=method, steps=steps, optimizer=optimizer,
            learning_rate=lr, dtype=dtype, **fit_kw,
        )  # fmt: skip
        nodes = [p0, theta, p1]
    common = {"num_points": num_points, "metrics": metrics, "dtype": dtype}
    line = evaluate_path(loss_fn, "line", [p0, p1], **common)
    path = evaluate_path(loss_fn, method, nodes, fit_losses=fit, **common)
    return line, path
