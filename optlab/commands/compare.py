"""``optlab compare``: run (or resume) an optimizer comparison study and write its report."""

from __future__ import annotations

import argparse
import sys
import time

NAME = "compare"
HELP = (
    "Compare optimizers with a fair protocol: tune each on the validation split, re-run the "
    "best configuration on fresh seeds, report test metrics, figures and tables."
)

_EPILOG = """\
Without --config or options, runs the built-in default study (adder + digits-mlp; sgd,
momentum, nesterov, adam, rmsprop, lion; a few minutes on a 2-core CPU). Options override the
config. Rerunning with the same settings and --out resumes: stored runs are skipped.

examples:
  optlab compare                                   # default study -> results/compare
  optlab compare --problem digits-mlp --optimizers sgd,momentum,adam \\
                 --seeds 5 --budget 8 --steps 500 --metric accuracy --out results/digits
  optlab compare --config study.toml --out results/mystudy --quiet
  optlab compare --import ./signum.py --optimizers adam,signum --dtype float64
  optlab report results/digits                     # regenerate figures and tables
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument(
        "--config", metavar="FILE", help="study config (TOML; format in docs/studies.md)"
    )
    parser.add_argument(
        "--problem",
        "--problems",
        dest="problems",
        metavar="NAMES",
        help="comma-separated problem names (see `optlab list problems`)",
    )
    parser.add_argument(
        "--optimizers", metavar="NAMES", help="comma-separated optimizer names (`optlab list`)"
    )
    parser.add_argument(
        "--seeds", type=int, metavar="N", help="fresh evaluation seeds of the selected config"
    )
    parser.add_argument(
        "--tuning-seeds", type=int, metavar="N", help="seeds per tuning trial (default 1)"
    )
    parser.add_argument(
        "--budget", type=int, metavar="K", help="tuning trials per (problem, optimizer)"
    )
    parser.add_argument("--steps", type=int, metavar="N", help="optimizer steps per run")
    parser.add_argument(
        "--eval-every", type=int, metavar="N", help="validation evaluation interval in steps"
    )
    parser.add_argument(
        "--metric",
        metavar="NAME",
        help="selection/report metric without split prefix: loss (default) or accuracy",
    )
    parser.add_argument(
        "--search-seed", type=int, metavar="S", help="seed of the search-space sampler"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="precision of every run (default: the config's, float32)",
    )
    parser.add_argument(
        "--out",
        default="results/compare",
        metavar="DIR",
        help="study directory (default: results/compare); reused to resume",
    )
    parser.add_argument(
        "--baseline", metavar="NAME", help="optimizer for paired comparisons (default: first)"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="only train; run `optlab report DIR` later"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no log (errors still shown)"
    )


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if not text else tuple(s.strip() for s in text.split(",") if s.strip())


def config_from_args(args: argparse.Namespace):
    """The StudyConfig given by --config (or the default) with command-line overrides."""
    from optlab._checks import positive_int
    from optlab.study import DEFAULT_CONFIG, StudyConfig

    cfg = StudyConfig.from_toml(args.config) if args.config else DEFAULT_CONFIG
    counts = {
        field: positive_int(f"--{field.replace('_', '-')}", getattr(args, field), allow_none=True)
        for field in ("seeds", "tuning_seeds", "budget", "steps", "eval_every")
    }
    over = {k: v for k, v in counts.items() if v is not None}
    for key, value in (
        ("problems", _names(args.problems)),
        ("optimizers", _names(args.optimizers)),
        ("metric", args.metric or None),
        ("search_seed", args.search_seed),
        ("dtype", args.dtype),
    ):
        if value is not None:
            over[key] = value
    if over:
        over.setdefault("name", cfg.name if args.config else "cli")
        cfg = cfg.restricted(**over)
    cfg.validate(where="optlab compare")
    return cfg


def run(args: argparse.Namespace) -> int:
    from optlab.study import run_study

    cfg = config_from_args(args)
    quiet = bool(args.quiet)
    log = None if quiet else print
    t0 = time.perf_counter()
    if not quiet:
        n = len(cfg.problems) * len(cfg.optimizers)
        print(
            f"study {cfg.name!r}: {len(cfg.problems)} problem(s) x {len(cfg.optimizers)} "
            f"optimizer(s) = {n} tuned pairs; budget {cfg.budget}, {cfg.tuning_seeds} tuning "
            f"seed(s), {cfg.seeds} evaluation seeds -> {args.out}"
        )
    res = run_study(cfg, args.out, progress=not quiet and sys.stdout.isatty(), log=log)
    train_s = time.perf_counter() - t0
    if args.no_report:
        if not quiet:
            print(f"trained in {train_s:.1f}s; run `optlab report {args.out}` for figures")
        return 0
    from optlab.plot import study as plot_study

    written = plot_study.write_report(res, baseline=args.baseline)
    if not quiet:
        ct, rt = res.total_times()
        print()
        print(next(p for p in written if p.name == "results.md").read_text())
        print(
            f"done in {time.perf_counter() - t0:.1f}s (training {train_s:.1f}s: compile {ct:.1f}s,"
            f" run {rt:.1f}s); {len(written)} figure/table files in {args.out}/figures and "
            f"{args.out}/tables"
        )
    return 0
