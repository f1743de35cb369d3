"""Floating-point precision: float32 by default, float64 end to end by one ``dtype`` argument.

``train``, ``sweep``, studies and the slices take ``dtype="float32"`` (default) or
``"float64"``. Float64 runs inside :func:`precision`, which enables JAX's 64-bit mode only for
the duration of the call (``jax.enable_x64``), so the rest of the process keeps JAX's float32
defaults: a float32 run computes the same numbers whether or not a float64 run came before it.
Inside, :func:`cast_floating` turns the problem's data and the initial params into float64
(integer labels, step counters and PRNG keys keep their types), and every intermediate
follows by type promotion. A process that already runs with ``jax_enable_x64`` on gets
float64 without any switching.

Why scoped rather than a global switch: turning on ``jax_enable_x64`` for good would change
what every later float32 call computes (``jax.random.normal``'s default dtype, for one).
The price of scoping: JAX (0.10) caches device copies of closed-over constants without regard
to the x64 flag, so a function traced in one mode can fail to lower in the other ("requires
compatible element types"); entering and leaving float64 mode therefore clears JAX's caches
(``jax.clear_caches()``): correct, at the price of recompiling. Float32 never clears anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DTYPES", "resolve_dtype", "precision", "cast_floating"]

DTYPES = ("float32", "float64")


def resolve_dtype(dtype, name: str = "dtype") -> str:
    """``"float32"`` or ``"float64"`` from ``None``, a name or a numpy dtype.

    Raises:
      ValueError: any other value (the message names ``name`` and the accepted values).
    """
    if dtype is None:
        return "float32"
    try:
        text = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    except TypeError:
        text = None
    if text not in DTYPES:
        raise ValueError(f"{name} must be one of {list(DTYPES)}, got {dtype!r}")
    return text


@contextlib.contextmanager
def precision(dtype) -> Iterator[jnp.dtype]:
    """Context in which computations run at ``dtype``; float64 enables x64 only locally.

    Yields the jnp dtype (``jnp.float32`` or ``jnp.float64``). See the module docstring for
    why entering and leaving float64 mode clears JAX's caches.
    """
    name = resolve_dtype(dtype)
    if name == "float64" and not jax.config.jax_enable_x64:
        jax.clear_caches()
        try:
            with jax.enable_x64(True):
                yield jnp.float64
        finally:
            jax.clear_caches()
    elif name == "float64":
        yield jnp.float64
    else:
        yield jnp.float32


def cast_floating(tree, dtype):
    """``tree`` with every floating leaf cast to ``dtype`` (jax arrays); other leaves as given.

    Call it inside :func:`precision` for float64 (outside, JAX would truncate to float32).
    """

    def cast(x):
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(x, dtype)
        if isinstance(x, float):
            return jnp.asarray(x, dtype)
        return x

    return jax.tree_util.tree_map(cast, tree)
