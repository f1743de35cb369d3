"""Multilayer perceptrons as plain pytrees with pure ``init``/``apply`` functions.

Params are a list of layers, each ``{"w": (fan_in, fan_out), "b": (fan_out,)}``; ``apply``
uses the chosen activation between layers and a linear output. Works on any leading batch
shape: ``x`` has shape ``(..., sizes[0])``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from optlab import mlp
    >>> params = mlp.init(jax.random.key(0), (2, 3, 1))
    >>> mlp.apply(params, jnp.ones((5, 2))).shape
    (5, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Params = list[dict[str, jax.Array]]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "leaky_relu": jax.nn.leaky_relu,
    "silu": jax.nn.silu,
    "identity": lambda x: x,
}

INITIALIZERS = ("he", "glorot", "lecun")


def _resolve_activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(
            f"unknown activation {activation!r}; accepted: {sorted(ACTIVATIONS)} or a callable"
        ) from None


def init(
    key: jax.Array,
    sizes: Sequence[int],
    *,
    scheme: str = "he",
    dtype=jnp.float32,
) -> Params:
    """Initialize an MLP with layer widths ``sizes`` (input first, output last).

    Weights are drawn from a zero-mean normal with variance ``2 / fan_in`` (``"he"``, Kaiming,
    for ReLU), ``2 / (fan_in + fan_out)`` (``"glorot"``, Xavier) or ``1 / fan_in`` (``"lecun"``).
    Biases start at zero. Each layer uses its own key, split from ``key``.

    Args:
      key: a JAX PRNG key.
      sizes: widths, e.g. ``(2, 3, 1)`` for the 2-3-1 adding network; at least two entries.
      scheme: ``"he"``, ``"glorot"`` or ``"lecun"``.
      dtype: parameter dtype.

    Returns:
      A list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dicts.
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"sizes must list at least two positive widths, got {sizes}")
    if scheme not in INITIALIZERS:
        raise ValueError(f"unknown init scheme {scheme!r}; accepted: {list(INITIALIZERS)}")
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        var = {"he": 2.0 / fan_in, "glorot": 2.0 / (fan_in + fan_out), "lecun": 1.0 / fan_in}[
            scheme
        ]
        w = jnp.sqrt(var).astype(dtype) * jax.random.normal(k, (fan_in, fan_out), dtype)
        params.append({"w": w, "b": jnp.zeros((fan_out,), dtype)})
    return params


def apply(params: Params, x: jax.Array, activation: str | Callable = jax.nn.relu) -> jax.Array:
    """Forward pass: ``activation`` between layers, linear output.

    Args:
      params: as returned by :func:`init`.
      x: inputs of shape ``(..., sizes[0])``.
      activation: a callable or a name from ``ACTIVATIONS`` (default ReLU).

    Returns:
      Outputs of shape ``(..., sizes[-1])``.
    """
    act = _resolve_activation(activation)
    fan_in = params[0]["w"].shape[0]
    if x.shape[-1:] != (fan_in,):
        raise ValueError(
            f"input feature size {x.shape[-1] if x.ndim else None} (x.shape={tuple(x.shape)}) "
            f"does not match the network's input size {fan_in}"
        )
    h = x
    for i, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        if i < len(params) - 1:
            h = act(h)
    return h


def sizes_of(params: Params) -> tuple[int, ...]:
    """The layer widths of ``params``, input first."""
    return (params[0]["w"].shape[0], *(layer["w"].shape[1] for layer in params))


def num_params(params) -> int:
    """Total number of scalars in a params pytree."""
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))


def from_weights(weights: Sequence[tuple[Sequence[Sequence[float]], Sequence[float]]]) -> Params:
    """Build params from nested lists ``[(w, b), ...]`` with ``w`` shaped ``(fan_in, fan_out)``."""
    params = []
    for w, b in weights:
        w = jnp.asarray(w, jnp.float32)
        b = jnp.asarray(b, jnp.float32)
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ValueError(f"layer shapes w{tuple(w.shape)} b{tuple(b.shape)} do not fit")
        params.append({"w": w, "b": b})
    return params
