"""Scale-out with JAX itself: batches sharded over every device, multi-host helpers.

Sweeps shard their runs axis and landscape slices their grid-points axis over a 1-D device mesh
(axis name ``"batch"``) with ``jax.shard_map``. The batch is padded to a multiple of the device
count (with copies of its last element, so the padding computes finite values) and the padding
is dropped afterwards; each device maps over its own shard. On one device this is the plain
computation, so the same script runs unchanged on a laptop, a GPU box or a cluster.

Multi-host: call :func:`initialize` once at start-up (it reads the coordinator address,
process count and id from the environment) and write results only where
:func:`is_lead_process` is true. ``docs/scaling.md`` has a launch example.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from optlab import _cache

AXIS = "batch"

__all__ = [
    "AXIS",
    "batch_mesh",
    "data_parallel_loss",
    "device_count",
    "initialize",
    "is_lead_process",
    "map_sharded",
    "pad_index",
    "pad_leading",
    "shard_batched",
    "shard_leading",
    "shard_rows",
]


def device_count(mesh: Mesh | None = None) -> int:
    """Devices the batch axis is split over (all of ``jax.devices()`` by default)."""
    return int(mesh.devices.size) if mesh is not None else jax.device_count()


def batch_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"batch"`` over ``devices`` (default: every device)."""
    devs = np.asarray(jax.devices() if devices is None else list(devices))
    if devs.size == 0:
        raise ValueError("batch_mesh needs at least one device")
    return Mesh(devs.reshape(-1), (AXIS,))


def pad_index(n: int, size: int) -> np.ndarray:
    """Row indices ``0, 1, ..., n-1, n-1, ...`` of length ``size``: padding repeats the last row.

    The one padding rule of sharded batches and sweep groups: copies of a real row compute
    finite values, and are dropped afterwards.
    """
    return np.minimum(np.arange(size), n - 1)


def pad_leading(tree, multiple: int):
    """Pad every leaf's leading axis to a multiple of ``multiple`` with copies of the last row.

    Returns ``(padded_tree, n)`` where ``n`` is the original length.
    """
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError("nothing to shard: the batch pytree has no arrays")
    n = int(leaves[0].shape[0])
    if any(int(x.shape[0]) != n for x in leaves):
        raise ValueError(
            f"all batched arrays need the same leading size, got {[x.shape[0] for x in leaves]}"
        )
    if n == 0:
        raise ValueError("cannot shard an empty batch")
    if n % multiple == 0:
        return tree, n
    index = pad_index(n, n + (-n) % multiple)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[index], tree), n


def shard_leading(fn: Callable, *, sharded: int, replicated: int = 0, mesh: Mesh | None = None):
    """``fn`` as a ``shard_map`` over the mesh: the first ``sharded`` arguments split along
    their leading axis over ``"batch"``, the next ``replicated`` ones whole on every device,
    and every output split along its leading axis (not jitted).

    The leading sizes must be multiples of the device count (:func:`pad_leading`,
    :func:`pad_index`). ``fn`` sees one device's share of the rows; per-row state it creates
    starts replicated and becomes per-device, so the varying-axes check is off.
    """
    mesh = mesh or batch_mesh()
    in_specs = (*([P(AXIS)] * sharded), *([P()] * replicated))
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=P(AXIS), check_vma=False)


# jitted sharded functions by (function, mesh, argument count); meshes compare by devices
_SHARDED = _cache.Cache(maxsize=64)


def shard_batched(fn: Callable, xs, *args, mesh: Mesh | None = None):
    """``fn(xs, *args)`` for a batch-vectorized ``fn``, with ``xs`` split over the mesh.

    ``fn`` maps a batch (leading axis) of inputs to a batch of outputs, row by row (each output
    row depends only on its input row and ``args``). ``xs`` is split along its leading axis
    over the ``"batch"`` mesh axis; ``args`` are replicated on every device. Results equal the
    unsharded ``fn(xs, *args)``.
    """
    mesh = mesh or batch_mesh()
    xs_padded, n = pad_leading(xs, device_count(mesh))
    program = _SHARDED.get(
        (_cache.ref(fn), mesh, len(args)),
        lambda: jax.jit(shard_leading(fn, sharded=1, replicated=len(args), mesh=mesh)),
    )
    out = program(xs_padded, *args)
    return jax.tree_util.tree_map(lambda y: y[:n], out)


def _mapped(fn, batch_size, xs, *args):
    return jax.lax.map(lambda x: fn(x, *args), xs, batch_size=batch_size)


# one partial per (function, batch size), so shard_batched's cache sees the same function
_MAPPED = _cache.Cache(maxsize=64)


def map_sharded(fn: Callable, xs, *args, batch_size: int | None = None, mesh: Mesh | None = None):
    """``[fn(x, *args) for x in xs]`` stacked, sharded over devices, chunked on each device.

    Each device runs ``lax.map(fn, its_shard, batch_size=batch_size)``: ``batch_size`` points
    are vectorized together (``vmap``) and the chunks run one after another, so memory stays
    bounded however large the batch.
    """
    mapped = _MAPPED.get((_cache.ref(fn), batch_size), lambda: partial(_mapped, fn, batch_size))
    return shard_batched(mapped, xs, *args, mesh=mesh)


def shard_rows(tree, mesh: Mesh | None = None):
    """Place a data batch with its rows split over the mesh (data-parallel evaluation).

    A jitted loss applied to the result computes each device's rows locally and reduces the
    mean across devices (GSPMD inserts the all-reduce). The row count must divide evenly.
    """
    mesh = mesh or batch_mesh()
    d = device_count(mesh)
    for x in jax.tree_util.tree_leaves(tree):
        if x.shape[0] % d:
            raise ValueError(
                f"data-parallel evaluation needs the row count ({x.shape[0]}) to be a multiple "
                f"of the device count ({d}); trim or pad the batch"
            )
    return jax.device_put(tree, NamedSharding(mesh, P(AXIS)))


def data_parallel_loss(loss: Callable, batch, mesh: Mesh | None = None) -> Callable:
    """``params -> loss(params, batch)`` with the batch rows split over the devices.

    For a model or batch too large for one device: every evaluation is spread over all
    devices by rows and XLA reduces the mean. Use it with the landscape functions' ``shard="data"``
    (``slice_2d(data_parallel_loss(problem.loss, batch), ..., shard="data")``), which then
    leave the grid points unsplit.
    """
    sharded = shard_rows(batch, mesh)

    def loss_fn(params):
        return loss(params, sharded)

    return loss_fn


def initialize() -> bool:
    """Start multi-host JAX from the environment; a no-op on a single process.

    Reads ``OPTLAB_COORDINATOR`` (``host:port``), ``OPTLAB_NUM_PROCESSES`` and
    ``OPTLAB_PROCESS_ID`` (or lets ``jax.distributed.initialize`` auto-detect SLURM/TPU/MPI
    clusters when ``OPTLAB_DISTRIBUTED=auto``). Returns whether multi-host mode was started.
    """
    if os.environ.get("OPTLAB_DISTRIBUTED") == "auto":
        jax.distributed.initialize()
        return True
    coordinator = os.environ.get("OPTLAB_COORDINATOR")
    if not coordinator:
        return False
    try:
        num = int(os.environ["OPTLAB_NUM_PROCESSES"])
        pid = int(os.environ["OPTLAB_PROCESS_ID"])
    except (KeyError, ValueError) as err:
        raise ValueError(
            "OPTLAB_COORDINATOR is set, so OPTLAB_NUM_PROCESSES and OPTLAB_PROCESS_ID must be "
            f"integers too ({err})"
        ) from None
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num, process_id=pid)
    return True


def is_lead_process() -> bool:
    """True on the process that writes results (process 0; always true on one host)."""
    return jax.process_index() == 0
