"""The landscape pipeline: train -> plane -> slice -> analysis -> sharpness -> save.

:func:`run` trains (or, with ``from_study``, loads the stored final params of a study's tuned
runs) a problem with an optimizer, builds a plane through the trained
parameters (random, PCA of the trajectory, through three seeds' solutions, top Hessian
eigenvectors, or the coordinate axes of a 2-D analytic problem), evaluates the loss on a grid
in that plane, finds its minima, saddles, barriers and basins, measures the sharpness at the
minima, and writes ``slice.json/.npz``, ``analysis.json/.npz`` and ``summary.json``
(atomically); for classification problems also the accuracy on the same grid, and always the
loss along the exact line ``beta = 0`` through the plane's centre (for a three-point plane:
the line through the first two solutions). ``directions="line"`` is 1-D instead: the loss
and accuracy on the train and test splits along the straight line between two solutions
(Goodfellow et al. 2015) and, with ``path``, along a low-loss path fitted between them
(:mod:`optlab.landscape.paths`), written as ``line.json/.npz``. It draws nothing: the
figures come from the returned arrays (:func:`optlab.plot.landscape.save_standard_figures`,
as ``optlab landscape`` does).

Each step is a function of its own, for scripts that need a variation (several optimizers,
their own plane): :func:`train_runs`, :func:`loss_function`, :func:`build_plane`,
:func:`slice_and_analyse`, :func:`sharpness`, :func:`save_landscape`.

Example:
  >>> from optlab.pipelines import landscape as lp
  >>> cfg = lp.LandscapeConfig(problem="six-hump-camel", steps=50, out="results/camel")
  >>> result = lp.run(cfg)                                         # doctest: +SKIP
  >>> result.analysis.minima[0].value                              # doctest: +SKIP
  -1.0316...
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlab import _checks, _io, problems, train
from optlab import landscape as ls

__all__ = [
    "DIRECTIONS",
    "LandscapeConfig",
    "LineResult",
    "StoredRun",
    "LandscapeResult",
    "PlaneSpec",
    "TrainingDiverged",
    "build_plane",
    "load_study_runs",
    "check",
    "loss_function",
    "parse_hyperparams",
    "run",
    "run_line",
    "save_landscape",
    "sharpness",
    "slice_and_analyse",
    "train_runs",
]

DIRECTIONS = ("random", "pca", "three-point", "hessian", "axes", "line")
#: Low-loss path kinds of ``directions="line"`` (:data:`optlab.landscape.paths.KINDS`).
PATHS = ("bezier", "polychain", "neb")


@dataclasses.dataclass(frozen=True)
class LandscapeConfig:
    """What :func:`run` computes (the fields of ``optlab landscape``'s options).

    Attributes:
      problem, optimizer: registered names.
      learning_rate: ``None`` uses the problem's default; else a finite number > 0.
      steps: training steps; ``seed``: training and direction seed.
      directions: one of :data:`DIRECTIONS`; ``None``: ``"axes"`` for 2-D analytic problems,
        else ``"random"``.
      normalization, ignore_biases: of random directions.
      resolution: grid points per axis (>= 3).
      coord_range: ``(lo, hi)`` for both axes, in units of the directions; ``None``: random
        and hessian ``(-1, 1)``, pca and three-point cover the trajectory / solutions with a
        margin, axes the problem's standard box.
      split: data split of the landscape loss.
      dtype: ``"float32"`` or ``"float64"`` (training, slice and refinement).
      batch_size: grid points per compiled chunk (``None``: automatic).
      scale: colour scale of the figures: ``"auto"`` (log for networks), ``"log"``, ``"linear"``.
      persistence: persistence threshold of minima (``None``: 1e-6 of the value range).
      out: output folder (``None``: ``results/landscape/<problem>-<optimizer>-<directions>``).
      hyperparams: extra optimizer hyperparameters as ``((name, value), ...)`` (e.g.
        ``(("b1", 0.95),)``); checked against the optimizer before training.
      from_study: a study directory: use the stored final params of its tuned runs of
        ``problem`` x ``optimizer`` (no training; the first one, two or three seeds).
      path: with ``directions="line"``, also fit a low-loss path of this kind (``"bezier"``,
        ``"polychain"``, ``"neb"``) between the two solutions; ``path_steps`` its steps.
    """

    problem: str = "adder"
    optimizer: str = "adam"
    learning_rate: float | None = None
    steps: int = 2000
    seed: int = 0
    directions: str | None = None
    normalization: str = "filter"
    ignore_biases: bool = False
    resolution: int = 41
    coord_range: tuple[float, float] | None = None
    split: str = "train"
    dtype: str = "float32"
    batch_size: int | None = None
    scale: str = "auto"
    persistence: float | None = None
    out: str | None = None
    hyperparams: tuple[tuple[str, Any], ...] = ()
    from_study: str | None = None
    path: str | None = None
    path_steps: int = 500

    def __post_init__(self):
        _checks.int_at_least("resolution", self.resolution, 3)
        _checks.steps("steps", self.steps)
        _checks.real("learning_rate", self.learning_rate, minimum=0.0, strict=True,
                     allow_none=True)  # fmt: skip
        _checks.positive_int("batch_size", self.batch_size, allow_none=True)
        _checks.real("persistence", self.persistence, minimum=0.0, allow_none=True)
        _checks.int_at_least("seed", self.seed, 0)
        _checks.one_of("split", self.split, ("train", "val", "test"))
        _checks.one_of("dtype", self.dtype, ("float32", "float64"))
        r = self.coord_range
        if r is not None and not (len(r) == 2 and all(math.isfinite(x) for x in r) and r[0] < r[1]):
            raise ValueError(f"range must be two finite numbers LO < HI, got {list(r)}")
        if self.directions is not None:
            _checks.one_of("directions", self.directions, DIRECTIONS)
        _checks.one_of("normalization", self.normalization, ls.NORMALIZATIONS)
        _checks.one_of("scale", self.scale, ("auto", "log", "linear", "above-min"))
        if self.path is not None:
            _checks.one_of("path", self.path, PATHS)
            if self.directions != "line":
                raise ValueError("path needs directions='line' (a path between two solutions)")
        _checks.int_at_least("path_steps", self.path_steps, 1)
        object.__setattr__(self, "hyperparams", tuple((str(k), v) for k, v in self.hyperparams))
        if self.from_study is not None and (self.hyperparams or self.learning_rate is not None):
            raise ValueError(
                "hyperparameters and learning_rate set training, and from_study trains "
                "nothing (it uses the study's tuned params)"
            )


class PlaneSpec(NamedTuple):
    """A plane to slice: ``center + a d1 + b d2`` on ``alphas x betas``, the trajectories
    projected on it (``{label: (m, 2)}``) and what to record about it."""

    center: Any
    d1: Any
    d2: Any
    alphas: np.ndarray
    betas: np.ndarray
    paths: dict[str, np.ndarray]
    metadata: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class LandscapeResult:
    """What :func:`run` computed and wrote.

    Attributes:
      config: the config run; ``directions`` the plane kind used; ``out`` the folder written.
      runs: the training runs (one, or three for ``three-point``).
      slice: the grid with its metadata; ``analysis``: minima, saddles, barriers, basins.
      paths: projected trajectories ``{label: (m, 2)}`` drawn on the plane.
      summary: the contents of ``summary.json``.
      log_scale: whether figures should use a log colour scale (``scale`` names it:
        ``"linear"``, ``"log"`` or ``"above-min"``).
      train_seconds: wall time of training.
      center_loss: the loss on the whole ``config.split`` at the slice centre.
      line: the exact 1-D curve through the centre: ``{"t", "values", "title", "xlabel",
        "marks"}`` (what the ``curve`` figure draws).
      accuracy: the accuracy grid of a classification problem (``None`` otherwise).
      points: named points of the plane (the solutions it was built from), ``{name: (a, b)}``.
    """

    config: LandscapeConfig
    directions: str
    out: Path
    runs: list
    slice: ls.Slice
    analysis: ls.SliceAnalysis
    paths: dict[str, np.ndarray]
    summary: dict[str, Any]
    log_scale: bool
    train_seconds: float
    center_loss: float = math.nan
    line: dict[str, Any] | None = None
    accuracy: np.ndarray | None = None
    points: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    scale: str = "linear"


class StoredRun(NamedTuple):
    """A run's stored final params (from a study), in place of a training run.

    ``final`` holds the stored final metrics (``train_loss``, ``test_accuracy``...);
    ``snapshots`` is ``None``: a study keeps no trajectories of networks.
    """

    seed: int
    final_params: Any
    final: dict[str, float]
    run_id: str
    snapshots: Any = None


@dataclasses.dataclass(frozen=True)
class LineResult:
    """What :func:`run_line` computed and wrote (``line.json/.npz`` in ``out``).

    Attributes:
      config, out, runs: as in :class:`LandscapeResult` (two runs); ``seeds`` their seeds.
      ts: the line's coordinate (0: first solution, 1: second).
      values: ``{"<split> <quantity>": values over ts}`` for train and test loss (and
        accuracy for classification problems) along the straight line.
      straight, path: :class:`~optlab.landscape.paths.PathResult` on the training loss for
        ``t`` in ``[0, 1]``: the straight line and the fitted path (``None`` without
        ``config.path``); ``path_test`` the test loss/accuracy along the same path.
      summary: the contents of ``line.json``.
    """

    config: LandscapeConfig
    out: Path
    runs: list
    ts: np.ndarray
    values: dict[str, np.ndarray]
    straight: Any
    path: Any
    path_test: Any
    summary: dict[str, Any]
    seeds: tuple[int, ...] = ()


# --------------------------------------------------------------------------- steps


def train_runs(
    problem,
    optimizer: str,
    seeds: Sequence[int],
    *,
    steps: int,
    learning_rate: float,
    snapshot_every: int,
    hyperparams: Mapping[str, Any] | None = None,
    dtype: str = "float32",
) -> list:
    """One :func:`optlab.train.train` run per seed (with trajectory snapshots), at ``dtype``;
    extra optimizer ``hyperparams`` (e.g. ``{"b1": 0.95}``) beside the learning rate."""
    return [
        train.train(
            problem,
            optimizer,
            steps=steps,
            key=jax.random.key(seed),
            hyperparams={"learning_rate": learning_rate, **(hyperparams or {})},
            snapshot_every=snapshot_every,
            dtype=dtype,
        )
        for seed in seeds
    ]


def parse_hyperparams(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """``["b1=0.95", "nesterov=true"]`` -> ``(("b1", 0.95), ("nesterov", True))``.

    Values are read as int, float, ``true``/``false``, or kept as strings (e.g. a schedule
    name). Raises ``ValueError`` naming the item for anything not ``NAME=VALUE``.
    """
    out = []
    for item in items:
        name, sep, raw = str(item).partition("=")
        if not sep or not name.strip() or not raw.strip():
            raise ValueError(f"--hp expects NAME=VALUE (e.g. b1=0.95), got {item!r}")
        raw = raw.strip()
        value: Any
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        out.append((name.strip(), value))
    return tuple(out)


def _check_optimizer(cfg: LandscapeConfig, learning_rate: float) -> None:
    """Build the optimizer once, so an unknown hyperparameter fails before any compute."""
    from optlab import optimizers

    hp = dict(cfg.hyperparams)
    if "learning_rate" in hp:
        raise ValueError("give the learning rate as learning_rate=, not as a hyperparameter")
    optimizers.get(cfg.optimizer, learning_rate, **hp)


def load_study_runs(study_dir, problem_name: str, optimizer: str, n: int):
    """``(problem, runs)``: the study's problem ``problem_name`` (built with the study's
    options) and the first ``n`` of its final runs of ``optimizer`` as :class:`StoredRun`.

    Raises:
      ValueError: the pair is not in the study, or it has fewer than ``n`` final runs.
      FileNotFoundError: not a study directory, or runs stored no params (an older study).
    """
    from optlab.store import Store
    from optlab.study import load_study

    res = load_study(study_dir)
    if (problem_name, optimizer) not in res.pairs:
        raise ValueError(
            f"study {study_dir} has no runs of optimizer {optimizer!r} on problem "
            f"{problem_name!r}; it has problems {list(res.problems)} and optimizers "
            f"{list(res.optimizers)}"
        )
    final = res.pair(problem_name, optimizer).final
    if len(final) < n:
        raise ValueError(
            f"this plane needs {n} stored final runs; the study has {len(final)} of "
            f"{optimizer!r} on {problem_name!r}"
        )
    problem = res.config.build_problem(problem_name)
    like = problem.init(jax.random.key(0))
    store = Store(study_dir)
    runs = []
    for rec in final[:n]:
        params = store.load_params(rec.run_id, like)
        metrics = {k: float(v) for k, v in rec.summary.items() if k.startswith(_SPLITS)}
        runs.append(StoredRun(int(rec.config["seed"]), params, metrics, rec.run_id))
    return problem, runs


_SPLITS = ("train_", "val_", "test_")


def loss_function(problem, split: str = "train") -> Callable:
    """``params -> loss`` on ``split`` (a :func:`~optlab.landscape.problem_loss`, whose small
    MLP slices take the vector-lanes fast path), or the function of an analytic problem."""
    if problem.data is not None:
        return ls.problem_loss(problem, split)

    def loss_fn(p):
        return problem.loss(p, None)

    return loss_fn


def _cover(coords, given, margin=0.25):
    """Axis ranges covering ``coords`` with ``margin`` times their span on each side."""
    if given:
        return tuple(given), tuple(given)
    c = np.asarray(coords, np.float64)
    lo, hi = c.min(axis=0), c.max(axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _plane(cfg, center, d1, d2, ranges, paths=None, **metadata) -> PlaneSpec:
    (rng_a, rng_b) = ranges
    alphas = np.linspace(*rng_a, cfg.resolution)
    betas = np.linspace(*rng_b, cfg.resolution)
    return PlaneSpec(center, d1, d2, alphas, betas, dict(paths or {}), metadata)


def _given_or(cfg, default=(-1.0, 1.0)):
    r = tuple(cfg.coord_range or default)
    return r, r


def _random_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """Filter- (or layer-) normalized Gaussian directions through the trained params."""
    params = jax.tree_util.tree_map(jnp.asarray, runs[0].final_params)
    key = jax.random.fold_in(jax.random.key(cfg.seed), 7)
    d1, d2 = ls.random_directions(key, params, cfg.normalization, ignore_biases=cfg.ignore_biases)
    return _plane(
        cfg, params, d1, d2, _given_or(cfg),
        normalization=cfg.normalization, ignore_biases=cfg.ignore_biases, direction_seed=cfg.seed,
        points={f"seed {runs[0].seed}" if _stored(runs) else "trained params": [0.0, 0.0]},
    )  # fmt: skip


def _pca_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The top-2 PCA plane of the trajectory, centred on the final params, covering it."""
    pca = ls.pca_directions(runs[0].snapshots)
    coords = ls.project_trajectory(runs[0].snapshots, pca.center, pca.d1, pca.d2).coords
    return _plane(
        cfg, pca.center, pca.d1, pca.d2, _cover(coords, cfg.coord_range),
        {cfg.optimizer: coords},
        explained_variance_ratio=pca.explained_variance_ratio.tolist(),
        points={"final params": [0.0, 0.0]},
    )  # fmt: skip


def _three_point_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The plane through the three runs' solutions, covering them with half a side's margin."""
    plane = ls.plane_through(*[r.final_params for r in runs])
    seeds = [r.seed for r in runs] if _stored(runs) else _seeds(cfg, "three-point")
    paths = {
        f"seed {s}": ls.project_trajectory(r.snapshots, plane.origin, plane.d1, plane.d2).coords
        for s, r in zip(seeds, runs, strict=True)
        if r.snapshots is not None
    }
    return _plane(
        cfg, plane.origin, plane.d1, plane.d2, _cover(plane.coords, cfg.coord_range, margin=0.5),
        paths, solution_coords=plane.coords.tolist(),
        points={f"seed {s}": c for s, c in zip(seeds, plane.coords.tolist(), strict=True)},
    )  # fmt: skip


def _hessian_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The top-2 Hessian eigenvectors at the trained params (Lanczos)."""
    params = jax.tree_util.tree_map(jnp.asarray, runs[0].final_params)
    d1, d2, vals = ls.hessian_directions(loss_fn, params, key=jax.random.key(cfg.seed))
    return _plane(
        cfg, params, d1, d2, _given_or(cfg), hessian_top_eigenvalues=vals.tolist(),
        points={f"seed {runs[0].seed}" if _stored(runs) else "trained params": [0.0, 0.0]},
    )  # fmt: skip


def _stored(runs) -> bool:
    return bool(runs) and isinstance(runs[0], StoredRun)


def _axes_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The coordinate plane of a 2-D analytic problem (the function itself)."""
    ranges = _given_or(cfg) if cfg.coord_range else problem.bounds
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    paths = {}
    if runs[0].snapshots is not None:
        paths[cfg.optimizer] = np.asarray(runs[0].snapshots, np.float64).reshape(-1, 2)
    return _plane(cfg, jnp.zeros(2, jnp.float32), e1, e2, ranges, paths)


_PLANES = {
    "random": _random_plane,
    "pca": _pca_plane,
    "three-point": _three_point_plane,
    "hessian": _hessian_plane,
    "axes": _axes_plane,
}


def build_plane(
    cfg: LandscapeConfig, directions: str, problem, runs: list, loss_fn: Callable
) -> PlaneSpec:
    """The plane of kind ``directions`` (one of :data:`DIRECTIONS`) through the trained
    ``runs``, on a ``cfg.resolution`` grid over ``cfg.coord_range`` or the default range of
    that kind (see :class:`LandscapeConfig`)."""
    return _PLANES[directions](cfg, problem, runs, loss_fn)


def slice_and_analyse(
    loss_fn: Callable,
    center,
    d1,
    d2,
    alphas,
    betas,
    *,
    metadata: Mapping[str, Any] | None = None,
    dtype=None,
    batch_size: int | None = None,
    persistence_threshold: float | None = None,
) -> tuple[ls.Slice, ls.SliceAnalysis]:
    """The slice of ``loss_fn`` on the plane (:func:`~optlab.landscape.compute_slice`) and
    its analysis, minima and saddles refined on the slice function
    (:func:`~optlab.landscape.analyze_grid`)."""
    s = ls.compute_slice(
        loss_fn,
        center,
        d1,
        d2,
        alphas,
        betas,
        batch_size=batch_size,
        dtype=dtype,
        metadata=metadata,
    )
    g = ls.slice_function(loss_fn, center, d1, d2)
    res = ls.analyze_grid(
        s.values,
        s.alphas,
        s.betas,
        g,
        persistence_threshold=persistence_threshold,
        refine_dtype=dtype,
    )
    return s, res


def sharpness(
    loss_fn: Callable, plane: PlaneSpec, analysis: ls.SliceAnalysis, *, max_minima: int = 8
) -> list[float]:
    """Top Hessian eigenvalue of the full loss at the lowest ``max_minima`` minima found."""
    points = [m.point for m in analysis.minima[:max_minima]]
    return ls.sharpness_at(loss_fn, plane.center, plane.d1, plane.d2, points, num_iter=20).tolist()


def save_landscape(
    out,
    s: ls.Slice,
    analysis: ls.SliceAnalysis,
    *,
    arrays: Mapping[str, np.ndarray] | None = None,
    prefix: str = "",
) -> None:
    """Write ``<prefix>slice.json/.npz`` (with extra ``arrays``) and
    ``<prefix>analysis.json/.npz`` in ``out`` (atomically)."""
    out = Path(out)
    ls.save_slice(out / f"{prefix}slice", s, arrays=arrays)
    ls.save_analysis(out / f"{prefix}analysis", analysis)


def _summary(s: ls.Slice, analysis: ls.SliceAnalysis) -> dict[str, Any]:
    return {
        "minima": len(analysis.minima),
        "global_minimum": analysis.minima[0].to_dict() if analysis.minima else None,
        "saddles": len(analysis.saddles),
        "nonfinite_fraction": analysis.nonfinite_fraction,
        "points_per_second": s.metadata["points_per_second"],
    }


def _seeds(cfg: LandscapeConfig, directions: str) -> list[int]:
    if directions == "three-point":
        return [cfg.seed, cfg.seed + 1, cfg.seed + 2]
    if directions == "line":
        return [cfg.seed, cfg.seed + 1]
    return [cfg.seed]


def _obtain_runs(cfg: LandscapeConfig, problem, directions: str, lr: float):
    """``(problem, runs, seeds, seconds)``: trained runs, or the stored final runs of a study."""
    t0 = time.perf_counter()
    if cfg.from_study is not None:
        problem, runs = load_study_runs(
            cfg.from_study, cfg.problem, cfg.optimizer, len(_seeds(cfg, directions))
        )
    else:
        runs = train_runs(
            problem,
            cfg.optimizer,
            _seeds(cfg, directions),
            steps=cfg.steps,
            learning_rate=lr,
            snapshot_every=max(1, cfg.steps // 50),
            hyperparams=dict(cfg.hyperparams),
            dtype=cfg.dtype,
        )
    seeds = [r.seed for r in runs] if cfg.from_study is not None else _seeds(cfg, directions)
    return problem, runs, seeds, time.perf_counter() - t0


def _describe_runs(runs, seconds: float, stored: bool, problem) -> str:
    """The log line after training: the final loss on the whole training split of each run
    (not the last minibatch's loss)."""
    losses = ", ".join(f"{r.final.get('train_loss', math.nan):.5g}" for r in runs)
    what = "loaded the stored params of" if stored else "trained"
    loss = "training-split loss" if problem.data is not None else "loss"
    return f"{what} {len(runs)} run(s) in {seconds:.1f}s; final {loss} {losses}"


def _metric_function(problem, split: str, name: str = "accuracy") -> Callable | None:
    """``params -> metric`` on a whole split (``None`` if the problem has no such metric)."""
    if problem.data is None or name not in problem.metrics:
        return None
    metric, batch = problem.metrics[name], getattr(problem.data, split)

    def fn(p):
        return metric(p, batch)

    return fn


def _line_through_center(cfg, directions, problem, loss_fn, plane, alphas) -> dict[str, Any]:
    """The loss along ``beta = 0`` through the plane's centre, exactly (not a grid column)."""
    values = ls.slice_1d(loss_fn, plane.center, plane.d1, alphas, dtype=cfg.dtype)
    names = list(plane.metadata.get("points", {}))
    if directions == "three-point":
        title = f"along the line through {names[0]} and {names[1]} ($\\beta$ = 0)"
        marks = {names[0]: 0.0, names[1]: 1.0}
    elif directions == "axes":
        title, marks = "along the x axis (y = 0)", {}
    elif directions == "pca":
        title, marks = "along PC1 through the final params (PC2 = 0)", {"final params": 0.0}
    else:
        name = names[0] if names else "the trained params"
        title = f"along direction 1 through {name} ($\\beta$ = 0)"
        marks = {name: 0.0}
    quantity = _quantity(cfg.split) if problem.data is not None else "loss"
    return {"t": np.asarray(alphas), "values": {quantity: values}, "title": title, "marks": marks}


def _quantity(split: str, what: str = "loss") -> str:
    return {"train": "training", "val": "validation", "test": "test"}[split] + f" {what}"


# --------------------------------------------------------------------------- the checks

#: Peak bytes per grid point of the slice and its analysis (values, the padded grid, basin
#: labels, the sort order and the merge tree's arrays): measured 175 B/point for the
#: analysis of a 1500 x 1500 grid (max RSS), plus the slice's values.
BYTES_PER_POINT = 200
#: Seconds per grid point of the analysis on a 2-core CPU (the same measurement: 17 s).
SECONDS_PER_POINT = 8e-6
#: Warn above this many grid points.
WARN_POINTS = 10**6


class TrainingDiverged(ValueError):
    """The training run of a landscape diverged: there is no trained point to slice around."""


def check(cfg: LandscapeConfig) -> tuple[Any, str, Path, float]:
    """Everything :func:`run` can check before training: ``(problem, directions, out,
    learning rate)``.

    Refuses (``ValueError``) an unknown problem or optimizer, a learning rate the optimizer
    rejects, ``axes`` on a problem that is not a 2-D function, ``pca`` with fewer than 2
    steps, a grid that cannot fit in memory and an ``out`` that is a file or not writable;
    warns (``optlab._checks.CostWarning``) above :data:`WARN_POINTS` grid points. Creates
    nothing.
    """
    from optlab import optimizers

    problem = problems.get(cfg.problem)
    analytic = problem.fn is not None
    directions = cfg.directions or ("axes" if analytic else "random")
    if directions == "axes" and not analytic:
        raise ValueError(
            f"directions 'axes' needs a 2-D analytic problem; {cfg.problem!r} is not one "
            f"(use one of {[d for d in DIRECTIONS if d != 'axes']})"
        )
    if directions == "pca" and cfg.steps < 2:
        raise ValueError(f"directions 'pca' needs steps >= 2 (3 snapshots), got {cfg.steps}")
    if directions == "three-point" and problem.data is None:
        inits = [problem.init(jax.random.key(s)) for s in _seeds(cfg, directions)]
        if all(np.array_equal(np.asarray(inits[0]), np.asarray(x)) for x in inits[1:]):
            raise ValueError(
                f"directions 'three-point' needs three different solutions, but problem "
                f"{cfg.problem!r} starts every seed at the same point (full-batch training "
                "then ends at the same point); use another plane, e.g. 'random'"
            )
    lr = problem.default_learning_rate if cfg.learning_rate is None else cfg.learning_rate
    optimizers.get(cfg.optimizer, learning_rate=lr)  # unknown name or a rejected value
    n = cfg.resolution**2
    what = f"a {cfg.resolution} x {cfg.resolution} landscape grid ({n:,} points)"
    hint = "lower --resolution"
    _checks.check_memory(what, n * BYTES_PER_POINT, hint=hint)
    if n > WARN_POINTS:
        import warnings

        warnings.warn(
            f"{what} needs about {n * BYTES_PER_POINT / 2**30:.1f} GiB and roughly "
            f"{n * SECONDS_PER_POINT:.0f} s of analysis on a 2-core CPU, plus the slice; "
            f"{hint}",
            _checks.CostWarning,
            stacklevel=3,
        )
    out = Path(cfg.out or f"results/landscape/{cfg.problem}-{cfg.optimizer}-{directions}")
    _checks.writable_dir("out", out)
    return problem, directions, out, lr


def _check_diverged(cfg: LandscapeConfig, runs: list, seeds: list[int], lr: float) -> None:
    for seed, r in zip(seeds, runs, strict=True):
        if r.diverged:
            raise TrainingDiverged(
                f"training diverged: {cfg.optimizer} on {cfg.problem} (seed {seed}, learning "
                f"rate {lr:g}) became non-finite at step {r.diverged_step} of {cfg.steps}; "
                "there is no trained point to slice around. Lower the learning rate"
            )


# --------------------------------------------------------------------------- the pipeline


def run(cfg: LandscapeConfig, *, log: Callable[[str], Any] | None = None):
    """Train (or load), build the plane, slice, analyse, measure sharpness and save.

    Args:
      cfg: what to compute.
      log: called with a progress line after training and after the slice (``None``: quiet).

    Returns:
      A :class:`LandscapeResult` (a :class:`LineResult` for ``directions="line"``); the files
      are in ``result.out``.

    Raises:
      ValueError: everything :func:`check` refuses, ``"pca"`` with ``from_study`` (no
        trajectory is stored) and an unknown hyperparameter, before training;
        :class:`TrainingDiverged` (a ``ValueError``) after training, naming the step.
    """
    log = log or (lambda msg: None)
    problem, directions, out, lr = check(cfg)
    if directions == "pca" and cfg.from_study is not None:
        raise ValueError(
            "directions 'pca' needs a training trajectory, and a study stores only final "
            "params; use random, three-point, hessian or line with --from-study"
        )
    if cfg.from_study is not None:
        problem = None  # the study's own problem (with its options) comes from the store
    else:
        _check_optimizer(cfg, lr)
    if directions == "line":
        return run_line(cfg, log=log, problem=problem, learning_rate=lr)
    out.mkdir(parents=True, exist_ok=True)

    problem, runs, seeds, train_seconds = _obtain_runs(cfg, problem, directions, lr)
    stored = cfg.from_study is not None
    if not stored:
        _check_diverged(cfg, runs, seeds, lr)
    analytic = problem.fn is not None
    log(_describe_runs(runs, train_seconds, stored, problem))
    loss_fn = loss_function(problem, cfg.split)
    plane = build_plane(cfg, directions, problem, runs, loss_fn)
    meta = {
        "problem": cfg.problem,
        "optimizer": cfg.optimizer,
        "learning_rate": lr,
        "hyperparams": dict(cfg.hyperparams),
        "steps": cfg.steps,
        "seeds": seeds,
        "directions": directions,
        "split": cfg.split,
        "final_losses": [float(r.final.get("train_loss", math.nan)) for r in runs],
        **plane.metadata,
    }  # fmt: skip
    if stored:
        meta.update(from_study=str(cfg.from_study), run_ids=[r.run_id for r in runs])
    s, res = slice_and_analyse(
        loss_fn,
        plane.center,
        plane.d1,
        plane.d2,
        plane.alphas,
        plane.betas,
        metadata=meta,
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        persistence_threshold=cfg.persistence,
    )
    center_loss = float(loss_fn(plane.center))
    # the full-split loss where the plane is centred (the trained params, or the first
    # solution of a three-point plane); the axes of a 2-D function are centred on (0, 0)
    where = "at (0, 0)" if directions == "axes" else "at the slice centre"
    quantity = _quantity(cfg.split) if problem.data is not None else "loss"
    log(
        f"slice {cfg.resolution}x{cfg.resolution}: {s.metadata['seconds']:.2f}s "
        f"({s.metadata['points_per_second']:.0f} points/s incl. compilation, "
        f"chunk {s.metadata['batch_size']}); {quantity} {where} {center_loss:.5g}"
    )
    if not analytic and res.minima:
        meta["sharpness_top_eigenvalue"] = sharpness(loss_fn, plane, res)
    line = _line_through_center(cfg, directions, problem, loss_fn, plane, s.alphas)
    acc_fn = _metric_function(problem, cfg.split)
    arrays = {f"traj_{i}": np.asarray(c) for i, c in enumerate(plane.paths.values())}
    arrays["line_values"] = next(iter(line["values"].values()))
    accuracy = None
    if acc_fn is not None:
        accuracy = ls.compute_slice(
            acc_fn, plane.center, plane.d1, plane.d2, plane.alphas, plane.betas,
            dtype=cfg.dtype, batch_size=cfg.batch_size,
        ).values  # fmt: skip
        arrays["accuracy"] = accuracy
    meta["trajectory_labels"] = list(plane.paths)
    meta["center_loss"] = center_loss
    meta["line_title"] = line["title"]
    s = ls.Slice(s.alphas, s.betas, s.values, {**s.metadata, **meta})
    save_landscape(out, s, res, arrays=arrays)
    summary = {**_summary(s, res), "center_loss": center_loss}
    _io.write_json(out / "summary.json", summary)
    scale = _scale(cfg, analytic)
    return LandscapeResult(
        config=cfg,
        directions=directions,
        out=out,
        runs=runs,
        slice=s,
        analysis=res,
        paths=plane.paths,
        summary=summary,
        log_scale=scale != "linear",
        train_seconds=train_seconds,
        center_loss=center_loss,
        line=line,
        accuracy=accuracy,
        points={k: tuple(v) for k, v in plane.metadata.get("points", {}).items()},
        scale=scale,
    )


def _scale(cfg: LandscapeConfig, analytic: bool) -> str:
    """The figures' colour scale: ``auto`` is a log scale of the (positive) loss of a network
    and the linear values of a 2-D function."""
    if cfg.scale == "auto":
        return "linear" if analytic else "log"
    return cfg.scale


# --------------------------------------------------------------------------- the 1-D line


def _split_functions(problem) -> dict[str, Callable]:
    """``{"train loss": fn, "test loss": fn, "train accuracy": fn, ...}`` on whole splits."""
    fns = {}
    for split in ("train", "test"):
        fns[f"{split} loss"] = loss_function(problem, split)
        acc = _metric_function(problem, split)
        if acc is not None:
            fns[f"{split} accuracy"] = acc
    return fns


def run_line(
    cfg: LandscapeConfig,
    *,
    log: Callable[[str], Any] | None = None,
    problem=None,
    learning_rate: float | None = None,
) -> LineResult:
    """The 1-D interpolation between two solutions (seeds ``seed`` and ``seed + 1``, or the
    first two stored runs of a study), and optionally a low-loss path between them.

    The straight line ``(1 - t) w0 + t w1`` is evaluated for ``t`` in ``[-0.5, 1.5]`` (the
    ``range`` if given) on ``resolution`` points, on the train and test splits, loss and (for
    classification) accuracy. With ``cfg.path`` a path of that kind is trained on the training
    loss (:func:`optlab.landscape.paths.connect`, ``cfg.path_steps`` steps) and both it and
    the straight segment ``t`` in ``[0, 1]`` are evaluated on both splits; their barriers
    (highest loss minus the higher end) go into ``line.json``.
    """
    from optlab.landscape import paths as lpaths

    log = log or (lambda msg: None)
    problem = problem if problem is not None else (
        problems.get(cfg.problem) if cfg.from_study is None else None
    )  # fmt: skip
    if learning_rate is None and problem is not None:
        learning_rate = problem.default_learning_rate
    lr = learning_rate
    out = Path(cfg.out or f"results/landscape/{cfg.problem}-{cfg.optimizer}-line")
    out.mkdir(parents=True, exist_ok=True)
    problem, runs, seeds, seconds = _obtain_runs(cfg, problem, "line", lr)
    if cfg.from_study is None:
        _check_diverged(cfg, runs, seeds, lr)
    log(_describe_runs(runs, seconds, cfg.from_study is not None, problem))
    w0, w1 = (jax.tree_util.tree_map(jnp.asarray, r.final_params) for r in runs)
    lo, hi = cfg.coord_range or (-0.5, 1.5)
    ts = np.linspace(lo, hi, cfg.resolution)
    d = jax.tree_util.tree_map(lambda a, b: b - a, w0, w1)
    fns = (
        _split_functions(problem) if problem.data is not None else {"loss": loss_function(problem)}
    )
    values = {name: ls.slice_1d(fn, w0, d, ts, dtype=cfg.dtype) for name, fn in fns.items()}
    summary: dict[str, Any] = {
        "problem": cfg.problem, "optimizer": cfg.optimizer, "seeds": seeds,
        "end_losses": {k: [float(fn(w0)), float(fn(w1))] for k, fn in fns.items()
                       if k.endswith("loss")},
    }  # fmt: skip
    straight = path = path_test = None
    arrays = {"t": ts, **{k.replace(" ", "_"): v for k, v in values.items()}}
    if cfg.path is not None:
        train_fn = fns.get("train loss", next(iter(fns.values())))
        extra = {k: f for k, f in fns.items() if k != "train loss" and k.startswith("train")}
        t0 = time.perf_counter()
        straight, path = lpaths.connect(
            train_fn, w0, w1, method=cfg.path, key=jax.random.key(cfg.seed),
            steps=cfg.path_steps, metrics=extra, dtype=cfg.dtype,
            # Adam for every kind: plain-gradient NEB steps diverge on network losses whose
            # gradients span decades (the adding network: barrier 61 after 1000 SGD steps)
            optimizer=optax.adam(lr if cfg.path == "neb" and lr else 1e-2),
        )  # fmt: skip
        test = {k: f for k, f in fns.items() if k.startswith("test")}
        if test:
            first, *rest = test
            nodes = [w0, path.nodes[0], w1] if cfg.path != "neb" else path.nodes
            path_test = lpaths.evaluate_path(
                test[first], cfg.path, nodes, metrics={k: test[k] for k in rest}, dtype=cfg.dtype
            )
            straight_test = lpaths.evaluate_path(
                test[first], "line", [w0, w1], metrics={k: test[k] for k in rest}, dtype=cfg.dtype
            )
            summary["straight_test"] = straight_test.to_dict()
            summary["path_test"] = path_test.to_dict()
            straight = straight._replace(metrics={**straight.metrics, first: straight_test.losses,
                                                  **straight_test.metrics})  # fmt: skip
        summary["straight"] = straight.to_dict()
        summary["path"] = {**path.to_dict(), "steps": cfg.path_steps,
                           "seconds": time.perf_counter() - t0}  # fmt: skip
        arrays.update({"straight_t": straight.ts, "straight_loss": straight.losses,
                       "path_t": path.ts, "path_loss": path.losses})  # fmt: skip
        for k, v in straight.metrics.items():
            arrays[f"straight_{k.replace(' ', '_')}"] = v
        for k, v in path.metrics.items():
            arrays[f"path_{k.replace(' ', '_')}"] = v
        if path_test is not None:
            arrays["path_test_t"] = path_test.ts
            arrays["path_" + first.replace(" ", "_")] = path_test.losses
            for k, v in path_test.metrics.items():
                arrays[f"path_{k.replace(' ', '_')}"] = v
        log(
            f"barrier on the training loss: straight line {straight.barrier:.4g} "
            f"(max {straight.max_loss:.4g} at t={straight.argmax_t:.2f}); {cfg.path} path "
            f"{path.barrier:.4g} (max {path.max_loss:.4g} at t={path.argmax_t:.2f})"
        )
    _io.atomic_write(out / "line.npz", lambda fh: np.savez(fh, **arrays))
    _io.write_json(out / "line.json", summary)
    return LineResult(cfg, out, runs, ts, values, straight, path, path_test, summary, tuple(seeds))
