"""One training step as a pure function, and the state it carries.

``init_state`` builds a :class:`TrainState`, ``make_step`` returns ``(state, train_split,
step_index) -> (state, (loss, grad_norm))`` and ``make_evaluate`` the evaluation of params on a
whole split. All are vmappable: ``optlab.sweep`` batches them over hyperparameters and seeds.

Divergence never raises: :func:`divergence_rule`, shared by every engine, freezes a run at
its first non-finite loss, gradient or params and records NaN afterwards.

Seeds are paired: :func:`split_key` splits ``key`` into an init key and a data key by a fixed
rule that does not depend on the optimizer, so the same key gives every optimizer the same
initial params and the same minibatch order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optlab import data as data_lib
from optlab import optimizers as optimizers_lib
from optlab.data import batching

__all__ = [
    "TrainState",
    "split_key",
    "init_state",
    "divergence_rule",
    "make_step",
    "make_batch_step",
    "minibatch",
    "make_evaluate",
    "tree_where",
]


class TrainState(NamedTuple):
    """Everything one run carries from step to step (a pytree)."""

    params: Any
    opt_state: Any
    data_key: jax.Array
    diverged: jax.Array  # bool scalar
    diverged_step: jax.Array  # int32 scalar, -1 while finite


def split_key(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The fixed rule pairing seeds across optimizers: ``key -> (init_key, data_key)``."""
    return jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)


def init_state(problem, optimizer: optax.GradientTransformation, key: jax.Array, params=None):
    """Initial ``TrainState``: params from ``problem.init(init_key)`` unless ``params`` given."""
    init_key, data_key = split_key(key)
    if params is None:
        params = problem.init(init_key)
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        data_key=data_key,
        diverged=jnp.zeros([], bool),
        diverged_step=jnp.full([], -1, jnp.int32),
    )


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.ones([], bool)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def tree_where(cond, a, b):
    """``jnp.where(cond, a, b)`` leaf by leaf over two pytrees of the same structure."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


def divergence_rule(diverged, diverged_step, bad, step_index, loss, grad_norm):
    """The one divergence rule of training and sweeps (elementwise, so it batches over runs).

    A run is frozen from the first step whose loss, gradient or new params are non-finite
    (``bad``); that step is recorded, and every later step records NaN loss and gradient norm.

    Returns:
      ``(freeze, diverged_step, recorded_loss, recorded_grad_norm)``; ``freeze`` is the new
      ``diverged`` flag and says where the old params and optimizer state must be kept.
    """
    freeze = diverged | bad
    new_step = jnp.where(bad & ~diverged, step_index, diverged_step).astype(jnp.int32)
    nan = jnp.asarray(jnp.nan, loss.dtype)
    return (
        freeze,
        new_step,
        jnp.where(diverged, nan, loss),
        jnp.where(diverged, nan, grad_norm.astype(loss.dtype)),
    )


def make_step(problem, optimizer: optax.GradientTransformation) -> Callable:
    """A pure step ``(state, train_split, step_index) -> (state, (loss, grad_norm))``.

    The minibatch for ``step_index`` comes from ``optlab.data.get_batch`` (full batch when the
    problem has no batch size), or, when ``train_split`` is a ``batching.OrderedSplit`` (a
    sweep's epochs' key material, computed apart), from ``get_batch_ordered``: the same rows.
    Optimizers that take optax extra args (L-BFGS, Newton-CG) get
    ``value``, ``grad`` and ``value_fn`` (the loss on this batch as a function of params).
    Once a run has diverged the step is a no-op that records NaN.
    """
    on_batch = make_batch_step(problem, optimizer)

    def step(state: TrainState, train_split, step_index):
        return on_batch(state, minibatch(problem, train_split, state.data_key, step_index),
                        step_index)  # fmt: skip

    return step


def minibatch(problem, train_split, data_key: jax.Array, step_index):
    """The batch step ``step_index`` of a run with ``data_key`` trains on (None without data)."""
    if problem.data is None or train_split is None:
        return None
    if isinstance(train_split, batching.OrderedSplit):  # a sweep's precomputed epochs
        return batching.get_batch_ordered(train_split, step_index, problem.batch_size)
    return data_lib.get_batch(train_split, data_key, step_index, problem.batch_size)


def make_batch_step(problem, optimizer: optax.GradientTransformation) -> Callable:
    """:func:`make_step` on a given batch: ``(state, batch, step_index) -> (state, (loss,
    grad_norm))``, ``batch`` from :func:`minibatch` (sweeps draw it once for the runs that
    share a seed)."""
    extra = optimizers_lib.needs_value_fn(optimizer)

    def step(state: TrainState, batch, step_index):
        def loss_fn(p):
            return problem.loss(p, batch)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        if extra:
            updates, opt_state = optimizer.update(
                grads, state.opt_state, state.params, value=loss, grad=grads, value_fn=loss_fn
            )
        else:
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        grad_norm = optax.tree.norm(grads)
        bad = ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm) & _all_finite(new_params))
        freeze, diverged_step, rec_loss, rec_gnorm = divergence_rule(
            state.diverged, state.diverged_step, bad, step_index, loss, grad_norm
        )
        new_state = TrainState(
            params=tree_where(freeze, state.params, new_params),
            opt_state=tree_where(freeze, state.opt_state, opt_state),
            data_key=state.data_key,
            diverged=freeze,
            diverged_step=diverged_step,
        )
        return new_state, (rec_loss, rec_gnorm)

    return step


def make_evaluate(problem) -> Callable:
    """A pure ``(params, split) -> (loss, {metric: value})`` on a whole split.

    It is ``problem.loss_and_metrics``, the one evaluation that training, sweeps and
    ``Problem.evaluate`` compile.
    """
    return problem.loss_and_metrics
