"""Batch-minor evaluation of many small MLPs at once: the parameter sets along the vector lanes.

Sweeps (many runs) and landscape slices (many grid points) of a small MLP both evaluate the
same network under ``R`` parameter sets on one shared batch of rows. With the sets as the
*leading* axis (``vmap``) every matmul is ``(n, 2) @ (2, 3)``-sized and the vector units idle;
here the sets are the *last* axis of everything instead: each weight is ``(fan_in, fan_out,
R)``, each bias ``(fan_out, R)``, and each unit's activation is an ``(n, R)`` array, so the
hidden widths are unrolled and the ``R`` sets fill the SIMD lanes, while the batch is read
once for all of them.

The per-set loss is the same math as ``problem.loss`` (mean squared error, softmax
cross-entropy or logistic loss of the task) and is checked numerically against
``problem.loss`` before it is used (:func:`loss_reason`). The squared-error and logistic terms
are ``optlab.losses``' own (:func:`~optlab.losses.squared_error`,
:func:`~optlab.losses.binary_log_likelihood`), reduced here over rows only. The softmax
cross-entropy is written out over the list of output columns instead of calling
``losses.softmax_cross_entropy``: that one takes an ``(n, K)`` logits array, and stacking the
columns into an ``(n, K, R)`` array would stop the per-column reductions from fusing (the
lanes layout exists for that fusion); writing ``losses.softmax_cross_entropy`` over columns
instead would change the compiled program of every other engine.

Used by ``optlab.sweep`` (the ``"lanes"`` engine) and ``optlab.landscape`` (slices of
``problem_loss``); it depends on neither.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _cache
from optlab import losses as losses_lib
from optlab import mlp as mlp_lib

__all__ = [
    "MAX_TERMS",
    "activation_of",
    "structural_reason",
    "forward",
    "per_set_loss",
    "loss_reason",
    "lanes_loss",
    "to_lanes",
]

#: Largest total number of unrolled weight terms ``sum(fan_in * fan_out)``; wider MLPs are
#: matmul-bound, where a vmapped/mapped layout is the better one.
MAX_TERMS = 512

_TASKS = ("regression", "classification", "binary")


def activation_of(problem) -> Callable | None:
    """The problem's hidden activation as a function (``None`` if unknown)."""
    act = dict(problem.config or {}).get("activation", "relu")
    if callable(act):
        return act
    return mlp_lib.ACTIVATIONS.get(act)


def structural_reason(problem, *, full_batch: bool = True) -> str | None:
    """Why the lanes layout cannot evaluate ``problem`` (``None`` if it can).

    ``full_batch=False`` skips the training-batch condition (for evaluating a fixed split,
    as landscape slices do).
    """
    if problem.data is None or problem.sizes is None or problem.apply is None:
        return "the problem is not an MLP on a dataset"
    n = int(problem.data.train.x.shape[0])
    if full_batch and problem.batch_size is not None and problem.batch_size < n:
        return f"it trains on minibatches (batch_size={problem.batch_size} < {n} rows)"
    if problem.data.task not in _TASKS:
        return f"unknown task {problem.data.task!r}"
    if activation_of(problem) is None:
        return "unknown activation"
    sizes = tuple(problem.sizes)
    terms = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if terms > MAX_TERMS:
        return (
            f"the MLP {sizes} is too wide for unrolled lanes ({terms} weight terms > "
            f"{MAX_TERMS}); it is matmul-bound, where vmap/map is the better layout"
        )
    return None


def forward(params, x, act) -> list[jax.Array]:
    """Forward pass of ``R`` MLPs at once: leaves ``(fan_in, fan_out, R)`` / ``(fan_out, R)``.

    Returns the output units as a list of ``(n, R)`` arrays; the inputs ``x`` are ``(n, d)``,
    shared by every set.
    """
    a = [x[:, i : i + 1] for i in range(x.shape[1])]  # (n, 1): broadcast over the sets
    last = len(params) - 1
    for k, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        fan_in, fan_out = w.shape[0], w.shape[1]
        z = []
        for o in range(fan_out):
            acc = a[0] * w[0, o]
            for i in range(1, fan_in):
                acc = acc + a[i] * w[i, o]
            z.append(acc + b[o])
        a = z if k == last else [act(v) for v in z]
    return a


def per_set_loss(problem, act=None) -> Callable:
    """``(params_lanes, split) -> (R,)``: the loss of each set, the same math as ``problem.loss``.

    Regression is the mean squared error over rows and outputs, classification the mean
    softmax cross-entropy over rows, binary the mean logistic loss; the output units stay a
    list of ``(n, R)`` columns (no ``(n, K, R)`` array is formed), so the reductions fuse.
    """
    act = act or activation_of(problem)
    task = problem.data.task

    def per_set(params, split):
        out = forward(params, split.x, act)
        n = split.x.shape[0]
        if task == "regression":
            y = split.y.reshape(n, -1)
            total = 0.0
            for o, v in enumerate(out):
                total = total + jnp.sum(losses_lib.squared_error(v, y[:, o : o + 1]), axis=0)
            return total / (n * len(out))
        if task == "classification":
            m = out[0]
            for v in out[1:]:
                m = jnp.maximum(m, v)
            m = jax.lax.stop_gradient(m)  # log-sum-exp shifted by the row maximum
            s = 0.0
            picked = 0.0
            labels = split.y.astype(jnp.int32)[:, None]
            for c, v in enumerate(out):
                s = s + jnp.exp(v - m)
                picked = picked + jnp.where(labels == c, v, 0.0)
            return jnp.mean(m + jnp.log(s) - picked, axis=0)
        z = out[0]
        y = split.y.reshape(n, 1).astype(z.dtype)
        return -jnp.mean(losses_lib.binary_log_likelihood(z, y), axis=0)

    return per_set


def to_lanes(tree):
    """Leaves ``(R, *shape) -> (*shape, R)``: a stack of parameter sets in the lanes layout."""
    return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, -1), tree)


_LOSS_CHECKS = _cache.Cache(maxsize=64)
_LANES_LOSSES = _cache.Cache(maxsize=64)


def loss_reason(problem) -> str | None:
    """``None`` if :func:`per_set_loss` equals ``problem.loss`` (two inits, train split).

    Checked once per problem object (cached), so a problem whose ``loss`` is not the
    standard MLP loss of its task never takes the lanes path.
    """

    def check():
        try:
            ps = [problem.init(k) for k in jax.random.split(jax.random.key(0), 2)]
            split = problem.data.train
            stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *ps)
            got = np.asarray(per_set_loss(problem)(to_lanes(stacked), split))
            want = np.asarray([float(problem.loss(p, split)) for p in ps])
            if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
                return f"the batched MLP loss {got} does not match problem.loss {want}"
        except Exception as e:  # noqa: BLE001 - any failure means: no lanes for this problem
            return f"the batched MLP loss failed ({type(e).__name__}: {e})"
        return None

    return _LOSS_CHECKS.get(_cache.ref(problem), check)


def lanes_loss(problem) -> Callable | None:
    """``(params_lanes, split) -> (R,)``: ``problem.loss`` of ``R`` parameter sets at once.

    The leaves of ``params_lanes`` carry the ``R`` sets in a trailing axis (``w: (fan_in,
    fan_out, R)``, ``b: (fan_out, R)``). ``None`` when the problem is not a small MLP on a
    dataset or its loss is not the standard one. One function object per problem, so
    programs built from it compile once.
    """

    def build():
        ok = structural_reason(problem, full_batch=False) is None and not loss_reason(problem)
        return per_set_loss(problem) if ok else None

    return _LANES_LOSSES.get(_cache.ref(problem), build)
