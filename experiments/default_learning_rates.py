"""Measure the default Adam learning rate of the DeepOBS-style problems (docs/problems.md).

For each problem: a short Adam run (key 0, data seed 0) at each learning rate of a small
grid, all rates in one compiled ``optlab.sweep.sweep``; the default is the rate with the best
final validation accuracy (validation loss for ``quadratic-deep``), and its test numbers are
what the docs report. Small on purpose (a few hundred steps): it picks a working rate, it
does not tune.

Run::

    python experiments/default_learning_rates.py [--out /tmp/default_lr.json] [PROBLEM ...]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

from optlab import _io, problems
from optlab.sweep import sweep


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
    """Every learning rate of ``cfg`` in one compiled sweep: final metrics; the chosen one.

    A sweep run equals ``train(problem, optax.adam(lr), steps=..., key=jax.random.key(0))``
    to float32 rounding, and compiles once for all the rates (``train`` with a constant rate
    would compile once per rate). ``seconds`` is the sweep's wall time (compile included)
    divided by the number of rates.
    """
    p = problems.get(cfg.problem)
    t = time.perf_counter()
    res = sweep(
        p, "adam", grid={"learning_rate": list(cfg.learning_rates)}, seeds=[0],
        steps=cfg.steps, eval_every=cfg.steps,
    )  # fmt: skip
    seconds = (time.perf_counter() - t) / len(cfg.learning_rates)
    rows = []
    for i, c in enumerate(res.configs):
        final = {k: float(v[i]) for k, v in res.final.items()}
        rows.append({"learning_rate": c["learning_rate"], "seconds": seconds, **final})
        print(cfg.problem, rows[-1], flush=True)
    if "val_accuracy" in rows[0]:
        best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    else:
        best = min(rows, key=lambda r: r["val_loss"])
    return {"config": asdict(cfg), "method": res.method, "runs": rows, "chosen": best}


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
