"""The landscape pipeline: train -> plane -> slice -> analysis -> sharpness -> save.

:func:`run` trains a problem with an optimizer, builds a plane through the trained
parameters (random, PCA of the trajectory, through three seeds' solutions, top Hessian
eigenvectors, or the coordinate axes of a 2-D analytic problem), evaluates the loss on a grid
in that plane, finds its minima, saddles, barriers and basins, measures the sharpness at the
minima, and writes ``slice.json/.npz``, ``analysis.json/.npz`` and ``summary.json``
(atomically). It draws nothing: the figures come from the returned arrays
(:func:`optlab.plot.landscape.save_standard_figures`, as ``optlab landscape`` does).

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

from optlab import _checks, _io, problems, train
from optlab import landscape as ls

__all__ = [
    "DIRECTIONS",
    "LandscapeConfig",
    "LandscapeResult",
    "PlaneSpec",
    "build_plane",
    "loss_function",
    "run",
    "save_landscape",
    "sharpness",
    "slice_and_analyse",
    "train_runs",
]

DIRECTIONS = ("random", "pca", "three-point", "hessian", "axes")


@dataclasses.dataclass(frozen=True)
class LandscapeConfig:
    """What :func:`run` computes (the fields of ``optlab landscape``'s options).

    Attributes:
      problem, optimizer: registered names.
      learning_rate: ``None`` uses the problem's default.
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

    def __post_init__(self):
        _checks.int_at_least("resolution", self.resolution, 3)
        _checks.int_at_least("steps", self.steps, 1)
        r = self.coord_range
        if r is not None and not (len(r) == 2 and all(math.isfinite(x) for x in r) and r[0] < r[1]):
            raise ValueError(f"range must be two finite numbers LO < HI, got {list(r)}")
        if self.directions is not None:
            _checks.one_of("directions", self.directions, DIRECTIONS)
        _checks.one_of("normalization", self.normalization, ls.NORMALIZATIONS)
        _checks.one_of("scale", self.scale, ("auto", "log", "linear"))


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
      log_scale: whether figures should use a log colour scale.
      train_seconds: wall time of training.
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


# --------------------------------------------------------------------------- steps


def train_runs(
    problem,
    optimizer: str,
    seeds: Sequence[int],
    *,
    steps: int,
    learning_rate: float,
    snapshot_every: int,
    dtype: str = "float32",
) -> list:
    """One :func:`optlab.train.train` run per seed (with trajectory snapshots), at ``dtype``."""
    return [
        train.train(
            problem,
            optimizer,
            steps=steps,
            key=jax.random.key(seed),
            hyperparams={"learning_rate": learning_rate},
            snapshot_every=snapshot_every,
            dtype=dtype,
        )
        for seed in seeds
    ]


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
    )  # fmt: skip


def _pca_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The top-2 PCA plane of the trajectory, centred on the final params, covering it."""
    pca = ls.pca_directions(runs[0].snapshots)
    coords = ls.project_trajectory(runs[0].snapshots, pca.center, pca.d1, pca.d2).coords
    return _plane(
        cfg, pca.center, pca.d1, pca.d2, _cover(coords, cfg.coord_range),
        {cfg.optimizer: coords},
        explained_variance_ratio=pca.explained_variance_ratio.tolist(),
    )  # fmt: skip


def _three_point_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The plane through the three runs' solutions, covering them with half a side's margin."""
    plane = ls.plane_through(*[r.final_params for r in runs])
    paths = {
        f"seed {s}": ls.project_trajectory(r.snapshots, plane.origin, plane.d1, plane.d2).coords
        for s, r in zip(_seeds(cfg, "three-point"), runs, strict=True)
    }
    return _plane(
        cfg, plane.origin, plane.d1, plane.d2, _cover(plane.coords, cfg.coord_range, margin=0.5),
        paths, solution_coords=plane.coords.tolist(),
    )  # fmt: skip


def _hessian_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The top-2 Hessian eigenvectors at the trained params (Lanczos)."""
    params = jax.tree_util.tree_map(jnp.asarray, runs[0].final_params)
    d1, d2, vals = ls.hessian_directions(loss_fn, params, key=jax.random.key(cfg.seed))
    return _plane(cfg, params, d1, d2, _given_or(cfg), hessian_top_eigenvalues=vals.tolist())


def _axes_plane(cfg, problem, runs, loss_fn) -> PlaneSpec:
    """The coordinate plane of a 2-D analytic problem (the function itself)."""
    ranges = _given_or(cfg) if cfg.coord_range else problem.bounds
    path = np.asarray(runs[0].snapshots, np.float64).reshape(-1, 2)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    return _plane(cfg, jnp.zeros(2, jnp.float32), e1, e2, ranges, {cfg.optimizer: path})


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
    return [cfg.seed]


# --------------------------------------------------------------------------- the pipeline


def run(cfg: LandscapeConfig, *, log: Callable[[str], Any] | None = None) -> LandscapeResult:
    """Train, build the plane, slice, analyse, measure sharpness and save (see the module).

    Args:
      cfg: what to compute.
      log: called with a progress line after training and after the slice (``None``: quiet).

    Returns:
      A :class:`LandscapeResult`; the files are in ``result.out``.

    Raises:
      ValueError: ``directions="axes"`` for a problem that is not a 2-D function (and an
        unknown problem or optimizer).
    """
    log = log or (lambda msg: None)
    problem = problems.get(cfg.problem)
    analytic = problem.fn is not None
    directions = cfg.directions or ("axes" if analytic else "random")
    if directions == "axes" and not analytic:
        raise ValueError("directions 'axes' needs a 2-D analytic problem")
    out = Path(cfg.out or f"results/landscape/{cfg.problem}-{cfg.optimizer}-{directions}")
    out.mkdir(parents=True, exist_ok=True)
    lr = cfg.learning_rate or problem.default_learning_rate
    seeds = _seeds(cfg, directions)

    t0 = time.perf_counter()
    runs = train_runs(
        problem,
        cfg.optimizer,
        seeds,
        steps=cfg.steps,
        learning_rate=lr,
        snapshot_every=max(1, cfg.steps // 50),
        dtype=cfg.dtype,
    )
    train_seconds = time.perf_counter() - t0
    log(
        f"trained {len(runs)} run(s) in {train_seconds:.1f}s; final losses "
        + ", ".join(f"{r.loss[-1]:.4g}" for r in runs)
    )
    loss_fn = loss_function(problem, cfg.split)
    plane = build_plane(cfg, directions, problem, runs, loss_fn)
    meta = {
        "problem": cfg.problem,
        "optimizer": cfg.optimizer,
        "learning_rate": lr,
        "steps": cfg.steps,
        "seeds": seeds,
        "directions": directions,
        "split": cfg.split,
        "final_losses": [float(r.loss[-1]) for r in runs],
        **plane.metadata,
    }
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
    log(
        f"slice {cfg.resolution}x{cfg.resolution}: {s.metadata['seconds']:.2f}s "
        f"({s.metadata['points_per_second']:.0f} points/s incl. compilation, "
        f"chunk {s.metadata['batch_size']})"
    )
    if not analytic and res.minima:
        meta["sharpness_top_eigenvalue"] = sharpness(loss_fn, plane, res)
    meta["trajectory_labels"] = list(plane.paths)
    s = ls.Slice(s.alphas, s.betas, s.values, {**s.metadata, **meta})
    arrays = {f"traj_{i}": np.asarray(c) for i, c in enumerate(plane.paths.values())}
    save_landscape(out, s, res, arrays=arrays)
    summary = _summary(s, res)
    _io.write_json(out / "summary.json", summary)
    return LandscapeResult(
        config=cfg,
        directions=directions,
        out=out,
        runs=runs,
        slice=s,
        analysis=res,
        paths=plane.paths,
        summary=summary,
        log_scale=cfg.scale == "log" or (cfg.scale == "auto" and not analytic),
        train_seconds=train_seconds,
    )
