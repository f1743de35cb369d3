"""Running a study: tuning groups and evaluation groups, trained as sweeps, written to the store.

For each (problem, optimizer) :class:`~optlab.study.config.Plan`, :func:`run_study`

1. trains the tuning **group** (every trial × every tuning seed) as one compiled sweep
   (:func:`optlab.sweep.sweep`), and stores each run under its run id;
2. selects the best trial from the store (:func:`optlab.study.results.select_best`, the same
   rule :func:`~optlab.study.results.load_study` applies);
3. trains the evaluation group (the selected trial × the evaluation seeds), padded with
   throw-away seeds to the tuning group's size so the tuning program is reused without a
   second compilation. On 2D analytic functions the evaluation runs go through
   :func:`optlab.train.train` instead, to record their parameter trajectories.

A group whose runs are all stored is skipped; otherwise it is retrained whole (one program,
deterministic results) and only its missing runs are written, so a killed study resumes
without duplicates. jax, ``optlab.train`` and ``optlab.sweep`` are imported inside the
functions that train, so reading configs and results never imports them.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from optlab import _io
from optlab.store import Store, params_npz, run_id
from optlab.study import identity
from optlab.study.config import (
    Plan,
    StudyConfig,
    check_extension,
    plans,
    problem_info,
    run_config,
)
from optlab.study.results import StudyResults, edge_hits, load_study, run_index, select_best
from optlab.study.space import space_specs

__all__ = ["run_study", "Group"]

#: First seed of the throw-away runs that pad an evaluation sweep to the tuning sweep's size.
_PAD_SEED = 2_000_000_000


class Group(NamedTuple):
    """One group of runs trained together: every trial in ``hps`` × every seed in ``seeds``.

    Attributes:
      name: the problem's name in the study config.
      problem: the built ``optlab.problems.Problem``.
      optimizer: the optimizer's registered name.
      hps: hyperparameter dicts (the trials, or the one selected trial).
      seeds: training seeds.
      steps, eval_every: the run length and validation interval.
      phase: ``"tuning"`` or ``"final"``.
      trajectory: record the 2D parameter path of each run (trains run by run).
      swept: hyperparameters passed to the sweep as arrays (those that vary in tuning; only
        numeric ones are: categorical values split the group into one sweep per category).
      pad_to: pad the sweep with throw-away seeds to this many runs (0: no padding).
      dtype: ``"float32"`` or ``"float64"`` (the study's ``dtype``).
    """

    name: str
    problem: Any
    optimizer: str
    hps: list[dict[str, Any]]
    seeds: list[int]
    steps: int
    eval_every: int
    phase: str
    trajectory: bool
    swept: tuple[str, ...]
    pad_to: int
    dtype: str = "float32"


class _Trained(NamedTuple):
    runs: list  # optlab.train.Run per (hp, seed), hp-major
    compile_time: float
    run_time: float
    engine: str
    n_trained: int  # padding included


def run_study(
    config: StudyConfig,
    out: str | os.PathLike,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    allow: Sequence[str] = (),
) -> StudyResults:
    """Run (or resume) a study into the directory ``out``; returns :func:`load_study`.

    Validates the whole config before any training. Runs already in the store are skipped,
    so rerunning after an interruption trains only what is missing. A run is stored under
    the hash of everything that decides its numbers (:mod:`optlab.study.identity`), so a
    changed definition (a default, a user's optimizer code) trains new runs instead of reusing
    old ones. An existing directory may be *extended* (more problems, optimizers, seeds,
    tuning seeds or budget: matching runs are reused); any other difference raises
    ``ValueError`` naming the field (:func:`optlab.study.config.check_extension`). How many
    runs were reused and trained is recorded in ``manifest["info"]["last_session_runs"]``.

    Args:
      config: the study.
      out: the study directory (created; if it exists, ``config`` must equal or extend its
        config).
      progress: draw a progress bar on stderr (the CLI enables it when stdout is a terminal).
      log: called with one line per (problem, optimizer, phase) finished (e.g. ``print``),
        and with a warning when a selected hyperparameter is at the edge of its range.
      allow: config fields that may differ from the stored study's besides extensions
        (``("search",)``: the searched ranges, as ``optlab compare --widen`` changes them).

    Returns:
      The :class:`StudyResults`.
    """
    from optlab import train

    config.load_imports()
    config.validate()
    built = {p: config.build_problem(p) for p in config.problems}
    check_cost(config, built)
    infos = {p: problem_info(pb) for p, pb in built.items()}
    # the trials are stored, so the report reads the study without the optimizers' registry
    # the trials and search spaces are stored, so the report (trials, edge-of-range warnings)
    # reads the study without the optimizers' registry
    trials = {o: config.trials_of(o) for o in config.optimizers}
    spaces = {o: space_specs(config.space_of(o)) for o in config.optimizers}
    store = Store(out).init(
        config.to_dict(),
        info={
            "problems": infos,
            "run_identity": identity.IDENTITY_FORMAT,
            "trials": trials,
            "spaces": spaces,
        },
        check=lambda old, new: check_extension(old, new, allow=allow),
    )
    index = run_index(store)
    counts = {"reused": 0, "trained": 0}
    _write_contour_grids(store, built)
    study_plans = plans(config, trials)
    total = sum(len(pl.trials) * len(pl.tuning_seeds) + len(pl.final_seeds) for pl in study_plans)
    bar = train.progress_bar(total, progress, "study")
    if bar is not None:
        bar.unit = "run"
    log = _beside(bar, log)
    t_start = time.perf_counter()
    try:
        for plan in study_plans:
            _run_plan(
                store, config, plan, prob=built[plan.problem], info=infos[plan.problem],
                bar=bar, log=log, index=index, counts=counts,
            )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    store.update_info(
        {"last_session_seconds": time.perf_counter() - t_start, "last_session_runs": counts}
    )
    results = load_study(out)
    store.write_csv("summary.csv", results.summary_rows())
    return results


def check_cost(config: StudyConfig, built: dict) -> None:
    """Before anything is written: refuse a study whose largest sweep cannot fit in memory,
    warn (``optlab._checks.CostWarning``) when one is large or the study has more than
    ``optlab.sweep.validate.WARN_RUN_STEPS`` optimizer steps in all. ``built``: the problems."""
    import warnings

    from optlab import _checks
    from optlab.study.space import count_trials
    from optlab.sweep import validate

    total = 0
    for p in config.problems:
        for o in config.optimizers:
            tuning = count_trials(config.space_of(o), budget=config.budget) * config.tuning_seeds
            runs = max(tuning, config.seeds)
            steps = config.steps_of(p)
            total += (tuning + config.seeds) * steps
            validate.check_cost(
                built[p], runs=runs, steps=steps, eval_every=config.eval_every_of(p),
                what=f"the {o} sweep on {p} ({runs:,} runs x {steps:,} steps)",
            )  # fmt: skip
    if total > validate.WARN_RUN_STEPS:
        warnings.warn(
            f"this study trains {total:.2g} optimizer steps in all; it may take many minutes "
            "(fewer trials, seeds or steps make it shorter)",
            _checks.CostWarning,
            stacklevel=3,
        )


def _run_plan(
    store: Store, config: StudyConfig, plan: Plan, *, prob, info, bar, log, index, counts
) -> None:
    """Tune, select and evaluate one (problem, optimizer); ``info`` is its problem_info.

    ``index`` (study key id -> run id) and ``counts`` (reused/trained) are updated in place.
    """
    swept = _swept_keys(plan.trials)
    common = {
        "name": plan.problem,
        "problem": prob,
        "optimizer": plan.optimizer,
        "steps": config.steps_of(plan.problem),
        "eval_every": config.eval_every_of(plan.problem),
        "swept": tuple(swept),
        "dtype": config.dtype,
    }
    tuning = Group(
        **common,
        hps=plan.trials,
        seeds=plan.tuning_seeds,
        phase="tuning",
        trajectory=False,
        pad_to=0,
    )
    _execute(store, config, tuning, bar=bar, log=log, index=index, counts=counts)
    # from the store, as load_study selects
    best = select_best(store, config, plan, info, index=index)
    if log is not None:
        for hit in edge_hits(plan.trials, best, config.space_of(plan.optimizer)):
            log(f"warning: {plan.optimizer} on {plan.problem}: {hit.message()}")
    # the tuning sweep of the selected trial's category: its compiled program is reused
    same = [t for t in plan.trials if _category(t) == _category(best)]
    numeric = [k for k in swept if k in best and _is_number(best[k])]
    one_program = len(numeric) <= 1 or _is_product(same, numeric)
    final = Group(
        **common,
        hps=[best],
        seeds=plan.final_seeds,
        phase="final",
        trajectory=bool(config.trajectories and _is_2d_function(prob)),
        # the tuning sweep's number of runs: its compiled program is reused
        pad_to=len(same) * len(plan.tuning_seeds) if one_program else 0,
    )
    _execute(store, config, final, bar=bar, log=log, index=index, counts=counts)


def _execute(store: Store, config: StudyConfig, group: Group, *, bar, log, index, counts) -> None:
    """Train ``group`` unless all its runs are stored; store the missing runs only."""
    keys = [
        run_config(config, group.name, group.optimizer, hp, s)
        for hp in group.hps
        for s in group.seeds
    ]
    opt_fp = identity.optimizer_fingerprint(group.optimizer)
    cfgs = [identity.run_identity(k, problem=group.problem, optimizer_fp=opt_fp) for k in keys]
    rids = [run_id(c) for c in cfgs]
    todo = [i for i, rid in enumerate(rids) if not store.has_run(rid)]
    counts["reused"] += len(cfgs) - len(todo)
    counts["trained"] += len(todo)
    label = f"{group.optimizer} on {group.problem.name} ({group.phase}"
    if not todo:
        _record_index(store, index, keys, rids)
        _advance(bar, len(cfgs), f"{label}, stored)")
        return
    # Retrain the whole group (one compiled program; results are deterministic), store the
    # missing records only: finished runs are never rewritten or duplicated.
    trained = _train_group(group)
    for i in todo:
        run = trained.runs[i]
        trial = i // len(group.seeds) if group.phase == "tuning" else None
        # final runs keep their params (params.npz), so a landscape needs no retraining
        files = {"params.npz": params_npz(run.final_params)} if group.phase == "final" else None
        store.write_run(
            cfgs[i],
            _summary_of(run, group, trained, trial),
            _curves_of(run, group.dtype),
            files=files,
        )
    _record_index(store, index, keys, rids)
    if log is not None:
        # the runs asked for; padding seeds (throw-away runs) are counted apart
        pad = trained.n_trained - len(cfgs)
        log(
            f"{group.problem.name:>14s} {group.optimizer:<10s} {group.phase:<6s} "
            f"{len(cfgs):3d} runs  compile {trained.compile_time:6.2f}s  "
            f"run {trained.run_time:6.2f}s  ({trained.engine}"
            + (f", {pad} padding runs)" if pad > 0 else ")")
        )
    _advance(bar, len(cfgs), f"{label})")


def _record_index(store: Store, index: dict, keys: list, rids: list[str]) -> None:
    """Map each run's study key to its run id, in memory and in the manifest."""
    new = {identity.key_id(k): rid for k, rid in zip(keys, rids, strict=True)}
    if all(index.get(k) == v for k, v in new.items()):
        return
    index.update(new)
    # merged with what another process may have recorded meanwhile
    store.update_info({"run_index": {**run_index(store), **index}})


# ----------------------------------------------------------------------------- progress


def _advance(bar, n: int, label: str) -> None:
    if bar is not None:
        bar.set_postfix_str(label[:40], refresh=False)
        bar.update(n)


def _beside(bar, log: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """``log`` that lifts the progress bar while it writes (so lines and bar do not mix)."""
    if log is None or bar is None:
        return log

    def wrapped(msg: str) -> None:
        with bar.external_write_mode():
            log(msg)

    return wrapped


# ----------------------------------------------------------------------------- training


def _train_group(group: Group) -> _Trained:
    """Train every (hp, seed) of ``group``: a sweep, or run by run to record trajectories."""
    if group.trajectory:
        return _train_loop(group)
    return _train_sweep(group)


def _train_loop(group: Group) -> _Trained:
    import jax

    from optlab import train

    runs, ct, rt = [], 0.0, 0.0
    for hp in group.hps:
        for s in group.seeds:
            r = train.train(
                group.problem,
                group.optimizer,
                hyperparams=hp,
                steps=group.steps,
                key=jax.random.key(s),
                eval_every=group.eval_every,
                snapshot_every=1 if group.trajectory else None,
                snapshots=group.trajectory,
                dtype=group.dtype,
            )
            ct += r.compile_time
            rt += r.run_time
            runs.append(r)
    return _Trained(runs, ct, rt, "train", len(runs))


def _train_sweep(group: Group) -> _Trained:
    """The group's runs as sweeps: one per category of its trials (:func:`_category`).

    Within a category, one swept hyperparameter, or trials forming a full product of the
    swept values: one sweep. Random search in more than one dimension: one sweep per trial.
    """
    hps, seeds = group.hps, group.seeds
    runs: list = [None] * (len(hps) * len(seeds))
    ct = rt = 0.0
    n_trained = 0
    for members in _categories(hps):
        for runs_of, res in _sweep_category(group, members):
            ct += float(res.compile_time)
            rt += float(res.run_time)
            n_trained += len(res.configs)
            for slot, r_i in runs_of:
                runs[slot] = res.run(r_i)
    missing = sum(r is None for r in runs)
    if missing:
        raise RuntimeError(
            f"optlab.sweep returned no result for {missing} of the requested runs of "
            f"{group.optimizer}; this is a bug, please report it"
        )
    return _Trained(runs, ct, rt, "sweep", n_trained)


def _sweep_category(group: Group, members: list[int]):
    """Yield ``([(slot, sweep run index)], SweepResult)`` for the trials ``members`` (one
    category: the same keys and the same non-numeric values)."""
    from optlab import sweep as sweep_lib

    seeds = group.seeds
    program, traced = shared_program(group.optimizer, group.hps)
    # the trials as the shared program runs them (sgd: momentum 0); stored runs keep group.hps
    hps = [{**traced, **hp} for hp in group.hps]
    first = hps[members[0]]
    numeric = sorted(k for k, v in first.items() if _is_number(v))
    # keep at least one numeric hyperparameter traced (an array), never a constant, so that
    # the evaluation sweep reuses the tuning sweep's program; the shared program's too
    swept = [k for k in group.swept if k in numeric] or numeric[:1]
    swept = sorted({*swept, *traced})
    fixed = {k: v for k, v in first.items() if k not in swept}
    sub = [hps[i] for i in members]
    product = len(swept) > 1 and _is_product(sub, swept)
    parts = [members] if len(swept) <= 1 or product else [[i] for i in members]
    for g in parts:
        if product:
            grid = {k: sorted({hps[i][k] for i in g}, key=float) for k in swept}
        else:
            grid = {k: [hps[i][k] for i in g] for k in swept}
        n_grid = math.prod(len(v) for v in grid.values()) if grid else 1
        res = sweep_lib.sweep(
            group.problem,
            program,
            grid=grid,
            seeds=_padded_seeds(seeds, n_grid, group.pad_to),
            steps=group.steps,
            fixed=fixed or None,
            eval_every=group.eval_every,
            dtype=group.dtype,
            # every run draws its own batches: the final seeds' sweep (padded to the tuning
            # sweep's run count) then reuses the tuning program instead of compiling another
            share_batches=False,
        )
        slots = []
        for r_i, rc in enumerate(res.configs):
            slot = _slot_of(rc, g, grid, hps, seeds)
            if slot is not None:
                slots.append((slot, r_i))
        yield slots, res


#: Built-in optimizers that are one transformation with other hyperparameter values, so one
#: compiled program serves them all when those values are traced arrays: ``sgd`` is
#: ``optax.sgd(learning_rate)`` and ``momentum`` is ``optax.sgd(learning_rate, momentum=m)``;
#: at ``m = 0`` the trace update ``g + 0 * trace`` is ``g`` exactly (a run's trace holds only
#: finite gradients: a non-finite step is never kept), up to the sign of a zero (-0 + 0 = +0),
#: which cannot change a parameter that is not itself -0; so sgd's numbers are unchanged (the
#: default study's 132 runs are bit-identical, tests/test_study_programs.py).
#: ``name: (program's optimizer, {hyperparameter: value}, keys name's trials must not set)``;
#: the value ``None`` means the program optimizer's default.
_SHARED_PROGRAMS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "sgd": ("momentum", {"momentum": 0.0}, ("momentum", "nesterov", "accumulator_dtype")),
    "momentum": ("momentum", {"momentum": None}, ()),
}


def shared_program(optimizer: str, hps: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """``(program optimizer, traced hyperparameters)`` whose compiled sweep runs ``optimizer``.

    ``optimizer`` itself and ``{}`` unless it is a built-in listed in ``_SHARED_PROGRAMS``
    (and the program's optimizer is built in too) and no trial in ``hps`` sets a keyword the
    sharing excludes. The traced values are added to every trial that does not set them; the
    sweep then traces them as arrays, so the optimizers of one family compile one program.

    Example: ``shared_program("sgd", [{"learning_rate": 0.1}])`` is
    ``("momentum", {"momentum": 0.0})``.
    """
    from optlab import optimizers

    if optimizer not in _SHARED_PROGRAMS:
        return optimizer, {}
    program, values, excluded = _SHARED_PROGRAMS[optimizer]
    builtin = all(
        identity.is_builtin(optimizers.entry(name).factory) for name in (optimizer, program)
    )
    if not builtin or any(k in hp for hp in hps for k in excluded):
        return optimizer, {}
    defaults = optimizers.defaults(program)
    return program, {k: defaults[k] if v is None else v for k, v in values.items()}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _category(hp: dict) -> tuple:
    """What must be equal for trials to share one sweep: their keys and non-numeric values."""
    return tuple(sorted((k, None if _is_number(v) else repr(v)) for k, v in hp.items()))


def _categories(hps: list[dict]) -> list[list[int]]:
    """Indices of ``hps`` grouped by :func:`_category`, in order of first appearance."""
    out: dict[tuple, list[int]] = {}
    for i, hp in enumerate(hps):
        out.setdefault(_category(hp), []).append(i)
    return list(out.values())


def _padded_seeds(seeds: Sequence[int], n_grid: int, pad_to: int) -> list[int]:
    """``seeds`` plus throw-away seeds until ``n_grid * len(seeds) >= pad_to``."""
    out = list(seeds)
    while n_grid * len(out) < pad_to:
        out.append(_PAD_SEED + len(out))
    return out


def _slot_of(rc: dict, members: Sequence[int], grid, hps, seeds) -> int | None:
    """Index ``hp * len(seeds) + seed`` of the sweep run ``rc`` (None for padding)."""
    seed = int(rc["seed"])
    if seed not in seeds:
        return None
    for i in members:
        if all(_close(rc.get(k, hps[i][k]), hps[i][k]) for k in grid):
            return i * len(seeds) + seeds.index(seed)
    return None


def _is_product(trials: list[dict], swept: Sequence[str]) -> bool:
    """Whether the trials are exactly the Cartesian product of their swept values."""
    uniq = [{repr(t[k]) for t in trials} for k in swept]
    distinct = {tuple(repr(t[k]) for k in swept) for t in trials}
    return len(trials) == len(distinct) == math.prod(len(u) for u in uniq)


def _swept_keys(trials: list[dict]) -> list[str]:
    """Hyperparameters whose value differs between trials (sorted)."""
    keys = sorted({k for t in trials for k in t})
    return [k for k in keys if len({repr(t.get(k)) for t in trials}) > 1]


def _close(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-5, abs_tol=0.0)
    except (TypeError, ValueError):
        return a == b


# ----------------------------------------------------------------------------- records


def _curves_of(run, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The arrays stored for a run (an ``optlab.train.Run``); float64 runs keep float64."""
    step_dtype = np.float64 if dtype == "float64" else np.float32
    c = {
        "loss": np.asarray(run.loss, step_dtype),
        "grad_norm": np.asarray(run.grad_norm, step_dtype),
        "eval_steps": np.asarray(run.eval_steps, np.int64),
        "val_loss": np.asarray(run.val_loss, np.float64),
    }
    for k, v in (run.val_metrics or {}).items():
        c[f"val_{k}"] = np.asarray(v, np.float64)
    if run.snapshots is not None:
        snap = np.asarray(run.snapshots)
        if snap.ndim == 2 and snap.shape[1] == 2:  # a path in the plane of a 2D function
            c["trajectory"] = snap.astype(np.float64)
            c["trajectory_steps"] = np.asarray(run.snapshot_steps, np.int64)
    return c


def _summary_of(run, group: Group, trained: _Trained, trial: int | None) -> dict:
    """The scalars stored for a run: final metrics, divergence, phase and amortized times."""
    n = max(1, trained.n_trained)
    return {
        **{k: float(v) for k, v in run.final.items()},
        "diverged": bool(run.diverged),
        "diverged_step": int(run.diverged_step),
        "phase": group.phase,
        "trial": trial,
        "engine": trained.engine,
        "group_runs": trained.n_trained,
        "group_compile_time": trained.compile_time,
        "group_run_time": trained.run_time,
        # amortized run time of this run: the group's run time shared by its runs
        "run_time": trained.run_time / n,
        "seconds_per_step": trained.run_time / n / max(1, group.steps),
    }


# ----------------------------------------------------------------------------- contours


def _is_2d_function(prob) -> bool:
    return prob.fn is not None and prob.start is not None and len(prob.start) == 2


def _write_contour_grids(store: Store, built: dict, n: int = 161) -> None:
    """``landscapes/<problem>.npz``: f on an n×n grid over each 2D function's bounds.

    The trajectory figures draw their contours from it (the report never evaluates f).
    """
    for name, prob in built.items():
        path = store.root / "landscapes" / f"{name}.npz"
        if not _is_2d_function(prob) or prob.bounds is None or _grid_ok(path, n):
            continue
        from optlab.landscape import evaluate_grid

        (x0, x1), (y0, y1) = prob.bounds
        xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        # evaluate_grid gives out[i, j] = f(xs[i], ys[j]); contour plots index z[y, x]
        z = evaluate_grid(prob.fn, xs, ys).T
        _io.atomic_write(path, lambda f, z=z, xs=xs, ys=ys: np.savez(f, x=xs, y=ys, z=z))


def _grid_ok(path, n: int) -> bool:
    """Whether the contour grid at ``path`` loads and has its n×n shape (else: recompute it).

    The grid is derived data: a truncated or damaged file (a kill mid-copy, a bad disk) is
    simply written again.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["z"].shape == (n, n) and z["x"].shape == z["y"].shape == (n,)
    except Exception:  # noqa: BLE001  (missing, truncated: BadZipFile, EOFError, KeyError...)
        return False
