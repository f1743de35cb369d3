"""``sweep()``: every grid point × seed of an optimizer trained in one compiled program.

Its steps: validate the arguments (``validate``), choose the engine (``engines.choose_method``),
lay out the runs and chunks (:func:`_setup`), build the programs (``engines.programs``), run
them locally or sharded (``runner``) and assemble the :class:`SweepResult` (:func:`_result`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from optlab.precision import precision, resolve_dtype
from optlab.problems.precision import at_dtype
from optlab.sweep import engines, runner
from optlab.sweep.result import SweepResult
from optlab.sweep.validate import Request, validate
from optlab.train import loop

__all__ = ["sweep"]


class _Setup(NamedTuple):
    """How the runs and steps of a sweep are cut up, and by which engine."""

    spec: engines.Spec  # the engine and its batch size (after grouping)
    reason: str  # why this engine
    layout: loop.Layout  # the steps: blocks and compiled calls per group
    groups: runner.Groups  # the runs: padded groups
    sharded: bool
    threads: int = 1  # groups run side by side (local runner)


def _choose(req: Request, r: int, n_seeds: int | None) -> tuple[str, int, str]:
    return engines.choose_method(
        req.problem, req.optimizer, r, fixed=req.fixed, swept=list(req.grid), method=req.method,
        batch_size_runs=req.batch_size_runs, n_seeds=n_seeds,
    )  # fmt: skip


def _setup(
    req: Request, *, the_plan, choice, params0, data_keys, shard, progress, share=True
) -> _Setup:
    r = len(the_plan.configs)
    method, bsz, reason = choice
    # The lanes engine runs groups of at most `bsz` runs one after another through one program.
    # Sharded, each group is split over the devices (`size` runs per device) and one call runs
    # a group's init and all its steps, so the state stays on the devices.
    n_dev = jax.device_count() if shard is None or shard else 1
    sharded = n_dev > 1
    size = bsz if method == "lanes" else r
    if sharded:
        size = min(size, -(-r // n_dev))
    chunks = 1 if sharded else (req.chunks or (20 if progress else 1))
    steps_layout = loop.chunk_layout(req.steps, req.eval_every, chunks)
    shared = 0
    if share and method == "vmap" and not sharded:
        shared = engines.shared_seeds(req.problem, r, len(req.seeds))
    threads = 1
    if shared and jax.default_backend() == "cpu":
        # one group of whole seed rows per core, run side by side (runner.run_local); an
        # accelerator gets one program over all runs
        threads = engines.parallel_groups(r // shared, engines.cores())
        size = r // threads
    groups = runner.groups(the_plan, params0, data_keys, size=size, devices=n_dev)
    if method == "map":
        bsz = min(bsz, groups.size)
    spec = engines.Spec(req.problem, req.optimizer, req.fixed, method, bsz, shared)
    return _Setup(spec, reason, steps_layout, groups, sharded, threads)


def _result(req: Request, *, the_plan, setup: _Setup, params0, outcome: runner.Outcome, val_split):
    r = len(the_plan.configs)

    def runs(trees):  # concatenate groups along the runs axis, drop the padding
        return jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=0)[:r], *trees)

    outs = [runs(o) for o in outcome.outs]
    final_params, diverged, diverged_step = runs(outcome.ends)
    losses, gnorms = loop.step_curves(outs, req.steps, lead=(r,))
    diverged = diverged.reshape(r).astype(bool)
    diverged_step = diverged_step.reshape(r).astype(np.int64)
    if val_split is not None:
        points = loop.evaluation_points(setup.layout, req.steps, req.eval_every)
        first = loop.evaluator(req.problem, runs=True)(params0, val_split)
        val_loss, val_metrics = loop.eval_curves(first, outs, points.mask, lead=(r,))
        eval_steps = np.concatenate([[0], points.ends[points.mask]]).astype(np.int64)
    else:
        val_loss, val_metrics = np.zeros((r, 0), np.float64), {}
        eval_steps = np.zeros((0,), np.int64)
    evaluate = loop.evaluator(req.problem, runs=True)
    final = loop.evaluate_splits(req.problem, evaluate, final_params)
    final = {k: np.where(diverged, np.nan, v.reshape(r)) for k, v in final.items()}
    spec = setup.spec
    return SweepResult(
        configs=the_plan.configs,
        loss=losses,
        grad_norm=gnorms,
        eval_steps=eval_steps,
        val_loss=val_loss,
        val_metrics=val_metrics,
        final=final,
        final_params=final_params,
        diverged=diverged,
        diverged_step=diverged_step,
        compile_time=outcome.compile_time,
        run_time=outcome.run_time,
        method=spec.method,
        batch_size_runs=spec.batch_size_runs,
        config={
            "problem": req.problem.name,
            "optimizer": req.optimizer,
            "fixed": dict(req.fixed),
            "grid": {k: list(v) for k, v in req.grid.items()},
            "seeds": list(req.seeds),
            "steps": req.steps,
            "eval_every": req.eval_every,
            "method": spec.method,
            "method_reason": setup.reason,
            "batch_size_runs": spec.batch_size_runs,
            "shared_seeds": spec.shared_seeds,
            "parallel_groups": setup.threads,
            **({"dtype": req.dtype} if req.dtype != "float32" else {}),
        },
    )


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
    dtype: str = "float32",
    share_batches: bool = True,
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
      dtype: ``"float32"`` (default) or ``"float64"``: params, data, swept values and every
        intermediate in float64 (JAX's 64-bit mode on for this call only, see
        :mod:`optlab.precision`); run ``(hp, seed)`` then equals ``train(..., dtype="float64")``.
      share_batches: on a minibatched problem, draw each seed's minibatch once per step for
        all grid points of that seed (all runs vmapped; the default engine choice when one
        seed's grid points fit a chunk). ``False``: every run draws its own, so sweeps of the
        same number of runs share one compiled program whatever their grid × seeds shape
        (studies reuse the tuning program for the final seeds this way).

    A ``schedule`` in ``fixed`` without ``steps`` spans the run (``steps``). Every numeric
    hyperparameter can be swept, whatever the schedule (``warmup_steps`` too).

    Returns:
      A :class:`SweepResult`.

    Raises:
      ValueError: unknown problem/optimizer, a hyperparameter the optimizer does not take, an
        empty value list, non-numeric or non-finite swept values, a non-positive learning rate,
        non-positive ``steps`` (or more than ``2**31 - 1``), values outside the range the
        optimizer declares, negative or non-integer seeds, an empty seed list, an unknown
        ``method`` or ``dtype``, results that cannot fit in the available memory — all before
        anything is compiled or trained. Repeated seeds and very large sweeps warn
        (``optlab._checks.CostWarning``).
    """
    if not isinstance(share_batches, bool):
        raise ValueError(f"share_batches must be True or False, got {share_batches!r}")
    req = validate(
        problem, optimizer, grid=grid, seeds=seeds, steps=steps, fixed=fixed,
        eval_every=eval_every, method=method, batch_size_runs=batch_size_runs, chunks=chunks,
    )  # fmt: skip
    req = req._replace(dtype=resolve_dtype(dtype))
    with precision(req.dtype):
        return _sweep(
            req._replace(problem=at_dtype(req.problem, req.dtype)), shard, progress, share_batches
        )


def _sweep(req: Request, shard, progress, share_batches: bool = True) -> SweepResult:
    """The body of :func:`sweep` (inside its precision context)."""
    the_plan = runner.plan(req.grid, req.seeds, dtype=np.dtype(req.dtype))
    n_seeds = len(req.seeds) if share_batches else None
    choice = _choose(req, len(the_plan.configs), n_seeds)
    params0, data_keys = runner.initial_params(req.problem, the_plan)
    setup = _setup(
        req, the_plan=the_plan, choice=choice, params0=params0, data_keys=data_keys, shard=shard,
        progress=progress, share=share_batches,
    )  # fmt: skip
    programs = engines.programs(
        setup.spec, layout=setup.layout, runs=setup.groups.size, params0=params0
    )
    splits = loop.splits(req.problem)
    run = runner.run_sharded if setup.sharded else runner.run_local
    outcome = run(
        setup.spec, programs=programs, layout=setup.layout, groups=setup.groups, splits=splits,
        steps=req.steps, progress=progress,
        **({} if setup.sharded else {"threads": setup.threads}),
    )  # fmt: skip
    return _result(
        req, the_plan=the_plan, setup=setup, params0=params0, outcome=outcome, val_split=splits[1]
    )
