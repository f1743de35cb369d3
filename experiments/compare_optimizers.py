"""Optimizer comparison on real handwritten digits and on the adding network.

Eight optimizers (SGD, momentum, Nesterov, Adam, AdamW, RMSProp, Lion and optlab's own
heavy-ball implementation) are each tuned with the same budget of learning-rate trials on the
validation split, the best configuration is re-run on fresh seeds, and the test metrics are
reported with confidence intervals, paired tests against SGD, steps-to-target, performance
profiles and tuning-budget curves (the protocol of ``docs/studies.md``).

Problems: ``digits-mlp`` (scikit-learn's 1,797 real 8x8 digits, 64-128-10 ReLU MLP, minibatch
128; selection on validation accuracy, report on test accuracy) and ``adder`` (the 2-3-1 ReLU
adding network, full batch, MSE).

Run:
    python experiments/compare_optimizers.py                     # results/compare_optimizers
    python experiments/compare_optimizers.py --smoke             # a 1-minute smoke version
    optlab report results/compare_optimizers                     # regenerate figures/tables

Killing the script and running it again resumes where it stopped. Outputs: the study store
(``manifest.json``, ``runs/``, ``summary.csv``), ``figures/*.pdf|png``, ``tables/*.md|tex``.
"""

from __future__ import annotations

import argparse
import sys
import time

from optlab import study
from optlab.plot import study as plot_study

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "lion", "heavy-ball")


def get_config(smoke: bool = False) -> study.StudyConfig:
    """The study. Default search spaces: each optimizer's learning rate, log-uniform over
    [lr0/10, lr0*100] around its registry default (``optlab list``)."""
    if smoke:
        return study.StudyConfig(
            name="compare-optimizers-smoke",
            problems=("adder", "digits-mlp"),
            optimizers=("sgd", "adam", "heavy-ball"),
            budget=3,
            seeds=2,
            steps=100,
            eval_every=20,
            problem_metrics={"digits-mlp": "accuracy"},
        )
    return study.StudyConfig(
        name="compare-optimizers",
        problems=("adder", "digits-mlp"),
        optimizers=OPTIMIZERS,
        budget=10,
        tuning_seeds=1,
        seeds=8,
        steps=1000,
        problem_steps={"digits-mlp": 800},  # ~95 epochs of 8 minibatches
        eval_every=20,
        problem_metrics={"digits-mlp": "accuracy"},
        targets={"digits-mlp": 0.95},
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="study directory (default results/<name>)")
    ap.add_argument("--smoke", action="store_true", help="tiny version for a quick check")
    ap.add_argument("--baseline", default="sgd", help="optimizer for paired comparisons")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    cfg = get_config(args.smoke)
    out = args.out or f"results/{cfg.name.replace('-smoke', '_smoke').replace('-', '_')}"
    t0 = time.perf_counter()
    res = study.run_study(
        cfg,
        out,
        progress=not args.quiet and sys.stdout.isatty(),
        log=None if args.quiet else print,
    )
    written = plot_study.write_report(res, baseline=args.baseline)
    if not args.quiet:
        print((res.root / "tables" / "results.md").read_text())
        print(
            f"{len(written)} files in {out}/figures and {out}/tables "
            f"({time.perf_counter() - t0:.0f}s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
