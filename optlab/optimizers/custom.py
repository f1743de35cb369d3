"""Optimizers written from scratch in the optax init/update protocol.

Each is a factory returning an ``optax.GradientTransformation`` whose state is a ``NamedTuple``
with a ``count``; ``learning_rate`` may be a float, an array (swept) or an optax schedule.
They double as worked examples for writing your own (see ``docs/custom_optimizers.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from optlab.optimizers._registry import Range, register

_UNIT = Range(0.0, 1.0, high_open=True)
_NON_NEGATIVE = Range(0.0, None)


def _lr_at(learning_rate, count):
    return learning_rate(count) if callable(learning_rate) else learning_rate


def _tree_zeros(params):
    return jax.tree_util.tree_map(jnp.zeros_like, params)


class CountState(NamedTuple):
    count: jax.Array


@register("gd", defaults={"learning_rate": 1e-2}, reference="Cauchy (1847)")
def gd(learning_rate=1e-2) -> optax.GradientTransformation:
    """Plain gradient descent: ``θ ← θ - η ∇L(θ)``."""

    def init(params):
        del params
        return CountState(count=jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        del params
        lr = _lr_at(learning_rate, state.count)
        updates = jax.tree_util.tree_map(lambda g: -lr * g, grads)
        return updates, CountState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init, update)


class HeavyBallState(NamedTuple):
    count: jax.Array
    velocity: optax.Updates


@register(
    "heavy-ball",
    defaults={"learning_rate": 1e-2},
    reference="Polyak (1964)",
    ranges={"beta": _UNIT},
)
def heavy_ball(learning_rate=1e-2, beta: float = 0.9) -> optax.GradientTransformation:
    """Polyak's heavy-ball momentum: ``v ← β v - η ∇L(θ)``, ``θ ← θ + v``.

    Equivalent to ``θ_{t+1} = θ_t - η ∇L(θ_t) + β (θ_t - θ_{t-1})``. With a constant learning
    rate this equals PyTorch-style momentum ``optax.sgd(η, momentum=β)``.
    """

    def init(params):
        return HeavyBallState(count=jnp.zeros([], jnp.int32), velocity=_tree_zeros(params))

    def update(grads, state, params=None):
        del params
        lr = _lr_at(learning_rate, state.count)
        velocity = jax.tree_util.tree_map(lambda v, g: beta * v - lr * g, state.velocity, grads)
        return velocity, HeavyBallState(optax.safe_increment(state.count), velocity)

    return optax.GradientTransformation(init, update)


class AdamState(NamedTuple):
    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


@register(
    "adam-ref",
    defaults={"learning_rate": 1e-3},
    reference="Kingma & Ba (2015)",
    ranges={"b1": _UNIT, "b2": _UNIT, "eps": Range(0.0, None, low_open=True),
            "eps_root": _NON_NEGATIVE},
)  # fmt: skip
def adam_ref(
    learning_rate=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0
) -> optax.GradientTransformation:
    """A reference Adam, written out; matches ``optax.adam`` step for step.

    .. math::
        m_t = β_1 m_{t-1} + (1-β_1) g_t,\\quad v_t = β_2 v_{t-1} + (1-β_2) g_t^2,\\\\
        θ_t = θ_{t-1} - η\\, \\hat m_t / (\\sqrt{\\hat v_t + ε_{root}} + ε),\\quad
        \\hat m_t = m_t/(1-β_1^t),\\ \\hat v_t = v_t/(1-β_2^t).
    """

    def init(params):
        return AdamState(jnp.zeros([], jnp.int32), _tree_zeros(params), _tree_zeros(params))

    def update(grads, state, params=None):
        del params
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        c1, c2 = 1 - b1**t, 1 - b2**t
        lr = _lr_at(learning_rate, state.count)
        updates = jax.tree_util.tree_map(
            lambda m, v: -lr * (m / c1) / (jnp.sqrt(v / c2 + eps_root) + eps), mu, nu
        )
        return updates, AdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


class NewtonCGState(NamedTuple):
    count: jax.Array
    cg_iterations: jax.Array  # CG iterations used by the last step (diagnostic)


@register(
    "newton-cg",
    defaults={"learning_rate": 1.0},
    reference="Nocedal & Wright (2006), Numerical Optimization, Alg. 7.1; Martens (2010)",
    ranges={"damping": _NON_NEGATIVE, "cg_iters": Range(1, None, integer=True),
            "cg_tol": _NON_NEGATIVE},
)  # fmt: skip
def newton_cg(
    learning_rate=1.0, damping: float = 1e-3, cg_iters: int = 20, cg_tol: float = 1e-6
) -> optax.GradientTransformationExtraArgs:
    """Damped Newton–CG (truncated Newton) with exact Hessian-vector products.

    Solves ``(H + λ I) p = -g`` approximately by conjugate gradients, where ``H v`` is computed
    as forward-over-reverse ``jvp(grad(f))``; the step is ``θ ← θ + η p``. CG stops at
    ``cg_iters`` iterations, at relative residual ``cg_tol``, or on negative curvature (then the
    current iterate, or steepest descent on the first iteration, is used). On a quadratic with
    ``λ = 0`` and ``cg_iters ≥ dim`` one step lands on the minimum.

    It needs the loss as a function of the params, passed through optax's extra-args protocol:
    ``update(grads, state, params, value_fn=lambda p: loss(p, batch))`` (``optlab.train`` does).
    """

    def init(params):
        del params
        return NewtonCGState(jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32))

    def update(grads, state, params=None, *, value_fn=None, **extra):
        del extra
        if value_fn is None or params is None:
            raise ValueError(
                "newton-cg needs params and value_fn (the loss as a function of params): "
                "call update(grads, state, params, value_fn=...)"
            )
        g, unravel = ravel_pytree(grads)
        x0, _ = ravel_pytree(params)
        grad_fn = jax.grad(lambda flat: value_fn(unravel(flat)))

        def hvp(v):
            return jax.jvp(grad_fn, (x0,), (v,))[1] + damping * v

        b = -g
        bnorm = jnp.linalg.norm(b)

        def body(i, carry):
            p, r, d, rs, done, neg, iters = carry
            hd = hvp(d)
            curv = jnp.vdot(d, hd)
            negative = curv <= 0
            alpha = rs / jnp.where(negative, 1.0, curv)
            p_new = p + alpha * d
            r_new = r - alpha * hd
            rs_new = jnp.vdot(r_new, r_new)
            converged = jnp.sqrt(rs_new) <= cg_tol * bnorm
            d_new = r_new + (rs_new / jnp.where(rs == 0, 1.0, rs)) * d
            stop = done | negative
            # Freeze everything once stopped (fixed trip count keeps it vmappable).
            p = jnp.where(stop, p, p_new)
            r = jnp.where(stop, r, r_new)
            d = jnp.where(stop, d, d_new)
            rs = jnp.where(stop, rs, rs_new)
            neg = neg | (negative & ~done)
            iters = iters + jnp.where(stop, 0, 1)
            done = stop | converged
            return p, r, d, rs, done, neg, iters

        p0 = jnp.zeros_like(b)
        carry = (
            p0,
            b,
            b,
            jnp.vdot(b, b),
            bnorm == 0,
            jnp.zeros([], bool),
            jnp.zeros([], jnp.int32),
        )
        p, _, _, _, _, _, iters = jax.lax.fori_loop(0, cg_iters, body, carry)
        # Negative curvature on the very first direction: fall back to steepest descent.
        p = jnp.where((iters == 0) & (bnorm > 0), b, p)
        lr = _lr_at(learning_rate, state.count)
        updates = unravel(lr * p)
        return updates, NewtonCGState(optax.safe_increment(state.count), iters)

    return optax.GradientTransformationExtraArgs(init, update)
