"""A problem at another floating-point precision: :func:`at_dtype`.

``train(..., dtype="float64")`` and ``sweep(..., dtype="float64")`` train
``at_dtype(problem, "float64")``: the same problem with its data splits and its initial params
cast to float64 (integer labels unchanged), so that with JAX's 64-bit mode on
(:func:`optlab.precision.precision`) every intermediate is float64. The initial params are
drawn as the problem draws them (float32 for the MLPs) and then cast, so a float64 run starts
from exactly the point the float32 run starts from.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from optlab import _cache
from optlab.precision import cast_floating, resolve_dtype
from optlab.problems.core import Problem

__all__ = ["at_dtype"]

# one cast copy per (problem, dtype), so compiled programs keyed by the problem are reused
_CAST = _cache.Cache(maxsize=32)


def at_dtype(problem: Problem, dtype) -> Problem:
    """``problem`` with its data and ``init`` in ``dtype`` (``problem`` itself for float32).

    Call it inside :func:`optlab.precision.precision` for float64 (the cast needs JAX's
    64-bit mode).
    """
    name = resolve_dtype(dtype)
    if name == "float32":
        return problem
    return _CAST.get((_cache.ref(problem), name), lambda: _cast(problem, jnp.dtype(name)))


def _cast(problem: Problem, dt) -> Problem:
    data = problem.data
    if data is not None:
        data = dataclasses.replace(
            data, **{s: cast_floating(getattr(data, s), dt) for s in ("train", "val", "test")}
        )
    init = problem.init

    def init_at_dtype(key):
        return cast_floating(init(key), dt)

    return dataclasses.replace(problem, data=data, init=init_at_dtype)
