"""The arguments of ``sweep()``, checked before anything is compiled or trained.

Every error here is a ``ValueError`` (or ``TypeError``) naming the bad argument, what was
given and what is accepted; none costs a compile (``tests/test_sweep.py`` checks both).
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _checks
from optlab import optimizers as optimizers_lib
from optlab import problems as problems_lib
from optlab.train.api import resolve_problem

__all__ = [
    "METHODS",
    "Request",
    "validate",
    "check_sweepable",
    "check_cost",
    "estimate_bytes",
    "make_optimizer",
]

#: Warn when a sweep asks for more than this many optimizer steps in all (runs x steps).
WARN_RUN_STEPS = 10**8

METHODS = ("auto", "lanes", "vmap", "map")

# Keywords ``optimizers.get`` accepts for every optimizer besides the optimizer's own ones.
_GENERIC_KEYWORDS = ("clip_norm", "clip_value", "weight_decay", "warmup_steps")

# Keywords of the schedules ``optimizers.get`` builds that only ``fixed`` takes (not numbers
# of their own: a name, the run length, a dict); ``warmup_steps`` may be swept.
_SCHEDULE_KEYWORDS = ("schedule", "steps", "schedule_kwargs")


class Request(NamedTuple):
    """``sweep()``'s arguments, checked and normalized."""

    problem: Any  # a Problem (a registered name resolved to one object per name)
    optimizer: str
    grid: dict[str, list]  # swept name -> values
    seeds: list[int]
    steps: int
    fixed: dict[str, Any]
    eval_every: int  # default filled in: max(1, steps // 100)
    method: str
    batch_size_runs: int | None
    chunks: int | None
    dtype: str = "float32"


def make_optimizer(name: str, fixed: Mapping[str, Any], hp: Mapping[str, Any]):
    """The sweep's optimizer: ``optimizers.get(name, **fixed, **hp)`` (``hp`` may be traced)."""
    return optimizers_lib.get(name, **fixed, **hp)


def _check_value(opt_name: str, key: str, value, where: str):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(
            f"{where}[{key!r}] must hold numbers (swept values become arrays), got {value!r}; "
            f"pass non-numeric settings in fixed="
        )
    if not math.isfinite(float(value)):
        raise ValueError(f"{where}[{key!r}] must be finite, got {value!r}")
    optimizers_lib.check_range(opt_name, key, value)
    if key == "learning_rate" and float(value) <= 0:
        raise ValueError(f"optimizer {opt_name!r}: learning_rate must be positive, got {value!r}")
    if key in _GENERIC_KEYWORDS and float(value) < 0:
        raise ValueError(f"{where}[{key!r}] must be non-negative, got {value!r}")


def _problem(problem):
    problem = resolve_problem(problem)  # ValueError listing the known names
    if not isinstance(problem, problems_lib.Problem):
        raise TypeError(
            f"problem must be an optlab.problems.Problem or a registered name, "
            f"got {type(problem).__name__}"
        )
    return problem


def _accepted(optimizer) -> tuple[str, ...]:
    if not isinstance(optimizer, str):
        raise TypeError(
            f"optimizer must be a registered optimizer name (sweeps build it from the "
            f"registry), got {type(optimizer).__name__}; known: {', '.join(optimizers_lib.names())}"
        )
    entry = optimizers_lib.entry(optimizer)  # ValueError listing the known optimizers
    return tuple(entry.keywords) + tuple(k for k in _GENERIC_KEYWORDS if k not in entry.keywords)


def _grid(optimizer: str, grid, accepted) -> dict[str, list]:
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping name -> list of values, got {type(grid).__name__}")
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
    return grid_lists


def _fixed(optimizer: str, fixed, grid, accepted) -> dict[str, Any]:
    fixed = dict(fixed or {})
    for key in fixed:
        if key not in accepted and key not in _SCHEDULE_KEYWORDS:
            raise ValueError(
                f"optimizer {optimizer!r} does not take hyperparameter {key!r} (in fixed); "
                f"accepted: {list(accepted)}"
            )
        if key in grid:
            raise ValueError(f"hyperparameter {key!r} is both in grid and in fixed; pick one")
    return fixed


def _seeds(seeds) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise ValueError(f"seeds must be a list of non-negative integers, got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    seeds = [_checks.int_at_least("each seed", s, 0) for s in seeds]
    repeated = sorted(s for s, k in collections.Counter(seeds).items() if k > 1)
    if repeated:
        warnings.warn(
            f"seeds {repeated} appear more than once in seeds={seeds}: those runs are identical "
            "(trained twice); pass distinct seeds",
            UserWarning,
            stacklevel=4,
        )
    return seeds


def validate(
    problem, optimizer, *, grid, seeds, steps, fixed, eval_every, method, batch_size_runs, chunks
) -> Request:
    """Check and normalize ``sweep()``'s arguments (see its Raises section)."""
    problem = _problem(problem)
    accepted = _accepted(optimizer)
    grid = _grid(optimizer, grid, accepted)
    fixed = _fixed(optimizer, fixed, grid, accepted)
    seeds = _seeds(seeds)
    steps = _checks.steps("steps", steps)
    eval_every = _checks.positive_int("eval_every", eval_every, allow_none=True)
    batch_size_runs = _checks.positive_int("batch_size_runs", batch_size_runs, allow_none=True)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {list(METHODS)}")
    chunks = _checks.positive_int("chunks", chunks, allow_none=True)
    for w in grid.get("warmup_steps", ()):
        if not 0 <= float(w) < steps:
            raise ValueError(f"grid['warmup_steps'] values must be in [0, steps={steps}), got {w}")
    if fixed.get("schedule") is not None and "steps" not in fixed:
        fixed["steps"] = steps  # a schedule spans the run, as in train()
    check_sweepable(optimizer, fixed, list(grid))
    check_cost(
        problem,
        runs=math.prod(len(v) for v in grid.values()) * len(seeds),
        steps=steps,
        eval_every=eval_every or max(1, steps // 100),
    )
    return Request(
        problem=problem,
        optimizer=optimizer,
        grid=grid,
        seeds=seeds,
        steps=steps,
        fixed=fixed,
        eval_every=eval_every or max(1, steps // 100),
        method=method,
        batch_size_runs=batch_size_runs,
        chunks=chunks,
    )


def check_sweepable(name: str, fixed: Mapping[str, Any], swept: Sequence[str]) -> None:
    """ValueError if the optimizer cannot take the swept hyperparameters as traced arrays.

    Traces (without compiling or running) the optimizer's construction, init and one update
    with abstract scalar hyperparameters: a factory that branches in Python on a value (e.g.
    ``schedule="warmup_cosine"`` on the learning rate) fails here, before any training.
    """
    if not swept:
        return

    def probe(hp):
        opt = make_optimizer(name, fixed, hp)
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


def estimate_bytes(problem, *, runs: int, steps: int, eval_every: int) -> int:
    """Rough peak memory of a sweep's results and states: per run the step curves (loss and
    gradient norm), the evaluation curves and about six copies of the params (params,
    optimizer state, gradients, initial and final params), in float32."""
    shapes = jax.eval_shape(problem.init, jax.random.key(0))
    n_params = sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes))
    evals = steps // eval_every + 1
    per_run = 4 * (2 * steps + evals * (1 + len(problem.metrics)) + 6 * n_params)
    return runs * per_run


def check_cost(problem, *, runs: int, steps: int, eval_every: int, what: str = "") -> None:
    """Refuse a sweep whose results cannot fit in the available memory; warn when it is large
    (above 1 GiB, or more than :data:`WARN_RUN_STEPS` optimizer steps in all)."""
    what = what or f"a sweep of {runs:,} runs x {steps:,} steps on {problem.name!r}"
    nbytes = estimate_bytes(problem, runs=runs, steps=steps, eval_every=eval_every)
    hint = "sweep fewer values or seeds, fewer steps, or split it into several sweeps"
    _checks.check_memory(what, nbytes, hint=hint)
    if runs * steps > WARN_RUN_STEPS:
        warnings.warn(
            f"{what} is {runs * steps:.2g} optimizer steps in all; it may take many minutes "
            f"(about {_gib(nbytes)} of results); {hint}",
            _checks.CostWarning,
            stacklevel=4,
        )


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2g} GiB"
