"""The adding network's loss landscape: many solutions, the plane through three of them.

A 2-3-1 ReLU network trained to add two numbers reaches a *different* weight setting from
every seed, each solving the task. This experiment trains it from several seeds, takes the
three best solutions, and slices the training loss on the plane through them (Garipov et
al., 2018). It then finds the minima on that plane (refined by Newton's method), the
minimax barriers between them (merge tree), their basins, and the loss along the straight
lines between the solutions (with extrapolation). A barrier near zero between two solutions
means they are connected by a low-loss path in the plane: evidence for the claim that the
task has a continuum of exact solutions (e.g. rescaling a hidden unit's input weights by
``s`` and its output weight by ``1/s``). Beyond the plane, a quadratic Bezier curve is trained
between each pair of solutions (mode connectivity, Garipov et al. 2018;
``optlab.landscape.paths``) and its barrier is reported beside the straight line's. Training,
slicing, analysis and saving are the steps of ``optlab.pipelines.landscape``.

Run:
    python experiments/landscape_adder.py                    # ~1 min on a 2-core CPU
    python experiments/landscape_adder.py --seeds 12 --resolution 101 --out results/la-big

Outputs (``results/landscape_adder/``): ``slice.json/.npz``, ``analysis.json/.npz``,
``overview``, ``basins``, ``surface``, ``lines``, ``paths`` figures (.pdf/.png),
``summary.json`` (config, solutions, minima, barriers, provenance with versions and git
commit) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from optlab import _io, problems, store
from optlab import landscape as ls
from optlab.pipelines import landscape as lp
from optlab.plot import landscape as pl


@dataclass(frozen=True)
class Config:
    optimizer: str = "adam"
    learning_rate: float = 3e-2
    seeds: int = 8
    steps: int = 2000
    resolution: int = 81
    margin: float = 0.6  # plane range beyond the three solutions, in units of ||p1 - p0||
    line_range: tuple[float, float] = (-0.5, 1.5)
    path_steps: int = 1000  # Bezier curve training steps per pair of solutions
    out: str = "results/landscape_adder"


def main(cfg: Config) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    problem = problems.get("adder")
    # the training loss as a function of the params; problem_loss lets slices evaluate many
    # grid points at once along the vector lanes (~50x a per-point loop on this network)
    loss_fn = lp.loss_function(problem, "train")

    t0 = time.perf_counter()
    runs = lp.train_runs(
        problem,
        cfg.optimizer,
        range(cfg.seeds),
        steps=cfg.steps,
        learning_rate=cfg.learning_rate,
        snapshot_every=cfg.steps // 40,
    )
    final = np.array([float(loss_fn(r.final_params)) for r in runs])
    order = [int(i) for i in np.argsort(final)[:3]]
    print(
        f"trained {cfg.seeds} seeds in {time.perf_counter() - t0:.1f}s; train losses "
        + ", ".join(f"{v:.2e}" for v in final)
    )
    sols = [runs[i].final_params for i in order]
    flat = [np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(p)]) for p in sols]
    dists = {
        f"{a}-{b}": float(np.linalg.norm(flat[a] - flat[b])) for a, b in [(0, 1), (0, 2), (1, 2)]
    }

    plane = ls.plane_through(*sols)
    lo = plane.coords.min(axis=0) - cfg.margin
    hi = plane.coords.max(axis=0) + cfg.margin
    alphas = np.linspace(lo[0], hi[0], cfg.resolution)
    betas = np.linspace(lo[1], hi[1], cfg.resolution)
    s, res = lp.slice_and_analyse(
        loss_fn,
        plane.origin,
        plane.d1,
        plane.d2,
        alphas,
        betas,
        metadata={
            "seeds_in_plane": [int(i) for i in order],
            "directions": "three-point",
            "solution_coords": plane.coords.tolist(),
        },
    )
    paths = {
        f"seed {i}": ls.project_trajectory(
            runs[i].snapshots, plane.origin, plane.d1, plane.d2
        ).coords
        for i in order
    }
    lp.save_landscape(out, s, res, arrays={f"traj_{k}": v for k, v in enumerate(paths.values())})

    # straight lines between the solutions (the barrier along the line vs in the plane)
    t = np.linspace(*cfg.line_range, 201)
    lines, line_barriers = {}, {}
    for a, b in itertools.combinations(range(3), 2):
        origin, d = ls.line_through(sols[a], sols[b])
        vals = ls.slice_1d(loss_fn, origin, d, t)
        key = f"seed {order[a]} -> seed {order[b]}"
        lines[key] = vals
        inside = (t >= 0) & (t <= 1)
        line_barriers[key] = float(
            vals[inside].max() - max(vals[np.argmin(abs(t))], vals[np.argmin(abs(t - 1))])
        )

    # low-loss paths: a Bezier curve trained between each pair (mode connectivity)
    curves_, path_barriers = {}, {}
    for a, b in itertools.combinations(range(3), 2):
        key = f"seed {order[a]} -> seed {order[b]}"
        straight, bez = ls.connect(
            loss_fn, sols[a], sols[b], method="bezier", steps=cfg.path_steps,
            key=jax.random.key(100 + 3 * a + b),
        )  # fmt: skip
        path_barriers[key] = {"straight": straight.barrier, "bezier": bez.barrier}
        curves_[f"{key}, straight"] = (straight.ts, straight.losses)
        curves_[f"{key}, Bezier"] = (bez.ts, bez.losses)

    # which found minimum is each solution nearest to
    def nearest(c):
        d = [np.linalg.norm(m.point - c) for m in res.minima]
        return int(np.argmin(d)) if d else -1

    sol_min = [nearest(c) for c in plane.coords]
    title = "adding network: plane through 3 solutions"
    named = {f"seed {order[k]}": tuple(c) for k, c in enumerate(plane.coords.tolist())}
    xlabel, ylabel = pl.plane_labels({"directions": "three-point", "seeds": order})
    axes_kw = {"xlabel": xlabel, "ylabel": ylabel, "quantity": "training loss"}
    fig = pl.overview(
        alphas, betas, s.values, res, scale="log", title=title, trajectories=paths,
        points=named, **axes_kw,
    )  # fmt: skip
    pl.save(fig, out / "overview")
    pl.save(
        pl.contour(
            alphas, betas, s.values, analysis=res, basins=res.basins, title="basins",
            scale="log", points=named, **axes_kw,
        ),
        out / "basins",
    )  # fmt: skip
    pl.save(
        pl.surface(alphas, betas, s.values, scale="log", quantity="training loss"),
        out / "surface",
    )
    pl.save(
        pl.curves(
            t,
            lines,
            log_scale=True,
            marks={"start": 0.0, "end": 1.0},
            xlabel="interpolation coefficient",
            ylabel="training loss",
            title="straight lines between the solutions",
        ),
        out / "lines",
    )
    pl.save(
        pl.interpolation(
            {k: v[0] for k, v in curves_.items()}, {k: v[1] for k, v in curves_.items()},
            log_scale=True, loss_label="training loss", marks={"start": 0.0, "end": 1.0},
            title="straight lines vs trained Bezier curves",
        ),
        out / "paths",
    )  # fmt: skip

    summary = {
        "config": dataclasses.asdict(cfg),
        "provenance": store.provenance(),
        "final_train_losses": final.tolist(),
        "solutions_in_plane": order,
        "solution_distances": dists,
        "solution_coords": plane.coords.tolist(),
        "solution_nearest_minimum": sol_min,
        "slice_metadata": dict(s.metadata),
        "minima": [m.to_dict() for m in res.minima],
        "barriers": res.barriers.tolist(),
        "barrier_heights": res.barrier_heights().tolist(),
        "basin_fractions": res.basin_fractions.tolist(),
        "n_grid_minima": res.n_grid_minima,
        "persistence_threshold": res.persistence_threshold,
        "line_barriers": line_barriers,
        "path_barriers": path_barriers,
    }
    _io.write_json(out / "summary.json", summary)
    lines_md = [
        f"# Adding network: plane through three solutions ({cfg.optimizer}, {cfg.steps} steps)",
        "",
        f"Train losses of the three solutions: {', '.join(f'{final[i]:.2e}' for i in order)}; "
        f"pairwise weight distances {', '.join(f'{v:.2f}' for v in dists.values())}.",
        "",
        "| minimum | point (plane coords) | loss | global | on edge | basin share | sharpness |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, m in enumerate(res.minima):
        lines_md.append(
            f"| {k} | ({m.point[0]:.3f}, {m.point[1]:.3f}) | {m.value:.3e} | {m.is_global} | "
            f"{m.on_boundary} | {m.basin_fraction:.2f} | {m.sharpness:.3g} |"
        )
    lines_md += ["", "Barrier heights over the higher minimum of each pair (minimax path):", ""]
    vals = np.array([m.value for m in res.minima])
    for a, b in itertools.combinations(range(len(res.minima)), 2):
        h = res.barriers[a, b] - max(vals[a], vals[b])
        lines_md.append(f"- minima {a}-{b}: {h:.3g}")
    lines_md += ["", "Loss barrier along the straight line between solutions:", ""]
    lines_md += [f"- {k}: {v:.3g}" for k, v in line_barriers.items()]
    lines_md += ["", "Barrier along a trained Bezier curve (straight segment t in [0, 1]):", ""]
    lines_md += [
        f"- {k}: {v['bezier']:.3g} (straight {v['straight']:.3g})" for k, v in path_barriers.items()
    ]
    _io.atomic_write_text(out / "summary.md", "\n".join(lines_md) + "\n")
    print("\n".join(lines_md))
    print(f"\nwrote {out}/")
    return summary


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=Config.seeds)
    p.add_argument("--steps", type=int, default=Config.steps)
    p.add_argument("--resolution", type=int, default=Config.resolution)
    p.add_argument("--optimizer", default=Config.optimizer)
    p.add_argument("--learning-rate", type=float, default=Config.learning_rate)
    p.add_argument("--out", default=Config.out)
    a = p.parse_args()
    main(
        Config(
            optimizer=a.optimizer,
            learning_rate=a.learning_rate,
            seeds=a.seeds,
            steps=a.steps,
            resolution=a.resolution,
            out=a.out,
        )
    )
