"""Compiled training: one ``lax.scan`` over steps, run in chunks, returning a run record.

``train(problem, optimizer, steps=..., key=...)`` compiles the whole loop (forward, backward,
optimizer update, divergence check, evaluation and parameter snapshots) into one XLA program
that is called once per chunk of steps; between chunks only a progress bar runs on the host.

Divergence never raises: when the loss, the gradient or the new params become NaN/Inf the run
keeps its last finite params, stops updating, records ``diverged=True`` and the step, and its
later losses are NaN.

The pure building blocks (``init_state``, ``make_step``, ``make_evaluate``) are vmappable and are
what ``optlab.sweep`` batches over hyperparameters and seeds.

Seeds are paired: ``key`` is split into an init key and a data key by a fixed rule that does not
depend on the optimizer, so the same key gives every optimizer the same initial params and the
same minibatch order.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlab import data as data_lib
from optlab import optimizers as optimizers_lib
from optlab import problems as problems_lib

__all__ = [
    "Run",
    "TrainState",
    "init_state",
    "make_step",
    "make_evaluate",
    "split_key",
    "train",
    "compile_count",
    "abstract_signature",
    "divergence_rule",
    "evaluate_splits",
    "final_metrics",
    "progress_bar",
]


class TrainState(NamedTuple):
    """Everything one run carries from step to step (a pytree)."""

    params: Any
    opt_state: Any
    data_key: jax.Array
    diverged: jax.Array  # bool scalar
    diverged_step: jax.Array  # int32 scalar, -1 while finite


def split_key(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The fixed rule pairing seeds across optimizers: ``key -> (init_key, data_key)``."""
    return jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)


def init_state(problem, optimizer: optax.GradientTransformation, key: jax.Array, params=None):
    """Initial ``TrainState``: params from ``problem.init(init_key)`` unless ``params`` given."""
    init_key, data_key = split_key(key)
    if params is None:
        params = problem.init(init_key)
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        data_key=data_key,
        diverged=jnp.zeros([], bool),
        diverged_step=jnp.full([], -1, jnp.int32),
    )


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.ones([], bool)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _tree_where(cond, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


def divergence_rule(diverged, diverged_step, bad, step_index, loss, grad_norm):
    """The one divergence rule of training and sweeps (elementwise, so it batches over runs).

    A run is frozen from the first step whose loss, gradient or new params are non-finite
    (``bad``); that step is recorded, and every later step records NaN loss and gradient norm.

    Returns:
      ``(freeze, diverged_step, recorded_loss, recorded_grad_norm)``; ``freeze`` is the new
      ``diverged`` flag and says where the old params and optimizer state must be kept.
    """
    freeze = diverged | bad
    new_step = jnp.where(bad & ~diverged, step_index, diverged_step).astype(jnp.int32)
    nan = jnp.asarray(jnp.nan, loss.dtype)
    return (
        freeze,
        new_step,
        jnp.where(diverged, nan, loss),
        jnp.where(diverged, nan, grad_norm.astype(loss.dtype)),
    )


def make_step(problem, optimizer: optax.GradientTransformation) -> Callable:
    """A pure step ``(state, train_split, step_index) -> (state, (loss, grad_norm))``.

    The minibatch for ``step_index`` comes from ``optlab.data.get_batch`` (full batch when the
    problem has no batch size). Optimizers that take optax extra args (L-BFGS, Newton-CG) get
    ``value``, ``grad`` and ``value_fn`` (the loss on this batch as a function of params).
    Once a run has diverged the step is a no-op that records NaN.
    """
    extra = optimizers_lib.needs_value_fn(optimizer)

    def step(state: TrainState, train_split, step_index):
        if problem.data is None or train_split is None:
            batch = None
        else:
            batch = data_lib.get_batch(train_split, state.data_key, step_index, problem.batch_size)

        def loss_fn(p):
            return problem.loss(p, batch)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        if extra:
            updates, opt_state = optimizer.update(
                grads, state.opt_state, state.params, value=loss, grad=grads, value_fn=loss_fn
            )
        else:
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        grad_norm = optax.tree.norm(grads)
        bad = ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm) & _all_finite(new_params))
        freeze, diverged_step, rec_loss, rec_gnorm = divergence_rule(
            state.diverged, state.diverged_step, bad, step_index, loss, grad_norm
        )
        new_state = TrainState(
            params=_tree_where(freeze, state.params, new_params),
            opt_state=_tree_where(freeze, state.opt_state, opt_state),
            data_key=state.data_key,
            diverged=freeze,
            diverged_step=diverged_step,
        )
        return new_state, (rec_loss, rec_gnorm)

    return step


def make_evaluate(problem) -> Callable:
    """A pure ``(params, split) -> (loss, {metric: value})`` on a whole split."""
    metrics = dict(problem.metrics or {})

    def evaluate(params, split):
        loss = problem.loss(params, split)
        return loss, {name: fn(params, split) for name, fn in metrics.items()}

    return evaluate


@dataclass
class Run:
    """The record of one training run; every array is numpy.

    Attributes:
      loss: training (minibatch) loss at each step, shape ``(steps,)``; NaN after divergence.
      grad_norm: global gradient norm at each step.
      eval_steps: steps at which the validation split was evaluated (0 = initial params).
      val_loss: validation loss at ``eval_steps``.
      val_metrics: ``{name: values at eval_steps}``.
      final: loss and metrics on the full train/validation/test splits at the end
        (``"train_loss"``, ``"val_loss"``, ``"test_loss"``, ``"val_accuracy"``, ...).
      final_params: the params after the last step (the last finite ones if diverged).
      snapshots: params at ``snapshot_steps``, each leaf with a leading snapshot axis.
      snapshot_steps: steps of the snapshots (0 = initial params).
      diverged: whether the loss, gradient or params became non-finite.
      diverged_step: the step at which that happened, -1 if never.
      compile_time: seconds spent compiling (0 when the compiled program was cached).
      run_time: seconds spent running the compiled steps.
      config: what produced the run (problem, optimizer, steps, ...).
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    eval_steps: np.ndarray
    val_loss: np.ndarray
    val_metrics: dict[str, np.ndarray]
    final: dict[str, float]
    final_params: Any
    snapshots: Any
    snapshot_steps: np.ndarray
    diverged: bool
    diverged_step: int
    compile_time: float
    run_time: float
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.loss.shape[0])

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary: final metrics, divergence, timings."""
        return {
            **{k: _json_float(v) for k, v in self.final.items()},
            "diverged": self.diverged,
            "diverged_step": self.diverged_step,
            "compile_time": self.compile_time,
            "run_time": self.run_time,
        }


def _json_float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# --- compiled-program cache -------------------------------------------------------------------
# Keyed by the identity of the problem and optimizer objects (their functions are closures) and
# by the static chunk layout and argument shapes. Entries keep the objects alive so ids stay
# unique. Bounded, least-recently-used first out.
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 64
_COMPILES = [0]


def compile_count() -> int:
    """How many training programs this process has compiled (for no-recompilation tests)."""
    return _COMPILES[0]


def abstract_signature(tree) -> tuple:
    """A hashable (tree structure, shapes, dtypes) key of a pytree, for compiled-program caches."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(x)), str(jnp.result_type(x))) for x in leaves)


def _chunk_fn(problem, optimizer, block: int, n_blocks: int, snapshots: bool):
    step = make_step(problem, optimizer)
    evaluate = make_evaluate(problem)

    def chunk(state, train_split, val_split, start, num_steps):
        def block_fn(state, b):
            def inner(state, i):
                index = start + b * block + i
                active = index < num_steps
                new_state, (loss, gnorm) = step(state, train_split, index)
                state = _tree_where(active, new_state, state)
                nan = jnp.asarray(jnp.nan, loss.dtype)
                return state, (jnp.where(active, loss, nan), jnp.where(active, gnorm, nan))

            state, (losses, gnorms) = jax.lax.scan(inner, state, jnp.arange(block))
            evaluation = evaluate(state.params, val_split) if val_split is not None else None
            snap = state.params if snapshots else None
            return state, (losses, gnorms, evaluation, snap)

        return jax.lax.scan(block_fn, state, jnp.arange(n_blocks))

    return chunk


def _compiled_chunk(problem, optimizer, block, n_blocks, snapshots, args):
    key = (id(problem), id(optimizer), block, n_blocks, snapshots, abstract_signature(args))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is problem and hit[1] is optimizer:
        _CACHE.move_to_end(key)
        return hit[2], 0.0
    t0 = time.perf_counter()
    fn = jax.jit(_chunk_fn(problem, optimizer, block, n_blocks, snapshots))
    compiled = fn.lower(*args).compile()
    elapsed = time.perf_counter() - t0
    _COMPILES[0] += 1
    _CACHE[key] = (problem, optimizer, compiled)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled, elapsed


_OPT_CACHE: dict = {}


def _resolve_optimizer(optimizer, hyperparams: Mapping[str, Any] | None):
    if isinstance(optimizer, str):
        hp = dict(hyperparams or {})
        key = (optimizer, tuple(sorted((k, repr(v)) for k, v in hp.items())))
        if key not in _OPT_CACHE:  # same name + hyperparams -> same object -> no recompilation
            _OPT_CACHE[key] = optimizers_lib.get(optimizer, **hp)
        return _OPT_CACHE[key], {"optimizer": optimizer, "hyperparams": hp}
    if hyperparams:
        raise ValueError("hyperparams= is only used with an optimizer given by name")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be a registered name or an optax.GradientTransformation, "
            f"got {type(optimizer).__name__}"
        )
    return optimizer, {"optimizer": getattr(optimizer, "__name__", "custom"), "hyperparams": {}}


_PROBLEM_CACHE: dict = {}


def _resolve_problem(problem):
    if isinstance(problem, str):
        if problem not in _PROBLEM_CACHE:
            _PROBLEM_CACHE[problem] = problems_lib.get(problem)
        return _PROBLEM_CACHE[problem]
    return problem


def _positive_int(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


_EVALUATORS: OrderedDict = OrderedDict()


def _evaluator(problem):
    """The jitted ``make_evaluate(problem)``, cached per problem object."""
    key = id(problem)
    hit = _EVALUATORS.get(key)
    if hit is None or hit[0] is not problem:
        hit = (problem, jax.jit(make_evaluate(problem)))
        _EVALUATORS[key] = hit
        if len(_EVALUATORS) > _CACHE_SIZE:
            _EVALUATORS.popitem(last=False)
    return hit[1]


def evaluate_splits(problem, evaluate, params) -> dict[str, np.ndarray]:
    """``evaluate(params, split)`` on every non-empty split, as float64 numpy arrays.

    Keys are ``"<split>_loss"`` and ``"<split>_<metric>"`` for the train, validation and test
    splits (only ``"train_loss"`` for problems without data). ``evaluate`` is
    :func:`make_evaluate`'s function, jitted, or a vmapped version of it (sweeps).
    """
    if problem.data is None:
        loss, _ = evaluate(params, None)
        return {"train_loss": np.asarray(loss, np.float64)}
    out = {}
    for split_name in ("train", "val", "test"):
        split = getattr(problem.data, split_name)
        if split is None or split.x.shape[0] == 0:
            continue
        loss, metrics = evaluate(params, split)
        out[f"{split_name}_loss"] = np.asarray(loss, np.float64)
        out.update({f"{split_name}_{k}": np.asarray(v, np.float64) for k, v in metrics.items()})
    return out


def final_metrics(problem, params) -> dict[str, float]:
    """Loss and metrics of ``params`` on the full train, validation and test splits."""
    return {k: float(v) for k, v in evaluate_splits(problem, _evaluator(problem), params).items()}


def train(
    problem,
    optimizer,
    *,
    steps: int,
    key: jax.Array,
    hyperparams: Mapping[str, Any] | None = None,
    eval_every: int | None = None,
    snapshot_every: int | None = None,
    snapshots: bool = True,
    chunks: int | None = None,
    progress: bool = False,
    params=None,
) -> Run:
    """Train ``problem`` with ``optimizer`` for ``steps`` steps, compiled.

    Args:
      problem: an ``optlab.problems.Problem`` or its registered name.
      optimizer: an ``optax.GradientTransformation`` or a registered optimizer name.
      steps: number of optimizer steps.
      key: PRNG key; split into init and data keys (see :func:`split_key`).
      hyperparams: hyperparameters when ``optimizer`` is a name (``optimizers.get(name, **hp)``).
      eval_every: evaluate on the validation split every this many steps (default
        ``max(1, steps // 100)``).
      snapshot_every: record params every this many steps (default ``eval_every``); a multiple
        of ``gcd(eval_every, snapshot_every)`` sets the block size of the inner scan.
      snapshots: record parameter snapshots at all.
      chunks: split the loop into this many compiled calls (default 1, or 20 with ``progress``);
        a progress bar and logging run between chunks.
      progress: show a progress bar (``tqdm``; notebook-aware).
      params: start from these params instead of ``problem.init``.

    Returns:
      A :class:`Run` of numpy arrays.

    Example:
      >>> import jax
      >>> from optlab import problems, train
      >>> run = train.train(problems.get("rosenbrock"), "adam", steps=100, key=jax.random.key(0),
      ...                   hyperparams={"learning_rate": 0.05})
      >>> run.loss.shape, run.diverged
      ((100,), False)
    """
    problem = _resolve_problem(problem)
    opt, opt_config = _resolve_optimizer(optimizer, hyperparams)
    steps = _positive_int("steps", steps)
    eval_every = _positive_int("eval_every", eval_every, True) or max(1, steps // 100)
    snapshot_every = _positive_int("snapshot_every", snapshot_every, True) or eval_every
    block = math.gcd(eval_every, snapshot_every)
    n_blocks_total = -(-steps // block)
    chunks = _positive_int("chunks", chunks, True) or (20 if progress else 1)
    chunks = min(chunks, n_blocks_total)
    n_blocks = -(-n_blocks_total // chunks)
    chunks = -(-n_blocks_total // n_blocks)

    state = init_state(problem, opt, key, params)
    train_split = problem.data.train if problem.data is not None else None
    val_split = problem.data.val if problem.data is not None else None
    if val_split is not None and val_split.x.shape[0] == 0:
        val_split = None
    num_steps = jnp.asarray(steps, jnp.int32)
    args = (state, train_split, val_split, jnp.asarray(0, jnp.int32), num_steps)
    compiled, compile_time = _compiled_chunk(problem, opt, block, n_blocks, snapshots, args)

    evaluate0 = _evaluator(problem)
    outs = []
    bar = progress_bar(chunks * n_blocks * block, progress, desc=f"{opt_config['optimizer']}")
    t0 = time.perf_counter()
    init_params = state.params
    for c in range(chunks):
        start = jnp.asarray(c * n_blocks * block, jnp.int32)
        state, out = compiled(state, train_split, val_split, start, num_steps)
        outs.append(out)
        if bar is not None:
            jax.block_until_ready(state.diverged)
            bar.update(n_blocks * block)
            bar.set_postfix(loss=f"{float(out[0][-1, -1]):.4g}", refresh=False)
    jax.block_until_ready(state)
    run_time = time.perf_counter() - t0
    if bar is not None:
        bar.close()

    losses = np.concatenate([np.asarray(o[0]).reshape(-1) for o in outs])[:steps]
    gnorms = np.concatenate([np.asarray(o[1]).reshape(-1) for o in outs])[:steps]
    block_ends = np.arange(1, chunks * n_blocks + 1) * block
    valid = block_ends <= steps
    # Evaluation points: step 0, every eval_every steps, and the last step.
    eval_mask = valid & ((block_ends % eval_every == 0) | (block_ends == steps))
    snap_mask = valid & ((block_ends % snapshot_every == 0) | (block_ends == steps))
    if block_ends[valid].size == 0 or block_ends[valid][-1] != steps:
        # steps is not a multiple of the block: the last (partial) block ends at `steps` too.
        last = int(np.argmax(block_ends >= steps))
        eval_mask[last] = snap_mask[last] = True
        block_ends = block_ends.copy()
        block_ends[last] = steps

    if val_split is not None:
        l0, m0 = evaluate0(init_params, val_split)
        val_loss = np.concatenate(
            [[float(l0)], np.concatenate([np.asarray(o[2][0]) for o in outs])[eval_mask]]
        )
        val_metrics = {
            k: np.concatenate(
                [[float(m0[k])], np.concatenate([np.asarray(o[2][1][k]) for o in outs])[eval_mask]]
            )
            for k in m0
        }
    else:
        val_loss = np.zeros((0,), np.float32)
        val_metrics = {}
    eval_steps = np.concatenate([[0], block_ends[eval_mask]]).astype(np.int64)
    if val_split is None:
        eval_steps = np.zeros((0,), np.int64)

    if snapshots:
        snaps = jax.tree_util.tree_map(
            lambda p0, *xs: np.concatenate([np.asarray(p0)[None], *[np.asarray(x) for x in xs]])[
                np.concatenate([[True], snap_mask])
            ],
            init_params,
            *[o[3] for o in outs],
        )
        snapshot_steps = np.concatenate([[0], block_ends[snap_mask]]).astype(np.int64)
    else:
        snaps, snapshot_steps = None, np.zeros((0,), np.int64)

    final_params = jax.tree_util.tree_map(np.asarray, state.params)
    diverged = bool(state.diverged)
    final = final_metrics(problem, state.params)
    if diverged:
        final = {k: float("nan") for k in final}
    return Run(
        loss=losses,
        grad_norm=gnorms,
        eval_steps=eval_steps,
        val_loss=np.asarray(val_loss, np.float64),
        val_metrics={k: np.asarray(v, np.float64) for k, v in val_metrics.items()},
        final=final,
        final_params=final_params,
        snapshots=snaps,
        snapshot_steps=snapshot_steps,
        diverged=diverged,
        diverged_step=int(state.diverged_step),
        compile_time=compile_time,
        run_time=run_time,
        config={
            "problem": problem.name,
            **opt_config,
            "steps": steps,
            "eval_every": eval_every,
            "snapshot_every": snapshot_every,
        },
    )


def progress_bar(total: int, enabled: bool, desc: str = ""):
    """A ``tqdm.auto`` bar (terminal or notebook) of ``total`` steps, or ``None`` if disabled."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc=desc, unit="step", leave=False)
