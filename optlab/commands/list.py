"""``optlab list``: the registered optimizers (with default hyperparameters) and problems.

Optimizers and problems from user code (``--import``, installed ``optlab.plugins`` entry
points) are marked with where they came from.
"""

from __future__ import annotations

import argparse

NAME = "list"
HELP = "List the registered optimizers (with their default hyperparameters) and problems."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what",
        nargs="?",
        choices=("all", "optimizers", "problems"),
        default="all",
        help="what to list (default: all)",
    )


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def run(args: argparse.Namespace) -> int:
    from optlab import optimizers, plugins, problems
    from optlab.study import default_space

    def source(kind: str, name: str) -> str:
        where = plugins.origin(kind, name)
        return "" if where == "built-in" else f"  [from {where}]"

    if args.what in ("all", "optimizers"):
        print("Optimizers (name: default hyperparameters; default tuning range):")
        for n in optimizers.names():
            d = optimizers.defaults(n)
            lr = d.pop("learning_rate", None)
            space = default_space(n).get("learning_rate")
            rng = f"lr {space.low:g}..{space.high:g} log-uniform" if space else "no learning rate"
            others = ", ".join(f"{k}={_fmt(v)}" for k, v in d.items())
            lr_txt = "line search" if lr is None else _fmt(lr)
            print(
                f"  {n:<12s} learning_rate={lr_txt}"
                + (f", {others}" if others else "")
                + source("optimizer", n)
            )
            print(f"  {'':<12s} tuning: {rng}")
    if args.what == "all":
        print()
    if args.what in ("all", "problems"):
        print("Problems (name: description):")
        for n in problems.names():
            desc = problems.describe(n)  # without loading any data
            print(f"  {n:<16s} {desc}{source('problem', n)}")
    return 0
