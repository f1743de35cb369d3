"""A study's results, read back from its store: selection, and every statistic, computed once.

:func:`load_study` rebuilds a study from its directory alone: the tuning records, each trial's
score, the selected configuration (:func:`best_index`, the same rule :func:`optlab.study.run_study`
applies while running) and the evaluation records, as :class:`StudyResults`. The statistics
that the report shows are computed here and nowhere else (``optlab.plot.study`` only draws and
formats them): per (problem, optimizer) summaries with bootstrap CIs, paired comparisons
against a baseline with sign and Wilcoxon tests, steps-to-target, average ranks
(:meth:`StudyResults.comparison`), performance profiles
(:meth:`StudyResults.performance_profile`) and tuning-budget curves
(:meth:`PairResult.tuning_budget`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optlab import stats
from optlab.store import RunRecord, Store, run_id
from optlab.study.config import (
    ANALYTIC_METRIC,
    Plan,
    StudyConfig,
    plans,
    problem_info,
    run_config,
    selection_key,
)
from optlab.study.space import Dim

__all__ = [
    "PairResult",
    "StudyResults",
    "PairStats",
    "Comparison",
    "load_study",
    "trial_scores",
    "best_index",
    "select_best",
    "run_index",
    "EdgeHit",
    "edge_hits",
]


# ----------------------------------------------------------------------------- selection


def trial_scores(tuning: Sequence[Sequence[RunRecord]], val_key: str) -> np.ndarray:
    """Score of each trial: its ``val_key`` averaged over the tuning seeds.

    ``tuning[trial][seed]`` are the trial's records. A trial that diverged (or has no finite
    value) on any tuning seed is a failure and scores ``nan``.
    """
    scores = []
    for recs in tuning:
        vals, failed = [], False
        for rec in recs:
            v = _num(rec.summary.get(val_key, math.nan))
            if rec.summary.get("diverged") or not math.isfinite(v):
                failed = True
            vals.append(v)
        scores.append(math.nan if failed else float(np.mean(vals)))
    return np.asarray(scores, np.float64)


def best_index(scores: np.ndarray, higher: bool) -> int:
    """Index of the best finite score (the first on ties); 0 when every trial failed."""
    finite = np.isfinite(scores)
    if not finite.any():
        return 0  # every trial failed: keep the first (its evaluation will fail too)
    key = np.where(finite, -scores if higher else scores, np.inf)
    return int(np.argmin(key))


def run_index(store: Store) -> dict[str, str]:
    """``{study key id: run id}`` recorded in the manifest by the sessions that trained.

    A run's id hashes everything that decides its numbers (:mod:`optlab.study.identity`);
    its study key (:func:`optlab.study.config.run_config`) is what the study config alone
    determines. The index maps one to the other, so the results are found without the code
    that defined the optimizers and problems.
    """
    if not store.exists():
        return {}
    index = store.manifest().get("info", {}).get("run_index", {})
    return dict(index) if isinstance(index, dict) else {}


def _load_group(store: Store, config: StudyConfig, plan: Plan, hps, seeds, index):
    """``(records[hp][seed], number missing)`` of the stored runs of ``hps`` × ``seeds``."""
    rows, missing = [], 0
    for hp in hps:
        row = []
        for s in seeds:
            rid = index.get(run_id(run_config(config, plan.problem, plan.optimizer, hp, s)))
            if rid is not None and store.has_run(rid):
                row.append(store.load_run(rid))
            else:
                missing += 1
        rows.append(row)
    return rows, missing


def select_best(
    store: Store, config: StudyConfig, plan: Plan, info, *, index: dict | None = None
) -> dict[str, Any]:
    """The selected trial of ``plan`` from its stored tuning runs (``info``: problem_info).

    ``index`` maps study keys to run ids (default: the manifest's, :func:`run_index`).
    """
    index = run_index(store) if index is None else index
    tuning, missing = _load_group(store, config, plan, plan.trials, plan.tuning_seeds, index)
    if missing:
        raise RuntimeError(f"{missing} tuning run(s) of {plan.optimizer} on {plan.problem} missing")
    vkey, _, higher = selection_key(config, plan.problem, info)
    return dict(plan.trials[best_index(trial_scores(tuning, vkey), higher)])


@dataclass(frozen=True)
class EdgeHit:
    """A selected hyperparameter at the edge of the values searched: the range was too narrow.

    Attributes:
      hyperparameter: its name.
      value: the selected value.
      side: ``"low"`` or ``"high"``: the smallest or the largest value tried.
      dim: the searched range (:class:`~optlab.study.space.Dim`).
      widened: the suggested wider range (None where it cannot be widened, e.g. a uniform
        range in [0, 1] already touching 1).
    """

    hyperparameter: str
    value: float
    side: str
    dim: Dim
    widened: Dim | None

    def message(self) -> str:
        """One line: what was selected, where, and what to do."""
        rng = _range_text(self.dim)
        text = (
            f"selected {self.hyperparameter}={self.value:.4g} is the "
            f"{'largest' if self.side == 'high' else 'smallest'} value tried in {rng}: the "
            "best value may lie outside the searched range"
        )
        if self.widened is not None:
            text += (
                f"; widen it to {_range_text(self.widened)} (`optlab compare --widen`, or "
                "the [search] snippet in tables/warnings.md)"
            )
        return text


def _range_text(d: Dim) -> str:
    if d.kind == "grid":
        return "grid [" + ", ".join(f"{v:.4g}" for v in d.values) + "]"
    return f"{d.kind} [{d.low:.4g}, {d.high:.4g}]"


def edge_hits(trials: Sequence[dict], best: dict, space: dict[str, Dim]) -> list[EdgeHit]:
    """The hyperparameters of ``best`` that are the smallest or largest value tried.

    Only searched dimensions (sampled ranges and grids) with at least three distinct values
    tried count: with fewer, every choice is an edge and the warning says nothing. A
    sampled range's extreme trial lies in its outermost stratum (Latin hypercube), so
    "largest value tried" means "at the top of the searched range".

    Args:
      trials: the tuning configurations.
      best: the selected one.
      space: ``{hyperparameter: Dim}`` that the trials were drawn from.

    Returns:
      One :class:`EdgeHit` per hyperparameter at an edge, sorted by name.
    """
    hits = []
    for h in sorted(space):
        d = space[h]
        if d.kind in ("fixed", "choice") or h not in best or not _is_real(best[h]):
            continue  # a categorical choice has no edge
        tried = sorted({float(t[h]) for t in trials if h in t and _is_real(t[h])})
        if len(tried) < 3:
            continue
        v = float(best[h])
        side = "low" if v == tried[0] else "high" if v == tried[-1] else None
        if side is not None:
            hits.append(EdgeHit(h, v, side, d, _widen(d, side)))
    return hits


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _merge_dims(a: Dim, b: Dim) -> Dim:
    """The union of two widenings of one range (same kind)."""
    if a.kind == "grid":
        return Dim("grid", values=tuple(sorted({*a.values, *b.values})))
    if a.kind in ("log-uniform", "uniform") and a.kind == b.kind:
        return Dim(a.kind, min(a.low, b.low), max(a.high, b.high))
    return b


def _widen(d: Dim, side: str) -> Dim | None:
    """``d`` extended beyond ``side``: a decade (log), half its width (uniform), a grid step."""
    if d.kind == "log-uniform":
        lo, hi = (d.low / 10.0, d.high) if side == "low" else (d.low, d.high * 10.0)
        return Dim(d.kind, lo, hi)
    if d.kind == "uniform":
        w = (d.high - d.low) / 2.0
        lo, hi = (d.low - w, d.high) if side == "low" else (d.low, d.high + w)
        if 0.0 <= d.low and d.high <= 1.0:  # a fraction (momentum, beta): stay inside [0, 1)
            lo, hi = max(lo, 0.0), min(hi, (1.0 + d.high) / 2.0)
        return None if (lo, hi) == (d.low, d.high) else Dim(d.kind, lo, hi)
    vals = sorted(float(v) for v in d.values)
    if len(vals) < 2:
        return None
    a, b = (vals[1], vals[0]) if side == "low" else (vals[-2], vals[-1])
    new = b * (b / a) if a > 0 and b > 0 else b + (b - a)
    return Dim("grid", values=tuple(sorted({*vals, float(f"{new:.6g}")})))


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
        """Per evaluation seed: ``key`` (default the test metric) of the selected config."""
        k = key or self.test_key
        return np.asarray([_num(r.summary.get(k)) for r in self.final], dtype=np.float64)

    def final_failed(self) -> np.ndarray:
        """Per evaluation seed: whether the run diverged."""
        return np.asarray([bool(r.summary.get("diverged")) for r in self.final])

    def metric_curves(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values (n_seeds, n_points)) of the selection metric over training.

        Validation metric at the evaluation steps for data problems; the function value at
        every step for analytic problems.
        """
        recs = self.final
        if self.val_key == ANALYTIC_METRIC:
            vals = np.stack([r.curves["loss"].astype(np.float64) for r in recs])
            return np.arange(vals.shape[1], dtype=np.float64), vals
        steps = recs[0].curves["eval_steps"].astype(np.float64)
        vals = np.stack([r.curves[self.val_key].astype(np.float64) for r in recs])
        return steps, vals

    def tuning_budget(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ks, mean, std)``: the expected best score of ``k`` trials (without replacement)."""
        return stats.tuning_budget_curve(self.trial_scores, higher_is_better=self.higher_is_better)

    def times(self) -> dict[str, float]:
        """Compile and run seconds of the tuning groups and of the evaluation group."""
        f = self.final[0].summary
        return {
            "tuning_compile_time": _group_time(self.tuning, "group_compile_time"),
            "tuning_run_time": _group_time(self.tuning, "group_run_time"),
            "final_compile_time": float(f.get("group_compile_time", 0)),
            "final_run_time": float(f.get("group_run_time", 0)),
        }


@dataclass(frozen=True)
class PairStats:
    """The statistics of one optimizer on one problem (over its evaluation seeds).

    Attributes:
      summary: the test metric's :class:`optlab.stats.Summary` (bootstrap CI of the mean).
      paired: paired comparison against the baseline on the same seeds (None for the
        baseline itself).
      steps_to_target_median: median over seeds of the steps to the problem's target.
      compile_time, run_time: seconds of tuning plus evaluation.
    """

    summary: stats.Summary
    paired: stats.PairedComparison | None
    steps_to_target_median: float
    compile_time: float
    run_time: float


@dataclass(frozen=True)
class Comparison:
    """Every number of the report's tables (:meth:`StudyResults.comparison`).

    Attributes:
      baseline: the optimizer the others are paired against.
      pairs: ``{(problem, optimizer): PairStats}``.
      targets: ``{problem: target}`` of steps-to-target.
      average_ranks: per optimizer, its rank by mean test metric averaged over problems
        (1 = best; ties averaged; failures rank last).
      all_failed: per optimizer, whether every one of its evaluation runs failed on every
        problem (such an optimizer ranks last and is never marked best).
    """

    baseline: str
    pairs: dict[tuple[str, str], PairStats]
    targets: dict[str, float]
    average_ranks: np.ndarray
    all_failed: np.ndarray | None = None

    def best_ranked(self) -> np.ndarray:
        """Which optimizers have the best average rank among those that did not all fail."""
        failed = (
            np.zeros(len(self.average_ranks), bool) if self.all_failed is None else self.all_failed
        )
        if failed.all():
            return np.zeros(len(self.average_ranks), bool)
        best = self.average_ranks[~failed].min()
        return (self.average_ranks == best) & ~failed


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
        """The :class:`PairResult` of ``optimizer`` on ``problem``."""
        return self.pairs[(problem, optimizer)]

    def higher_is_better(self, problem: str) -> bool:
        """Whether a larger value of the study metric is better on ``problem``."""
        return self.pair(problem, self.optimizers[0]).higher_is_better

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

    # -- statistics -------------------------------------------------------------------
    def comparison(self, baseline: str | None = None) -> Comparison:
        """All statistics of the report's tables, against ``baseline`` (default: first).

        Raises:
          ValueError: ``baseline`` is not one of the study's optimizers.
        """
        baseline = baseline or self.optimizers[0]
        if baseline not in self.optimizers:
            raise ValueError(
                f"baseline {baseline!r} is not in the study's optimizers {self.optimizers}"
            )
        pairs = {}
        for p in self.problems:
            base = self.pair(p, baseline)
            for o in self.optimizers:
                pairs[(p, o)] = self._pair_stats(p, o, None if o == baseline else base)
        means = np.array(
            [[pairs[(p, o)].summary.mean for o in self.optimizers] for p in self.problems]
        )
        ranks = np.zeros(len(self.optimizers))
        for j, p in enumerate(self.problems):
            ranks += stats.average_ranks(
                means[j : j + 1], higher_is_better=self.higher_is_better(p)
            )
        ranks /= max(1, len(self.problems))
        targets = {p: self.target(p)[0] for p in self.problems}
        all_failed = np.array(
            [all(not math.isfinite(pairs[(p, o)].summary.mean) for p in self.problems)
             for o in self.optimizers]
        )  # fmt: skip
        return Comparison(baseline, pairs, targets, ranks, all_failed)

    def _pair_stats(self, problem: str, optimizer: str, base: PairResult | None) -> PairStats:
        pr = self.pair(problem, optimizer)
        v, f = pr.final_values(), pr.final_failed()
        paired = None
        if base is not None:
            paired = stats.paired_comparison(
                v,
                base.final_values(),
                failed=f,
                baseline_failed=base.final_failed(),
                higher_is_better=pr.higher_is_better,
            )
        stt = self.steps_to_target(problem, optimizer)
        t = pr.times()
        return PairStats(
            summary=stats.summarize(v, f),
            paired=paired,
            steps_to_target_median=float(np.median(stt)) if stt.size else math.nan,
            compile_time=t["tuning_compile_time"] + t["final_compile_time"],
            run_time=t["tuning_run_time"] + t["final_run_time"],
        )

    def profile_costs(self) -> np.ndarray:
        """(n_problems, n_optimizers) median steps-to-target (inf if the median run fails)."""
        costs = np.array(
            [
                [float(np.median(self.steps_to_target(p, o))) for o in self.optimizers]
                for p in self.problems
            ]
        )
        return np.where(costs <= 0, 0.5, costs)  # a run at target from the start: half a step

    def performance_profile(self, n_taus: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """Dolan–Moré profiles of the median steps-to-target: ``(taus, rho (n_optimizers, n))``.

        ``taus`` run geometrically from 1 to 1.1 times the largest finite ratio (at least 2).
        """
        costs = self.profile_costs()
        ratios = stats.performance_ratios(costs)
        finite = ratios[np.isfinite(ratios)]
        tmax = max(2.0, float(finite.max()) * 1.1) if finite.size else 2.0
        taus = np.geomspace(1.0, tmax, n_taus)
        return taus, stats.performance_profile(costs, taus)

    def total_times(self) -> tuple[float, float]:
        """``(compile seconds, run seconds)`` of every group the study trained."""
        ct = rt = 0.0
        for pr in self.pairs.values():
            t = pr.times()
            ct += t["tuning_compile_time"] + t["final_compile_time"]
            rt += t["tuning_run_time"] + t["final_run_time"]
        return ct, rt

    # -- protocol warnings ------------------------------------------------------------
    def edge_hits(self, problem: str, optimizer: str) -> list[EdgeHit]:
        """Selected hyperparameters of ``optimizer`` on ``problem`` at the edge of the search."""
        pr = self.pair(problem, optimizer)
        return edge_hits(pr.trials, pr.best, self.space_of(optimizer))

    def space_of(self, optimizer: str) -> dict[str, Dim]:
        """The search space ``optimizer`` was tuned over: as stored in the manifest (no
        optimizer registry needed), else (older studies) from the config."""
        stored = self.manifest.get("info", {}).get("spaces", {}).get(optimizer)
        if stored is None:
            return self.config.space_of(optimizer)
        return {h: Dim.parse(s, f"search.{optimizer}.{h}") for h, s in stored.items()}

    def warnings(self) -> list[tuple[str, str, EdgeHit]]:
        """``(problem, optimizer, hit)`` for every selected value at the edge of its range."""
        return [
            (p, o, hit)
            for p in self.problems
            for o in self.optimizers
            for hit in self.edge_hits(p, o)
        ]

    def widened_search(self) -> dict[str, dict[str, Any]]:
        """``{optimizer: {hyperparameter: spec}}``: the search with every edge hit widened.

        A hyperparameter hit at both edges (on different problems) is widened on both sides.
        Empty when nothing can be widened. ``StudyConfig.replace(search={**config.search,
        **widened})`` is the study ``optlab compare --widen`` runs next.
        """
        out: dict[str, dict[str, Dim]] = {}
        for _, o, hit in self.warnings():
            if hit.widened is None:
                continue
            space = out.setdefault(o, dict(self.space_of(o)))
            space[hit.hyperparameter] = _merge_dims(space[hit.hyperparameter], hit.widened)
        return {o: {h: d.to_spec() for h, d in sp.items()} for o, sp in out.items()}

    # -- rows -------------------------------------------------------------------------
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
                rows.append(
                    {
                        "problem": p,
                        "optimizer": o,
                        "metric": pr.test_key,
                        "higher_is_better": pr.higher_is_better,
                        **s.as_dict(),
                        "best_hyperparams": pr.best,
                        "steps_to_target_median": float(np.median(stt)) if stt.size else math.nan,
                        "target_reached": int(np.isfinite(stt).sum()),
                        **pr.times(),
                        "seconds_per_step": float(
                            np.mean([r.summary.get("seconds_per_step", math.nan) for r in pr.final])
                        ),
                    }
                )
        return rows


def _num(v) -> float:
    return math.nan if v is None else float(v)


def _group_time(tuning: list[list[RunRecord]], key: str) -> float:
    # runs of one group share the group's time; count each distinct group once
    seen = {}
    for trial in tuning:
        for r in trial:
            seen[(r.summary.get(key), r.summary.get("group_runs"))] = float(r.summary.get(key, 0))
    return float(sum(seen.values()))


def _is_metric(key: str, value) -> bool:
    """A final metric of a run summary: ``train_*``, ``val_*`` or ``test_*``, a number."""
    return (
        key.startswith(("train_", "val_", "test_"))
        and (value is None or isinstance(value, (int, float)))
        and not isinstance(value, bool)
    )


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
        # every final metric (train/val/test loss and metrics), not only the selection's
        **{k: _num(v) for k, v in rec.summary.items() if _is_metric(k, v)},
        "run_time": rec.summary.get("run_time"),
        "group_compile_time": rec.summary.get("group_compile_time"),
    }


# ----------------------------------------------------------------------------- loading


def load_study(root: str | os.PathLike) -> StudyResults:
    """Rebuild a study's trials, selection and evaluation runs from its directory alone.

    Needs no user code: the trials and the problems' descriptions are read from the manifest
    (studies written before the trials were stored fall back to the optimizers' registry).

    Raises:
      FileNotFoundError: ``root`` is not a study directory.
      CorruptRecordError: a stored record is damaged (the message says how to recompute it).
      ValueError: the study is incomplete (says how many runs are missing and how to finish).
    """
    store = Store(root)
    manifest = store.manifest()
    config = StudyConfig.from_dict(manifest["config"], where=str(store.manifest_path))
    infos = dict(manifest.get("info", {}).get("problems", {}))
    index = run_index(store)
    # the stored trials: no optimizer registry (and no user code) needed to read a study
    stored_trials = manifest.get("info", {}).get("trials")
    pairs, missing = {}, 0
    for plan in plans(config, stored_trials):
        if plan.problem not in infos:
            infos[plan.problem] = problem_info(config.build_problem(plan.problem))
        pair, n_missing = _load_pair(store, config, plan, infos[plan.problem], index)
        missing += n_missing
        if pair is not None:
            pairs[(plan.problem, plan.optimizer)] = pair
    if missing and "run_identity" not in manifest.get("info", {}) and store.run_ids():
        raise ValueError(
            f"study {store.root} was written by an older optlab (its manifest has no run "
            "index, its runs' ids do not cover their resolved hyperparameters and code): "
            "rerun the study into a new directory"
        )
    if missing:
        raise ValueError(
            f"study {store.root} is incomplete: at least {missing} run(s) are not stored yet; "
            "rerun the same study (same config, same --out) to finish it; finished runs are kept"
        )
    return StudyResults(Path(root), config, manifest, pairs)


def _load_pair(
    store: Store, config: StudyConfig, plan: Plan, info, index
) -> tuple[PairResult | None, int]:
    """The :class:`PairResult` of ``plan`` and how many of its runs are missing."""
    tuning, missing = _load_group(store, config, plan, plan.trials, plan.tuning_seeds, index)
    if missing:
        return None, missing  # the selection (hence the evaluation runs) is not known yet
    vkey, tkey, higher = selection_key(config, plan.problem, info)
    scores = trial_scores(tuning, vkey)
    bi = best_index(scores, higher)
    best = dict(plan.trials[bi])
    (final,), missing = _load_group(store, config, plan, [best], plan.final_seeds, index)
    pair = PairResult(
        plan.problem, plan.optimizer, plan.trials, scores, tuning, best, bi, final, vkey, tkey,
        higher,
    )  # fmt: skip
    return pair, missing
