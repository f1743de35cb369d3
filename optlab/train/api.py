"""``train()``: one run, compiled, returned as a :class:`Run` record of numpy arrays.

``train(problem, optimizer, steps=..., key=...)`` compiles the whole loop (forward, backward,
optimizer update, divergence check, evaluation and parameter snapshots) into one XLA program
(:func:`optlab.train.loop.block_scan`) that is called once per chunk of steps; between chunks
only a progress bar runs on the host.

Its steps: resolve and validate the arguments (:func:`_settings`), lay out the chunks, build
the initial state, run the chunks (:func:`_run_chunks`) and assemble the record
(:func:`_record`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlab import _cache, _checks
from optlab import optimizers as optimizers_lib
from optlab import problems as problems_lib
from optlab.precision import cast_floating, precision, resolve_dtype
from optlab.problems.precision import at_dtype
from optlab.train import loop
from optlab.train.step import init_state, make_evaluate, make_step

__all__ = [
    "Run",
    "train",
    "check_params",
    "compile_count",
    "progress_bar",
    "resolve_problem",
]


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


# --------------------------------------------------------------------------- resolving names

# Same name (+ hyperparameters) -> same object -> the compiled program is reused.
_OPTIMIZERS = _cache.Cache(maxsize=64)
_PROBLEMS = _cache.Cache(maxsize=32)


def with_schedule_steps(hyperparams: Mapping[str, Any] | None, steps: int) -> dict[str, Any]:
    """``hyperparams`` with ``steps`` filled in when a ``schedule`` is named and ``steps`` is not.

    A schedule such as ``"cosine"`` needs the run length; a run knows it, so
    ``hyperparams={"schedule": "cosine"}`` decays over the run's own steps.
    """
    hp = dict(hyperparams or {})
    if hp.get("schedule") is not None and "steps" not in hp:
        hp["steps"] = int(steps)
    return hp


def resolve_optimizer(optimizer, hyperparams: Mapping[str, Any] | None):
    """``(GradientTransformation, {"optimizer": name, "hyperparams": {...}})``."""
    if isinstance(optimizer, str):
        hp = dict(hyperparams or {})
        key = (optimizer, tuple(sorted((k, repr(v)) for k, v in hp.items())))
        opt = _OPTIMIZERS.get(key, lambda: optimizers_lib.get(optimizer, **hp))
        return opt, {"optimizer": optimizer, "hyperparams": hp}
    if hyperparams:
        raise ValueError("hyperparams= is only used with an optimizer given by name")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be a registered name or an optax.GradientTransformation, "
            f"got {type(optimizer).__name__}"
        )
    return optimizer, {"optimizer": getattr(optimizer, "__name__", "custom"), "hyperparams": {}}


def resolve_problem(problem):
    """A registered problem by name (one object per name, so programs are reused), or as given."""
    if isinstance(problem, str):
        return _PROBLEMS.get(problem, lambda: problems_lib.get(problem))
    return problem


# --------------------------------------------------------------------------- compiled chunks

# Keyed by the identity of the problem and optimizer objects (their functions are closures),
# the chunk layout and the argument shapes.
_PROGRAMS = _cache.Cache(maxsize=64)


def compile_count() -> int:
    """How many training programs this process has compiled (for no-recompilation tests)."""
    return _PROGRAMS.builds


def chunk_program(problem, optimizer, layout: loop.Layout, snapshots: bool):
    """``train``'s chunk: :func:`~optlab.train.loop.block_scan` of one run's step.

    Always masked: ``train`` compiles one program whether or not ``steps`` fills the chunks.
    """
    step = make_step(problem, optimizer)

    def one_step(state, hp, train_split, index):
        del hp  # one run: its hyperparameters are in the optimizer
        return step(state, train_split, index)

    scan = loop.block_scan(
        one_step,
        make_evaluate(problem),
        layout,
        params_of=lambda s: s.params,
        snapshots=snapshots,
        masked=True,
    )

    def chunk(state, train_split, val_split, start, num_steps):
        return scan(state, None, train_split, val_split, start, num_steps)

    return chunk


def compiled_chunk(problem, optimizer, *, layout: loop.Layout, snapshots: bool, args):
    """``(compiled chunk program, compile seconds)``, cached (0.0 seconds on a hit)."""
    key = (
        _cache.ref(problem),
        _cache.ref(optimizer),
        layout.block,
        layout.n_blocks,
        snapshots,
        loop.abstract_signature(args),
    )
    return loop.cached_compile(
        _PROGRAMS,
        key,
        lambda: loop.compile_program(chunk_program(problem, optimizer, layout, snapshots), args),
    )


# --------------------------------------------------------------------------- train()


class _Settings(NamedTuple):
    steps: int
    eval_every: int
    snapshot_every: int
    layout: loop.Layout


def _settings(steps, eval_every, snapshot_every, chunks, progress) -> _Settings:
    steps = _checks.steps("steps", steps)
    eval_every = _checks.positive_int("eval_every", eval_every, allow_none=True)
    eval_every = eval_every or max(1, steps // 100)
    snapshot_every = _checks.positive_int("snapshot_every", snapshot_every, allow_none=True)
    snapshot_every = snapshot_every or eval_every
    chunks = _checks.positive_int("chunks", chunks, allow_none=True) or (20 if progress else 1)
    block = math.gcd(eval_every, snapshot_every)
    return _Settings(steps, eval_every, snapshot_every, loop.chunk_layout(steps, block, chunks))


class _Ran(NamedTuple):
    state: Any  # the final TrainState
    outs: list  # per chunk: (losses, grad_norms, evaluation, snapshot)
    run_time: float


def _run_chunks(compiled, state, *, splits: tuple, settings: _Settings, bar) -> _Ran:
    layout = settings.layout
    num_steps = jnp.asarray(settings.steps, jnp.int32)
    outs = []
    t0 = time.perf_counter()
    for c in range(layout.chunks):
        start = jnp.asarray(c * layout.steps_per_chunk, jnp.int32)
        state, out = compiled(state, *splits, start, num_steps)
        outs.append(out)
        if bar is not None:
            jax.block_until_ready(state.diverged)
            bar.update(layout.steps_per_chunk)
            bar.set_postfix(loss=f"{float(out[0][-1, -1]):.4g}", refresh=False)
    jax.block_until_ready(state)
    run_time = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return _Ran(state, outs, run_time)


def _snapshots(init_params, outs, points: loop.Points):
    keep = np.concatenate([[True], points.mask])
    snaps = jax.tree_util.tree_map(
        lambda p0, *xs: np.concatenate([np.asarray(p0)[None], *[np.asarray(x) for x in xs]])[keep],
        init_params,
        *[o[3] for o in outs],
    )
    return snaps, np.concatenate([[0], points.ends[points.mask]]).astype(np.int64)


def _record(problem, *, init_params, val_split, ran: _Ran, settings: _Settings, snapshots: bool):
    """Everything but the timings and config of the :class:`Run`, as numpy."""
    steps, layout = settings.steps, settings.layout
    losses, gnorms = loop.step_curves(ran.outs, steps)
    if val_split is not None:
        points = loop.evaluation_points(layout, steps, settings.eval_every)
        first = loop.evaluator(problem)(init_params, val_split)
        val_loss, val_metrics = loop.eval_curves(first, ran.outs, points.mask)
        eval_steps = np.concatenate([[0], points.ends[points.mask]]).astype(np.int64)
    else:
        val_loss, val_metrics = np.zeros((0,), np.float64), {}
        eval_steps = np.zeros((0,), np.int64)
    if snapshots:
        points = loop.evaluation_points(layout, steps, settings.snapshot_every)
        snaps, snapshot_steps = _snapshots(init_params, ran.outs, points)
    else:
        snaps, snapshot_steps = None, np.zeros((0,), np.int64)
    state = ran.state
    diverged = bool(state.diverged)
    final = loop.final_metrics(problem, state.params)
    if diverged:
        final = {k: float("nan") for k in final}
    return dict(
        loss=losses,
        grad_norm=gnorms,
        eval_steps=eval_steps,
        val_loss=val_loss,
        val_metrics=val_metrics,
        final=final,
        final_params=jax.tree_util.tree_map(np.asarray, state.params),
        snapshots=snaps,
        snapshot_steps=snapshot_steps,
        diverged=diverged,
        diverged_step=int(state.diverged_step),
    )


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
    dtype: str = "float32",
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
      dtype: ``"float32"`` (default) or ``"float64"``: params, data and every intermediate in
        float64, JAX's 64-bit mode enabled for this call only (:mod:`optlab.precision`); the
        initial params are drawn as in float32 and cast, so both start from the same point.

    With ``hyperparams={"schedule": ...}`` and no ``"steps"``, the schedule spans ``steps``.

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
    dtype = resolve_dtype(dtype)
    if isinstance(optimizer, str):
        hyperparams = with_schedule_steps(hyperparams, _checks.positive_int("steps", steps))
    with precision(dtype) as dt:
        problem = at_dtype(resolve_problem(problem), dtype)
        if params is not None and dtype != "float32":
            params = cast_floating(params, dt)
        return _train(
            problem, optimizer, hyperparams=hyperparams, params=params, key=key, dtype=dtype,
            settings=_settings(steps, eval_every, snapshot_every, chunks, progress),
            snapshots=snapshots, progress=progress,
        )  # fmt: skip


def _train(problem, optimizer, *, hyperparams, params, key, dtype, settings, snapshots, progress):
    """The body of :func:`train` (inside its precision context)."""
    opt, opt_config = resolve_optimizer(optimizer, hyperparams)
    layout = settings.layout
    if params is not None:
        check_params(problem, params, key)

    state = init_state(problem, opt, key, params)
    train_split, val_split = loop.splits(problem)
    args = (state, train_split, val_split, jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32))
    compiled, compile_time = compiled_chunk(
        problem, opt, layout=layout, snapshots=snapshots, args=args
    )

    total = layout.chunks * layout.steps_per_chunk
    bar = progress_bar(total, progress, desc=f"{opt_config['optimizer']}")
    ran = _run_chunks(compiled, state, splits=(train_split, val_split), settings=settings, bar=bar)
    config = {
        "problem": problem.name,
        **opt_config,
        "steps": settings.steps,
        "eval_every": settings.eval_every,
        "snapshot_every": settings.snapshot_every,
    }
    if dtype != "float32":
        config["dtype"] = dtype
    return Run(
        **_record(
            problem,
            init_params=state.params,
            val_split=val_split,
            ran=ran,
            settings=settings,
            snapshots=snapshots,
        ),
        compile_time=compile_time,
        run_time=ran.run_time,
        config=config,
    )


def check_params(problem, params, key) -> None:
    """``ValueError`` unless ``params`` has the structure and leaf shapes of
    ``problem.init(key)`` (compared abstractly: nothing is initialized or compiled)."""
    want = jax.eval_shape(problem.init, key)
    want_def = jax.tree_util.tree_structure(want)
    got_def = jax.tree_util.tree_structure(params)
    if got_def != want_def:
        raise ValueError(
            f"params do not have the structure of problem {problem.name!r}'s parameters: "
            f"got {got_def}, expected {want_def} (what problem.init(key) returns)"
        )
    for i, (w, g) in enumerate(
        zip(jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(params), strict=True)
    ):
        if tuple(np.shape(g)) != tuple(w.shape):
            raise ValueError(
                f"params leaf {i} of problem {problem.name!r} has shape {tuple(np.shape(g))}, "
                f"expected {tuple(w.shape)}"
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
