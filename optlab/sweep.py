"""Whole hyperparameter sweeps in one compiled program.

``sweep(problem, "adam", grid={"learning_rate": [...]}, seeds=[0, 1, 2], steps=...)`` trains
every combination of grid values × seeds (``R`` runs) inside one XLA program. The swept
hyperparameters are arrays of shape ``(R,)`` passed to ``optlab.optimizers.get`` inside the
trace (the registry accepts tracers), so a second sweep with other values but the same shapes
reuses the compiled program.

Two engines lay out the runs differently:

- ``"lanes"`` (full-batch small MLPs with an elementwise optimizer): the runs are the *last*
  axis of everything. All parameters of run ``r`` are column ``r`` of one ``(P, R)`` array
  (viewed per layer as ``w: (fan_in, fan_out, R)``, ``b: (fan_out, R)``), each unit's
  activation is an ``(n, R)`` array, and the data batch, shared by all runs, is read once. So
  the runs sit along the SIMD lanes instead of the tiny hidden widths. Because

      d/dθ_r  Σ_s loss_s(θ_s)  =  d loss_r / dθ_r,

  one ``jax.grad`` of the summed loss gives every run its own gradient, and per-run
  hyperparameters of shape ``(R,)`` broadcast against the last axis, so optax's elementwise
  transforms (SGD, momentum, Adam, RMSProp, Lion, ...) work unchanged. Whether an optimizer is
  elementwise is checked numerically (transforms using tensor or global norms — LAMB, LARS,
  NovoGrad, ``clip_norm`` — mix the runs and fall back to ``"vmap"``), and so is the batched
  loss against ``problem.loss``. Large sweeps run in groups of runs through one program.
- ``"vmap"`` / ``"map"``: ``jax.vmap`` of ``optlab.train``'s own step over all runs, or
  ``jax.lax.map`` over chunks of ``batch_size_runs`` runs (each chunk vmapped). Works for every
  problem and optimizer.

``method="auto"`` picks ``"lanes"`` when it applies and otherwise ``"map"`` with a chunk size
set by the per-run work (measured in ``benchmarks/sweep.py``, see ``docs/sweeps.md``): a sweep
must never be slower than running its runs one after another.

Seeds are paired: seed ``s`` uses ``jax.random.key(s)``, split by ``optlab.train.split_key``
into the same init and data keys for every optimizer. Diverged runs (non-finite loss, gradient
or params) are frozen and flagged, never raising and never touching the other runs.

Example:
    >>> from optlab import problems, sweep
    >>> res = sweep.sweep(problems.get("rosenbrock"), "adam",
    ...                   grid={"learning_rate": [0.01, 0.1]}, seeds=[0, 1], steps=50)
    >>> res.loss.shape, [c["learning_rate"] for c in res.configs]
    ((4, 50), [0.01, 0.01, 0.1, 0.1])
"""

from __future__ import annotations

import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlab import lanes as lanes_lib
from optlab import optimizers as optimizers_lib
from optlab import problems as problems_lib
from optlab import train as train_lib

lanes_loss = lanes_lib.lanes_loss  # kept for callers of the earlier location

__all__ = ["SweepResult", "sweep", "choose_method", "compile_count", "METHODS"]

METHODS = ("auto", "lanes", "vmap", "map")

# Keywords ``optimizers.get`` accepts for every optimizer besides the optimizer's own ones.
_GENERIC_KEYWORDS = ("clip_norm", "clip_value", "weight_decay")

# Lanes engine: runs per program call so that one (rows, runs) activation has ~this many floats.
_LANES_TARGET_FLOATS = 1 << 16

# Automatic chunk size of the "map" engine: run chunks so that the batched activations of one
# chunk stay around this many floats (measured: benchmarks/sweep.py, docs/sweeps.md).
_MAP_TARGET_FLOATS = 1 << 17

# XLA:CPU options for the lanes program. With YNNPACK fusing the (n, R) -> (R,) column
# reductions the 64-run adder sweep took a median 1.32x longer than with XLA's own reduction
# loops (8 alternating pairs; benchmarks/README.md); restricting YNNPACK to dots keeps
# them native. Skipped when the backend rejects the option.
_LANES_XLA_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


@dataclass
class SweepResult:
    """All runs of a sweep as numpy arrays, run ``i`` described by ``configs[i]``.

    Attributes:
      configs: one dict per run: the swept hyperparameter values and ``"seed"``.
      loss: training (minibatch) loss per step, ``(R, steps)``; NaN after divergence.
      grad_norm: global gradient norm per step, ``(R, steps)``.
      eval_steps: steps of the validation evaluations (0 = initial params), ``(k,)``.
      val_loss: validation loss, ``(R, k)``.
      val_metrics: ``{name: (R, k)}``.
      final: ``{key: (R,)}`` with the keys of ``optlab.train.Run.final`` (NaN if diverged).
      final_params: the params after the last step, each leaf with a leading ``R`` axis.
      diverged: ``(R,)`` bool.
      diverged_step: ``(R,)`` int, -1 where the run stayed finite.
      compile_time: seconds spent compiling (0 when the program was cached).
      run_time: seconds spent running the compiled program.
      method: the engine used (``"lanes"``, ``"vmap"`` or ``"map"``).
      batch_size_runs: runs per vmapped chunk (``"map"``), else ``R``.
      config: problem, optimizer, fixed hyperparameters, grid, seeds, steps, eval_every.
    """

    configs: list[dict[str, Any]]
    loss: np.ndarray
    grad_norm: np.ndarray
    eval_steps: np.ndarray
    val_loss: np.ndarray
    val_metrics: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    final_params: Any
    diverged: np.ndarray
    diverged_step: np.ndarray
    compile_time: float
    run_time: float
    method: str = "vmap"
    batch_size_runs: int = 1
    config: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.configs)

    def run(self, i: int) -> train_lib.Run:
        """Run ``i`` as an ``optlab.train.Run`` (no snapshots; timings are the sweep's)."""
        n = len(self.configs)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"run index {i!r} out of range for a sweep of {n} runs")
        i = int(i) % n
        cfg = dict(self.configs[i])
        seed = cfg.pop("seed")
        return train_lib.Run(
            loss=self.loss[i],
            grad_norm=self.grad_norm[i],
            eval_steps=self.eval_steps,
            val_loss=self.val_loss[i],
            val_metrics={k: v[i] for k, v in self.val_metrics.items()},
            final={k: float(v[i]) for k, v in self.final.items()},
            final_params=jax.tree_util.tree_map(lambda a: a[i], self.final_params),
            snapshots=None,
            snapshot_steps=np.zeros((0,), np.int64),
            diverged=bool(self.diverged[i]),
            diverged_step=int(self.diverged_step[i]),
            compile_time=self.compile_time,
            run_time=self.run_time,
            config={
                "problem": self.config.get("problem"),
                "optimizer": self.config.get("optimizer"),
                "hyperparams": {**self.config.get("fixed", {}), **cfg},
                "seed": seed,
                "steps": self.config.get("steps"),
                "eval_every": self.config.get("eval_every"),
            },
        )


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value, minimum: int, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _check_value(opt_name: str, key: str, value, where: str):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(
            f"{where}[{key!r}] must hold numbers (swept values become arrays), got {value!r}; "
            f"pass non-numeric settings in fixed="
        )
    if not math.isfinite(float(value)):
        raise ValueError(f"{where}[{key!r}] must be finite, got {value!r}")
    if key == "learning_rate" and float(value) <= 0:
        raise ValueError(f"optimizer {opt_name!r}: learning_rate must be positive, got {value!r}")
    if key in _GENERIC_KEYWORDS and float(value) < 0:
        raise ValueError(f"{where}[{key!r}] must be non-negative, got {value!r}")


_PROBLEMS: dict[str, Any] = {}


def _validate(problem, optimizer, grid, seeds, steps, fixed, eval_every, method, batch_size_runs):
    if isinstance(problem, str):
        if problem not in _PROBLEMS:  # same name -> same object -> compiled program reused
            _PROBLEMS[problem] = problems_lib.get(problem)  # ValueError listing known names
        problem = _PROBLEMS[problem]
    if not isinstance(problem, problems_lib.Problem):
        raise TypeError(
            f"problem must be an optlab.problems.Problem or a registered name, "
            f"got {type(problem).__name__}"
        )
    if not isinstance(optimizer, str):
        raise TypeError(
            f"optimizer must be a registered optimizer name (sweeps build it from the "
            f"registry), got {type(optimizer).__name__}; known: {', '.join(optimizers_lib.names())}"
        )
    entry = optimizers_lib.entry(optimizer)  # ValueError listing the known optimizers
    accepted = tuple(k for k in entry.keywords) + tuple(
        k for k in _GENERIC_KEYWORDS if k not in entry.keywords
    )
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping name -> list of values, got {type(grid).__name__}")
    fixed = dict(fixed or {})
    grid_lists: dict[str, list] = {}
    for key, values in grid.items():
        if key not in accepted:
            raise ValueError(
                f"optimizer {optimizer!r} does not take hyperparameter {key!r} (in grid); "
                f"accepted: {list(accepted)}"
            )
        is_array = hasattr(values, "__array__") and not isinstance(values, (str, bytes))
        if not is_array and (isinstance(values, (str, bytes)) or not isinstance(values, Sequence)):
            raise ValueError(f"grid[{key!r}] must be a list of values, got {values!r}")
        values = list(np.asarray(values).reshape(-1).tolist()) if is_array else list(values)
        if not values:
            raise ValueError(f"grid[{key!r}] is empty: give at least one value to sweep")
        for v in values:
            _check_value(optimizer, key, v, "grid")
        grid_lists[key] = values
    for key in fixed:
        if key not in accepted and key not in (
            "schedule",
            "steps",
            "warmup_steps",
            "schedule_kwargs",
        ):
            raise ValueError(
                f"optimizer {optimizer!r} does not take hyperparameter {key!r} (in fixed); "
                f"accepted: {list(accepted)}"
            )
        if key in grid_lists:
            raise ValueError(f"hyperparameter {key!r} is both in grid and in fixed; pick one")
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise ValueError(f"seeds must be a list of non-negative integers, got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    for s in seeds:
        _check_int("each seed", s, 0)
    seeds = [int(s) for s in seeds]
    steps = _check_int("steps", steps, 1)
    eval_every = _check_int("eval_every", eval_every, 1, allow_none=True)
    batch_size_runs = _check_int("batch_size_runs", batch_size_runs, 1, allow_none=True)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {list(METHODS)}")
    return problem, grid_lists, seeds, steps, fixed, eval_every, batch_size_runs


# --------------------------------------------------------------------------- run layout


class _Plan(NamedTuple):
    configs: list[dict[str, Any]]
    hp: dict[str, np.ndarray]  # swept name -> (R,)
    seeds: np.ndarray  # (R,)


def _plan(grid: Mapping[str, list], seeds: list[int]) -> _Plan:
    """Runs in grid order (first key slowest), seeds innermost."""
    keys = list(grid)
    configs, hp_rows, seed_rows = [], [], []
    for combo in itertools.product(*(grid[k] for k in keys)):
        for s in seeds:
            configs.append({**{k: v for k, v in zip(keys, combo, strict=True)}, "seed": s})
            hp_rows.append(combo)
            seed_rows.append(s)
    hp = {k: np.asarray([row[j] for row in hp_rows], np.float32) for j, k in enumerate(keys)}
    return _Plan(configs, hp, np.asarray(seed_rows, np.int64))


def _make_optimizer(name: str, fixed: Mapping[str, Any], hp: Mapping[str, Any]):
    return optimizers_lib.get(name, **fixed, **hp)


def _check_sweepable(name: str, fixed: Mapping[str, Any], swept: Sequence[str]) -> None:
    """ValueError if the optimizer cannot take the swept hyperparameters as traced arrays.

    Traces (without compiling or running) the optimizer's construction, init and one update
    with abstract scalar hyperparameters: a factory that branches in Python on a value (e.g.
    ``schedule="warmup_cosine"`` on the learning rate) fails here, before any training.
    """
    if not swept:
        return

    def probe(hp):
        opt = _make_optimizer(name, fixed, hp)
        params = {"w": jnp.zeros((2,), jnp.float32)}
        state = opt.init(params)
        grads = {"w": jnp.ones((2,), jnp.float32)}
        if optimizers_lib.needs_value_fn(opt):
            value_fn = lambda p: jnp.sum(jnp.square(p["w"]))  # noqa: E731
            return opt.update(grads, state, params, value=value_fn(params), grad=grads,
                              value_fn=value_fn)  # fmt: skip
        return opt.update(grads, state, params)

    abstract = {k: jax.ShapeDtypeStruct((), jnp.float32) for k in swept}
    try:
        jax.eval_shape(probe, abstract)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError) as e:
        raise ValueError(
            f"optimizer {name!r} with fixed={dict(fixed)!r} cannot sweep {list(swept)} as arrays: "
            f"it needs concrete values ({type(e).__name__}); move them to fixed= (one sweep per "
            f"value) or drop the setting that needs them"
        ) from None


# --------------------------------------------------------------------------- lanes engine


class _Packing:
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
    params: Any  # (P, R): see _Packing
    opt_state: Any
    diverged: jax.Array  # (R,)
    diverged_step: jax.Array  # (R,)


def _lanes_where(freeze, old, new, r: int):
    def pick(o, n_):
        if jnp.ndim(n_) >= 1 and n_.shape[-1] == r:
            return jnp.where(freeze, o, n_)
        return n_  # shared leaves (step counters): identical for every run

    return jax.tree_util.tree_map(pick, old, new)


def _make_lanes_step(problem, make_opt, r: int, packing: _Packing):
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
        freeze, diverged_step, rec_loss, rec_gnorm = train_lib.divergence_rule(
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


_ELEMENTWISE: dict = {}


def _optimizer_lanes_reason(name: str, fixed: Mapping[str, Any], swept) -> str | None:
    """None if ``name`` updates run-last leaves exactly as it updates each run alone.

    Three updates of a tiny pytree whose runs have gradients of very different scales and
    different hyperparameters, against ``vmap`` of the single-run update (one compile, cached
    per optimizer, fixed settings and swept names). Transforms using tensor or global norms
    (LAMB, LARS, NovoGrad, clipping) mix the runs and fail.
    """
    key = (name, _freeze(fixed), tuple(sorted(swept)))
    if key in _ELEMENTWISE:
        return _ELEMENTWISE[key]
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
        opt = _make_optimizer(name, fixed, hp)
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
    _ELEMENTWISE[key] = reason
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


def choose_method(
    problem,
    optimizer: str,
    n_runs: int,
    *,
    fixed: Mapping[str, Any] | None = None,
    swept: Sequence[str] = ("learning_rate",),
    method: str = "auto",
    batch_size_runs: int | None = None,
) -> tuple[str, int, str]:
    """The engine and chunk size ``sweep`` uses, with the reason.

    Rule (measured on a 2-core CPU, ``benchmarks/sweep.py``): ``"lanes"`` for full-batch MLPs
    with at most ``lanes_lib.MAX_TERMS`` weight terms and an elementwise optimizer; otherwise
    ``"map"`` over chunks of ``batch_size_runs`` runs, by default as many runs as keep one
    chunk's activations near ``_MAP_TARGET_FLOATS`` floats (small problems: all runs at once,
    i.e. a plain vmap; matmul-bound ones: a few runs per chunk).

    Returns:
      ``(method, batch_size_runs, reason)``.
    """
    fixed = dict(fixed or {})
    if isinstance(problem, str):
        problem = problems_lib.get(problem)
    if method in ("auto", "lanes"):
        reason = lanes_lib.structural_reason(problem)
        if reason is None:
            reason = _optimizer_lanes_reason(optimizer, fixed, swept)
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
        cap = max(1, min(n_runs, int(_MAP_TARGET_FLOATS // _work_per_run(problem))))
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

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 32
_COMPILES = [0]


def compile_count() -> int:
    """How many sweep programs this process has compiled (for no-recompilation tests)."""
    return _COMPILES[0]


def _freeze(d: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


def _compile(fn, args, options=None):
    lowered = jax.jit(fn).lower(*args)
    if options and jax.default_backend() == "cpu":
        try:
            return lowered.compile(compiler_options=options)
        except Exception:  # noqa: BLE001 - an XLA without this option: compile plainly
            pass
    return lowered.compile()


def _cached(key, problem, build):
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is problem:
        _CACHE.move_to_end(key)
        return hit[1], 0.0
    t0 = time.perf_counter()
    compiled = build()
    elapsed = time.perf_counter() - t0
    _COMPILES[0] += 1
    _CACHE[key] = (problem, compiled)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled, elapsed


def _block_loop(step, evaluate, block, n_blocks, to_eval, exact):
    """Blocks of ``block`` steps; evaluation of the params after each block (as train does).

    ``exact``: the chunks cover exactly ``steps`` steps, so no step needs masking.
    """

    def chunk(state, hp, train_split, val_split, start, num_steps):
        def block_fn(state, b):
            def inner(state, i):
                index = start + b * block + i
                new_state, (loss, gnorm) = step(state, hp, train_split, index)
                if exact:
                    return new_state, (loss, gnorm)
                active = index < num_steps
                state = jax.tree_util.tree_map(
                    lambda n_, o: jnp.where(active, n_, o), new_state, state
                )
                nan = jnp.asarray(jnp.nan, loss.dtype)
                return state, (jnp.where(active, loss, nan), jnp.where(active, gnorm, nan))

            state, (losses, gnorms) = jax.lax.scan(inner, state, jnp.arange(block))
            ev = evaluate(to_eval(state), val_split) if val_split is not None else None
            return state, (losses, gnorms, ev)

        return jax.lax.scan(block_fn, state, jnp.arange(n_blocks))

    return chunk


def _vmap_programs(problem, name, fixed, method, bsz, block, n_blocks, exact):
    evaluate = train_lib.make_evaluate(problem)

    def make_opt(hp):
        return _make_optimizer(name, fixed, hp)

    def one_step(state, hp, train_split, index):
        return train_lib.make_step(problem, make_opt(hp))(state, train_split, index)

    one_chunk = _block_loop(one_step, evaluate, block, n_blocks, lambda s: s.params, exact)

    def init(hp, params, data_keys):
        def one(h, p, dk):
            return train_lib.TrainState(
                params=p,
                opt_state=make_opt(h).init(p),
                data_key=dk,
                diverged=jnp.zeros([], bool),
                diverged_step=jnp.full([], -1, jnp.int32),
            )

        return jax.vmap(one)(hp, params, data_keys)

    def chunk(states, hp, train_split, val_split, start, num_steps):
        def f(s, h):
            return one_chunk(s, h, train_split, val_split, start, num_steps)

        if method == "vmap":
            out = jax.vmap(f)(states, hp)
        else:
            out = jax.lax.map(lambda a: f(*a), (states, hp), batch_size=bsz)
        return out  # per-run outputs with a leading runs axis

    return init, chunk, lambda s: s.params


def _lanes_programs(problem, name, fixed, r, block, n_blocks, exact, packing: _Packing):
    evaluate = train_lib.make_evaluate(problem)

    def make_opt(hp):
        return _make_optimizer(name, fixed, hp)

    step = _make_lanes_step(problem, make_opt, r, packing)

    def eval_runs(flat, split):
        return jax.vmap(evaluate, in_axes=(0, None))(packing.runs_first(flat), split)

    chunk_fn = _block_loop(step, eval_runs, block, n_blocks, lambda s: s.params, exact)

    def init(hp, params, data_keys):
        del data_keys  # full batch: no minibatch order
        params = packing.pack(params)
        return _LanesState(
            params=params,
            opt_state=make_opt(hp).init(params),
            diverged=jnp.zeros((r,), bool),
            diverged_step=jnp.full((r,), -1, jnp.int32),
        )

    def chunk(state, hp, train_split, val_split, start, num_steps):
        state, (losses, gnorms, ev) = chunk_fn(state, hp, train_split, val_split, start, num_steps)
        # lanes outputs are (n_blocks, block, R): put runs first like the vmap engine
        losses = jnp.moveaxis(losses, -1, 0)
        gnorms = jnp.moveaxis(gnorms, -1, 0)
        if ev is not None:
            ev = jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 1, 0), ev)
        return state, (losses, gnorms, ev)

    return init, chunk, lambda s: packing.runs_first(s.params)


_FINAL_EVAL: OrderedDict = OrderedDict()


def _final_evaluator(problem):
    hit = _FINAL_EVAL.get(id(problem))
    if hit is None or hit[0] is not problem:
        fn = jax.jit(jax.vmap(train_lib.make_evaluate(problem), in_axes=(0, None)))
        hit = (problem, fn)
        _FINAL_EVAL[id(problem)] = hit
        if len(_FINAL_EVAL) > _CACHE_SIZE:
            _FINAL_EVAL.popitem(last=False)
    return hit[1]


def _final_metrics(problem, params_runs, r: int) -> dict[str, np.ndarray]:
    out = train_lib.evaluate_splits(problem, _final_evaluator(problem), params_runs)
    return {k: v.reshape(r) for k, v in out.items()}


def _run_local(problem, optimizer, fixed, method, bsz, block, n_blocks, chunks, exact, init_fn,
               chunk_fn, params_of, options, group, n_groups, init_args, train_split, val_split,
               steps, progress):  # fmt: skip
    """One device: groups one after another, each in ``chunks`` compiled calls."""
    base_key = (
        id(problem),
        optimizer,
        _freeze(fixed),
        method,
        bsz,
        train_lib.abstract_signature(init_args),
    )
    t_compile = 0.0
    init_c, dt = _cached(("init", *base_key), problem, lambda: _compile(init_fn, init_args))
    t_compile += dt
    state = init_c(*init_args)
    num_steps = jnp.asarray(steps, jnp.int32)
    args = (state, init_args[0], train_split, val_split, jnp.asarray(0, jnp.int32), num_steps)
    chunk_c, dt = _cached(
        ("chunk", *base_key, block, n_blocks, exact, train_lib.abstract_signature(args)),
        problem,
        lambda: _compile(chunk_fn, args, options),
    )
    t_compile += dt

    total_steps = n_groups * chunks * n_blocks * block
    bar = train_lib.progress_bar(total_steps, progress, desc=f"sweep {optimizer}")
    outs = [[] for _ in range(chunks)]  # per chunk: the groups' outputs
    ends = []
    t0 = time.perf_counter()
    for i in range(n_groups):
        hp_g, params_g, keys_g = group(i) if i else init_args
        state = init_c(hp_g, params_g, keys_g) if i else state
        for c in range(chunks):
            start = jnp.asarray(c * n_blocks * block, jnp.int32)
            state, out = chunk_c(state, hp_g, train_split, val_split, start, num_steps)
            outs[c].append(out)
            if bar is not None:
                jax.block_until_ready(out[0])
                bar.update(n_blocks * block)
        ends.append((params_of(state), state.diverged, state.diverged_step))
    jax.block_until_ready(ends)
    run_time = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return outs, ends, t_compile, run_time


def _run_sharded(problem, optimizer, fixed, method, bsz, block, n_blocks, exact, init_fn,
                 chunk_fn, params_of, options, group, n_groups, train_split, val_split, steps,
                 progress):  # fmt: skip
    """Every device trains its share of each group: init and all steps in one sharded call."""
    from jax.sharding import PartitionSpec as P

    from optlab import distributed

    mesh = distributed.batch_mesh()

    def whole(hp, params, keys, train_split, val_split, num_steps):
        state = init_fn(hp, params, keys)
        start = jnp.zeros([], jnp.int32)
        state, out = chunk_fn(state, hp, train_split, val_split, start, num_steps)
        return out, (params_of(state), state.diverged, state.diverged_step)

    axis = P(distributed.AXIS)
    program = jax.shard_map(
        whole,
        mesh=mesh,
        in_specs=(axis, axis, axis, P(), P(), P()),
        out_specs=axis,
        check_vma=False,  # per-run carries start replicated (zeros) and become per-device
    )
    num_steps = jnp.asarray(steps, jnp.int32)
    args0 = (*group(0), train_split, val_split, num_steps)
    devices = tuple(d.id for d in mesh.devices.flat)
    signature = train_lib.abstract_signature(args0)
    key = ("sharded", id(problem), optimizer, _freeze(fixed), method, bsz, block, n_blocks,
           exact, devices, signature)  # fmt: skip
    compiled, t_compile = _cached(key, problem, lambda: _compile(program, args0, options))
    bar = train_lib.progress_bar(n_groups * n_blocks * block, progress, desc=f"sweep {optimizer}")
    outs, ends = [[]], []
    t0 = time.perf_counter()
    for i in range(n_groups):
        out, end = compiled(*group(i), train_split, val_split, num_steps)
        outs[0].append(out)
        ends.append(end)
        if bar is not None:
            jax.block_until_ready(out[0])
            bar.update(n_blocks * block)
    jax.block_until_ready(ends)
    run_time = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return outs, ends, t_compile, run_time


# --------------------------------------------------------------------------- public entry


def sweep(
    problem,
    optimizer: str,
    *,
    grid: Mapping[str, Sequence[float]],
    seeds: Sequence[int],
    steps: int,
    fixed: Mapping[str, Any] | None = None,
    eval_every: int | None = None,
    progress: bool = False,
    batch_size_runs: int | None = None,
    method: str = "auto",
    chunks: int | None = None,
    shard: bool | None = None,
) -> SweepResult:
    """Train every grid point × seed of ``optimizer`` on ``problem`` in one compiled program.

    Run ``(hp, seed)`` equals ``optlab.train.train(problem, optimizers.get(optimizer, **fixed,
    **hp), steps=steps, key=jax.random.key(seed))`` to float32 rounding: the same init, data
    order, step, divergence rule and evaluation points.

    Args:
      problem: an ``optlab.problems.Problem`` or its registered name.
      optimizer: a registered optimizer name.
      grid: ``{hyperparameter: [values]}``; the runs are the Cartesian product of the lists
        (first key slowest) times ``seeds`` (innermost). ``{}`` sweeps seeds only.
      seeds: non-negative integers; seed ``s`` uses ``jax.random.key(s)`` (paired across
        optimizers: same init and same minibatch order).
      steps: optimizer steps per run.
      fixed: hyperparameters shared by all runs (also non-numeric ones such as
        ``schedule="cosine"``), passed to ``optimizers.get``.
      eval_every: evaluate on the validation split every this many steps (default
        ``max(1, steps // 100)``, as ``train``).
      progress: show a progress bar between compiled chunks of steps.
      batch_size_runs: runs per vmapped chunk for the ``"map"`` engine (default: automatic).
      method: ``"auto"`` (default), ``"lanes"``, ``"vmap"`` or ``"map"`` (see the module doc).
      chunks: number of compiled calls the steps are split into (default 1, or 20 with
        ``progress``).
      shard: split the runs over all devices in ``jax.devices()`` (``jax.shard_map`` over a
        1-D mesh; each device runs its share with the chosen engine). Default: when there is
        more than one device. Results equal the unsharded sweep.

    Returns:
      A :class:`SweepResult`.

    Raises:
      ValueError: unknown problem/optimizer, a hyperparameter the optimizer does not take, an
        empty value list, non-numeric or non-finite swept values, a non-positive learning rate,
        non-positive ``steps``, negative or non-integer seeds, an empty seed list, an unknown
        ``method`` — all before anything is compiled or trained.
    """
    problem, grid, seeds, steps, fixed, eval_every, batch_size_runs = _validate(
        problem, optimizer, grid, seeds, steps, fixed, eval_every, method, batch_size_runs
    )
    chunks = _check_int("chunks", chunks, 1, allow_none=True)
    _check_sweepable(optimizer, fixed, list(grid))
    plan = _plan(grid, seeds)
    r = len(plan.configs)
    eval_every = eval_every or max(1, steps // 100)
    block = eval_every
    n_blocks_total = -(-steps // block)
    chunks = min(chunks or (20 if progress else 1), n_blocks_total)
    n_blocks = -(-n_blocks_total // chunks)
    chunks = -(-n_blocks_total // n_blocks)

    method, bsz, reason = choose_method(
        problem, optimizer, r, fixed=fixed, swept=list(grid), method=method,
        batch_size_runs=batch_size_runs,
    )  # fmt: skip
    # Paired seeds, exactly as train.init_state: key(seed) -> (init_key, data_key) -> init.
    by_seed = {}
    for s in seeds:
        if s not in by_seed:
            init_key, data_key = train_lib.split_key(jax.random.key(s))
            by_seed[s] = (problem.init(init_key), data_key)
    order = [by_seed[int(s)] for s in plan.seeds]
    params0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[o[0] for o in order])
    data_keys = jnp.stack([o[1] for o in order])
    exact = chunks * n_blocks * block == steps
    train_split = problem.data.train if problem.data is not None else None
    val_split = problem.data.val if problem.data is not None else None
    if val_split is not None and val_split.x.shape[0] == 0:
        val_split = None

    # The lanes engine runs groups of at most `bsz` runs one after another through one program
    # (equal-sized groups; the last one padded with copies of the last run, dropped after).
    # Sharded, each group is split over the devices: `g` runs per device, `g * n_dev` per group.
    n_dev = jax.device_count() if shard is None or shard else 1
    sharded = n_dev > 1
    g = bsz if method == "lanes" else r
    if sharded:
        g = min(g, -(-r // n_dev))
        chunks, n_blocks = 1, n_blocks_total  # one call per group: the state stays on device
        exact = n_blocks * block == steps
    n_groups = -(-r // (g * n_dev))
    g = -(-r // (n_groups * n_dev))
    if method == "map":
        bsz = min(bsz, g)
    pad = np.minimum(np.arange(n_groups * g * n_dev), r - 1)
    hp_all = {k: jnp.asarray(v[pad]) for k, v in plan.hp.items()}
    params_all = jax.tree_util.tree_map(lambda a: a[pad], params0)
    keys_all = data_keys[pad]

    def group(i):
        sl = slice(i * g * n_dev, (i + 1) * g * n_dev)
        return (
            {k: v[sl] for k, v in hp_all.items()},
            jax.tree_util.tree_map(lambda a: a[sl], params_all),
            keys_all[sl],
        )

    if method == "lanes":
        init_fn, chunk_fn, params_of = _lanes_programs(
            problem, optimizer, fixed, g, block, n_blocks, exact, _Packing(params0)
        )
        options = _LANES_XLA_OPTIONS
    else:
        init_fn, chunk_fn, params_of = _vmap_programs(
            problem, optimizer, fixed, method, bsz, block, n_blocks, exact
        )
        options = None

    init_args = group(0)
    if sharded:
        outs, ends, t_compile, run_time = _run_sharded(
            problem, optimizer, fixed, method, bsz, block, n_blocks, exact, init_fn, chunk_fn,
            params_of, options, group, n_groups, train_split, val_split, steps, progress,
        )  # fmt: skip
    else:
        outs, ends, t_compile, run_time = _run_local(
            problem, optimizer, fixed, method, bsz, block, n_blocks, chunks, exact, init_fn,
            chunk_fn, params_of, options, group, n_groups, init_args, train_split, val_split,
            steps, progress,
        )  # fmt: skip

    def runs(trees):  # concatenate groups along the runs axis, drop the padding
        return jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=0)[:r], *trees)

    outs = [runs(o) for o in outs]
    final_params, diverged, diverged_step = runs(ends)
    losses = np.concatenate([o[0].reshape(r, -1) for o in outs], axis=1)[:, :steps]
    gnorms = np.concatenate([o[1].reshape(r, -1) for o in outs], axis=1)[:, :steps]
    block_ends = np.arange(1, chunks * n_blocks + 1) * block
    valid = block_ends <= steps
    eval_mask = valid & ((block_ends % eval_every == 0) | (block_ends == steps))
    if block_ends[valid].size == 0 or block_ends[valid][-1] != steps:
        last = int(np.argmax(block_ends >= steps))
        eval_mask[last] = True
        block_ends = block_ends.copy()
        block_ends[last] = steps

    diverged = diverged.reshape(r).astype(bool)
    diverged_step = diverged_step.reshape(r).astype(np.int64)
    if val_split is not None:
        ev0_loss, ev0_metrics = _final_evaluator(problem)(params0, val_split)

        def curve(first, per_chunk):
            later = np.concatenate([x.reshape(r, -1) for x in per_chunk], axis=1)[:, eval_mask]
            return np.concatenate([np.asarray(first, np.float64).reshape(r, 1), later], axis=1)

        val_loss = curve(ev0_loss, [o[2][0] for o in outs])
        val_metrics = {k: curve(ev0_metrics[k], [o[2][1][k] for o in outs]) for k in ev0_metrics}
        eval_steps = np.concatenate([[0], block_ends[eval_mask]]).astype(np.int64)
    else:
        val_loss = np.zeros((r, 0), np.float64)
        val_metrics = {}
        eval_steps = np.zeros((0,), np.int64)

    final = _final_metrics(problem, final_params, r)
    for k in final:
        final[k] = np.where(diverged, np.nan, final[k])

    return SweepResult(
        configs=plan.configs,
        loss=losses,
        grad_norm=gnorms,
        eval_steps=eval_steps,
        val_loss=val_loss,
        val_metrics=val_metrics,
        final=final,
        final_params=final_params,
        diverged=diverged,
        diverged_step=diverged_step,
        compile_time=t_compile,
        run_time=run_time,
        method=method,
        batch_size_runs=bsz,
        config={
            "problem": problem.name,
            "optimizer": optimizer,
            "fixed": dict(fixed),
            "grid": {k: list(v) for k, v in grid.items()},
            "seeds": list(seeds),
            "steps": steps,
            "eval_every": eval_every,
            "method": method,
            "method_reason": reason,
            "batch_size_runs": bsz,
        },
    )
