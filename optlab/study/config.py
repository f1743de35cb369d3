"""What a study is: :class:`StudyConfig` (fields, TOML, validation), its runs and their ids.

A :class:`StudyConfig` is a frozen dataclass (or the same fields in a TOML file, see
``docs/studies.md``). From it follow, without training anything:

- :func:`plans`: per (problem, optimizer) the tuning trials, tuning seeds and evaluation seeds;
- :func:`run_config`: the full config of one run, whose hash is the run id in the store;
- :func:`selection_key`: which stored number selects a trial and which one is reported;
- :func:`problem_info`: what the report needs to know about a problem (kept in the manifest);
- :func:`check_extension`: whether a config may replace a stored study's (extend it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from optlab import _checks
from optlab.study.space import Dim, check_space, default_space, sample_trials

try:  # Python >= 3.11
    import tomllib as _toml
except ImportError:  # pragma: no cover - Python 3.10 (pyproject: tomli; python_version<'3.11')
    import tomli as _toml  # type: ignore[no-redef]

__all__ = [
    "StudyConfig",
    "DEFAULT_CONFIG",
    "FINAL_SEED_OFFSET",
    "ANALYTIC_METRIC",
    "Plan",
    "plans",
    "run_config",
    "selection_key",
    "problem_info",
    "check_extension",
]

FINAL_SEED_OFFSET = 1000
RUN_FORMAT = 1
#: The stored key that selects and reports on analytic problems (no data): the function value.
ANALYTIC_METRIC = "train_loss"
_PER_PROBLEM = ("problem_steps", "problem_metrics", "targets", "problem_options")
#: Fields added after the first stored studies, with their defaults (see ``to_dict``).
_LATER_FIELDS = {"dtype": "float32", "imports": ()}
#: ``optimizers.get`` keywords a study sets itself (the run length) or cannot express in TOML.
_NOT_SEARCHABLE = ("steps", "schedule_kwargs")


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
      dtype: ``"float32"`` (default) or ``"float64"``: every run in float64 end to end (see
        ``optlab.precision``); part of each run's config, hence of its id.
      imports: modules (names or ``.py`` paths) imported before the study runs, so that the
        optimizers and problems they register can be named (``optlab.plugins``).
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
    dtype: str = "float32"
    imports: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("problems", "optimizers"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = tuple(s.strip() for s in v.split(",") if s.strip())
            object.__setattr__(self, name, tuple(v))
        if isinstance(self.imports, str):
            object.__setattr__(self, "imports", (self.imports,))
        object.__setattr__(self, "imports", tuple(self.imports))
        for name in ("search", *_PER_PROBLEM):
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
        for k in ("problems", "optimizers", "imports"):
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
        if cfg.imports:
            cfg = cfg.replace(imports=tuple(_resolve_import(m, path.parent) for m in cfg.imports))
            cfg.load_imports(where=f"{path}: imports")
        cfg.validate(where=str(path))
        return cfg

    def load_imports(self, *, where: str = "study config: imports") -> None:
        """Import the modules in ``imports`` (once per process; see ``optlab.plugins``)."""
        if self.imports:
            from optlab import plugins

            plugins.load(self.imports, where=where)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (what the manifest stores; ``from_dict`` inverts it)."""
        d = dataclasses.asdict(self)
        d["problems"], d["optimizers"] = list(self.problems), list(self.optimizers)
        # fields added later are left out at their defaults, so the manifest of a study
        # written before them still matches its config (the study resumes)
        for key, default in _LATER_FIELDS.items():
            if d[key] == default:
                del d[key]
        if "imports" in d:
            d["imports"] = list(self.imports)
        d["search"] = {
            o: {h: Dim.parse(s, f"search.{o}.{h}").to_spec() for h, s in sp.items()}
            for o, sp in self.search.items()
        }
        return d

    def replace(self, **kw) -> StudyConfig:
        """A copy with the given fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **kw)

    def restricted(
        self,
        *,
        problems: tuple[str, ...] | None = None,
        optimizers: tuple[str, ...] | None = None,
        steps: int | None = None,
        metric: str | None = None,
        **fields: Any,
    ) -> StudyConfig:
        """A copy on other problems/optimizers, steps or metric, keeping the rest consistent.

        Per-problem settings (``problem_steps``, ``problem_metrics``, ``targets``,
        ``problem_options``) keep only the chosen ``problems``; ``search`` keeps only the chosen
        ``optimizers``; a global ``steps`` drops ``problem_steps`` and a global ``metric``
        drops ``problem_metrics``. Other ``fields`` are replaced as given (this is how
        ``optlab compare`` applies its options to a config).
        """
        over = dict(fields)
        if problems is not None:
            over["problems"] = tuple(problems)
            for key in _PER_PROBLEM:
                over[key] = {k: v for k, v in getattr(self, key).items() if k in problems}
        if optimizers is not None:
            over["optimizers"] = tuple(optimizers)
            over["search"] = {k: v for k, v in self.search.items() if k in optimizers}
        if steps is not None:
            over["steps"], over["problem_steps"] = steps, {}
        if metric is not None:
            over["metric"], over["problem_metrics"] = metric, {}
        return self.replace(**over) if over else self

    # -- validation ---------------------------------------------------------------------
    def validate(self, *, where: str = "study config") -> None:
        """Check everything that can be checked before training; ``ValueError`` otherwise."""
        self._validate_names(where)
        self._validate_numbers(where)
        self._validate_search(where)
        self._validate_problems(where)

    def _validate_names(self, where: str) -> None:
        from optlab import optimizers, problems

        if not self.problems:
            raise ValueError(f"{where}: problems is empty; choose from {problems.names()}")
        if not self.optimizers:
            raise ValueError(f"{where}: optimizers is empty; choose from {optimizers.names()}")
        for p in self.problems:
            if p not in problems.names():
                raise ValueError(
                    f"{where}: unknown problem {p!r}{_checks.suggest(p, problems.names())}; "
                    f"known: {problems.names()}"
                )
        for o in self.optimizers:
            if o not in optimizers.names():
                raise ValueError(
                    f"{where}: unknown optimizer {o!r}{_checks.suggest(o, optimizers.names())}; "
                    f"known: {', '.join(optimizers.names())}{optimizers.OWN_HINT}"
                )
        for label, names in (("problems", self.problems), ("optimizers", self.optimizers)):
            if len(set(names)) != len(names):
                raise ValueError(f"{where}: {label} has duplicates: {list(names)}")
        for label in _PER_PROBLEM:
            extra = sorted(set(getattr(self, label)) - set(self.problems))
            if extra:
                raise ValueError(
                    f"{where}: {label} names problem(s) {extra} that are not in problems "
                    f"{list(self.problems)}"
                )
        extra = sorted(set(self.search) - set(self.optimizers))
        if extra:
            raise ValueError(
                f"{where}: search names optimizer(s) {extra} that are not in optimizers "
                f"{list(self.optimizers)}"
            )

    def _validate_numbers(self, where: str) -> None:
        from optlab.precision import DTYPES

        _checks.one_of(f"{where}: dtype", self.dtype, DTYPES)
        for m in self.imports:
            if not isinstance(m, str) or not m:
                raise ValueError(f"{where}: imports must be module names or .py paths: {m!r}")
        for name in ("budget", "tuning_seeds", "seeds", "steps"):
            _checks.positive_int(f"{where}: {name}", getattr(self, name))
        _checks.steps(f"{where}: steps", self.steps)
        _checks.positive_int(f"{where}: eval_every", self.eval_every, allow_none=True)
        _checks.int_at_least(f"{where}: search_seed", self.search_seed, 0)
        for p, s in self.problem_steps.items():
            _checks.steps(f"{where}: problem_steps.{p}", s)
        for p, t in self.targets.items():
            _checks.real(f"{where}: targets.{p}", t)

    def _validate_search(self, where: str) -> None:
        from optlab import optimizers

        for o, space in self.search.items():
            if not isinstance(space, Mapping) or not space:
                raise ValueError(
                    f"{where}: search space of {o!r} is empty; give at least one "
                    "hyperparameter (e.g. learning_rate = {log_uniform = [1e-4, 1e-1]}) or "
                    "leave the optimizer out of [search] to use its default space"
                )
            accepted = [k for k in optimizers.accepted_keywords(o) if k not in _NOT_SEARCHABLE]
            dims = {}
            for h, spec in space.items():
                if h not in accepted:
                    raise ValueError(
                        f"{where}: optimizer {o!r} does not take hyperparameter {h!r}; "
                        f"accepted: {accepted}"
                    )
                dim = dims[h] = Dim.parse(spec, f"{where}: search.{o}.{h}")
                ends = (dim.low, dim.high) if dim.low is not None else dim.values
                if h == "learning_rate" and any(
                    not isinstance(v, (int, float)) or v <= 0 for v in ends
                ):
                    raise ValueError(f"{where}: search.{o}.learning_rate must be > 0")
                for v in ends:
                    if not isinstance(v, (int, float)) or isinstance(v, bool):
                        continue  # categorical values are checked by building each trial
                    try:
                        optimizers.check_range(o, h, v)
                    except ValueError as err:
                        raise ValueError(f"{where}: search.{o}.{h}: {err}") from None
            check_space(dims, f"{where}: search.{o}")
        for o in self.optimizers:
            self._validate_trials(o, where)

    def _validate_trials(self, optimizer: str, where: str) -> None:
        """Build the optimizer of every trial (cheap, nothing runs): a bad value of any
        hyperparameter (a schedule name, a negative weight decay) is refused before training."""
        from optlab import optimizers

        steps = min(self.steps_of(p) for p in self.problems)
        for trial in self.trials_of(optimizer):
            try:
                optimizers.get(optimizer, **_with_steps(trial, steps))
            except (ValueError, TypeError) as err:
                raise ValueError(f"{where}: search.{optimizer}: trial {trial}: {err}") from None

    def _validate_problems(self, where: str) -> None:
        """Problem options and metrics: builds the problems (cheap: the data are small)."""
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
        """``optlab.problems.get(name, **problem_options[name])``; bad options: ValueError."""
        from optlab import problems

        try:
            return problems.get(name, **dict(self.problem_options.get(name, {})))
        except TypeError as err:
            raise ValueError(f"{where}: problem_options.{name}: {err}") from None

    def steps_of(self, problem: str) -> int:
        """Steps per run on ``problem``."""
        return int(self.problem_steps.get(problem, self.steps))

    def eval_every_of(self, problem: str) -> int:
        """Validation interval on ``problem`` (default: 50 evaluations per run)."""
        if self.eval_every is not None:
            return int(min(self.eval_every, self.steps_of(problem)))
        return max(1, self.steps_of(problem) // 50)

    def metric_of(self, problem: str) -> str:
        """The metric name (without split prefix) on ``problem``."""
        return str(self.problem_metrics.get(problem, self.metric))

    def space_of(self, optimizer: str) -> dict[str, Dim]:
        """The search space of ``optimizer`` (the config's, else :func:`default_space`)."""
        if optimizer in self.search:
            return {
                h: Dim.parse(s, f"search.{optimizer}.{h}")
                for h, s in self.search[optimizer].items()
            }
        return default_space(optimizer)

    def trials_of(self, optimizer: str) -> list[dict[str, Any]]:
        """The tuning configurations of ``optimizer`` (deterministic given ``search_seed``).

        See :func:`optlab.study.space.sample_trials`: the full grid of an all-grid space,
        otherwise a Latin hypercube of ``budget`` configurations.
        """
        return sample_trials(
            self.space_of(optimizer),
            budget=self.budget,
            search_seed=self.search_seed,
            optimizer=optimizer,
        )


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


# ----------------------------------------------------------------------------- the runs


class Plan(NamedTuple):
    """The runs of one (problem, optimizer): trials × tuning seeds, then evaluation seeds."""

    problem: str
    optimizer: str
    trials: list[dict[str, Any]]
    tuning_seeds: list[int]
    final_seeds: list[int]


def _resolve_import(module: Any, base: Path) -> Any:
    """A relative ``.py`` path of a TOML's ``imports`` resolved against the TOML's folder."""
    if isinstance(module, str) and module.endswith(".py") and not Path(module).is_absolute():
        return str((base / module).resolve())
    return module


def _with_steps(hp: Mapping[str, Any], steps: int) -> dict[str, Any]:
    hp = dict(hp)
    if hp.get("schedule") is not None:
        hp.setdefault("steps", steps)
    return hp


def plans(cfg: StudyConfig, trials: Mapping[str, list] | None = None) -> list[Plan]:
    """One :class:`Plan` per (problem, optimizer), problems outermost.

    ``trials`` (``{optimizer: trials}``, as stored in a study's manifest) replaces
    :meth:`StudyConfig.trials_of`, so a stored study is read without the optimizers'
    registry (and without the user code that registered them).
    """
    trials = trials or {}
    return [
        Plan(
            p,
            o,
            [dict(t) for t in trials[o]] if o in trials else cfg.trials_of(o),
            list(range(cfg.tuning_seeds)),
            [FINAL_SEED_OFFSET + i for i in range(cfg.seeds)],
        )
        for p in cfg.problems
        for o in cfg.optimizers
    ]


def run_config(cfg: StudyConfig, problem: str, optimizer: str, hp: Mapping, seed: int) -> dict:
    """The full config of one run; its hash is the run id (``optlab.store.run_id``).

    ``dtype`` is part of it for float64 runs; float32 runs leave it out, so the ids of runs
    stored before the field existed stay valid.
    """
    rc = {
        "format": RUN_FORMAT,
        "problem": problem,
        "problem_options": dict(cfg.problem_options.get(problem, {})),
        "optimizer": optimizer,
        "hyperparams": dict(sorted(hp.items())),
        "seed": int(seed),
        "steps": cfg.steps_of(problem),
        "eval_every": cfg.eval_every_of(problem),
    }
    if cfg.dtype != "float32":
        rc["dtype"] = cfg.dtype
    return rc


#: Fields a study may grow in (an extension keeps every stored run meaningful).
_GROWS = ("problems", "optimizers", "seeds", "tuning_seeds", "budget")
#: Fields resolved per problem (compared for the stored problems only).
_RESOLVED_PER_PROBLEM = ("steps", "problem_steps", "eval_every", "metric", "problem_metrics",
                         "targets", "problem_options")  # fmt: skip


def check_extension(
    stored: Mapping[str, Any], new: Mapping[str, Any], *, allow: tuple[str, ...] | list = ()
) -> None:
    """Check that the study config ``new`` may replace ``stored`` in a study directory.

    ``new`` may *extend* the stored study: add problems or optimizers; raise ``seeds``,
    ``tuning_seeds`` or ``budget`` (every matching stored run is reused, the rest trained).
    For the stored problems, the resolved steps, evaluation interval, metric, target and
    problem options must be equal; for the stored optimizers, the search space; and every
    other field but ``name`` (``search_seed``, ``trajectories``, any field added later). Fields
    in ``allow`` may differ too (``("search",)`` for ``optlab compare --widen``).

    Args:
      stored, new: :meth:`StudyConfig.to_dict` forms.
      allow: field names that may differ.

    Raises:
      ValueError: naming each field that differs, the stored and the new value.
    """
    a = StudyConfig.from_dict(stored, where="stored study config")
    b = StudyConfig.from_dict(new, where="study config")
    diffs: list[str] = []

    def differ(field_name: str, old: Any, cur: Any) -> None:
        if field_name.split(".")[0] not in allow:
            diffs.append(f"{field_name}: stored {old!r}, given {cur!r}")

    for f in ("problems", "optimizers"):
        dropped = [x for x in getattr(a, f) if x not in getattr(b, f)]
        if dropped:
            differ(f, list(getattr(a, f)), list(getattr(b, f)))
    for f in ("seeds", "tuning_seeds", "budget"):
        if getattr(b, f) < getattr(a, f):
            differ(f, getattr(a, f), getattr(b, f))
    for p in a.problems:
        if p not in b.problems:
            continue
        for label, old, cur in (
            ("steps", a.steps_of(p), b.steps_of(p)),
            ("eval_every", a.eval_every_of(p), b.eval_every_of(p)),
            ("metric", a.metric_of(p), b.metric_of(p)),
            ("targets", a.targets.get(p), b.targets.get(p)),
            ("problem_options", dict(a.problem_options.get(p, {})),
             dict(b.problem_options.get(p, {}))),
        ):  # fmt: skip
            if old != cur:
                differ(f"{label} (problem {p!r})", old, cur)
    for o in a.optimizers:
        if o in b.optimizers:
            old = {h: d.to_spec() for h, d in a.space_of(o).items()} if o in a.search else None
            cur = {h: d.to_spec() for h, d in b.space_of(o).items()} if o in b.search else None
            if old != cur:
                differ(f"search.{o}", old, cur)
    handled = {"name", "search", *_GROWS, *_RESOLVED_PER_PROBLEM}
    for f in dataclasses.fields(StudyConfig):
        if f.name not in handled and getattr(a, f.name) != getattr(b, f.name):
            differ(f.name, getattr(a, f.name), getattr(b, f.name))
    if diffs:
        raise ValueError(
            "the directory already holds a study that this config does not extend: "
            + "; ".join(diffs)
            + ". A study directory can grow (more problems, optimizers, seeds, tuning seeds "
            "or budget; stored runs are reused); choose another --out for a different study"
            + (
                " (a search widened by `optlab compare --widen` is rerun with --widen)"
                if any(d.startswith("search.") for d in diffs)
                else ""
            )
        )


def problem_info(prob) -> dict[str, Any]:
    """What the report needs to know about a problem, stored in the manifest (no jax later)."""
    info: dict[str, Any] = {"has_data": prob.data is not None, "description": prob.description}
    if prob.fn is not None and prob.bounds is not None and prob.start is not None:
        info["bounds"] = [list(b) for b in prob.bounds]
        info["known_minima"] = [list(m.point) for m in prob.known_minima if m.is_global]
    return info


def selection_key(cfg: StudyConfig, problem: str, info: Mapping[str, Any]) -> tuple[str, str, bool]:
    """``(validation key, test key, higher_is_better)`` of the study metric on ``problem``.

    ``info`` is the problem's :func:`problem_info`.
    """
    if not info["has_data"]:
        return ANALYTIC_METRIC, ANALYTIC_METRIC, False
    m = cfg.metric_of(problem)
    return f"val_{m}", f"test_{m}", _higher_is_better(m)


def _higher_is_better(metric: str) -> bool:
    m = metric.lower()
    return not ("loss" in m or "error" in m or "gap" in m or "distance" in m)
