"""The adding network: one hand-set solution, and many more found by training.

A 2-3-1 ReLU network can add two numbers. The classic hand-set weights (``optlab.classic``)
give ``2 + 2 ≈ 3.99``. Training the same architecture from different seeds, with different
optimizers, finds *other* weight settings that add just as well: the loss has no single
minimum but whole families of them (rescaling a hidden unit's input and output weights by
``s`` and ``1/s``, permuting hidden units, splitting the sum between units, switching a unit
off). The script prints a table of the solutions found and saves their loss curves.

Run:
    python experiments/adder.py                 # default config, ~20 s on a 2-core CPU
    python experiments/adder.py --seeds 16 --steps 4000 --out results/adder-long

Outputs (``results/adder/``): ``solutions.csv`` and ``solutions.md`` (the table),
``loss_curves.pdf``/``.png``, ``runs.json`` (config, provenance, every solution's weights).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _io, classic, mlp, problems, store, train
from optlab.plot import _mpl


@dataclass(frozen=True)
class Config:
    """What the experiment runs. Learning rates were picked from a short sweep (see README)."""

    optimizers: tuple[tuple[str, float], ...] = (("sgd", 3e-3), ("momentum", 3e-4), ("adam", 3e-2))
    seeds: int = 8
    steps: int = 2000
    n: int = 1000
    out: str = "results/adder"
    queries: tuple[tuple[float, float], ...] = ((2, 2), (1, 3), (0.5, 0.25), (7, 8), (20, 22))


def effective_coefficients(params, point=(2.0, 2.0)) -> tuple[float, float, float]:
    """``f(a, b) ≈ α a + β b + γ`` near ``point``: the local linear map (exact for ReLU nets)."""
    x = jnp.asarray(point, jnp.float32)
    f = lambda x: mlp.apply(params, x)[0]  # noqa: E731
    alpha, beta = (float(g) for g in jax.grad(f)(x))
    gamma = float(f(x)) - alpha * point[0] - beta * point[1]
    return alpha, beta, gamma


def answers(params, queries) -> list[float]:
    return [float(v) for v in mlp.apply(params, jnp.asarray(queries, jnp.float32))[:, 0]]


WEIGHT_COLUMNS = ("w_ac", "w_bc", "w_cf", "w_ad", "w_bd", "w_df")


def main(cfg: Config) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    hand = classic.adder_params()
    show_hand_set(hand, cfg)
    problem = problems.get("adder", n=cfg.n)
    hand_mse = problem.evaluate(hand, "test")["loss"]
    t0 = time.perf_counter()
    rows, curves, solutions = train_all(problem, cfg)
    elapsed = time.perf_counter() - t0
    print(
        f"Trained {len(rows)} networks in {elapsed:.1f} s "
        f"({len(cfg.optimizers)} optimizers x {cfg.seeds} seeds x {cfg.steps} full-batch steps)."
    )
    print(
        "Each row is a different weight setting; alpha, beta are the local slopes d f/d a, "
        "d f/d b at (2, 2): every good solution has alpha ≈ beta ≈ 1.\n"
    )
    table = solutions_table(rows, hand, hand_mse, cfg)
    print(table)
    report_distances(rows, solutions)
    record = {"config": dataclasses.asdict(cfg), "provenance": store.provenance(),
              "hand_set": {"weights": classic.ADDER_WEIGHTS, "answers": answers(hand, cfg.queries),
                           "test_mse": hand_mse},
              "solutions": solutions, "train_seconds": elapsed}  # fmt: skip
    save(out, rows, table, record, curves, cfg)
    print(f"\nWrote {out}/solutions.md, solutions.csv, runs.json, loss_curves.pdf/png")
    return record


def show_hand_set(hand, cfg: Config) -> None:
    """Print the hand-set network's answers and which hidden units it uses for 2 + 2."""
    print("The hand-set 2-3-1 adding network (weights from the classic introduction):")
    for (a, b), v in zip(cfg.queries, answers(hand, cfg.queries), strict=True):
        print(f"  {a:g} + {b:g} = {v:.4f}   (exact {a + b:g})")
    pre = jnp.asarray([2.0, 2.0]) @ hand[0]["w"] + hand[0]["b"]
    hidden = jax.nn.relu(pre)
    print(
        f"  hidden pre-activations for 2 + 2: c={pre[0]:.3f} d={pre[1]:.3f} e={pre[2]:.3f}"
        f" -> after ReLU: {', '.join(f'{h:.3f}' for h in hidden)} (d is switched off)\n"
    )


def train_all(problem, cfg: Config) -> tuple[list[dict], dict[str, list], list[dict]]:
    """Train the 2-3-1 network from every seed with every optimizer.

    Returns ``(rows, curves, solutions)``: one table row per run, the loss curves by
    optimizer, and every run's named weights and answers.
    """
    rows, curves, solutions = [], {}, []
    for name, lr in cfg.optimizers:
        curves[name] = []
        for seed in range(cfg.seeds):
            run = train.train(
                problem,
                name,
                steps=cfg.steps,
                key=jax.random.key(seed),
                hyperparams={"learning_rate": lr},
            )
            curves[name].append(run.loss)
            params = jax.tree_util.tree_map(jnp.asarray, run.final_params)
            alpha, beta, gamma = effective_coefficients(params)
            w = classic.named_weights(params)
            ans = answers(params, cfg.queries)
            rows.append({
                "optimizer": name, "lr": lr, "seed": seed, "diverged": run.diverged,
                "test_mse": run.final.get("test_loss", float("nan")),
                "2+2": ans[0], "alpha": alpha, "beta": beta, "gamma": gamma,
                "active_units": int(np.sum(np.asarray(jax.nn.relu(
                    jnp.asarray([2.0, 2.0]) @ params[0]["w"] + params[0]["b"])) > 0)),
                **{k: w[k] for k in WEIGHT_COLUMNS},
            })  # fmt: skip
            solutions.append({"optimizer": name, "seed": seed, "weights": w, "answers": ans})
    return rows, curves, solutions


def solutions_table(rows: list[dict], hand, hand_mse: float, cfg: Config) -> str:
    """The Markdown table: different weights, the same sum (the hand-set network last)."""
    header = ["optimizer", "seed", "test_mse", "2+2", "alpha", "beta", "active_units",
              *WEIGHT_COLUMNS]  # fmt: skip
    fmt = {"test_mse": "{:.2e}", "2+2": "{:.4f}", "alpha": "{:.3f}", "beta": "{:.3f}"}
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [
            fmt.get(h, "{:.3f}" if isinstance(r[h], float) else "{}").format(r[h]) for h in header
        ]
        lines.append("| " + " | ".join(cells) + " |")
    hand_row = classic.named_weights(hand)
    a_h, b_h, _ = effective_coefficients(hand)
    cells = [
        "hand-set", "–", f"{hand_mse:.2e}", f"{answers(hand, cfg.queries)[0]:.4f}",
        f"{a_h:.3f}", f"{b_h:.3f}", "2", *(f"{hand_row[k]:.3f}" for k in WEIGHT_COLUMNS),
    ]  # fmt: skip
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_distances(rows: list[dict], solutions: list[dict]) -> None:
    """Print how far apart the weight vectors of the good solutions lie."""
    ok = [not r["diverged"] and r["test_mse"] < 1e-2 for r in rows]
    good = [r for r, keep in zip(rows, ok, strict=True) if keep]
    flat = np.array([[s["weights"][k] for k in sorted(s["weights"])]
                     for s, keep in zip(solutions, ok, strict=True) if keep])  # fmt: skip
    if len(flat) > 1:
        d = np.linalg.norm(flat[:, None] - flat[None], axis=-1)[np.triu_indices(len(flat), 1)]
        print(
            f"\n{len(good)}/{len(rows)} runs add to test MSE < 1e-2; the distance between any two "
            f"of their weight vectors ranges {d.min():.2f}–{d.max():.2f} "
            f"(median {np.median(d):.2f}): different solutions, the same function."
        )


def save(out: Path, rows: list[dict], table: str, record: dict, curves, cfg: Config) -> None:
    """Write the table (CSV, Markdown), the record (JSON) and the loss curves, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _io.atomic_write_text(out / "solutions.csv", buf.getvalue())
    _io.atomic_write_text(out / "solutions.md", table + "\n")
    _io.write_json(out / "runs.json", record)
    plot_curves(curves, cfg, out / "loss_curves")


def plot_curves(curves, cfg: Config, stem: Path) -> None:
    """Training loss against step, one panel per optimizer (``<stem>.pdf``/``.png``)."""
    fig, axes = _mpl.new_figure(1, len(curves), figsize=(7.0, 2.4), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (name, runs) in zip(axes, curves.items(), strict=True):
        for loss in runs:
            ax.plot(np.arange(1, len(loss) + 1), loss, lw=0.8, alpha=0.8)
        lr = dict(cfg.optimizers)[name]
        ax.set(title=f"{name} (lr {lr:g})", xscale="log", yscale="log", xlabel="step")
        ax.grid(alpha=0.3, which="both", lw=0.4)
    axes[0].set_ylabel("training MSE")
    fig.suptitle(f"2-3-1 ReLU adder, {cfg.seeds} seeds each", fontsize=9)
    _mpl.save(fig, stem, dpi=200)


def parse_args(argv=None) -> Config:
    d = Config()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=d.seeds, help="seeds per optimizer")
    p.add_argument("--steps", type=int, default=d.steps, help="full-batch steps per run")
    p.add_argument("--out", default=d.out, help="output folder")
    a = p.parse_args(argv)
    if a.seeds <= 0 or a.steps <= 0:
        p.error("--seeds and --steps must be positive")
    return dataclasses.replace(d, seeds=a.seeds, steps=a.steps, out=a.out)


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
