"""Pure losses and metrics: ``f(predictions, targets) -> scalar`` (mean over the batch).

All of them are jittable and differentiable; the classification losses work from logits and
are numerically stable (log-sum-exp, log-sigmoid), so huge logits give finite values.

The per-element terms (:func:`squared_error`, :func:`binary_log_likelihood`) are the one
definition of those losses: the batch-mean forms here and the per-set column forms of
``optlab.lanes`` (which reduce over rows only) both apply them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def squared_error(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Elementwise ``(pred - target)**2``."""
    return jnp.square(pred - target)


def binary_log_likelihood(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Elementwise ``y log σ(z) + (1-y) log(1-σ(z))`` of 0/1 ``labels``, via ``log_sigmoid``."""
    return labels * jax.nn.log_sigmoid(logits) + (1 - labels) * jax.nn.log_sigmoid(-logits)


def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Mean squared error ``mean((pred - target)**2)``; ``target`` broadcasts to ``pred``."""
    pred = jnp.asarray(pred)
    target = (
        jnp.asarray(target).reshape(pred.shape) if jnp.size(target) == jnp.size(pred) else target
    )
    return jnp.mean(squared_error(pred, target))


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of integer ``labels`` (shape ``(...)``) under ``softmax(logits)``.

    ``-mean(logits[label] - logsumexp(logits))``, stable for any logit magnitude.
    """
    labels = jnp.asarray(labels).astype(jnp.int32)
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"labels shape {tuple(labels.shape)} must equal logits shape without the class axis "
            f"{tuple(logits.shape[:-1])}"
        )
    lse = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    return jnp.mean(lse - picked)


def binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean binary cross-entropy of 0/1 ``labels`` given ``logits`` (pre-sigmoid).

    ``-mean(y log σ(z) + (1-y) log(1-σ(z)))`` computed with ``log_sigmoid`` for stability.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels, logits.dtype).reshape(logits.shape)
    return -jnp.mean(binary_log_likelihood(logits, labels))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max logit equals the integer label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == jnp.asarray(labels).astype(jnp.int32))


def binary_accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows where ``logits > 0`` agrees with the 0/1 label."""
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels).reshape(logits.shape)
    return jnp.mean((logits > 0) == (labels > 0.5))
