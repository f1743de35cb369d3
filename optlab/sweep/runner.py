"""Running a sweep's programs: its runs in order, padded into groups, on one or all devices.

:func:`plan` orders the runs (grid order, seeds innermost) and :func:`groups` pads them to
equal groups (the last one with copies of the last run, dropped afterwards). The local runner
(:func:`run_local`) runs the groups one after another, each in ``layout.chunks`` compiled
calls; the sharded runner (:func:`run_sharded`) splits every group over the devices with
``optlab.distributed.shard_leading`` (the one sharding path) and runs init and all steps of a
group in one call, so the state stays on the devices.

Compiled programs are cached here (bounded, keyed by the problem's identity, the settings,
the layout and the argument shapes), so a second sweep with other values but the same shapes
compiles nothing (:func:`compile_count`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _cache
from optlab import distributed as distributed_lib
from optlab.data import batching
from optlab.sweep.engines import Programs, Spec
from optlab.train import loop
from optlab.train.api import progress_bar
from optlab.train.step import split_key

__all__ = ["Plan", "plan", "Groups", "groups", "Outcome", "run_local", "run_sharded"]

_PROGRAMS = _cache.Cache(maxsize=32)


def compile_count() -> int:
    """How many sweep programs this process has compiled (for no-recompilation tests)."""
    return _PROGRAMS.builds


# --------------------------------------------------------------------------- runs and groups


class Plan(NamedTuple):
    configs: list[dict[str, Any]]
    hp: dict[str, np.ndarray]  # swept name -> (R,)
    seeds: np.ndarray  # (R,)


def plan(grid: Mapping[str, list], seeds: list[int], *, dtype=np.float32) -> Plan:
    """Runs in grid order (first key slowest), seeds innermost; swept values as ``dtype``."""
    keys = list(grid)
    configs, hp_rows, seed_rows = [], [], []
    for combo in itertools.product(*(grid[k] for k in keys)):
        for s in seeds:
            configs.append({**{k: v for k, v in zip(keys, combo, strict=True)}, "seed": s})
            hp_rows.append(combo)
            seed_rows.append(s)
    hp = {k: np.asarray([row[j] for row in hp_rows], dtype) for j, k in enumerate(keys)}
    return Plan(configs, hp, np.asarray(seed_rows, np.int64))


def initial_params(problem, the_plan: Plan):
    """``(params0, data_keys)`` of every run, stacked: paired seeds, exactly as ``train``.

    ``key(seed) -> (init_key, data_key) -> problem.init(init_key)``, once per distinct seed.
    """
    by_seed = {}
    for s in the_plan.seeds.tolist():
        if s not in by_seed:
            init_key, data_key = split_key(jax.random.key(s))
            by_seed[s] = (problem.init(init_key), data_key)
    order = [by_seed[s] for s in the_plan.seeds.tolist()]
    params0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[o[0] for o in order])
    return params0, jnp.stack([o[1] for o in order])


class Groups(NamedTuple):
    """The runs padded to ``count`` groups of ``size * devices`` runs."""

    size: int  # runs per group on each device
    count: int
    devices: int
    hp: dict[str, jax.Array]  # padded runs
    params: Any
    data_keys: jax.Array

    def get(self, i: int):
        """``(hp, params, data_keys)`` of group ``i``."""
        n = self.size * self.devices
        sl = slice(i * n, (i + 1) * n)
        return (
            {k: v[sl] for k, v in self.hp.items()},
            jax.tree_util.tree_map(lambda a: a[sl], self.params),
            self.data_keys[sl],
        )


def groups(the_plan: Plan, params0, data_keys, *, size: int, devices: int) -> Groups:
    """Equal groups of at most ``size`` runs per device (padded with copies of the last run)."""
    r = len(the_plan.configs)
    count = -(-r // (size * devices))
    size = -(-r // (count * devices))
    index = distributed_lib.pad_index(r, count * size * devices)
    return Groups(
        size=size,
        count=count,
        devices=devices,
        hp={k: jnp.asarray(v[index]) for k, v in the_plan.hp.items()},
        params=jax.tree_util.tree_map(lambda a: a[index], params0),
        data_keys=data_keys[index],
    )


# --------------------------------------------------------------------------- runners


class Outcome(NamedTuple):
    outs: list  # per compiled chunk: the groups' (losses, grad_norms, evaluation, None)
    ends: list  # per group: (params, diverged, diverged_step), runs first
    compile_time: float
    run_time: float


class _Bar:
    """The progress bar of a sweep (``None``-safe)."""

    def __init__(self, total: int, enabled: bool, optimizer: str):
        self.bar = progress_bar(total, enabled, desc=f"sweep {optimizer}")

    def update(self, out, n: int):
        if self.bar is not None:
            jax.block_until_ready(out[0])
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_local(
    spec: Spec,
    *,
    programs: Programs,
    layout: loop.Layout,
    groups: Groups,
    splits: tuple,
    steps: int,
    progress: bool,
    threads: int = 1,
) -> Outcome:
    """One device: groups one after another, each in ``layout.chunks`` compiled calls.

    With ``threads > 1`` that many groups run side by side, one Python thread each (the
    compiled calls release the GIL); every group's arithmetic is unchanged.
    """
    train_split, val_split = splits
    init_args = groups.get(0)
    base_key = (*spec.key(), loop.abstract_signature(init_args))
    init_c, t_init = loop.cached_compile(
        _PROGRAMS, ("init", *base_key), lambda: loop.compile_program(programs.init, init_args)
    )
    state = init_c(*init_args)
    num_steps = jnp.asarray(steps, jnp.int32)
    orders, t_orders = _orders_program(spec, programs, init_args[2])
    start0 = jnp.asarray(0, jnp.int32)
    train_in = _train_input(orders, train_split, init_args[2], start0)
    args = (state, init_args[0], train_in, val_split, start0, num_steps)
    chunk_key = ("chunk", *base_key, *layout[:2], layout.exact, loop.abstract_signature(args))
    chunk_c, t_chunk = loop.cached_compile(
        _PROGRAMS,
        chunk_key,
        lambda: loop.compile_program(programs.chunk, args, programs.options),
    )

    bar = _Bar(groups.count * layout.chunks * layout.steps_per_chunk, progress, spec.optimizer)
    starts = [jnp.asarray(c * layout.steps_per_chunk, jnp.int32) for c in range(layout.chunks)]
    first = state
    side_by_side = threads > 1 and groups.count > 1

    def run_group(i):
        hp_g, params_g, keys_g = groups.get(i) if i else init_args
        state = init_c(hp_g, params_g, keys_g) if i else first
        outs_g = []
        for start in starts:
            train_in = _train_input(orders, train_split, keys_g, start)
            state, out = chunk_c(state, hp_g, train_in, val_split, start, num_steps)
            outs_g.append(out)
            bar.update(out, layout.steps_per_chunk)
        end = (programs.params_of(state), state.diverged, state.diverged_step)
        # on a thread, wait here so the pool measures the work; in order, dispatch runs ahead
        return outs_g, jax.block_until_ready(end) if side_by_side else end

    t0 = time.perf_counter()
    if side_by_side:
        with ThreadPoolExecutor(min(threads, groups.count)) as pool:
            done = list(pool.map(run_group, range(groups.count)))
    else:
        done = [run_group(i) for i in range(groups.count)]
    outs = [[g[0][c] for g in done] for c in range(layout.chunks)]  # per chunk: the groups'
    ends = [g[1] for g in done]
    jax.block_until_ready((outs, ends))
    run_time = time.perf_counter() - t0
    bar.close()
    return Outcome(outs, ends, t_init + t_orders + t_chunk, run_time)


def _orders_program(spec: Spec, programs: Programs, data_keys):
    """``(compiled programs.orders or None, seconds compiling)``, cached by the problem and
    the shapes only: every optimizer's sweep on the problem shares it."""
    if programs.orders is None:
        return None, 0.0
    start = jnp.asarray(0, jnp.int32)
    key = ("orders", _cache.ref(spec.problem), programs.order_epochs,
           loop.abstract_signature((data_keys, start)))  # fmt: skip
    return loop.cached_compile(
        _PROGRAMS, key, lambda: loop.compile_program(programs.orders, (data_keys, start))
    )


def _train_input(orders, train_split, data_keys, start):
    """The chunk's train split: with ``orders``, the split and its runs' epochs' key material."""
    if orders is None:
        return train_split
    pivots, salts, first_epoch = orders(data_keys, start)
    return batching.OrderedSplit(train_split, pivots, salts, first_epoch)


def run_sharded(
    spec: Spec,
    *,
    programs: Programs,
    layout: loop.Layout,
    groups: Groups,
    splits: tuple,
    steps: int,
    progress: bool,
) -> Outcome:
    """Every device trains its share of each group: init and all steps in one sharded call.

    ``layout`` must be one chunk (``chunk_layout(steps, block, 1)``).
    """
    mesh = distributed_lib.batch_mesh()

    def whole(hp, params, keys, train_split, val_split, num_steps):
        state = programs.init(hp, params, keys)
        start = jnp.zeros([], jnp.int32)
        state, out = programs.chunk(state, hp, train_split, val_split, start, num_steps)
        return out, (programs.params_of(state), state.diverged, state.diverged_step)

    # the runs (hp, params, data keys) are split over the devices; the data and step count
    # are replicated
    program = distributed_lib.shard_leading(whole, sharded=3, replicated=3, mesh=mesh)
    num_steps = jnp.asarray(steps, jnp.int32)
    args0 = (*groups.get(0), *splits, num_steps)
    devices = tuple(d.id for d in mesh.devices.flat)
    key = ("sharded", *spec.key(), *layout[:2], layout.exact, devices,
           loop.abstract_signature(args0))  # fmt: skip
    compiled, t_compile = loop.cached_compile(
        _PROGRAMS, key, lambda: loop.compile_program(program, args0, programs.options)
    )
    bar = _Bar(groups.count * layout.steps_per_chunk, progress, spec.optimizer)
    outs, ends = [[]], []
    t0 = time.perf_counter()
    for i in range(groups.count):
        out, end = compiled(*groups.get(i), *splits, num_steps)
        outs[0].append(out)
        ends.append(end)
        bar.update(out, layout.steps_per_chunk)
    jax.block_until_ready(ends)
    run_time = time.perf_counter() - t0
    bar.close()
    return Outcome(outs, ends, t_compile, run_time)
