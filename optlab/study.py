"""Optimizer comparison studies: a fair tuning protocol, resumable, with statistics.

A study is a :class:`StudyConfig` (a frozen dataclass, or the same fields in a TOML file, see
``docs/studies.md``): problems × optimizers × a search space per optimizer × a tuning budget ×
seeds × steps × a selection metric. :func:`run_study` carries out the protocol:

1. **Tuning.** For each (problem, optimizer), ``budget`` hyperparameter configurations are drawn
   from the search space (Latin-hypercube samples of log-uniform/uniform ranges, or the grid);
   each is trained for ``steps`` steps on every tuning seed (``0 .. tuning_seeds-1``) and scored
   by the selection metric on the **validation** split at the end of training (mean over the
   tuning seeds; a configuration that diverged on any tuning seed scores worst).
2. **Selection.** The best-scoring configuration per (problem, optimizer) is selected.
3. **Evaluation.** It is re-run on ``seeds`` fresh seeds (``1000 .. 1000+seeds-1``, never used
   in tuning) and its **test** metric is reported (mean ± std, median + IQR, bootstrap CI).
   Seeds are paired: the same seed gives every optimizer the same initialization and the same
   minibatch order, so differences can be tested pairwise.

Diverged runs never stop a study: they are failures, excluded from means, reported as failure
rates and counted as ``inf`` in time-to-target. Wall-clock is recorded with compilation time
separate from run time. All trials of one optimizer on one problem run as one compiled program
(:func:`optlab.sweep.sweep`), as do its evaluation seeds.

Results go to a :class:`optlab.store.Store` directory; rerunning the same study skips the runs
already stored, so a killed study resumes. :func:`load_study` rebuilds everything (trials,
selection, final runs) from the directory alone, which is what ``optlab report`` uses.

Example:
    >>> cfg = StudyConfig(problems=("adder",), optimizers=("sgd", "adam"), budget=2,
    ...                   seeds=2, steps=50)                                # doctest: +SKIP
    >>> result = run_study(cfg, "results/demo")                          # doctest: +SKIP
    >>> result.table()                                                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optlab import stats
from optlab.store import RunRecord, Store, canonical_json, run_id

try:  # Python >= 3.11
    import tomllib as _toml
except ImportError:  # pragma: no cover - Python 3.10 (pyproject: tomli; python_version<'3.11')
    import tomli as _toml  # type: ignore[no-redef]

__all__ = [
    "StudyConfig",
    "Dim",
    "run_study",
    "load_study",
    "StudyResults",
    "PairResult",
    "default_space",
    "DEFAULT_CONFIG",
    "FINAL_SEED_OFFSET",
]

FINAL_SEED_OFFSET = 1000
RUN_FORMAT = 1


# ----------------------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class Dim:
    """One hyperparameter's search range.

    ``kind`` is ``"log-uniform"`` or ``"uniform"`` (``low``, ``high``), ``"grid"`` (``values``)
    or ``"fixed"`` (``values == (v,)``). In TOML/dicts: ``{log_uniform = [1e-4, 1e-1]}``,
    ``{uniform = [0.8, 0.99]}``, ``{grid = [0.9, 0.99]}`` or a plain number (fixed).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()

    @staticmethod
    def parse(spec: Any, where: str) -> Dim:
        """Parse a dict/number spec; ``ValueError`` naming ``where`` on bad input."""
        if isinstance(spec, Dim):
            return spec
        if isinstance(spec, bool):
            return Dim("fixed", values=(spec,))
        if isinstance(spec, (int, float)):
            return Dim("fixed", values=(float(spec),))
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise ValueError(
                f"{where}: expected a number or one of {{log_uniform = [low, high]}}, "
                f"{{uniform = [low, high]}}, {{grid = [v1, v2, ...]}}; got {spec!r}"
            )
        ((kind, val),) = spec.items()
        kind = kind.replace("_", "-")
        if kind in ("log-uniform", "uniform"):
            if (
                not isinstance(val, (list, tuple))
                or len(val) != 2
                or not all(isinstance(v, (int, float)) for v in val)
            ):
                raise ValueError(f"{where}: {kind} needs [low, high], got {val!r}")
            lo, hi = float(val[0]), float(val[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"{where}: {kind} needs finite low < high, got [{lo}, {hi}]")
            if kind == "log-uniform" and lo <= 0:
                raise ValueError(f"{where}: log-uniform needs low > 0, got {lo}")
            return Dim(kind, lo, hi)
        if kind == "grid":
            if not isinstance(val, (list, tuple)) or not val:
                raise ValueError(f"{where}: grid needs a non-empty list of values, got {val!r}")
            vals = tuple(v if isinstance(v, bool) else float(v) for v in val)
            if not all(isinstance(v, bool) or math.isfinite(v) for v in vals):
                raise ValueError(f"{where}: grid values must be finite, got {val!r}")
            return Dim("grid", values=vals)
        raise ValueError(
            f"{where}: unknown range kind {kind!r}; accepted: log_uniform, uniform, grid"
        )

    def to_spec(self) -> Any:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "grid":
            return {"grid": list(self.values)}
        return {self.kind.replace("-", "_"): [self.low, self.high]}


def default_space(optimizer: str) -> dict[str, Dim]:
    """The default search space of ``optimizer``: its learning rate, log-uniform.

    The range is ``[lr0 / 10, lr0 * 100]`` around the registry default ``lr0`` (three decades:
    1e-3..1 for SGD/momentum/Nesterov, 1e-4..1e-1 for Adam-type methods, 1e-5..1e-2 for Lion),
    the other hyperparameters stay at their defaults. An optimizer without a learning rate
    (L-BFGS with line search) has an empty default space: a single configuration.
    """
    from optlab import optimizers

    lr0 = optimizers.defaults(optimizer).get("learning_rate")
    if lr0 is None:
        return {}
    return {"learning_rate": Dim("log-uniform", float(lr0) / 10.0, float(lr0) * 100.0)}


# ----------------------------------------------------------------------------- config

_ANALYTIC_METRIC = "train_loss"


@dataclass(frozen=True)
class StudyConfig:
    """A comparison study (see ``docs/studies.md`` for the TOML form of every field).

    Attributes:
      name: a label for tables and the manifest.
      problems: problem names (``optlab.problems.names()``).
      optimizers: optimizer names (``optlab.optimizers.names()``).
      search: ``{optimizer: {hyperparameter: spec}}``; an optimizer not listed gets
        :func:`default_space`. A spec is a :class:`Dim` or its dict/number form.
      budget: tuning trials per (problem, optimizer) for sampled ranges (a pure grid runs all
        its points instead).
      tuning_seeds: seeds per trial during tuning (seeds ``0 .. tuning_seeds-1``).
      seeds: fresh evaluation seeds for the selected configuration (default 5).
      steps: optimizer steps per run; ``problem_steps`` overrides it per problem.
      eval_every: evaluate the validation split every this many steps (default steps // 50).
      metric: selection/report metric name without split prefix (``"loss"``, ``"accuracy"``);
        ``problem_metrics`` overrides it per problem. Selection uses ``val_<metric>``, the
        report ``test_<metric>``; analytic problems (no data) use the function value
        (``train_loss``).
      targets: ``{problem: value}`` of the metric for steps-to-target (default: a target about
        half of the optimizers reach, see :meth:`StudyResults.target`).
      problem_options: ``{problem: {option: value}}`` passed to ``optlab.problems.get``.
      search_seed: seed of the search-space sampler.
      trajectories: record parameter trajectories of evaluation runs on 2D analytic problems.
    """

    name: str = "study"
    problems: tuple[str, ...] = ("adder", "digits-mlp")
    optimizers: tuple[str, ...] = ("sgd", "momentum", "adam")
    search: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budget: int = 6
    tuning_seeds: int = 1
    seeds: int = 5
    steps: int = 300
    problem_steps: Mapping[str, int] = field(default_factory=dict)
    eval_every: int | None = None
    metric: str = "loss"
    problem_metrics: Mapping[str, str] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=dict)
    problem_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    search_seed: int = 0
    trajectories: bool = True

    def __post_init__(self):
        for name in ("problems", "optimizers"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = tuple(s.strip() for s in v.split(",") if s.strip())
            object.__setattr__(self, name, tuple(v))
        for name in ("search", "problem_steps", "problem_metrics", "targets", "problem_options"):
            object.__setattr__(self, name, dict(getattr(self, name) or {}))

    # -- conversions --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "study config") -> StudyConfig:
        """Build from a dict (e.g. parsed TOML); unknown keys raise ``ValueError``."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a table of settings, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{where}: unknown setting(s) {unknown}; accepted: {sorted(known)}")
        kw = dict(d)
        for k in ("problems", "optimizers"):
            if k in kw and not isinstance(kw[k], (list, tuple, str)):
                raise ValueError(f"{where}: {k} must be a list of names, got {kw[k]!r}")
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> StudyConfig:
        """Read a study config from a TOML file (format in ``docs/studies.md``)."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                d = _toml.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"study config {path} does not exist") from None
        except _toml.TOMLDecodeError as err:
            raise ValueError(f"malformed study config {path}: {err}") from None
        cfg = cls.from_dict(d, where=str(path))
        cfg.validate(where=str(path))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (what the manifest stores; ``from_dict`` inverts it)."""
        d = dataclasses.asdict(self)
        d["problems"], d["optimizers"] = list(self.problems), list(self.optimizers)
        d["search"] = {
            o: {h: Dim.parse(s, f"search.{o}.{h}").to_spec() for h, s in sp.items()}
            for o, sp in self.search.items()
        }
        return d

    def replace(self, **kw) -> StudyConfig:
        return dataclasses.replace(self, **kw)

    # -- validation ---------------------------------------------------------------------
    def validate(self, *, where: str = "study config") -> None:
        """Check everything that can be checked before training; ``ValueError`` otherwise."""
        from optlab import optimizers, problems

        def pos_int(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{where}: {name} must be a positive integer, got {v!r}")

        if not self.problems:
            raise ValueError(f"{where}: problems is empty; choose from {problems.names()}")
        if not self.optimizers:
            raise ValueError(f"{where}: optimizers is empty; choose from {optimizers.names()}")
        for p in self.problems:
            if p not in problems.names():
                raise ValueError(f"{where}: unknown problem {p!r}; known: {problems.names()}")
        for o in self.optimizers:
            if o not in optimizers.names():
                raise ValueError(
                    f"{where}: unknown optimizer {o!r}; known: {', '.join(optimizers.names())}"
                )
        if len(set(self.problems)) != len(self.problems):
            raise ValueError(f"{where}: problems has duplicates: {list(self.problems)}")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ValueError(f"{where}: optimizers has duplicates: {list(self.optimizers)}")
        for name in ("budget", "tuning_seeds", "seeds", "steps"):
            pos_int(name, getattr(self, name))
        if self.eval_every is not None:
            pos_int("eval_every", self.eval_every)
        pos_int(
            "search_seed + 1", self.search_seed + 1 if isinstance(self.search_seed, int) else -1
        )
        for mapping, label in (
            (self.problem_steps, "problem_steps"),
            (self.problem_metrics, "problem_metrics"),
            (self.targets, "targets"),
            (self.problem_options, "problem_options"),
        ):
            extra = sorted(set(mapping) - set(self.problems))
            if extra:
                raise ValueError(
                    f"{where}: {label} names problem(s) {extra} that are not in problems "
                    f"{list(self.problems)}"
                )
        for p, s in self.problem_steps.items():
            pos_int(f"problem_steps.{p}", s)
        for p, t in self.targets.items():
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
                raise ValueError(f"{where}: targets.{p} must be a finite number, got {t!r}")
        extra = sorted(set(self.search) - set(self.optimizers))
        if extra:
            raise ValueError(
                f"{where}: search names optimizer(s) {extra} that are not in optimizers "
                f"{list(self.optimizers)}"
            )
        for o, space in self.search.items():
            if not isinstance(space, Mapping) or not space:
                raise ValueError(
                    f"{where}: search space of {o!r} is empty; give at least one "
                    "hyperparameter (e.g. learning_rate = {log_uniform = [1e-4, 1e-1]}) or "
                    "leave the optimizer out of [search] to use its default space"
                )
            accepted = [k for k in optimizers.entry(o).keywords]
            for h, spec in space.items():
                if h not in accepted:
                    raise ValueError(
                        f"{where}: optimizer {o!r} does not take hyperparameter {h!r}; "
                        f"accepted: {accepted}"
                    )
                dim = Dim.parse(spec, f"{where}: search.{o}.{h}")
                if h == "learning_rate" and any(
                    v <= 0 for v in ((dim.low,) if dim.low is not None else dim.values)
                ):
                    raise ValueError(f"{where}: search.{o}.learning_rate must be > 0")
        # problem options and metrics: build the problems (cheap: data are small arrays)
        for p in self.problems:
            prob = self.build_problem(p, where=where)
            metric = self.metric_of(p)
            if prob.data is not None:
                avail = ["loss", *prob.metrics]
                if metric not in avail:
                    raise ValueError(
                        f"{where}: metric {metric!r} is not available on problem {p!r}; "
                        f"available: {avail}"
                    )

    # -- derived quantities ---------------------------------------------------------------
    def build_problem(self, name: str, *, where: str = "study config"):
        from optlab import problems

        try:
            return problems.get(name, **dict(self.problem_options.get(name, {})))
        except TypeError as err:
            raise ValueError(f"{where}: problem_options.{name}: {err}") from None

    def steps_of(self, problem: str) -> int:
        return int(self.problem_steps.get(problem, self.steps))

    def eval_every_of(self, problem: str) -> int:
        if self.eval_every is not None:
            return int(min(self.eval_every, self.steps_of(problem)))
        return max(1, self.steps_of(problem) // 50)

    def metric_of(self, problem: str) -> str:
        return str(self.problem_metrics.get(problem, self.metric))

    def space_of(self, optimizer: str) -> dict[str, Dim]:
        if optimizer in self.search:
            return {
                h: Dim.parse(s, f"search.{optimizer}.{h}")
                for h, s in self.search[optimizer].items()
            }
        return default_space(optimizer)

    def trials_of(self, optimizer: str) -> list[dict[str, Any]]:
        """The tuning configurations of ``optimizer`` (deterministic given ``search_seed``).

        All-grid spaces give the full grid (``budget`` is ignored). Otherwise ``budget``
        configurations: each sampled range is cut into ``budget`` equal strata (in log space
        for log-uniform) with one uniform draw per stratum, strata shuffled independently per
        hyperparameter (a Latin hypercube); grid dimensions are drawn uniformly from the grid;
        fixed values are copied. The sampler is ``np.random.default_rng([search_seed,
        crc(optimizer)])``, the same on every machine.
        """
        space = self.space_of(optimizer)
        if not space:
            return [{}]
        sampled = {h: d for h, d in space.items() if d.kind in ("log-uniform", "uniform")}
        grids = {h: d for h, d in space.items() if d.kind == "grid"}
        fixed = {h: d.values[0] for h, d in space.items() if d.kind == "fixed"}
        if not sampled:
            import itertools

            keys = list(grids)
            return [
                {**dict(zip(keys, combo, strict=True)), **fixed}
                for combo in itertools.product(*(grids[k].values for k in keys))
            ]
        seed = [int(self.search_seed), _crc(optimizer)]
        rng = np.random.default_rng(seed)
        n = int(self.budget)
        cols: dict[str, np.ndarray] = {}
        for h in sorted(space):
            d = space[h]
            if d.kind in ("log-uniform", "uniform"):
                lo, hi = (
                    (math.log(d.low), math.log(d.high))
                    if d.kind == "log-uniform"
                    else (
                        d.low,
                        d.high,
                    )
                )
                u = (rng.permutation(n) + rng.uniform(size=n)) / n
                x = lo + (hi - lo) * u
                cols[h] = np.exp(x) if d.kind == "log-uniform" else x
            elif d.kind == "grid":
                cols[h] = np.asarray(d.values, dtype=object)[rng.integers(0, len(d.values), n)]
        trials = []
        for i in range(n):
            t = {h: _py(cols[h][i]) for h in cols}
            t.update(fixed)
            trials.append({k: _round_sig(v) for k, v in t.items()})
        return trials


def _crc(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode())


def _py(v):
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    return v


def _round_sig(v, sig: int = 6):
    """Round floats to 6 significant digits so run ids do not depend on float printing."""
    if isinstance(v, float) and v != 0 and math.isfinite(v):
        return float(f"{v:.{sig}g}")
    return v


DEFAULT_CONFIG = StudyConfig(
    name="default",
    problems=("adder", "digits-mlp"),
    optimizers=("sgd", "momentum", "nesterov", "adam", "rmsprop", "lion"),
    budget=6,
    tuning_seeds=1,
    seeds=5,
    steps=400,
    problem_steps={"digits-mlp": 300},
    eval_every=20,
    problem_metrics={"digits-mlp": "accuracy"},
)
"""The built-in default study (``optlab compare`` without arguments): about a minute or two
on a 2-core CPU."""


# ----------------------------------------------------------------------------- run configs


def _run_config(cfg: StudyConfig, problem: str, optimizer: str, hp: Mapping, seed: int) -> dict:
    """The full config of one run; its hash is the run id."""
    return {
        "format": RUN_FORMAT,
        "problem": problem,
        "problem_options": dict(cfg.problem_options.get(problem, {})),
        "optimizer": optimizer,
        "hyperparams": dict(sorted(hp.items())),
        "seed": int(seed),
        "steps": cfg.steps_of(problem),
        "eval_every": cfg.eval_every_of(problem),
    }


@dataclass
class _Plan:
    problem: str
    optimizer: str
    trials: list[dict[str, Any]]
    tuning_seeds: list[int]
    final_seeds: list[int]


def _plans(cfg: StudyConfig) -> list[_Plan]:
    out = []
    for p in cfg.problems:
        for o in cfg.optimizers:
            out.append(
                _Plan(
                    p,
                    o,
                    cfg.trials_of(o),
                    list(range(cfg.tuning_seeds)),
                    [FINAL_SEED_OFFSET + i for i in range(cfg.seeds)],
                )
            )
    return out


# ----------------------------------------------------------------------------- execution


def _has_data(problem_obj) -> bool:
    if isinstance(problem_obj, Mapping):
        return bool(problem_obj["has_data"])
    return problem_obj.data is not None


def _problem_info(prob) -> dict[str, Any]:
    """What the report needs to know about a problem, stored in the manifest (no jax later)."""
    info: dict[str, Any] = {"has_data": prob.data is not None, "description": prob.description}
    if prob.fn is not None and prob.bounds is not None and prob.start is not None:
        info["bounds"] = [list(b) for b in prob.bounds]
        info["known_minima"] = [list(m.point) for m in prob.known_minima if m.is_global]
    return info


def _contour_grid(prob, n: int = 161) -> dict[str, np.ndarray] | None:
    """f on an n×n grid over the problem's bounds (for trajectory figures), or None."""
    if prob.fn is None or prob.bounds is None or prob.start is None or len(prob.start) != 2:
        return None
    import jax
    import jax.numpy as jnp

    (x0, x1), (y0, y1) = prob.bounds
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    pts = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2).astype(np.float32)
    z = np.asarray(jax.jit(jax.vmap(prob.fn))(jnp.asarray(pts)), np.float64).reshape(n, n)
    return {"x": xs, "y": ys, "z": z}


def _selection_key(cfg: StudyConfig, problem: str, problem_obj) -> tuple[str, str, bool]:
    """(validation key, test key, higher_is_better) of the study metric on ``problem``."""
    if not _has_data(problem_obj):
        return _ANALYTIC_METRIC, _ANALYTIC_METRIC, False
    m = cfg.metric_of(problem)
    return f"val_{m}", f"test_{m}", _higher_is_better(m)


def _higher_is_better(metric: str) -> bool:
    m = metric.lower()
    return not ("loss" in m or "error" in m or "gap" in m or "distance" in m)


def _sweep_available() -> bool:
    try:
        from optlab import sweep as _sw  # noqa: F401

        return hasattr(_sw, "sweep")
    except ImportError:
        return False


def _train_group(
    problem_obj,
    optimizer: str,
    hps: list[dict],
    seeds: list[int],
    steps: int,
    eval_every: int,
    trajectory: bool,
    swept: Sequence[str] = (),
    pad_to: int = 0,
) -> tuple[list[dict], float, float, str, int]:
    """Train every (hp, seed) pair; one compiled program per group where possible.

    Args:
      swept: hyperparameters passed to the sweep as arrays (the ones that vary during tuning),
        so the evaluation runs can reuse the tuning program.
      pad_to: add throw-away seeds so the sweep has this many runs (same shapes as the tuning
        sweep, hence no second compilation); padded runs are discarded.

    Returns:
      ``(runs, compile_time, run_time, engine, n_trained)``; ``runs[i * len(seeds) + j]`` is
      hp ``i``, seed ``j``, each ``{"final", "diverged", "diverged_step", "curves"}``.
    """
    if trajectory or not _sweep_available():
        out = _train_loop(problem_obj, optimizer, hps, seeds, steps, eval_every, trajectory)
        return (*out, len(hps) * len(seeds))
    return _train_sweep(problem_obj, optimizer, hps, seeds, steps, eval_every, swept, pad_to)


def _is_product(trials: list[dict], swept: Sequence[str]) -> bool:
    """Whether the trials are exactly the Cartesian product of their swept values."""
    uniq = [{repr(t[k]) for t in trials} for k in swept]
    distinct = {tuple(repr(t[k]) for k in swept) for t in trials}
    return len(trials) == len(distinct) == math.prod(len(u) for u in uniq)


def _swept_keys(trials: list[dict]) -> list[str]:
    """Hyperparameters whose value differs between trials (sorted)."""
    keys = sorted({k for t in trials for k in t})
    return [k for k in keys if len({repr(t.get(k)) for t in trials}) > 1]


def _curves_from(loss, grad_norm, eval_steps, val_loss, val_metrics) -> dict[str, np.ndarray]:
    c = {
        "loss": np.asarray(loss, np.float32),
        "grad_norm": np.asarray(grad_norm, np.float32),
        "eval_steps": np.asarray(eval_steps, np.int64),
        "val_loss": np.asarray(val_loss, np.float64),
    }
    for k, v in (val_metrics or {}).items():
        c[f"val_{k}"] = np.asarray(v, np.float64)
    return c


def _train_loop(problem_obj, optimizer, hps, seeds, steps, eval_every, trajectory):
    import jax

    from optlab import train

    runs, ct, rt = [], 0.0, 0.0
    for hp in hps:
        for s in seeds:
            r = train.train(
                problem_obj,
                optimizer,
                hyperparams=hp,
                steps=steps,
                key=jax.random.key(s),
                eval_every=eval_every,
                snapshot_every=1 if trajectory else None,
                snapshots=trajectory,
            )
            ct += r.compile_time
            rt += r.run_time
            curves = _curves_from(r.loss, r.grad_norm, r.eval_steps, r.val_loss, r.val_metrics)
            if trajectory and r.snapshots is not None:
                snap = np.asarray(r.snapshots)
                if snap.ndim == 2 and snap.shape[1] == 2:
                    curves["trajectory"] = snap.astype(np.float64)
                    curves["trajectory_steps"] = np.asarray(r.snapshot_steps, np.int64)
            runs.append(
                {
                    "final": dict(r.final),
                    "diverged": bool(r.diverged),
                    "diverged_step": int(r.diverged_step),
                    "curves": curves,
                }
            )
    return runs, ct, rt, "train"


def _train_sweep(problem_obj, optimizer, hps, seeds, steps, eval_every, swept, pad_to):
    from optlab import sweep as sweep_lib

    keys = sorted({k for hp in hps for k in hp})
    swept = [k for k in swept if k in keys]
    if not swept and keys:
        swept = [keys[0]]  # keep one hyperparameter traced (an array), never a constant
    fixed = {k: hps[0][k] for k in keys if k not in swept}
    uniq = {k: sorted({hp[k] for hp in hps}, key=float) for k in swept}
    is_product = len(swept) > 1 and _is_product(hps, swept)
    if len(swept) <= 1 or is_product:
        groups = [list(range(len(hps)))]  # one sweep: grid over the swept values x seeds
    else:
        groups = [[i] for i in range(len(hps))]  # random search in >1 dims: one sweep per trial
    runs: list[dict | None] = [None] * (len(hps) * len(seeds))
    ct = rt = 0.0
    n_trained = 0
    for g in groups:
        if is_product:
            grid = uniq
        elif len(g) > 1:
            grid = {k: [hps[i][k] for i in g] for k in swept}
        else:
            grid = {k: [hps[g[0]][k]] for k in swept}
        run_seeds = list(seeds)
        n_grid = math.prod(len(v) for v in grid.values()) if grid else 1
        while n_grid * len(run_seeds) < pad_to:
            run_seeds.append(_PAD_SEED + len(run_seeds))  # discarded padding runs
        res = sweep_lib.sweep(
            problem_obj,
            optimizer,
            grid=grid,
            seeds=run_seeds,
            steps=steps,
            fixed=fixed or None,
            eval_every=eval_every,
        )
        ct += float(res.compile_time)
        rt += float(res.run_time)
        n_trained += len(res.configs)
        for r_i, rc in enumerate(res.configs):
            seed = int(rc["seed"])
            if seed not in seeds:
                continue
            for i in g:
                if all(_close(rc.get(k, hps[i][k]), hps[i][k]) for k in grid):
                    j = seeds.index(seed)
                    runs[i * len(seeds) + j] = {
                        "final": {k: float(np.asarray(v)[r_i]) for k, v in res.final.items()},
                        "diverged": bool(np.asarray(res.diverged)[r_i]),
                        "diverged_step": int(np.asarray(res.diverged_step)[r_i]),
                        "curves": _curves_from(
                            np.asarray(res.loss)[r_i],
                            np.asarray(res.grad_norm)[r_i],
                            res.eval_steps,
                            np.asarray(res.val_loss)[r_i] if np.size(res.val_loss) else [],
                            {k: np.asarray(v)[r_i] for k, v in (res.val_metrics or {}).items()},
                        ),
                    }
                    break
    missing = [i for i, r in enumerate(runs) if r is None]
    if missing:
        raise RuntimeError(
            f"optlab.sweep returned no result for {len(missing)} of the requested runs of "
            f"{optimizer}; this is a bug, please report it"
        )
    return runs, ct, rt, "sweep", n_trained


_PAD_SEED = 2_000_000_000


def _close(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-5, abs_tol=0.0)
    except (TypeError, ValueError):
        return a == b


def _summary_of(
    run: dict,
    *,
    phase: str,
    trial: int | None,
    compile_time: float,
    run_time: float,
    n_group: int,
    steps: int,
    engine: str,
) -> dict:
    return {
        **{k: float(v) for k, v in run["final"].items()},
        "diverged": run["diverged"],
        "diverged_step": run["diverged_step"],
        "phase": phase,
        "trial": trial,
        "engine": engine,
        "group_runs": n_group,
        "group_compile_time": compile_time,
        "group_run_time": run_time,
        # amortized run time of this run: the group's run time shared by its runs
        "run_time": run_time / max(1, n_group),
        "seconds_per_step": run_time / max(1, n_group) / max(1, steps),
    }


class _Progress:
    """A minimal progress bar on stderr, drawn only when enabled (callers pass a TTY check)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done = max(1, total), 0
        self.enabled = bool(enabled)
        self.t0 = time.perf_counter()

    def update(self, n: int, label: str) -> None:
        self.done += n
        if not self.enabled:
            return
        frac = min(1.0, self.done / self.total)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        el = time.perf_counter() - self.t0
        sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} runs {el:5.0f}s  {label[:40]:<40}")
        sys.stderr.flush()

    def wrap(self, log: Callable[[str], None] | None) -> Callable[[str], None] | None:
        """``log`` that first erases the bar line (so log lines and the bar do not mix)."""
        if log is None or not self.enabled:
            return log

        def wrapped(msg: str) -> None:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            log(msg)
            sys.stdout.flush()

        return wrapped

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_study(
    config: StudyConfig,
    out: str | os.PathLike,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> StudyResults:
    """Run (or resume) a study into the directory ``out``; returns :func:`load_study`.

    Validates the whole config before any training. Runs already in the store are skipped,
    so rerunning after an interruption trains only what is missing.

    Args:
      config: the study.
      out: the study directory (created; if it exists it must hold the same config).
      progress: draw a progress bar on stderr (the CLI enables it when stdout is a terminal).
      log: called with one line per (problem, optimizer, phase) finished (e.g. ``print``).

    Returns:
      The :class:`StudyResults`.
    """
    config.validate()
    problems_built = {p: config.build_problem(p) for p in config.problems}
    plans = _plans(config)
    store = Store(out).init(
        config.to_dict(),
        info={"problems": {p: _problem_info(pb) for p, pb in problems_built.items()}},
    )
    for p, pb in problems_built.items():
        grid_path = store.root / "landscapes" / f"{p}.npz"
        if not grid_path.exists():
            grid = _contour_grid(pb)
            if grid is not None:
                import io

                from optlab.store import atomic_write_bytes

                buf = io.BytesIO()
                np.savez(buf, **grid)
                atomic_write_bytes(grid_path, buf.getvalue())
    total = sum(len(pl.trials) * len(pl.tuning_seeds) + len(pl.final_seeds) for pl in plans)
    bar = _Progress(total, progress)
    log = bar.wrap(log)
    t_start = time.perf_counter()
    try:
        for pl in plans:
            prob = problems_built[pl.problem]
            steps = config.steps_of(pl.problem)
            ev = config.eval_every_of(pl.problem)
            swept = _swept_keys(pl.trials)
            # ---- tuning
            t_cfgs = [
                _run_config(config, pl.problem, pl.optimizer, hp, s)
                for hp in pl.trials
                for s in pl.tuning_seeds
            ]
            _execute(
                store,
                prob,
                pl.optimizer,
                pl.trials,
                pl.tuning_seeds,
                t_cfgs,
                steps,
                ev,
                "tuning",
                False,
                bar,
                log,
                swept,
                0,
            )
            # ---- selection (from the store, exactly as load_study does it)
            best = _select(config, pl, store, prob)
            f_cfgs = [
                _run_config(config, pl.problem, pl.optimizer, best, s) for s in pl.final_seeds
            ]
            traj = bool(
                config.trajectories
                and prob.fn is not None
                and prob.start is not None
                and len(prob.start) == 2
            )
            _execute(
                store,
                prob,
                pl.optimizer,
                [best],
                pl.final_seeds,
                f_cfgs,
                steps,
                ev,
                "final",
                traj,
                bar,
                log,
                swept,
                # same number of runs as the tuning sweep: its compiled program is reused
                len(pl.trials) * len(pl.tuning_seeds)
                if len(swept) <= 1 or _is_product(pl.trials, swept)
                else 0,
            )
    finally:
        bar.close()
    store.update_info({"last_session_seconds": time.perf_counter() - t_start})
    results = load_study(out)
    store.write_csv("summary.csv", results.summary_rows())
    return results


def _execute(
    store, prob, optimizer, hps, seeds, cfgs, steps, ev, phase, traj, bar, log, swept, pad_to
):
    ids = [run_id(c) for c in cfgs]
    todo = [i for i, r in enumerate(ids) if not store.has_run(r)]
    if not todo:
        bar.update(len(cfgs), f"{optimizer} on {prob.name} ({phase}, stored)")
        return
    # Retrain the whole group (one compiled program; results are deterministic), store the
    # missing records only: finished runs are never rewritten or duplicated.
    runs, ct, rt, engine, n = _train_group(
        prob, optimizer, hps, seeds, steps, ev, traj, swept, pad_to
    )
    for i in todo:
        hi, si = divmod(i, len(seeds))
        summ = _summary_of(
            runs[i],
            phase=phase,
            trial=hi if phase == "tuning" else None,
            compile_time=ct,
            run_time=rt,
            n_group=n,
            steps=steps,
            engine=engine,
        )
        store.write_run(cfgs[i], summ, runs[i]["curves"])
    if log is not None:
        log(
            f"{prob.name:>14s} {optimizer:<10s} {phase:<6s} {n:3d} runs  "
            f"compile {ct:6.2f}s  run {rt:6.2f}s  ({engine})"
        )
    bar.update(len(cfgs), f"{optimizer} on {prob.name} ({phase})")


def _trial_scores(config, pl, records: Mapping[str, RunRecord], prob) -> np.ndarray:
    vkey, _, higher = _selection_key(config, pl.problem, prob)
    scores = []
    for hp in pl.trials:
        vals = []
        failed = False
        for s in pl.tuning_seeds:
            rec = records[run_id(_run_config(config, pl.problem, pl.optimizer, hp, s))]
            v = rec.summary.get(vkey, math.nan)
            v = math.nan if v is None else float(v)
            if rec.summary.get("diverged") or not math.isfinite(v):
                failed = True
            vals.append(v)
        scores.append(math.nan if failed else float(np.mean(vals)))
    return np.asarray(scores, np.float64)


def _best_index(scores: np.ndarray, higher: bool) -> int:
    finite = np.isfinite(scores)
    if not finite.any():
        return 0  # every trial failed: keep the first (its evaluation will fail too)
    key = np.where(finite, -scores if higher else scores, np.inf)
    return int(np.argmin(key))


def _select(config, pl, store: Store, prob) -> dict:
    recs = {}
    for hp in pl.trials:
        for s in pl.tuning_seeds:
            rid = run_id(_run_config(config, pl.problem, pl.optimizer, hp, s))
            recs[rid] = store.load_run(rid)
    _, _, higher = _selection_key(config, pl.problem, prob)
    scores = _trial_scores(config, pl, recs, prob)
    return dict(pl.trials[_best_index(scores, higher)])


# ----------------------------------------------------------------------------- results


@dataclass
class PairResult:
    """Everything stored about one optimizer on one problem."""

    problem: str
    optimizer: str
    trials: list[dict[str, Any]]
    trial_scores: np.ndarray  # mean validation score per trial (nan = failed)
    tuning: list[list[RunRecord]]  # [trial][tuning seed]
    best: dict[str, Any]
    best_index: int
    final: list[RunRecord]  # per evaluation seed
    val_key: str
    test_key: str
    higher_is_better: bool

    def final_values(self, key: str | None = None) -> np.ndarray:
        k = key or self.test_key
        return np.asarray([_num(r.summary.get(k)) for r in self.final], dtype=np.float64)

    def final_failed(self) -> np.ndarray:
        return np.asarray([bool(r.summary.get("diverged")) for r in self.final])

    def metric_curves(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values (n_seeds, n_points)) of the selection metric over training.

        Validation metric at the evaluation steps for data problems; the function value at
        every step for analytic problems.
        """
        return _metric_curves(self.final, self.val_key)


def _metric_curves(recs: Sequence[RunRecord], val_key: str):
    if val_key == _ANALYTIC_METRIC:
        vals = np.stack([r.curves["loss"].astype(np.float64) for r in recs])
        return np.arange(vals.shape[1], dtype=np.float64), vals
    steps = recs[0].curves["eval_steps"].astype(np.float64)
    vals = np.stack([r.curves[val_key].astype(np.float64) for r in recs])
    return steps, vals


def _num(v) -> float:
    return math.nan if v is None else float(v)


@dataclass
class StudyResults:
    """A study loaded from its directory (:func:`load_study`)."""

    root: Path
    config: StudyConfig
    manifest: dict[str, Any]
    pairs: dict[tuple[str, str], PairResult]

    @property
    def problems(self) -> tuple[str, ...]:
        return self.config.problems

    @property
    def optimizers(self) -> tuple[str, ...]:
        return self.config.optimizers

    def pair(self, problem: str, optimizer: str) -> PairResult:
        return self.pairs[(problem, optimizer)]

    def target(self, problem: str) -> tuple[float, bool]:
        """(target value, higher_is_better) of the selection metric for steps-to-target.

        The config's ``targets[problem]`` if given; otherwise the median over optimizers of
        each optimizer's median final validation value (failures excluded), a target that
        about half of the optimizers reach by the end of training.
        """
        prs = [self.pairs[(problem, o)] for o in self.optimizers]
        higher = prs[0].higher_is_better
        if problem in self.config.targets:
            return float(self.config.targets[problem]), higher
        meds = []
        for pr in prs:
            v = pr.final_values(pr.val_key)
            v = v[np.isfinite(v) & ~pr.final_failed()]
            if v.size:
                meds.append(float(np.median(v)))
        return (float(np.median(meds)) if meds else math.nan), higher

    def steps_to_target(self, problem: str, optimizer: str) -> np.ndarray:
        """Per-seed first step where the validation metric reaches the target (inf: never)."""
        pr = self.pairs[(problem, optimizer)]
        target, higher = self.target(problem)
        steps, vals = pr.metric_curves()
        return stats.steps_to_target(
            vals, steps, target, higher_is_better=higher, failed=pr.final_failed()
        )

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per stored run of the study (what ``summary.csv`` holds)."""
        rows = []
        for (p, o), pr in self.pairs.items():
            for ti, trial_recs in enumerate(pr.tuning):
                for rec in trial_recs:
                    rows.append(_row(rec, p, o, "tuning", ti, pr))
            for rec in pr.final:
                rows.append(_row(rec, p, o, "final", pr.best_index, pr))
        return rows

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per (problem, optimizer): test metric statistics, failures, times."""
        rows = []
        for p in self.problems:
            for o in self.optimizers:
                pr = self.pairs[(p, o)]
                s = stats.summarize(pr.final_values(), pr.final_failed())
                stt = self.steps_to_target(p, o)
                st_ok = stt[np.isfinite(stt)]
                fr = pr.final
                rows.append(
                    {
                        "problem": p,
                        "optimizer": o,
                        "metric": pr.test_key,
                        "higher_is_better": pr.higher_is_better,
                        **{k: v for k, v in s.as_dict().items()},
                        "best_hyperparams": pr.best,
                        "steps_to_target_median": float(np.median(stt)) if stt.size else math.nan,
                        "target_reached": int(st_ok.size),
                        "tuning_compile_time": _group_time(pr.tuning, "group_compile_time"),
                        "tuning_run_time": _group_time(pr.tuning, "group_run_time"),
                        "final_compile_time": float(fr[0].summary.get("group_compile_time", 0)),
                        "final_run_time": float(fr[0].summary.get("group_run_time", 0)),
                        "seconds_per_step": float(
                            np.mean([r.summary.get("seconds_per_step", math.nan) for r in fr])
                        ),
                    }
                )
        return rows


def _group_time(tuning: list[list[RunRecord]], key: str) -> float:
    # runs of one group share the group's time; count each distinct group once
    seen = {}
    for trial in tuning:
        for r in trial:
            seen[(r.summary.get(key), r.summary.get("group_runs"))] = float(r.summary.get(key, 0))
    return float(sum(seen.values()))


def _row(rec: RunRecord, p, o, phase, trial, pr: PairResult) -> dict:
    return {
        "run_id": rec.run_id,
        "problem": p,
        "optimizer": o,
        "phase": phase,
        "trial": trial,
        "seed": rec.config["seed"],
        "steps": rec.config["steps"],
        **{f"hp_{k}": v for k, v in rec.config["hyperparams"].items()},
        "diverged": bool(rec.summary.get("diverged")),
        "diverged_step": rec.summary.get("diverged_step"),
        pr.val_key: _num(rec.summary.get(pr.val_key)),
        pr.test_key: _num(rec.summary.get(pr.test_key)),
        "run_time": rec.summary.get("run_time"),
        "group_compile_time": rec.summary.get("group_compile_time"),
    }


def load_study(root: str | os.PathLike) -> StudyResults:
    """Rebuild a study's trials, selection and evaluation runs from its directory alone.

    Raises:
      FileNotFoundError: ``root`` is not a study directory.
      CorruptRecordError: a stored record is damaged (the message says how to recompute it).
      ValueError: the study is incomplete (says how many runs are missing and how to finish).
    """
    store = Store(root)
    manifest = store.manifest()
    config = StudyConfig.from_dict(manifest["config"], where=str(store.manifest_path))
    problems_built = dict(manifest.get("info", {}).get("problems", {}))
    pairs = {}
    missing = 0
    for pl in _plans(config):
        if pl.problem not in problems_built:
            problems_built[pl.problem] = _problem_info(config.build_problem(pl.problem))
        prob = problems_built[pl.problem]
        tuning = []
        recs = {}
        for hp in pl.trials:
            row = []
            for s in pl.tuning_seeds:
                rid = run_id(_run_config(config, pl.problem, pl.optimizer, hp, s))
                if not store.has_run(rid):
                    missing += 1
                    continue
                recs[rid] = store.load_run(rid)
                row.append(recs[rid])
            tuning.append(row)
        if missing:
            continue
        vkey, tkey, higher = _selection_key(config, pl.problem, prob)
        scores = _trial_scores(config, pl, recs, prob)
        bi = _best_index(scores, higher)
        best = dict(pl.trials[bi])
        final = []
        for s in pl.final_seeds:
            rid = run_id(_run_config(config, pl.problem, pl.optimizer, best, s))
            if not store.has_run(rid):
                missing += 1
                continue
            final.append(store.load_run(rid))
        pairs[(pl.problem, pl.optimizer)] = PairResult(
            pl.problem,
            pl.optimizer,
            pl.trials,
            scores,
            tuning,
            best,
            bi,
            final,
            vkey,
            tkey,
            higher,
        )
    if missing:
        raise ValueError(
            f"study {store.root} is incomplete: at least {missing} run(s) are not stored yet; "
            "rerun the same study (same config, same --out) to finish it; finished runs are kept"
        )
    return StudyResults(Path(root), config, manifest, pairs)


def config_json(cfg: StudyConfig) -> str:
    """Canonical JSON of a config (for tests and provenance)."""
    return canonical_json(cfg.to_dict())
