"""Small convolutional networks as plain pytrees with pure ``init``/``apply`` functions.

A network is ``len(channels)`` blocks of *conv -> ReLU -> max-pool* followed by a dense head:

- conv: ``kernel_size x kernel_size`` kernels, stride 1, ``"SAME"`` zero padding
  (``jax.lax.conv_general_dilated``, NHWC images, HWIO kernels);
- max-pool: ``pool x pool`` windows with stride ``pool`` and ``"SAME"`` padding (the windows
  of ``jax.lax.reduce_window``, computed by :func:`max_pool`), so each block maps ``H`` to
  ``ceil(H / pool)``;
- head: the pooled features flattened in ``(H, W, C)`` order, then an :mod:`optlab.mlp` with
  ReLU between layers and a linear output.

Params are a dict ``{"conv": [{"w": (k, k, c_in, c_out), "b": (c_out,)}, ...], "dense":
[{"w": (fan_in, fan_out), "b": (fan_out,)}, ...]}``: the last axis of every kernel indexes
its output filters, which is what filter-normalized landscape directions rescale
(:func:`optlab.landscape.random_directions`).

With ``channels=(32, 64)``, ``dense=(1024,)``, ``kernel_size=5`` on 28x28x1 inputs this is
DeepOBS's ``mnist_2c2d`` network (Schneider, Balles and Hennig, 2019).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from optlab import cnn
    >>> params = cnn.init(jax.random.key(0), (8, 8, 1), channels=(4,), dense=(16,), n_out=10,
    ...                   kernel_size=3)
    >>> params["conv"][0]["w"].shape, params["dense"][0]["w"].shape
    ((3, 3, 1, 4), (64, 16))
    >>> cnn.apply(params, jnp.ones((5, 8, 8, 1))).shape
    (5, 10)

References:
    F. Schneider, L. Balles, P. Hennig. DeepOBS: A Deep Learning Optimizer Benchmark Suite.
    ICLR 2019, arXiv:1903.05499.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optlab import mlp

__all__ = ["apply", "architecture", "feature_shape", "init", "max_pool"]

Params = dict[str, list[dict[str, jax.Array]]]

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _positive_ints(name: str, values: Any, *, length: int | None = None) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of positive ints, got {values!r}") from None
    if any(v <= 0 for v in out) or (length is not None and len(out) != length):
        what = f"{length} positive ints" if length is not None else "positive ints"
        raise ValueError(f"{name} must be {what}, got {values!r}")
    return out


def feature_shape(input_shape: Sequence[int], channels: Sequence[int], pool: int = 2):
    """``(H, W, C)`` after the conv blocks: each block maps ``H`` to ``ceil(H / pool)``."""
    h, w, c = _positive_ints("input_shape", input_shape, length=3)
    for _ in channels:
        h, w = math.ceil(h / pool), math.ceil(w / pool)
    return h, w, (int(channels[-1]) if len(channels) else c)


def architecture(
    input_shape: Sequence[int],
    channels: Sequence[int],
    dense: Sequence[int],
    n_out: int,
    *,
    kernel_size: int = 5,
    pool: int = 2,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int, int, int]:
    """The arguments of :func:`init`, checked (no jax work): ``(input_shape, channels, dense,
    kernel_size, pool, n_out)`` as ints; ``ValueError``/``TypeError`` naming a bad one."""
    in_shape = _positive_ints("input_shape", input_shape, length=3)
    channels = _positive_ints("channels", channels)
    dense = _positive_ints("dense", dense)
    (k,) = _positive_ints("kernel_size", (kernel_size,))
    (pool,) = _positive_ints("pool", (pool,))
    (n_out,) = _positive_ints("n_out", (n_out,))
    if not channels:
        raise ValueError("channels must list at least one conv block, e.g. (32, 64)")
    return in_shape, channels, dense, k, pool, n_out


def init(
    key: jax.Array,
    input_shape: Sequence[int],
    channels: Sequence[int] = (32, 64),
    dense: Sequence[int] = (1024,),
    n_out: int = 10,
    *,
    kernel_size: int = 5,
    pool: int = 2,
    scheme: str = "he",
    dtype=jnp.float32,
) -> Params:
    """Initialize a conv net for images of shape ``input_shape = (H, W, C)``.

    Kernels are drawn from a zero-mean normal with variance ``2 / fan_in`` (``"he"``),
    ``2 / (fan_in + fan_out)`` (``"glorot"``) or ``1 / fan_in`` (``"lecun"``), where a conv
    layer's ``fan_in = k * k * c_in`` and ``fan_out = k * k * c_out``; biases start at zero.
    The dense head is :func:`optlab.mlp.init` with the same scheme. Every layer has its own key
    split from ``key``.

    Args:
      key: a JAX PRNG key.
      input_shape: ``(H, W, C)`` of one image.
      channels: output filters of each conv block (at least one block).
      dense: hidden widths of the dense head (may be empty: a linear head).
      n_out: outputs (classes).
      kernel_size: side of the square conv kernels.
      pool: side (and stride) of the max-pool windows; sets the head's input width.
      scheme: ``"he"``, ``"glorot"`` or ``"lecun"``.
      dtype: parameter dtype.

    Returns:
      ``{"conv": [{"w": (k, k, c_in, c_out), "b": (c_out,)}, ...], "dense": [...]}``.
    """
    in_shape, channels, dense, k, pool, n_out = architecture(
        input_shape, channels, dense, n_out, kernel_size=kernel_size, pool=pool
    )
    if scheme not in mlp.INITIALIZERS:
        raise ValueError(f"unknown init scheme {scheme!r}; accepted: {list(mlp.INITIALIZERS)}")
    k_conv, k_dense = jax.random.split(key)
    conv = []
    c_in = in_shape[2]
    for kk, c_out in zip(jax.random.split(k_conv, len(channels)), channels, strict=True):
        fan_in, fan_out = k * k * c_in, k * k * c_out
        var = {"he": 2.0 / fan_in, "glorot": 2.0 / (fan_in + fan_out), "lecun": 1.0 / fan_in}
        w = jnp.sqrt(var[scheme]).astype(dtype) * jax.random.normal(kk, (k, k, c_in, c_out), dtype)
        conv.append({"w": w, "b": jnp.zeros((c_out,), dtype)})
        c_in = c_out
    n_features = math.prod(feature_shape(in_shape, channels, pool))
    head = mlp.init(k_dense, (n_features, *dense, n_out), scheme=scheme, dtype=dtype)
    return {"conv": conv, "dense": head}


def max_pool(h: jax.Array, pool: int) -> jax.Array:
    """``pool x pool`` max-pooling with stride ``pool`` and ``"SAME"`` padding of NHWC ``h``.

    The same windows as ``lax.reduce_window(h, -inf, lax.max, (1, p, p, 1), (1, p, p, 1),
    "SAME")`` (the edge padded with ``-inf``, ``total // 2`` before and the rest after), computed
    as a reshape to ``(n, H / p, p, W / p, p, C)`` and a max over the window axes: its gradient
    is 6x faster on CPU than ``reduce_window``'s select-and-scatter (measured: 27 ms vs 175 ms
    for a 128x28x28x32 batch on the 2-core CPU).
    """
    n, height, width, c = h.shape
    pads = [(0, 0)]
    for size in (height, width):
        total = -(-size // pool) * pool - size
        pads.append((total // 2, total - total // 2))
    pads.append((0, 0))
    if any(p != (0, 0) for p in pads):
        h = jnp.pad(h, pads, constant_values=-jnp.inf)
    hp, wp = h.shape[1] // pool, h.shape[2] // pool
    return h.reshape(n, hp, pool, wp, pool, c).max(axis=(2, 4))


def apply(params: Params, x: jax.Array, *, pool: int = 2) -> jax.Array:
    """Forward pass: conv -> ReLU -> max-pool per block, flatten, dense head (linear output).

    Args:
      params: as returned by :func:`init`.
      x: images of shape ``(..., H, W, C)`` (any leading batch shape, NHWC).
      pool: the max-pool window and stride (the value given to :func:`init`).

    Returns:
      Outputs of shape ``(..., n_out)``.
    """
    c_in = params["conv"][0]["w"].shape[2]
    if x.ndim < 3 or x.shape[-1] != c_in:
        raise ValueError(
            f"x must have shape (..., H, W, {c_in}) (NHWC images with the first kernel's "
            f"{c_in} input channels), got x.shape={tuple(x.shape)}"
        )
    lead = x.shape[:-3]
    h = x.reshape((-1, *x.shape[-3:]))
    for layer in params["conv"]:
        h = jax.lax.conv_general_dilated(
            h, layer["w"], (1, 1), "SAME", dimension_numbers=_DIMENSIONS
        )
        h = jax.nn.relu(h + layer["b"])
        h = max_pool(h, pool)
    out = mlp.apply(params["dense"], h.reshape(h.shape[0], -1))
    return out.reshape((*lead, out.shape[-1]))
