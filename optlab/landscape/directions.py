"""Directions for loss-landscape slices: random, PCA of a trajectory, through given points.

A direction is a pytree with the structure and leaf shapes of the params. A slice then
evaluates ``loss(params + a * d1 + b * d2)`` on a grid of ``(a, b)``.

Normalizations of random Gaussian directions (Li et al., 2018):

- ``"filter"``: every filter of ``d`` is rescaled to the norm of the matching filter of the
  params. The last axis indexes the filters of any leaf with ``ndim >= 2``, and a filter's
  norm is taken over all other axes: for optlab's MLP layout one output unit, i.e. one column
  ``w[:, j]`` of a ``(fan_in, fan_out)`` weight; for an HWIO conv kernel ``(k, k, c_in,
  c_out)`` (:mod:`optlab.cnn`) one output filter ``w[:, :, :, o]``, the whole kernel that
  produces output channel ``o`` (Li et al.'s filter). 1-D leaves (biases) are rescaled as a
  whole to the bias vector's norm, or zeroed with ``ignore_biases=True``.
- ``"layer"``: every leaf is rescaled to the norm of the matching params leaf.
- ``"none"``: raw standard normal entries.

References:
  H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein. Visualizing the Loss Landscape of Neural
  Nets. NeurIPS 2018.
  T. Garipov et al. Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs. NeurIPS 2018.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab.landscape._util import check_same_tree, flat64, stack_trees, unflat

NORMALIZATIONS = ("filter", "layer", "none")
_EPS = 1e-10


def _normalize_leaf(d: jax.Array, p: jax.Array, normalization: str, ignore_biases: bool):
    if normalization == "none":
        return d
    if p.ndim <= 1:
        if ignore_biases:
            return jnp.zeros_like(d)
        return d * (jnp.linalg.norm(p) / (jnp.linalg.norm(d) + _EPS))
    if normalization == "layer":
        return d * (jnp.linalg.norm(p) / (jnp.linalg.norm(d) + _EPS))
    # filter: last axis indexes the filters (output units); norm over all other axes.
    axes = tuple(range(p.ndim - 1))
    pn = jnp.sqrt(jnp.sum(p * p, axis=axes, keepdims=True))
    dn = jnp.sqrt(jnp.sum(d * d, axis=axes, keepdims=True))
    return d * (pn / (dn + _EPS))


def normalize_direction(direction, params, normalization: str = "filter", *, ignore_biases=False):
    """Rescale ``direction`` filter-wise, layer-wise or not at all, relative to ``params``.

    Args:
      direction: a pytree shaped like ``params``.
      params: the reference params.
      normalization: ``"filter"``, ``"layer"`` or ``"none"``.
      ignore_biases: zero the 1-D leaves (biases) of the direction.

    Returns:
      The normalized direction (same tree).
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {list(NORMALIZATIONS)}, got {normalization!r}"
        )
    check_same_tree(params, direction, "direction")
    return jax.tree_util.tree_map(
        lambda d, p: _normalize_leaf(
            jnp.asarray(d), jnp.asarray(p, jnp.asarray(d).dtype), normalization, ignore_biases
        ),
        direction,
        params,
    )


def _gaussian_like(key, params):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = [jax.random.fold_in(key, i) for i in range(len(leaves))]
    out = [
        jax.random.normal(k, jnp.shape(x), jnp.asarray(x).dtype)
        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
        else jax.random.normal(k, jnp.shape(x))
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, out)


def random_directions(
    key: jax.Array,
    params: Any,
    normalization: str = "filter",
    *,
    ignore_biases: bool = False,
    orthogonalize: bool = False,
) -> tuple[Any, Any]:
    """Two random Gaussian directions, normalized as in Li et al. (2018).

    Args:
      key: a JAX PRNG key; ``d1`` and ``d2`` use independent keys split from it.
      params: the params pytree the directions live in.
      normalization: ``"filter"`` (default), ``"layer"`` or ``"none"`` (see module docstring).
      ignore_biases: set the 1-D leaves (biases) of both directions to zero.
      orthogonalize: make ``d2`` orthogonal to ``d1`` (Gram–Schmidt over the whole flattened
        vector), then rescale it to its norm before orthogonalization. Random directions in
        high dimension are already nearly orthogonal; this makes it exact.

    Returns:
      ``(d1, d2)``, pytrees with the structure and shapes of ``params``.

    Example:
      >>> import jax
      >>> from optlab import mlp
      >>> p = mlp.init(jax.random.key(0), (2, 3, 1))
      >>> d1, d2 = random_directions(jax.random.key(1), p)
      >>> d1[0]["w"].shape
      (2, 3)
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {list(NORMALIZATIONS)}, got {normalization!r}"
        )
    k1, k2 = jax.random.split(key)
    d1 = normalize_direction(
        _gaussian_like(k1, params), params, normalization, ignore_biases=ignore_biases
    )
    d2 = normalize_direction(
        _gaussian_like(k2, params), params, normalization, ignore_biases=ignore_biases
    )
    if orthogonalize:
        d2 = orthogonalize_pair(d1, d2)
    return d1, d2


def orthogonalize_pair(d1, d2):
    """Remove ``d2``'s component along ``d1`` and restore ``d2``'s original norm."""
    v1 = flat64(d1)
    v2 = flat64(d2)
    n1 = v1 @ v1
    if n1 == 0:
        raise ValueError("d1 is the zero direction; cannot orthogonalize against it")
    w = v2 - (v1 @ v2) / n1 * v1
    nw = np.linalg.norm(w)
    if nw == 0:
        raise ValueError("d2 is parallel to d1; cannot orthogonalize")
    w *= np.linalg.norm(v2) / nw
    return jax.tree_util.tree_map(jnp.asarray, unflat(w, d2))


def direction_stats(params, d1, d2=None) -> dict[str, float]:
    """Norms of the directions, their cosine, and ``||d|| / ||params||`` (float64)."""
    p = flat64(params)
    pn = float(np.linalg.norm(p))
    v1 = flat64(d1)
    out = {"params_norm": pn, "d1_norm": float(np.linalg.norm(v1))}
    out["d1_relative"] = out["d1_norm"] / pn if pn > 0 else float("inf")
    if d2 is not None:
        v2 = flat64(d2)
        out["d2_norm"] = float(np.linalg.norm(v2))
        out["d2_relative"] = out["d2_norm"] / pn if pn > 0 else float("inf")
        den = out["d1_norm"] * out["d2_norm"]
        out["cosine"] = float(v1 @ v2 / den) if den > 0 else float("nan")
    return out


class PCADirections(NamedTuple):
    """Principal directions of a trajectory.

    Attributes:
      d1, d2: unit-norm pytrees (first two principal directions), orthonormal.
      center: the params the slice is centred on (the reference snapshot or the mean).
      explained_variance_ratio: share of the variance captured by each of the
        ``n_components`` components, shape ``(n_components,)``.
      singular_values: the matching singular values.
      components: all ``n_components`` directions as a list of pytrees.
    """

    d1: Any
    d2: Any
    center: Any
    explained_variance_ratio: np.ndarray
    singular_values: np.ndarray
    components: list


def _snapshot_matrix(snapshots) -> tuple[np.ndarray, Any]:
    leaves, treedef = jax.tree_util.tree_flatten(snapshots)
    if not leaves:
        raise ValueError("snapshots is an empty pytree")
    m = np.shape(leaves[0])[0] if np.ndim(leaves[0]) else 0
    for leaf in leaves:
        if np.ndim(leaf) == 0 or np.shape(leaf)[0] != m:
            raise ValueError(
                "snapshots must be a pytree whose leaves share a leading snapshot axis; got "
                f"leaf shapes {[np.shape(x) for x in leaves]}"
            )
    mat = np.concatenate([np.asarray(x, np.float64).reshape(m, -1) for x in leaves], axis=1)
    like = jax.tree_util.tree_unflatten(treedef, [np.asarray(x[0]) for x in leaves])
    return mat, like


def pca_directions(snapshots, *, center="last", n_components: int = 2) -> PCADirections:
    """PCA directions of a trajectory of parameter snapshots (Li et al., 2018, Sec. 7).

    With ``M`` the matrix whose rows are ``theta_i - c`` (``c`` the centre), the directions are
    the top right-singular vectors of ``M``; the explained variance of component ``k`` is
    ``s_k^2 / sum_j s_j^2``. Computed in float64 with numpy's SVD.

    Args:
      snapshots: a pytree whose leaves have a leading snapshot axis of length ``m >= 3``
        (as ``optlab.train.Run.snapshots``); stack a list of params pytrees with
        :func:`stack_snapshots`.
      center: ``"last"`` (the final params, as Li et al.), ``"mean"``, or a params pytree.
      n_components: how many components to return (``>= 2``).

    Returns:
      A :class:`PCADirections` (numpy pytrees, in the snapshots' dtype).
    """
    mat, like = _snapshot_matrix(snapshots)
    m = mat.shape[0]
    if m < 3:
        raise ValueError(f"snapshots needs at least 3 snapshots for a PCA plane, got {m}")
    if n_components < 2:
        raise ValueError(f"n_components must be >= 2, got {n_components}")
    if isinstance(center, str):
        if center == "last":
            c = mat[-1]
        elif center == "mean":
            c = mat.mean(axis=0)
        else:
            raise ValueError(f"center must be 'last', 'mean' or a params pytree, got {center!r}")
    else:
        check_same_tree(like, center, "center", "one snapshot")
        c = flat64(center)
    diff = mat - c
    _, s, vt = np.linalg.svd(diff, full_matrices=False)
    total = float(np.sum(s**2))
    k = min(n_components, vt.shape[0])
    ratio = (s[:k] ** 2) / total if total > 0 else np.zeros(k)
    comps = [unflat(vt[i], like) for i in range(k)]
    if k < 2:
        raise ValueError("the trajectory spans fewer than two dimensions")
    return PCADirections(
        d1=comps[0],
        d2=comps[1],
        center=unflat(c, like),
        explained_variance_ratio=ratio,
        singular_values=s[:k],
        components=comps,
    )


def stack_snapshots(trees) -> Any:
    """Stack a list of params pytrees into one pytree with a leading snapshot axis (numpy)."""
    trees = list(trees)
    if not trees:
        raise ValueError("stack_snapshots needs at least one params pytree")
    for i, t in enumerate(trees[1:], 1):
        check_same_tree(trees[0], t, f"trees[{i}]", "trees[0]")
    return stack_trees(trees)


class Projection(NamedTuple):
    """Least-squares coordinates of parameter snapshots in a plane.

    Attributes:
      coords: ``(m, 2)`` coordinates ``(a, b)`` minimizing ``||theta - c - a d1 - b d2||``.
      residual: ``(m,)`` distance of each snapshot from the plane.
      relative_residual: ``residual / ||theta - c||`` (0 for points in the plane).
    """

    coords: np.ndarray
    residual: np.ndarray
    relative_residual: np.ndarray


def project_trajectory(snapshots, center, d1, d2) -> Projection:
    """Project snapshots onto the plane ``center + span(d1, d2)`` by least squares.

    Works for any pair of directions (need not be orthogonal or normalized), so several
    optimizers' trajectories can be drawn on one plane.

    Args:
      snapshots: pytree with a leading snapshot axis (see :func:`stack_snapshots`).
      center: the plane's origin (params pytree).
      d1, d2: the directions.

    Returns:
      A :class:`Projection`.
    """
    check_same_tree(center, d1, "d1", "center")
    check_same_tree(center, d2, "d2", "center")
    mat, like = _snapshot_matrix(snapshots)
    check_same_tree(center, like, "snapshots (one snapshot)", "center")
    c = flat64(center)
    basis = np.stack([flat64(d1), flat64(d2)], axis=1)
    diff = (mat - c).T
    coords, *_ = np.linalg.lstsq(basis, diff, rcond=None)
    res = np.linalg.norm(diff - basis @ coords, axis=0)
    dn = np.linalg.norm(diff, axis=0)
    rel = np.where(dn > 0, res / np.where(dn > 0, dn, 1.0), 0.0)
    return Projection(coords=coords.T, residual=res, relative_residual=rel)


class Plane(NamedTuple):
    """A plane through three parameter sets (Garipov et al., 2018).

    ``origin = p0``, ``d1 = p1 - p0``, ``d2`` the part of ``p2 - p0`` orthogonal to ``d1``,
    rescaled to ``||d1||``; so the grid units are ``||p1 - p0||`` and ``coords`` holds the
    three points' coordinates: ``(0, 0)``, ``(1, 0)`` and ``(a2, b2)``.
    """

    origin: Any
    d1: Any
    d2: Any
    coords: np.ndarray


def plane_through(p0, p1, p2) -> Plane:
    """The plane through three params pytrees; see :class:`Plane`."""
    check_same_tree(p0, p1, "p1", "p0")
    check_same_tree(p0, p2, "p2", "p0")
    x0, x1, x2 = flat64(p0), flat64(p1), flat64(p2)
    u = x1 - x0
    nu = np.linalg.norm(u)
    if nu == 0:
        raise ValueError("p0 and p1 coincide; the plane is undefined")
    w = x2 - x0
    a2 = (u @ w) / (nu * nu)
    v = w - a2 * u
    nv = np.linalg.norm(v)
    if nv <= 1e-12 * max(nu, np.linalg.norm(w)):
        raise ValueError("p0, p1 and p2 are collinear; the plane is undefined")
    v *= nu / nv
    b2 = nv / nu
    to_tree = lambda x: unflat(x, p0)  # noqa: E731
    return Plane(
        origin=to_tree(x0),
        d1=to_tree(u),
        d2=to_tree(v),
        coords=np.array([[0.0, 0.0], [1.0, 0.0], [a2, b2]]),
    )


def line_through(p0, p1):
    """``(origin, d)`` with ``origin = p0`` and ``d = p1 - p0``: ``alpha = 0`` is ``p0``,
    ``alpha = 1`` is ``p1``; alphas outside ``[0, 1]`` extrapolate (e.g. ``[-0.5, 1.5]``)."""
    check_same_tree(p0, p1, "p1", "p0")
    d = jax.tree_util.tree_map(lambda a, b: jnp.asarray(b) - jnp.asarray(a), p0, p1)
    return jax.tree_util.tree_map(jnp.asarray, p0), d
