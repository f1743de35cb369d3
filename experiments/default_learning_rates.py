"""Measure the default Adam learning rate of the DeepOBS-style problems (docs/problems.md).

For each problem: a short Adam run (``optlab.train.train``, key 0, data seed 0) at each
learning rate of a small grid; the default is the rate with the best final validation
accuracy (validation loss for ``quadratic-deep``), and its test numbers are what the docs
report. Small on purpose (a few hundred steps): it picks a working rate, it does not tune.

Run::

    python experiments/default_learning_rates.py [--out /tmp/default_lr.json] [PROBLEM ...]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import jax
import optax

from optlab import _io, problems
from optlab.train import train


@dataclass(frozen=True)
class Config:
    """One problem's grid: learning rates and steps."""

    problem: str
    learning_rates: tuple[float, ...]
    steps: int


CONFIGS = (
    Config("mnist-5k-logreg", (3e-4, 1e-3, 3e-3, 1e-2, 3e-2), 500),
    Config("mnist-5k-mlp", (1e-4, 3e-4, 1e-3, 3e-3), 500),
    Config("digits-cnn", (3e-4, 1e-3, 3e-3, 1e-2), 500),
    Config("mnist-5k-cnn", (3e-4, 1e-3, 3e-3), 300),
    Config("quadratic-deep", (1e-2, 3e-2, 1e-1, 3e-1, 1.0), 500),
)


def measure(cfg: Config) -> dict:
    """Every learning rate of ``cfg``: final metrics, seconds; and the chosen one."""
    p = problems.get(cfg.problem)
    rows = []
    for lr in cfg.learning_rates:
        t = time.perf_counter()
        run = train(
            p, optax.adam(lr), steps=cfg.steps, key=jax.random.key(0),
            eval_every=cfg.steps, snapshots=False,
        )  # fmt: skip
        rows.append({"learning_rate": lr, "seconds": time.perf_counter() - t, **run.final})
        print(cfg.problem, rows[-1], flush=True)
    if "val_accuracy" in rows[0]:
        best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    else:
        best = min(rows, key=lambda r: r["val_loss"])
    return {"config": asdict(cfg), "runs": rows, "chosen": best}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problems", nargs="*", help="subset of the problems (default: all)")
    ap.add_argument("--out", default="default_learning_rates.json")
    args = ap.parse_args(argv)
    chosen = [c for c in CONFIGS if not args.problems or c.problem in args.problems]
    out = {c.problem: measure(c) for c in chosen}
    _io.write_json(args.out, out)
    for name, res in out.items():
        print(name, "->", res["chosen"])


if __name__ == "__main__":
    main()
