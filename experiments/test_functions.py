"""Optimizers on classic 2D test functions, with equal tuning budgets (an illustration).

Rosenbrock's curved valley, Himmelblau's four global minima and Rastrigin's 120 local minima.
Every optimizer gets the same number of learning-rate trials (log-uniform over five decades
around its default), the same start points (the standard start plus N(0, 0.1^2) jitter per
seed) and the same number of steps; the selected configuration is re-run on fresh seeds.
Outputs include the trajectories of the tuned optimizers on contour plots. These are
illustrations of optimizer dynamics, not evidence about neural-network training.

Run:
    python experiments/test_functions.py                       # results/test_functions
    optlab report results/test_functions                       # regenerate figures/tables
"""

from __future__ import annotations

import argparse
import sys
import time

from optlab import optimizers, study
from optlab.plot import study as plot_study

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lion", "heavy-ball")
PROBLEMS = ("rosenbrock", "himmelblau", "rastrigin")


def get_config(budget: int = 12, steps: int = 500) -> study.StudyConfig:
    """Equal budgets: ``budget`` trials per optimizer, learning rate log-uniform over
    ``[lr0 / 1000, lr0 * 100]`` (five decades) around each registry default ``lr0``."""
    search = {}
    for o in OPTIMIZERS:
        lr0 = optimizers.defaults(o)["learning_rate"]
        search[o] = {"learning_rate": {"log_uniform": [lr0 / 1000.0, lr0 * 100.0]}}
    return study.StudyConfig(
        name="test-functions",
        problems=PROBLEMS,
        optimizers=OPTIMIZERS,
        search=search,
        budget=budget,
        tuning_seeds=2,
        seeds=5,
        steps=steps,
        problem_options={p: {"init_noise": 0.1} for p in PROBLEMS},
        targets={"rosenbrock": 1e-3, "himmelblau": 1e-3, "rastrigin": 1.0},
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/test_functions")
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = study.run_study(
        get_config(args.budget, args.steps),
        args.out,
        progress=not args.quiet and sys.stdout.isatty(),
        log=None if args.quiet else print,
    )
    written = plot_study.write_report(res, baseline="sgd")
    if not args.quiet:
        print((res.root / "tables" / "results.md").read_text())
        print(f"{len(written)} files in {args.out} ({time.perf_counter() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
