"""The sweep engines: how ``R`` runs are laid out in one compiled program, and which to use.

- ``"lanes"`` (full-batch small MLPs with an elementwise optimizer): the runs are the *last*
  axis of everything. All parameters of run ``r`` are column ``r`` of one ``(P, R)`` array
  (:class:`Packing`), each unit's activation is an ``(n, R)`` array (``optlab.lanes``), and the
  data batch, shared by all runs, is read once. Because

      d/dθ_r  Σ_s loss_s(θ_s)  =  d loss_r / dθ_r,

  one ``jax.grad`` of the summed loss gives every run its own gradient, and per-run
  hyperparameters of shape ``(R,)`` broadcast against the last axis, so optax's elementwise
  transforms work unchanged. Whether an optimizer is elementwise is checked numerically
  (:func:`optimizer_lanes_reason`), and so is the batched loss against ``problem.loss``.
- ``"vmap"`` / ``"map"``: ``jax.vmap`` of ``optlab.train``'s own step over all runs, or
  ``jax.lax.map`` over chunks of ``batch_size_runs`` runs (each chunk vmapped).

Both are built on ``optlab.train.loop.block_scan`` (the loop ``train`` compiles) and returned
as :class:`Programs`; :func:`choose_method` picks the engine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlab import _cache
from optlab import lanes as lanes_lib
from optlab import optimizers as optimizers_lib
from optlab.data import batching
from optlab.sweep.validate import make_optimizer
from optlab.train import loop
from optlab.train.api import resolve_problem
from optlab.train.step import (
    TrainState,
    divergence_rule,
    make_batch_step,
    make_evaluate,
    make_step,
    minibatch,
)

__all__ = ["Spec", "Programs", "Packing", "choose_method", "programs", "settings_key"]

# Lanes engine: runs per program call so that one (rows, runs) activation has ~this many floats.
_LANES_TARGET_FLOATS = 1 << 16

# Automatic chunk size of the "map" engine: run chunks so that the batched activations of one
# chunk stay around this many floats (measured: benchmarks/sweep.py, docs/sweeps.md).
_MAP_TARGET_FLOATS = 1 << 17
#: On a GPU or TPU a chunk may hold this many times more: what bounds it there is memory
#: (gigabytes), not a CPU cache, and wide chunks are what keep the device busy.
_ACCELERATOR_FACTOR = 1 << 10

# Largest key-material table (int32 words: runs x epochs x rounds, pivots and salts each) a
# sweep computes apart from its step program; longer chunks derive it inside the step.
_MAX_ORDER_WORDS = 1 << 22

# XLA:CPU options for the lanes program. With YNNPACK fusing the (n, R) -> (R,) column
# reductions the 64-run adder sweep took a median 1.32x longer than with XLA's own reduction
# loops (8 alternating pairs; benchmarks/README.md); restricting YNNPACK to dots keeps
# them native. Skipped when the backend rejects the option.
_LANES_XLA_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def settings_key(d: Mapping[str, Any]) -> tuple:
    """A hashable key of a settings dict (values by ``repr``)."""
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


class Spec(NamedTuple):
    """What decides a sweep's programs besides shapes and the chunk layout."""

    problem: Any
    optimizer: str
    fixed: dict[str, Any]
    method: str  # "lanes", "vmap" or "map"
    batch_size_runs: int  # runs per vmapped chunk ("map"), runs per group ("lanes")
    # "vmap" only: S > 0 lays the runs out as (R // S, S), run g * S + s training with seed s,
    # and draws each seed's minibatch once for its R // S runs; 0: every run draws its own.
    shared_seeds: int = 0

    def key(self) -> tuple:
        """A cache key part: the problem by identity, the rest by value."""
        return (
            _cache.ref(self.problem),
            self.optimizer,
            settings_key(self.fixed),
            self.method,
            self.batch_size_runs,
            self.shared_seeds,
        )

    def make_optimizer(self, hp):
        return make_optimizer(self.optimizer, self.fixed, hp)


class Programs(NamedTuple):
    """An engine's pure functions over a group of runs (runs first at the boundary).

    ``init(hp, params, data_keys) -> state``; ``chunk(state, hp, train_split, val_split,
    start, num_steps) -> (state, (losses, grad_norms, evaluation, None))`` with runs-first
    outputs; ``params_of(state)``: params, runs first; ``options``: XLA compiler options.
    ``orders`` (minibatched problems, else None): ``orders(data_keys, start) -> (pivots,
    salts, first_epoch)``, runs first, the key material of the ``order_epochs`` epochs from
    the one of step ``start``; ``chunk`` then takes a ``batching.OrderedSplit`` of them as its
    train split, so its program holds no PRNG work and ``orders``' program (one per problem
    and shapes, whatever the optimizer) does it once per chunk.
    """

    init: Callable
    chunk: Callable
    params_of: Callable
    options: dict[str, str] | None
    orders: Callable | None = None
    order_epochs: int = 0


class Packing:
    """All of one run's parameters as rows of a single ``(P, R)`` array (runs last).

    One array instead of one per layer makes the optimizer update, the gradient norm and the
    divergence check a handful of fused loops per step instead of a handful per leaf; for the
    elementwise optimizers the lanes engine admits this changes nothing.
    """

    def __init__(self, params_runs_first):
        leaves, self.treedef = jax.tree_util.tree_flatten(params_runs_first)
        self.shapes = [tuple(x.shape[1:]) for x in leaves]
        self.sizes = [math.prod(sh) for sh in self.shapes]
        self.offsets = np.cumsum([0, *self.sizes]).tolist()

    def pack(self, params_runs_first) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(params_runs_first)
        r = leaves[0].shape[0]
        return jnp.concatenate([x.reshape(r, -1) for x in leaves], axis=1).T

    def lanes(self, flat):
        """Leaves ``(*shape, R)`` (views of ``flat``)."""
        r = flat.shape[-1]
        leaves = [
            flat[o : o + n].reshape(*sh, r)
            for o, n, sh in zip(self.offsets, self.sizes, self.shapes, strict=False)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def runs_first(self, flat):
        """Leaves ``(R, *shape)``."""
        r = flat.shape[-1]
        leaves = [
            flat[o : o + n].T.reshape(r, *sh)
            for o, n, sh in zip(self.offsets, self.sizes, self.shapes, strict=False)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


class _LanesState(NamedTuple):
    params: Any  # (P, R): see Packing
    opt_state: Any
    diverged: jax.Array  # (R,)
    diverged_step: jax.Array  # (R,)


def _lanes_where(freeze, old, new, r: int):
    def pick(o, n_):
        if jnp.ndim(n_) >= 1 and n_.shape[-1] == r:
            return jnp.where(freeze, o, n_)
        return n_  # shared leaves (step counters): identical for every run

    return jax.tree_util.tree_map(pick, old, new)


def _make_lanes_step(problem, make_opt, r: int, packing: Packing):
    per_run = lanes_lib.per_set_loss(problem)

    def step(state: _LanesState, hp, train_split, step_index):
        opt = make_opt(hp)

        def total(flat):
            losses = per_run(packing.lanes(flat), train_split)
            return jnp.sum(losses), losses

        # d(sum_r loss_r)/d(params of run r) = d(loss_r)/d(params of run r): all runs at once
        grads, losses = jax.grad(total, has_aux=True)(state.params)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        gnorm = jnp.sqrt(jnp.sum(jnp.square(grads), axis=0))
        # a NaN/Inf anywhere in run r's params makes its sum non-finite
        finite = jnp.isfinite(jnp.sum(new_params, axis=0))
        bad = ~(jnp.isfinite(losses) & jnp.isfinite(gnorm) & finite)
        freeze, diverged_step, rec_loss, rec_gnorm = divergence_rule(
            state.diverged, state.diverged_step, bad, step_index, losses, gnorm
        )
        new_state = _LanesState(
            params=_lanes_where(freeze, state.params, new_params, r),
            opt_state=_lanes_where(freeze, state.opt_state, opt_state, r),
            diverged=freeze,
            diverged_step=diverged_step,
        )
        return new_state, (rec_loss, rec_gnorm)

    return step


_ELEMENTWISE = _cache.Cache(maxsize=256)


def optimizer_lanes_reason(name: str, fixed: Mapping[str, Any], swept) -> str | None:
    """None if ``name`` updates run-last leaves exactly as it updates each run alone.

    Three updates of a tiny pytree whose runs have gradients of very different scales and
    different hyperparameters, against ``vmap`` of the single-run update (one compile, cached
    per optimizer, fixed settings and swept names). Transforms using tensor or global norms
    (LAMB, LARS, NovoGrad, clipping) mix the runs and fail.
    """
    key = (name, settings_key(fixed), tuple(sorted(swept)))
    return _ELEMENTWISE.get(key, lambda: _elementwise_check(name, fixed, swept))


def _elementwise_check(name: str, fixed: Mapping[str, Any], swept) -> str | None:
    r = 3
    hp3 = {k: jnp.asarray([1.0, 0.5, 0.25], jnp.float32) * _probe_value(name, k) for k in swept}
    rng = np.random.default_rng(0)
    scales = np.asarray([1.0, 1e3, 1e-3], np.float32)
    shapes = [(3, 2), (2,)]
    p0 = [jnp.asarray(rng.normal(size=(*sh, r)), jnp.float32) for sh in shapes]
    gs = [
        [jnp.asarray(rng.normal(size=(*sh, r)) * scales, jnp.float32) for sh in shapes]
        for _ in range(3)
    ]

    def updates(p, gs, hp):
        opt = make_optimizer(name, fixed, hp)
        state = opt.init(p)
        for g in gs:
            u, state = opt.update(g, state, p)
            p = optax.apply_updates(p, u)
        return p

    def both(p, gs, hp):
        lanes = updates(p, gs, hp)
        single = jax.vmap(updates, in_axes=(-1, -1, 0), out_axes=-1)(p, gs, hp)
        return lanes, single

    reason = None
    try:
        got, want = jax.jit(both)(p0, gs, hp3)
        for a, b in zip(got, want, strict=True):
            if not np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6):
                reason = f"optimizer {name!r} mixes runs (it uses tensor or global norms)"
                break
    except Exception as e:  # noqa: BLE001 - any failure means: not elementwise on lanes
        reason = f"optimizer {name!r} does not run on run-last leaves ({type(e).__name__})"
    return reason


# --------------------------------------------------------------------------- method choice


def _lanes_group(problem) -> int:
    """Runs per lanes program call: ``(rows, runs)`` activations of about 2**16 floats.

    Measured (benchmarks/sweep.py, adder, 1,000 rows): the time per run falls up to 64 runs
    and rises again at 256, when the per-unit ``(rows, runs)`` arrays outgrow the caches.
    """
    rows = int(problem.data.train.x.shape[0])
    return max(8, (_LANES_TARGET_FLOATS // max(rows, 1)) // 8 * 8)


def _work_per_run(problem) -> float:
    """Floats of activations one run touches per step (rows × widths)."""
    if problem.data is None or problem.sizes is None:
        return 1.0
    n = int(problem.data.train.x.shape[0])
    rows = n if problem.batch_size is None else min(n, int(problem.batch_size))
    return float(rows * sum(problem.sizes))


def shared_seeds(problem, n_runs: int, n_seeds: int) -> int:
    """``n_seeds`` when the runs of one seed can share their minibatches, else 0.

    The runs are grid points × seeds with the seeds innermost (``runner.plan``), so runs of one
    seed draw the same minibatches; sharing them needs a minibatched problem (full batch is
    already shared) and more than one grid point.
    """
    if problem.data is None or problem.batch_size is None:
        return 0
    if int(problem.batch_size) >= int(problem.data.train.x.shape[0]):
        return 0
    if n_seeds < 1 or n_runs % n_seeds or n_runs // n_seeds < 2:
        return 0
    return n_seeds


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parallel_groups(grid_points: int, cores: int) -> int:
    """Groups of whole seed rows run side by side: the most, up to ``cores``, that split the
    ``grid_points`` evenly and leave each group at least 2 grid points to share a batch.

    One vmapped program keeps a 2-core CPU about 1.3 cores busy (small matmuls); two
    independent halves on two threads fill both (``benchmarks/sweep.py``).
    """
    for t in range(max(1, cores), 1, -1):
        if grid_points % t == 0 and grid_points // t >= 2:
            return t
    return 1


def choose_method(
    problem,
    optimizer: str,
    n_runs: int,
    *,
    fixed: Mapping[str, Any] | None = None,
    swept: Sequence[str] = ("learning_rate",),
    method: str = "auto",
    batch_size_runs: int | None = None,
    n_seeds: int | None = None,
) -> tuple[str, int, str]:
    """The engine and chunk size ``sweep`` uses, with the reason.

    Rule (measured on a 2-core CPU, ``benchmarks/sweep.py``): ``"lanes"`` for full-batch MLPs
    with at most ``lanes_lib.MAX_TERMS`` weight terms and an elementwise optimizer; otherwise
    ``"map"`` over chunks of ``batch_size_runs`` runs, by default as many runs as keep one
    chunk's activations near ``_MAP_TARGET_FLOATS`` floats (small problems: all runs at once,
    i.e. a plain vmap; matmul-bound ones: a few runs per chunk). Given ``n_seeds`` (the runs
    are grid points × seeds, seeds innermost) on a minibatched problem, when one seed's grid
    points fit such a chunk all runs are vmapped together and each seed's minibatch is drawn
    once for its runs (:func:`shared_seeds`; digits, 4 lr × 4 seeds: measured 1.2-1.3× over
    sequential as one program, 2.3× with two groups side by side on 2 cores, against 1.0-1.1×
    for chunks of 4, ``benchmarks/sweep.py``). On a GPU/TPU ``auto`` never picks ``"lanes"``
    and allows ``_ACCELERATOR_FACTOR`` times larger chunks.

    Returns:
      ``(method, batch_size_runs, reason)``.
    """
    fixed = dict(fixed or {})
    if isinstance(problem, str):
        problem = resolve_problem(problem)
    accelerator = jax.default_backend() != "cpu"
    if method == "auto" and accelerator:
        # the lanes layout fills a CPU core's vector units; an accelerator runs the plain
        # vmapped program over all the runs it can hold (H200, 64 adder runs: 85x sequential
        # for one vmapped program against 23x for map chunks of 16, benchmarks/README.md)
        why_not = "not lanes: an accelerator (lanes is a CPU layout); "
    elif method in ("auto", "lanes"):
        reason = lanes_lib.structural_reason(problem)
        if reason is None:
            reason = optimizer_lanes_reason(optimizer, fixed, swept)
        if reason is None:
            reason = lanes_lib.loss_reason(problem)
        if reason is None:
            g = min(n_runs, batch_size_runs or _lanes_group(problem))
            return "lanes", g, "full-batch small MLP, elementwise optimizer"
        if method == "lanes":
            raise ValueError(f"method='lanes' does not apply: {reason}; use method='auto'")
        why_not = f"not lanes: {reason}; "
    else:
        why_not = ""
    if method == "vmap":
        return "vmap", n_runs, why_not + "vmap requested"
    if batch_size_runs is None:
        target = _MAP_TARGET_FLOATS * (_ACCELERATOR_FACTOR if accelerator else 1)
        cap = max(1, min(n_runs, int(target // _work_per_run(problem))))
        shared = shared_seeds(problem, n_runs, n_seeds or 0)
        if shared and n_runs // shared <= cap:
            why = f"all runs vmapped, each of the {shared} seeds' minibatches drawn once for"
            return "vmap", n_runs, f"{why_not}{why} its {n_runs // shared} runs"
        # prefer a divisor of n_runs (no ragged last chunk) unless it halves the chunk
        divisor = max(d for d in range(1, cap + 1) if n_runs % d == 0)
        batch_size_runs = divisor if 2 * divisor >= cap else cap
    batch_size_runs = min(batch_size_runs, n_runs)
    if batch_size_runs >= n_runs:
        return "vmap", n_runs, why_not + "all runs fit one vmapped chunk"
    return "map", batch_size_runs, why_not + f"chunks of {batch_size_runs} runs (per-run work)"


def _probe_value(optimizer: str, key: str) -> float:
    d = optimizers_lib.defaults(optimizer).get(key)
    if isinstance(d, (int, float)) and not isinstance(d, bool) and d not in (0, None):
        return float(d)
    return 1e-3 if key == "learning_rate" else 0.5


# --------------------------------------------------------------------------- programs


def _vmap_programs(spec: Spec, layout: loop.Layout, runs: int) -> Programs:
    """``train``'s step vmapped over all runs, or ``lax.map`` over chunks of vmapped runs."""
    problem = spec.problem

    def one_step(state, hp, train_split, index):
        return make_step(problem, spec.make_optimizer(hp))(state, train_split, index)

    one_chunk = loop.block_scan(
        one_step, make_evaluate(problem), layout, params_of=lambda s: s.params
    )

    def init(hp, params, data_keys):
        def one(h, p, dk):
            return TrainState(
                params=p,
                opt_state=spec.make_optimizer(h).init(p),
                data_key=dk,
                diverged=jnp.zeros([], bool),
                diverged_step=jnp.full([], -1, jnp.int32),
            )

        return jax.vmap(one)(hp, params, data_keys)

    def chunk(states, hp, train_split, val_split, start, num_steps):
        ordered = isinstance(train_split, batching.OrderedSplit)
        # the epochs' key material is per run: mapped with the state, the split is shared
        per_run = (train_split.pivots, train_split.salts) if ordered else None

        def f(s, h, order):
            ts = train_split._replace(pivots=order[0], salts=order[1]) if ordered else train_split
            return one_chunk(s, h, ts, val_split, start, num_steps)

        if spec.method == "vmap" and spec.shared_seeds:
            return _shared_chunk(spec, layout, states, hp, train_split, val_split, start,
                                 num_steps)  # fmt: skip
        if spec.method == "vmap":
            return jax.vmap(f)(states, hp, per_run)  # per-run outputs, runs axis first
        args = (states, hp, per_run)
        return jax.lax.map(lambda a: f(*a), args, batch_size=spec.batch_size_runs)

    epochs = _order_epochs(problem, layout)
    if epochs == 0 or runs * epochs * batching.shuffle_rounds(_rows(problem)) > _MAX_ORDER_WORDS:
        return Programs(init, chunk, lambda s: s.params, None)
    n = _rows(problem)

    spe = n // int(problem.batch_size)

    def orders(data_keys, start):
        first_epoch = start // spe
        # a loop over runs (see epoch_key_material: loops compile faster than vmaps here)
        pivots, salts = jax.lax.map(
            lambda k: batching.epoch_key_material(k, first_epoch, epochs, n), data_keys
        )
        return pivots, salts, first_epoch

    return Programs(init, chunk, lambda s: s.params, None, orders, epochs)


def _rows(problem) -> int:
    return int(problem.data.train.x.shape[0])


def _order_epochs(problem, layout: loop.Layout) -> int:
    """Epochs one chunk of ``layout`` can touch (0: the problem is not minibatched)."""
    if problem.data is None or problem.batch_size is None:
        return 0
    n, bs = _rows(problem), int(problem.batch_size)
    if bs >= n:
        return 0
    spe = n // bs
    # steps start .. start + steps_per_chunk - 1 span at most this many epochs
    return (layout.steps_per_chunk - 1) // spe + 2


def _shared_chunk(spec: Spec, layout, states, hp, train_split, val_split, start, num_steps):
    """The vmap engine with the runs as a ``(G, S)`` grid, ``S = spec.shared_seeds``.

    Runs ``g * S + s`` (grid point ``g``, seed ``s``) share their data key, so one
    :func:`minibatch` per seed and step serves the ``G`` runs of that seed; the batch enters
    their vmapped step unbatched, which also makes the first layer's products one matmul over
    the ``G`` runs instead of ``G`` small ones. Per run the arithmetic is ``train``'s step.
    """
    problem, s_ = spec.problem, spec.shared_seeds
    r = jax.tree_util.tree_leaves(hp)[0].shape[0]
    g_ = r // s_

    def grid(a):  # (R, ...) -> (G, S, ...)
        return a.reshape(g_, s_, *a.shape[1:])

    def flat(a, axis):  # (..., G, S, ...) at `axis` -> runs first (R, ...)
        a = a.reshape(*a.shape[:axis], r, *a.shape[axis + 2 :])
        return jnp.moveaxis(a, axis, 0)

    # a sweep's precomputed epochs (batching.OrderedSplit) hold per-run key material; the
    # runs of one seed share it, so each seed takes that of its first grid point
    ordered = isinstance(train_split, batching.OrderedSplit)
    seed_orders = (grid(train_split.pivots)[0], grid(train_split.salts)[0]) if ordered else None

    def runs_step(state, hp_g, split, index):
        def per_seed(st, h, order):  # st, h: the G runs of one seed
            sp = split._replace(pivots=order[0], salts=order[1]) if ordered else split
            batch = minibatch(problem, sp, st.data_key[0], index)

            def one(st1, h1):
                return make_batch_step(problem, spec.make_optimizer(h1))(st1, batch, index)

            return jax.vmap(one)(st, h)

        return jax.vmap(per_seed, in_axes=(1, 1, 0), out_axes=1)(state, hp_g, seed_orders)

    evaluate = make_evaluate(problem)

    def eval_runs(params, split):
        return jax.vmap(jax.vmap(evaluate, in_axes=(0, None)), in_axes=(0, None))(params, split)

    scan = loop.block_scan(runs_step, eval_runs, layout, params_of=lambda s: s.params)
    state, (losses, gnorms, ev, _) = scan(
        jax.tree_util.tree_map(grid, states), jax.tree_util.tree_map(grid, hp), train_split,
        val_split, start, num_steps,
    )  # fmt: skip
    # outputs (n_blocks, block, G, S) and evaluations (n_blocks, G, S): runs first
    ev = None if ev is None else jax.tree_util.tree_map(lambda a: flat(a, 1), ev)
    state = jax.tree_util.tree_map(lambda a: a.reshape(r, *a.shape[2:]), state)
    return state, (flat(losses, 2), flat(gnorms, 2), ev, None)


def _lanes_programs(spec: Spec, layout: loop.Layout, runs: int, packing: Packing) -> Programs:
    """One program over ``runs`` runs laid along the last axis (see the module docstring)."""
    problem = spec.problem
    evaluate = make_evaluate(problem)
    step = _make_lanes_step(problem, spec.make_optimizer, runs, packing)

    def eval_runs(flat, split):
        return jax.vmap(evaluate, in_axes=(0, None))(packing.runs_first(flat), split)

    scan = loop.block_scan(step, eval_runs, layout, params_of=lambda s: s.params)

    def init(hp, params, data_keys):
        del data_keys  # full batch: no minibatch order
        params = packing.pack(params)
        return _LanesState(
            params=params,
            opt_state=spec.make_optimizer(hp).init(params),
            diverged=jnp.zeros((runs,), bool),
            diverged_step=jnp.full((runs,), -1, jnp.int32),
        )

    def chunk(state, hp, train_split, val_split, start, num_steps):
        state, (losses, gnorms, ev, _) = scan(state, hp, train_split, val_split, start, num_steps)
        # lanes outputs are (n_blocks, block, R): put runs first like the vmap engine
        losses = jnp.moveaxis(losses, -1, 0)
        gnorms = jnp.moveaxis(gnorms, -1, 0)
        if ev is not None:
            ev = jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 1, 0), ev)
        return state, (losses, gnorms, ev, None)

    return Programs(init, chunk, lambda s: packing.runs_first(s.params), _LANES_XLA_OPTIONS)


def programs(spec: Spec, *, layout: loop.Layout, runs: int, params0) -> Programs:
    """The engine's :class:`Programs` for groups of ``runs`` runs shaped like ``params0``."""
    if spec.method == "lanes":
        return _lanes_programs(spec, layout, runs, Packing(params0))
    return _vmap_programs(spec, layout, runs)
