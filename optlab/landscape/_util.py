"""Private helpers shared by the landscape modules: tree checks, precision, flat vectors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optlab.precision import DTYPES, precision, resolve_dtype  # noqa: F401

# the one precision switch (scoped x64) lives in optlab.precision


def cast_tree(tree, dtype):
    """Cast every floating leaf of ``tree`` to ``dtype`` (as jax arrays)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), tree)


def check_same_tree(reference, other, name: str, reference_name: str = "params") -> None:
    """Raise ``ValueError`` unless ``other`` has the structure and leaf shapes of ``reference``."""
    ref_leaves, ref_def = jax.tree_util.tree_flatten(reference)
    leaves, treedef = jax.tree_util.tree_flatten(other)
    if treedef != ref_def:
        raise ValueError(
            f"{name} must have the same tree structure as {reference_name}: "
            f"got {treedef}, expected {ref_def}"
        )
    for i, (a, b) in enumerate(zip(ref_leaves, leaves, strict=True)):
        if np.shape(a) != np.shape(b):
            raise ValueError(
                f"{name} leaf {i} has shape {np.shape(b)}, but the matching leaf of "
                f"{reference_name} has shape {np.shape(a)}"
            )


def as_grid_axis(values, name: str) -> np.ndarray:
    """Validate a 1-D, finite, non-empty coordinate array."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def check_bounds(bounds) -> tuple[tuple[float, float], tuple[float, float]]:
    """Validate ``((x_lo, x_hi), (y_lo, y_hi))``: finite and ``lo < hi``."""
    try:
        (xl, xh), (yl, yh) = bounds
        out = ((float(xl), float(xh)), (float(yl), float(yh)))
    except (TypeError, ValueError):
        raise ValueError(
            f"bounds must be ((x_lo, x_hi), (y_lo, y_hi)) with finite numbers, got {bounds!r}"
        ) from None
    for axis, (lo, hi) in zip("xy", out, strict=True):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"bounds for {axis} must be finite, got {(lo, hi)}")
        if not lo < hi:
            raise ValueError(
                f"bounds for {axis} must satisfy lo < hi (non-empty, not inverted), got {(lo, hi)}"
            )
    return out


def check_resolution(resolution) -> tuple[int, int]:
    """``resolution`` is an int or a pair of ints, each at least 3."""
    res = (resolution, resolution) if np.isscalar(resolution) else tuple(resolution)
    if len(res) != 2 or any(int(r) != r or int(r) < 3 for r in res):
        raise ValueError(f"resolution must be an int >= 3 or a pair of them, got {resolution!r}")
    return int(res[0]), int(res[1])


def flat64(tree) -> np.ndarray:
    """All leaves of ``tree`` concatenated into one float64 numpy vector."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return np.zeros(0)
    return np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in leaves])


def unflat(vec: np.ndarray, like):
    """Inverse of :func:`flat64`: a numpy pytree shaped like ``like`` (dtype of ``like``)."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    out, pos = [], 0
    for leaf in leaves:
        n = int(np.size(leaf))
        dt = np.asarray(leaf).dtype if np.issubdtype(np.asarray(leaf).dtype, np.floating) else None
        out.append(np.asarray(vec[pos : pos + n]).reshape(np.shape(leaf)).astype(dt or np.float64))
        pos += n
    return jax.tree_util.tree_unflatten(treedef, out)


def stack_trees(trees: Sequence):
    """Stack a list of same-structure pytrees along a new leading axis (numpy)."""
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)
