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
already stored, so a killed study resumes. A run is stored under the hash of everything that
decides its numbers (``identity``: resolved hyperparameters and problem options, code
fingerprints of user-registered optimizers and problems, optlab's version), so a changed
definition trains new runs; a directory may be extended with more problems, optimizers,
seeds or budget, reusing every matching run. :func:`load_study` rebuilds everything (trials,
selection, final runs) from the directory alone, which is what ``optlab report`` uses.

Modules (the flow is one way: ``space`` -> ``config`` -> ``results`` -> ``execute``):

- ``space``: :class:`Dim` (one hyperparameter's range), :func:`default_space`, the sampler.
- ``config``: :class:`StudyConfig` (fields, TOML, validation), :data:`DEFAULT_CONFIG`, the
  runs of a study and their ids.
- ``results``: :func:`load_study`, selection, :class:`StudyResults` and every statistic of
  the report (computed here once; ``optlab.plot.study`` only draws and formats).
- ``identity``: what a run's id hashes (:func:`~optlab.study.identity.run_identity`).
- ``execute``: :func:`run_study` (tuning and evaluation groups through sweeps, into the store).

Example:
    >>> cfg = StudyConfig(problems=("adder",), optimizers=("sgd", "adam"), budget=2,
    ...                   seeds=2, steps=50)                                # doctest: +SKIP
    >>> result = run_study(cfg, "results/demo")                          # doctest: +SKIP
    >>> result.table_rows()                                               # doctest: +SKIP
"""

from __future__ import annotations

from optlab.study import (  # noqa: F401 - submodules as attributes
    config,
    execute,
    identity,
    results,
    space,
)
from optlab.study.config import DEFAULT_CONFIG, FINAL_SEED_OFFSET, StudyConfig
from optlab.study.execute import run_study
from optlab.study.results import (
    Comparison,
    EdgeHit,
    PairResult,
    PairStats,
    StudyResults,
    load_study,
)
from optlab.study.space import Dim, default_space

__all__ = [
    "StudyConfig",
    "Dim",
    "run_study",
    "load_study",
    "StudyResults",
    "PairResult",
    "PairStats",
    "Comparison",
    "EdgeHit",
    "default_space",
    "DEFAULT_CONFIG",
    "FINAL_SEED_OFFSET",
]
