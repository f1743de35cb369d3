"""Compiled 1-D and 2-D slices of a loss through parameter space.

``slice_2d`` evaluates ``g(a, b) = loss_fn(params + a * d1 + b * d2)`` on the grid
``alphas x betas`` inside one compiled program. The point ``params + a d1 + b d2`` is built
inside the program, and the grid is walked with ``lax.map(..., batch_size=B)``: ``B`` points
are vmapped together, chunks run one after another. One ``vmap`` over the whole grid would
hold every point's activations at once (measured at 6 GB and 2x slower for a 26k-parameter
MLP on 2,048 samples), while a Python loop over points pays dispatch per point.

The chunk size ``B`` defaults to ``auto_batch_size``: XLA's flop estimate of one loss
evaluation sets ``B`` so that a chunk is about ``TARGET_CHUNK_FLOPS`` (tuned in
``benchmarks/landscape.py``), capped by a memory budget.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _cache, _checks, distributed
from optlab.landscape._util import (
    as_grid_axis,
    cast_tree,
    check_same_tree,
    precision,
    resolve_dtype,
)
from optlab.landscape.directions import direction_stats

# A chunk of about this many flops keeps the matmuls large enough to run near peak while
# the per-chunk activations stay small (tuned on a 2-core CPU, see benchmarks/landscape.py).
TARGET_CHUNK_FLOPS = 4.5e8
# Upper bound on the bytes one chunk may touch (XLA's "bytes accessed" estimate): chunks
# whose intermediates stay in cache run fastest. Measured on the adding network (700 samples,
# ~120 kB per point): chunks of 32-128 points ran at ~110k points/s, 512 at ~55k, 4096 at ~39k.
CHUNK_BYTES_BUDGET = 1.6e7
# Bytes limit for compute-bound points (at least one flop per byte).
CHUNK_BYTES_LIMIT = 2.5e8
MAX_BATCH_SIZE = 4096
#: On a GPU/TPU chunks are this many times larger (flops and bytes): the device needs wide
#: chunks to fill it and has gigabytes, not a CPU cache. Measured on an H200, 51x51 slice of
#: the 64-128-128-10 MLP: chunk 4 (the CPU choice) 157k points/s, 32 276k (benchmarks/README.md).
ACCELERATOR_CHUNK_FACTOR = 8


def _shifted(params, directions, coords):
    def leaf(x, *ds):
        out = x
        for k, d in enumerate(ds):
            out = out + coords[k].astype(x.dtype) * d
        return out

    return jax.tree_util.tree_map(leaf, params, *directions)


def _in_chunks(points, size: int):
    """``(chunks (m, size, k), n)``: the ``n`` points padded to a multiple of ``size`` with
    copies of the last one (``distributed.pad_leading``; the copies are dropped afterwards)."""
    padded, n = distributed.pad_leading(points, size)
    return padded.reshape(-1, size, points.shape[-1]), n


def _eval_impl(loss_fn, params, directions, points, batch_size, parallel=1):
    """``lax.map(loss, points, batch_size=batch_size)``, with ``parallel`` independent vmapped
    sub-chunks per loop step (XLA:CPU runs independent ops on different cores; this helps
    small, memory-bound losses whose single ops are too small to be multithreaded)."""

    def one(c):
        return jnp.asarray(loss_fn(_shifted(params, directions, c)))

    if parallel == 1:
        return jax.lax.map(one, points, batch_size=batch_size)
    chunks, n = _in_chunks(points, batch_size * parallel)
    xs = chunks.reshape(chunks.shape[0], parallel, batch_size, points.shape[-1])

    def body(carry, cs):
        return carry, jnp.stack([jax.vmap(one)(cs[i]) for i in range(parallel)])

    _, out = jax.lax.scan(body, None, xs)
    return out.reshape(-1)[:n]


_eval_points = jax.jit(_eval_impl, static_argnames=("loss_fn", "batch_size", "parallel"))


# one per-device evaluation function per (loss, chunk layout), so that the sharded program
# compiled for it is reused (distributed.shard_batched caches by function identity)
_PER_DEVICE = _cache.Cache(maxsize=64)


def _per_device(loss_fn, batch_size: int, parallel: int) -> Callable:
    """``(points, params, directions) -> losses`` for one device's share of the points."""

    def build():
        return functools.partial(_eval_share, loss_fn, batch_size, parallel)

    return _PER_DEVICE.get((_cache.ref(loss_fn), batch_size, parallel), build)


def _eval_share(loss_fn, batch_size, parallel, points, params, directions):
    return _eval_impl(loss_fn, params, directions, points, batch_size, parallel)


def _evaluate_on_devices(loss_fn, params, directions, pts, *, batch_size, parallel, devices):
    """The points split over ``devices`` (``optlab.distributed``), each walking its share."""
    mesh = distributed.batch_mesh(devices)
    fn = _per_device(loss_fn, batch_size, parallel)
    return np.asarray(distributed.shard_batched(fn, pts, params, directions, mesh=mesh))


def auto_parallel(batch_size: int) -> int:
    """Independent sub-chunks per loop step: the core count (at most 4) for chunks of 16 or
    more points (small, memory-bound losses), else 1."""
    if batch_size < 16:
        return 1
    return int(max(1, min(4, os.cpu_count() or 1)))


_COST_CACHE = _cache.Cache(maxsize=256)


def point_cost(loss_fn: Callable, params) -> dict[str, float]:
    """XLA's cost estimate (``flops``, ``bytes accessed``) of one ``loss_fn(params)``.

    Cached per ``(loss_fn, params structure, shapes, dtypes)`` so repeated slices of the same
    function do not lower it again.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = tuple((np.shape(x), str(jnp.asarray(x).dtype)) for x in leaves)
    return _COST_CACHE.get(
        (_cache.ref(loss_fn), treedef, shapes), lambda: _point_cost(loss_fn, params)
    )


def lowered_cost(lowered) -> dict[str, float]:
    """XLA's cost analysis of a lowered program as a dict (``{}`` where it gives none): the
    lowered program's estimate, or the compiled one's on backends (GPU, JAX 0.11) that give
    it only once compiled."""
    cost = lowered.cost_analysis() or lowered.compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return dict(cost or {})


def _point_cost(loss_fn: Callable, params) -> dict[str, float]:
    try:
        cost = lowered_cost(jax.jit(loss_fn).lower(params))
        return {
            "flops": float(cost.get("flops", 0.0)),
            "bytes": float(cost.get("bytes accessed", 0.0)),
        }
    except Exception:  # cost analysis is best effort (backend dependent)
        n = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params))
        return {"flops": 2.0 * n, "bytes": 4.0 * n}


def auto_batch_size(loss_fn: Callable, params, n_points: int) -> int:
    """Chunk size for ``lax.map``: about ``TARGET_CHUNK_FLOPS`` per chunk, within a cache-sized
    byte budget (``CHUNK_BYTES_BUDGET``).

    Compute-bound models get chunks of a few points (a 64-128-128-10 MLP on 2,048 samples,
    ~1.1e8 flops and ~2.3e7 bytes per point, gets 4, the fastest measured on a 2-core CPU:
    86% of the matmul peak vs 78% for 1 and 60% for 32); memory-bound tiny ones get
    cache-sized chunks (the 2-3-1 adding network on 700 samples gets ~130). On a GPU or TPU
    both budgets are ``ACCELERATOR_CHUNK_FACTOR`` times larger (the MLP above gets 32).
    """
    cost = point_cost(loss_fn, params)
    flops = max(cost["flops"], 1.0)
    nbytes = max(cost["bytes"], 1.0)
    scale = 1 if jax.default_backend() == "cpu" else ACCELERATOR_CHUNK_FACTOR
    by_flops = scale * TARGET_CHUNK_FLOPS / flops
    # memory-bound points (under one flop per byte) want cache-sized chunks; compute-bound
    # ones only need the chunk's intermediates to stay well below memory limits
    budget = scale * (CHUNK_BYTES_BUDGET if flops < nbytes else CHUNK_BYTES_LIMIT)
    by_bytes = budget / nbytes
    return int(max(1, min(by_flops, by_bytes, MAX_BATCH_SIZE, n_points)))


def _check_batch_size(batch_size, n_points: int) -> int | None:
    """``batch_size`` (a positive int, at most ``n_points``) or ``None`` (automatic)."""
    batch_size = _checks.positive_int("batch_size", batch_size, allow_none=True)
    return None if batch_size is None else min(batch_size, n_points)


@dataclasses.dataclass(frozen=True, eq=False)
class ProblemLoss:
    """``params -> problem.loss(params, split)``, a loss that knows its problem.

    Build it with :func:`problem_loss`. It is an ordinary ``loss_fn`` everywhere; slices of
    a small MLP problem use it to evaluate many grid points at once with the points along the
    vector lanes (``optlab.lanes.lanes_loss``), which is much faster than vmapping an opaque
    loss over points.
    """

    problem: Any
    split: Any

    def __call__(self, params):
        return self.problem.loss(params, self.split)


def problem_loss(problem, split: str = "train") -> ProblemLoss:
    """The loss of ``problem`` on a whole split (``"train"``, ``"val"``, ``"test"``).

    Example:
      >>> from optlab import problems
      >>> loss_fn = problem_loss(problems.get("adder"))   # params -> training loss
    """
    if problem.data is None:
        raise ValueError(f"problem {problem.name!r} has no data; use its loss directly")
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    return ProblemLoss(problem, getattr(problem.data, split))


#: Points per lanes chunk (measured on the adding network: 256 is fastest on a 2-core CPU).
LANES_CHUNK = 256


@functools.partial(jax.jit, static_argnames=("per_run", "chunk"))
def _eval_lanes(per_run, split, params, directions, points, chunk):
    def one(c):  # c: (chunk, k) -> (chunk,) losses, the points along the last axis
        def shift(p, *ds):
            return p[..., None] + sum(d[..., None] * c[:, i] for i, d in enumerate(ds))

        return per_run(jax.tree_util.tree_map(shift, params, *directions), split)

    chunks, n = _in_chunks(points, chunk)
    return jax.lax.map(one, chunks).reshape(-1)[:n]


def _points_fn(loss_fn, params, directions, layout):
    """``coords (R, k) -> (R,)`` through ``optlab.lanes.batched_points`` (any loss)."""
    from optlab import lanes

    dt = jax.tree_util.tree_leaves(params)[0].dtype

    def g(*c):
        return jnp.asarray(loss_fn(_shifted(params, directions, c)), dt).reshape(())

    return lanes.batched_points(g, len(directions), layout, dtype=dt)


@functools.partial(jax.jit, static_argnames=("loss_fn", "layout", "chunk"))
def _eval_traced(loss_fn, params, directions, points, layout, chunk):
    fn, _ = _points_fn(loss_fn, params, directions, layout)
    hoisted = fn.hoist()  # once per grid: the parts that do not depend on the points
    chunks, n = _in_chunks(points, chunk)
    return jax.lax.map(lambda c: fn(c, hoisted), chunks).reshape(-1)[:n]


#: Points per chunk of the batch-minor layout (as for ``LANES_CHUNK``).
MINOR_CHUNK = 256

_PLANS = _cache.Cache(maxsize=256)


class Plan(NamedTuple):
    """How :func:`evaluate_points` walks the points.

    ``path`` is ``"lanes"`` (an MLP ``problem_loss``: points along the vector lanes),
    ``"minor"`` (any small loss: its jaxpr evaluated with the points as the last axis,
    ``optlab.lanes.batched_points``), ``"major"`` (any larger loss: the same evaluator with
    the points first, the parts linear in the coordinates, such as the first layer, computed
    once) or ``"map"`` (``lax.map`` of the loss with a batch size: an explicit ``batch_size``,
    several devices, or a loss the evaluator cannot read).
    """

    path: str
    batch_size: int
    parallel: int = 1


def _traced_layout(loss_fn, params, directions) -> str | None:
    """``"minor"``/``"major"`` for a loss ``batched_points`` can read, else ``None``."""
    from optlab import lanes

    def check():
        try:
            dt = jax.tree_util.tree_leaves(params)[0].dtype
            k = len(directions)
            jaxpr = jax.make_jaxpr(lambda *c: loss_fn(_shifted(params, directions, c)))(
                *[jnp.zeros((), dt)] * k
            )
            # small contractions and few weight terms: points along the lanes
            layout = "minor" if lanes.is_small(jaxpr.jaxpr) else "major"
            fn, _ = _points_fn(loss_fn, params, directions, layout)
            jax.eval_shape(fn, jax.ShapeDtypeStruct((2, k), dt))
            return layout
        except Exception:  # noqa: BLE001 - any failure: the plain lax.map path
            return None

    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = tuple((np.shape(x), str(jnp.asarray(x).dtype)) for x in leaves)
    return _PLANS.get((_cache.ref(loss_fn), treedef, shapes, len(directions)), check)


def plan(loss_fn, params, directions, n_points, *, batch_size=None, n_devices=1, fast=True) -> Plan:
    """The :class:`Plan` :func:`evaluate_points` takes for these arguments (params already
    cast to the evaluation dtype). ``fast=False`` (a data-parallel loss, ``shard="data"``)
    keeps the plain ``lax.map`` path."""
    bs = _check_batch_size(batch_size, n_points)
    if bs is None and n_devices == 1 and fast:
        if _lanes_of(loss_fn) is not None:
            return Plan("lanes", LANES_CHUNK)
        layout = _traced_layout(loss_fn, params, directions)
        if layout == "minor":
            return Plan("minor", min(MINOR_CHUNK, n_points))
        if layout == "major":
            return Plan("major", auto_batch_size(loss_fn, params, n_points))
    if bs is None:
        bs = auto_batch_size(loss_fn, params, n_points)
        par = auto_parallel(bs)
        return Plan("map", max(1, bs // par), par)
    return Plan("map", bs, 1)


def _lanes_of(loss_fn) -> Callable | None:
    if not isinstance(loss_fn, ProblemLoss):
        return None
    from optlab import lanes

    return lanes.lanes_loss(loss_fn.problem)


def evaluate_points(
    loss_fn: Callable,
    params,
    directions: tuple,
    points,
    *,
    batch_size: int | None = None,
    dtype=None,
    devices: list | None = None,
    shard: str = "points",
) -> np.ndarray:
    """``loss_fn(params + sum_k points[i, k] * directions[k])`` for every row of ``points``.

    The building block of :func:`slice_1d` and :func:`slice_2d` (and of evaluating along
    any curve in a plane). ``points`` has shape ``(n, len(directions))``. With several
    devices (``devices``, default ``jax.local_devices()``) the points are sharded over them
    (``optlab.distributed.shard_batched``) and each device walks its share in chunks.

    ``shard="points"`` (default) splits the points over the devices; ``shard="data"`` keeps
    every point's evaluation whole and leaves the devices to the data: use it with a loss
    whose batch rows are split over the devices (``optlab.distributed.data_parallel_loss``),
    for a model or batch too large for one device.
    """
    _checks.one_of("shard", shard, ("points", "data"))
    for k, d in enumerate(directions):
        check_same_tree(params, d, f"d{k + 1}")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != len(directions):
        raise ValueError(f"points must have shape (n, {len(directions)}), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points must be finite")
    return _evaluate(
        loss_fn, params, directions, pts, batch_size=batch_size, dtype=dtype, devices=devices,
        shard=shard,
    )[0]  # fmt: skip


def _evaluate(loss_fn, params, directions, pts, *, batch_size, dtype, devices, shard):
    """:func:`evaluate_points` for checked arguments; returns ``(values, plan)``."""
    n = pts.shape[0]
    with precision(dtype) as dt:
        p = cast_tree(params, dt)
        ds = tuple(cast_tree(d, dt) for d in directions)
        devs = list(jax.local_devices()) if devices is None else list(devices)
        many = shard == "points" and len(devs) > 1 and n >= len(devs)
        pl = plan(
            loss_fn, p, ds, n, batch_size=batch_size, n_devices=len(devs) if many else 1,
            fast=shard == "points",
        )  # fmt: skip
        x = jnp.asarray(pts, dt)
        if pl.path == "lanes":
            out = _eval_lanes(_lanes_of(loss_fn), loss_fn.split, p, ds, x, pl.batch_size)
        elif pl.path in ("minor", "major"):
            out = _eval_traced(loss_fn, p, ds, x, pl.path, pl.batch_size)
        elif many:
            out = _evaluate_on_devices(
                loss_fn, p, ds, x, batch_size=pl.batch_size, parallel=pl.parallel, devices=devs
            )
        else:
            out = _eval_points(loss_fn, p, ds, x, pl.batch_size, pl.parallel)
        return np.asarray(out, dtype=np.float64), pl


def slice_1d(
    loss_fn: Callable,
    params,
    d,
    alphas,
    *,
    batch_size: int | None = None,
    dtype=None,
    shard: str = "points",
) -> np.ndarray:
    """``out[i] = loss_fn(params + alphas[i] * d)``, compiled and chunked.

    Args:
      loss_fn: jittable ``params -> scalar``.
      params: the centre (any pytree of float arrays).
      d: direction, same tree and shapes as ``params``.
      alphas: 1-D finite coordinates.
      batch_size: points per ``lax.map`` chunk; ``None`` picks :func:`auto_batch_size`.
      dtype: ``"float32"`` (default) or ``"float64"`` (enables x64 only inside this call).

    Returns:
      ``np.ndarray`` (float64 copy of the values) of shape ``(len(alphas),)``; non-finite
      losses are returned as they are (NaN/Inf).
    """
    check_same_tree(params, d, "d")
    a = as_grid_axis(alphas, "alphas")
    return evaluate_points(
        loss_fn, params, (d,), a[:, None], batch_size=batch_size, dtype=dtype, shard=shard
    )


def slice_2d(
    loss_fn: Callable,
    params,
    d1,
    d2,
    alphas,
    betas,
    *,
    batch_size: int | None = None,
    dtype=None,
    shard: str = "points",
) -> np.ndarray:
    """``out[i, j] = loss_fn(params + alphas[i] * d1 + betas[j] * d2)``, compiled and chunked.

    Args:
      loss_fn: jittable ``params -> scalar`` (close over the data, e.g.
        ``lambda p: problem.loss(p, batch)``). Reusing the same function object reuses the
        compiled program.
      params: the centre (any pytree of float arrays).
      d1, d2: directions with the tree structure and leaf shapes of ``params``.
      alphas, betas: 1-D finite coordinates along ``d1`` and ``d2``.
      batch_size: points per ``lax.map`` chunk; ``None`` picks :func:`auto_batch_size`.
      dtype: ``"float32"`` (default) or ``"float64"``.
      shard: ``"points"`` (default): grid points split over all devices; ``"data"``: each
        point evaluated whole, for a data-parallel ``loss_fn`` (see :func:`evaluate_points`).

    Returns:
      ``np.ndarray`` of shape ``(len(alphas), len(betas))``.

    Example:
      >>> import jax.numpy as jnp, numpy as np
      >>> f = lambda p: jnp.sum(p**2)
      >>> g = slice_2d(f, jnp.zeros(2), jnp.array([1.0, 0]), jnp.array([0, 1.0]),
      ...              np.linspace(-1, 1, 3), np.linspace(-1, 1, 3))
      >>> g.shape, float(g[0, 0])
      ((3, 3), 2.0)
    """
    check_same_tree(params, d1, "d1")
    check_same_tree(params, d2, "d2")
    warn_zero_direction(d1, "d1")
    warn_zero_direction(d2, "d2")
    a = as_grid_axis(alphas, "alphas")
    b = as_grid_axis(betas, "betas")
    aa, bb = np.meshgrid(a, b, indexing="ij")
    pts = np.stack([aa.ravel(), bb.ravel()], axis=1)
    out = evaluate_points(
        loss_fn, params, (d1, d2), pts, batch_size=batch_size, dtype=dtype, shard=shard
    )
    return out.reshape(a.size, b.size)


def warn_zero_direction(d, name: str) -> None:
    """Warn when the direction ``d`` is zero: the slice is constant along it."""
    try:
        norm = math.sqrt(sum(float(np.sum(np.square(np.asarray(x, np.float64))))
                             for x in jax.tree_util.tree_leaves(d)))  # fmt: skip
    except (TypeError, jax.errors.ConcretizationTypeError):
        return  # traced: nothing to say before running
    if norm == 0.0:
        import warnings

        warnings.warn(
            f"direction {name} is zero (norm 0): the slice is constant along it; give a "
            "non-zero direction (e.g. random_directions)",
            UserWarning,
            stacklevel=3,
        )


def slice_function(loss_fn: Callable, params, d1, d2) -> Callable[[jax.Array], jax.Array]:
    """The jittable 2-D function ``g(z) = loss_fn(params + z[0] d1 + z[1] d2)``.

    Feed it to :func:`optlab.landscape.find_minima` / :func:`analyze_slice` to analyse a
    network's slice through the same code path as an analytic test function.
    """
    check_same_tree(params, d1, "d1")
    check_same_tree(params, d2, "d2")

    def g(z):
        # no cast of z: a float64 z (refinement) promotes the whole evaluation to float64
        p = jax.tree_util.tree_map(lambda x, u, v: x + z[0] * u + z[1] * v, params, d1, d2)
        return loss_fn(p)

    return g


@dataclasses.dataclass(frozen=True)
class Slice:
    """A computed 2-D slice with the metadata needed to interpret and re-plot it.

    Attributes:
      alphas, betas: grid coordinates along ``d1`` and ``d2``.
      values: ``(len(alphas), len(betas))`` losses.
      metadata: JSON-able dict: direction norms, cosine, relative step sizes, seeds,
        normalization, dtype, batch size, timing, plus anything the caller added.
    """

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def bounds(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return (
            (float(self.alphas[0]), float(self.alphas[-1])),
            (float(self.betas[0]), float(self.betas[-1])),
        )


def compute_slice(
    loss_fn: Callable,
    params,
    d1,
    d2,
    alphas,
    betas,
    *,
    batch_size: int | None = None,
    dtype=None,
    metadata: Mapping[str, Any] | None = None,
) -> Slice:
    """:func:`slice_2d` plus the metadata of Li et al.-style plots, as a :class:`Slice`.

    Records ``params_norm``, ``d1_norm``, ``d2_norm``, ``cosine`` (between d1 and d2),
    ``d1_relative``/``d2_relative`` (``||d|| / ||params||``), ``step_relative`` (the largest
    ``|alpha| ||d1||, |beta| ||d2||`` over ``||params||``: how far the slice reaches, relative
    to the weights), the grid spacing, dtype, chunk size, the evaluation path taken
    (``path``, see :class:`Plan`) and wall time. Pass ``seed``,
    ``normalization`` etc. in ``metadata``.
    """
    import time

    check_same_tree(params, d1, "d1")
    check_same_tree(params, d2, "d2")
    a = as_grid_axis(alphas, "alphas")
    b = as_grid_axis(betas, "betas")
    n = a.size * b.size
    _check_batch_size(batch_size, n)
    aa, bb = np.meshgrid(a, b, indexing="ij")
    pts = np.stack([aa.ravel(), bb.ravel()], axis=1)
    t0 = time.perf_counter()
    # the batch size goes through as given: None lets evaluate_points take a fast path
    vals, pl = _evaluate(
        loss_fn, params, (d1, d2), pts, batch_size=batch_size, dtype=dtype, devices=None,
        shard="points",
    )  # fmt: skip
    vals = vals.reshape(a.size, b.size)
    wall = time.perf_counter() - t0
    st = direction_stats(params, d1, d2)
    pn = st["params_norm"]
    reach = max(np.max(np.abs(a)) * st["d1_norm"], np.max(np.abs(b)) * st["d2_norm"])
    meta = {
        **st,
        "step_relative": float(reach / pn) if pn > 0 else math.inf,
        "resolution": [int(a.size), int(b.size)],
        "dtype": resolve_dtype(dtype),
        "batch_size": int(pl.batch_size),
        "path": pl.path,
        "seconds": wall,
        "points_per_second": n / wall if wall > 0 else math.inf,
        "nonfinite_fraction": float(np.mean(~np.isfinite(vals))),
    }
    meta.update(dict(metadata or {}))
    return Slice(alphas=a, betas=b, values=vals, metadata=meta)
