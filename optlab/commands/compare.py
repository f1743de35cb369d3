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
config. Rerunning with the same settings and --out resumes: stored runs are skipped. A
directory can be extended (more problems, optimizers, seeds or budget): matching runs are
reused, the rest trained; the log says how many of each. A selected hyperparameter at the edge
of its searched range is flagged (log, tables, tables/warnings.md); --widen searches again
with those ranges widened (a decade for log ranges), into the same --out.

examples:
  optlab compare                                   # default study -> results/compare
  optlab compare --problem digits-mlp --optimizers sgd,momentum,adam \\
                 --seeds 5 --budget 8 --steps 500 --metric accuracy --out results/digits
  optlab compare --config study.toml --out results/mystudy --quiet
  optlab compare --optimizers sgd,adam --widen      # widen ranges whose edge was selected
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
        "--widen",
        action="store_true",
        help="when a selected hyperparameter is at the edge of its searched range, widen that "
        "range and search again (once; stored runs are reused)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no log (errors still shown)"
    )


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if not text else tuple(s.strip() for s in text.split(",") if s.strip())


def config_from_args(args: argparse.Namespace):
    """The StudyConfig given by --config (or the default) with command-line overrides."""
    from optlab._checks import MAX_STEPS, positive_int
    from optlab.study import DEFAULT_CONFIG, StudyConfig

    cfg = StudyConfig.from_toml(args.config) if args.config else DEFAULT_CONFIG
    counts = {
        field: positive_int(
            f"--{field.replace('_', '-')}",
            getattr(args, field),
            allow_none=True,
            maximum=MAX_STEPS if field in ("steps", "eval_every") else None,
        )
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


def _check_before_training(args: argparse.Namespace, cfg) -> None:
    """Everything about the options that would otherwise fail after training."""
    from optlab import _checks

    if args.baseline is not None and not args.no_report:
        _checks.one_of("--baseline", args.baseline, cfg.optimizers)
    _checks.writable_dir("--out", args.out)


def _stored_runs(out) -> int:
    from optlab.store import Store

    try:
        return len(Store(out).run_ids())
    except (OSError, ValueError):
        return 0


def run(args: argparse.Namespace) -> int:
    from optlab.study import run_study

    cfg = config_from_args(args)
    _check_before_training(args, cfg)
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
    progress = not quiet and sys.stdout.isatty()
    allow = ("search",) if args.widen else ()

    def run(cfg):
        try:
            res = run_study(cfg, args.out, progress=progress, log=log, allow=allow)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"{_stored_runs(args.out)} runs stored in {args.out}; rerun the same command "
                "to resume"
            ) from None
        _print_reuse(res, quiet)
        return res

    res = run(cfg)
    if args.widen:
        widened = res.widened_search()
        if widened:
            cfg = cfg.replace(search={**cfg.search, **widened})
            if not quiet:
                print("--widen: searching again with " + ", ".join(
                    f"{o}.{h} = {spec}" for o, sp in widened.items() for h, spec in sp.items()
                ))  # fmt: skip
            res = run(cfg)
        elif not quiet:
            print("--widen: no selected hyperparameter is at the edge of a widenable range")
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
        if res.warnings():
            print(next(p for p in written if p.name == "warnings.md").read_text())
        print(
            f"done in {time.perf_counter() - t0:.1f}s (training {train_s:.1f}s: compile {ct:.1f}s,"
            f" run {rt:.1f}s); {len(written)} figure/table files in {args.out}/figures and "
            f"{args.out}/tables"
        )
    return 0


def _print_reuse(res, quiet: bool) -> None:
    runs = res.manifest.get("info", {}).get("last_session_runs")
    if not quiet and runs:
        print(
            f"reused {runs['reused']} stored run(s), trained {runs['trained']} new run(s) "
            f"in {res.root}"
        )
