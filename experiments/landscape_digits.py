"""Digits MLP: a filter-normalized random plane and a PCA plane, SGD's and Adam's paths on it.

A 64-128-10 ReLU MLP is trained on scikit-learn's 8x8 digits (1,797 real handwritten digits)
with SGD and with Adam from the same initialization and minibatch order (paired seeds). Two
planes are sliced through the training loss:

1. **random**: filter-normalized Gaussian directions (Li et al., 2018) through Adam's
   solution, biases left out; contours in log scale, minima refined, basins.
2. **PCA**: the top-2 principal directions of both trajectories' snapshots together
   (centred on their mean), so both paths can be drawn on one plane (least-squares
   projection); the explained variance says how much of the motion the plane captures.

At both solutions the top Hessian eigenvalues are computed by Lanczos and the spectrum by
stochastic Lanczos quadrature. Training, slicing, analysis and saving are the steps of
``optlab.pipelines.landscape``.

Run:
    python experiments/landscape_digits.py                  # ~2 min on a 2-core CPU
    python experiments/landscape_digits.py --steps 2000 --resolution 51 --out results/ld

Outputs (``results/landscape_digits/``): ``random.*`` and ``pca.*`` slices, analyses and
figures (.pdf/.png), ``spectrum`` figure, ``summary.json`` (config, provenance with versions
and git commit, accuracies, explained variance, minima, eigenvalues) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _io, problems, store
from optlab import landscape as ls
from optlab.pipelines import landscape as lp
from optlab.plot import landscape as pl


@dataclass(frozen=True)
class Config:
    optimizers: tuple[tuple[str, float], ...] = (("sgd", 0.1), ("adam", 1e-3))
    steps: int = 1000
    seed: int = 0
    snapshot_every: int = 20
    resolution: int = 41
    random_range: float = 1.0
    margin: float = 0.3
    lanczos_k: int = 5
    out: str = "results/landscape_digits"


def main(cfg: Config) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    problem = problems.get("digits-mlp")
    loss_fn = lp.loss_function(problem, "train")

    runs = {}
    for name, lr in cfg.optimizers:
        t0 = time.perf_counter()
        (r,) = lp.train_runs(
            problem,
            name,
            [cfg.seed],
            steps=cfg.steps,
            learning_rate=lr,
            snapshot_every=cfg.snapshot_every,
        )
        runs[name] = r
        print(
            f"{name}: train loss {r.final.get('train_loss', float('nan')):.4f}, "
            f"val acc {r.final.get('val_accuracy', float('nan')):.4f} "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    names = list(runs)
    ref = names[-1]  # the random plane is centred on the last optimizer's solution (Adam)
    center = jax.tree_util.tree_map(jnp.asarray, runs[ref].final_params)
    summary: dict = {
        "config": dataclasses.asdict(cfg),
        "provenance": store.provenance(),
        "final": {n: runs[n].final for n in names},
    }

    # 1. random filter-normalized plane
    d1, d2 = ls.random_directions(
        jax.random.key(cfg.seed + 100), center, "filter", ignore_biases=True
    )
    a = np.linspace(-cfg.random_range, cfg.random_range, cfg.resolution)
    s, res = lp.slice_and_analyse(
        loss_fn,
        center,
        d1,
        d2,
        a,
        a,
        metadata={
            "directions": "random",
            "normalization": "filter",
            "ignore_biases": True,
            "direction_seed": cfg.seed + 100,
            "center": ref,
        },
    )
    lp.save_landscape(out, s, res, prefix="random_")
    pl.save(
        pl.overview(
            a,
            a,
            s.values,
            res,
            log_scale=True,
            title=f"digits MLP, random filter-normalized plane at {ref}",
        ),
        out / "random_overview",
    )
    pl.save(pl.surface(a, a, s.values, log_scale=True), out / "random_surface")
    mid = cfg.resolution // 2
    pl.save(
        pl.curves(
            a,
            {"direction 1": s.values[:, mid], "direction 2": s.values[mid, :]},
            log_scale=True,
            xlabel="step along the direction",
        ),
        out / "random_curves",
    )
    summary["random"] = {
        "metadata": dict(s.metadata),
        "minima": [m.to_dict() for m in res.minima],
        "n_grid_minima": res.n_grid_minima,
    }
    print(
        f"random plane: {s.metadata['points_per_second']:.0f} points/s, "
        f"{len(res.minima)} minima; global {res.minima[0].value:.4f} at "
        f"{np.round(res.minima[0].point, 3)}"
    )

    # 2. PCA plane of both trajectories together
    snaps = [runs[n].snapshots for n in names]
    both = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *snaps)
    pca = ls.pca_directions(both, center="mean")
    proj = {n: ls.project_trajectory(runs[n].snapshots, pca.center, pca.d1, pca.d2) for n in names}
    coords = np.concatenate([p.coords for p in proj.values()])
    lo, hi = coords.min(0), coords.max(0)
    span = hi - lo
    alphas = np.linspace(lo[0] - cfg.margin * span[0], hi[0] + cfg.margin * span[0], cfg.resolution)
    betas = np.linspace(lo[1] - cfg.margin * span[1], hi[1] + cfg.margin * span[1], cfg.resolution)
    sp, resp = lp.slice_and_analyse(
        loss_fn,
        pca.center,
        pca.d1,
        pca.d2,
        alphas,
        betas,
        metadata={
            "directions": "pca",
            "explained_variance_ratio": pca.explained_variance_ratio.tolist(),
            "center": "mean of both trajectories",
        },
    )
    paths = {n: proj[n].coords for n in names}
    lp.save_landscape(
        out, sp, resp, arrays={f"traj_{n}": v for n, v in paths.items()}, prefix="pca_"
    )
    ev = pca.explained_variance_ratio
    pl.save(
        pl.trajectories(
            alphas,
            betas,
            sp.values,
            paths,
            analysis=resp,
            xlabel=f"PC 1 ({100 * ev[0]:.0f}% var.)",
            ylabel=f"PC 2 ({100 * ev[1]:.0f}% var.)",
            title="digits MLP: SGD and Adam on the PCA plane",
        ),
        out / "pca_trajectories",
    )
    summary["pca"] = {
        "explained_variance_ratio": ev.tolist(),
        "relative_residual_max": {n: float(proj[n].relative_residual.max()) for n in names},
        "minima": [m.to_dict() for m in resp.minima],
        "metadata": dict(sp.metadata),
    }
    print(f"PCA plane: explained variance {np.round(ev, 3)}; {len(resp.minima)} minima")

    # 3. curvature at both solutions
    eig, dens = {}, None
    for n in names:
        p = jax.tree_util.tree_map(jnp.asarray, runs[n].final_params)
        e = ls.lanczos(loss_fn, p, k=cfg.lanczos_k, num_iter=40, key=jax.random.key(1))
        tr = ls.hutchinson_trace(loss_fn, p, key=jax.random.key(2), num_probes=50)
        eig[n] = {"top": e.values.tolist(), "trace": tr.mean, "trace_stderr": tr.stderr}
        print(f"{n}: top Hessian eigenvalues {np.round(e.values, 3)}, trace {tr.mean:.2f}")
        if n == ref:
            grid, d, _ = ls.spectral_density(
                loss_fn, p, key=jax.random.key(3), num_probes=3, num_iter=60
            )
            dens = (grid, d)
            top = e.values
    summary["hessian"] = eig
    pl.save(
        pl.spectrum(top, density=dens, title=f"Hessian spectrum at {ref}'s solution"),
        out / "spectrum",
    )
    _io.write_json(out / "summary.json", summary)
    md = [
        f"# Digits MLP landscape ({cfg.steps} steps, seed {cfg.seed})",
        "",
        "| optimizer | train loss | val accuracy | top Hessian eigenvalue | Hessian trace |",
        "|---|---|---|---|---|",
    ]
    for n in names:
        f = runs[n].final
        md.append(
            f"| {n} | {f.get('train_loss', float('nan')):.4f} | "
            f"{f.get('val_accuracy', float('nan')):.4f} | {eig[n]['top'][0]:.3g} | "
            f"{eig[n]['trace']:.3g} ± {eig[n]['trace_stderr']:.2g} |"
        )
    md += [
        "",
        f"Random plane at {ref}: {len(res.minima)} minima (persistence-filtered), global "
        f"{res.minima[0].value:.4g} at {np.round(res.minima[0].point, 3).tolist()}; "
        f"step relative to ||theta||: {s.metadata['step_relative']:.2f}.",
        f"PCA plane: explained variance {np.round(ev, 3).tolist()}; max relative distance of "
        "the paths from the plane: "
        + ", ".join(f"{n} {summary['pca']['relative_residual_max'][n]:.2f}" for n in names),
    ]
    _io.atomic_write_text(out / "summary.md", "\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nwrote {out}/")
    return summary


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=Config.steps)
    p.add_argument("--seed", type=int, default=Config.seed)
    p.add_argument("--resolution", type=int, default=Config.resolution)
    p.add_argument("--out", default=Config.out)
    a = p.parse_args()
    main(Config(steps=a.steps, seed=a.seed, resolution=a.resolution, out=a.out))
