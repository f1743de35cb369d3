"""``optlab landscape``: train, slice, analyse and plot a loss landscape in one command."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

NAME = "landscape"
HELP = (
    "Train a problem with an optimizer, then compute a 2-D loss slice (random, PCA, "
    "three-point or Hessian plane), find its minima, saddles, barriers and basins, and plot it."
)

DIRECTIONS = ("random", "pca", "three-point", "hessian", "axes")

_EPILOG = """\
directions:
  random       filter-normalized Gaussian plane through the trained params (Li et al. 2018)
  pca          top-2 PCA plane of the training trajectory, centred on the final params
  three-point  plane through the solutions of three seeds (seed, seed+1, seed+2)
  hessian      the top-2 Hessian eigenvectors at the trained params (Lanczos)
  axes         the coordinate plane of a 2-D analytic problem (the function itself)

--range is in units of the directions (random: filter norms; pca: unit vectors; three-point:
||theta_1 - theta_0||). Without it: random/hessian [-1, 1], pca and three-point cover the
trajectory / the three solutions with a margin, axes the problem's standard box.

examples:
  optlab landscape --problem adder --optimizer adam --steps 2000 --directions three-point
  optlab landscape --problem digits-mlp --optimizer sgd --steps 1000 --directions pca \\
                   --resolution 41 --out results/landscape/digits-pca
  optlab landscape --problem six-hump-camel --optimizer adam --steps 300
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("--problem", default="adder", help="problem name (default adder)")
    parser.add_argument("--optimizer", default="adam", help="optimizer name (default adam)")
    parser.add_argument("--learning-rate", type=float, help="default: the problem's own")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="training / direction seed")
    parser.add_argument(
        "--directions",
        choices=DIRECTIONS,
        help="plane to slice (default: axes for 2-D analytic problems, else random)",
    )
    parser.add_argument(
        "--normalization",
        choices=("filter", "layer", "none"),
        default="filter",
        help="random directions' normalization (default filter)",
    )
    parser.add_argument(
        "--ignore-biases", action="store_true", help="zero the biases in random directions"
    )
    parser.add_argument("--resolution", type=int, default=41, help="grid points per axis")
    parser.add_argument(
        "--range", type=float, nargs=2, metavar=("LO", "HI"), help="coordinate range (both axes)"
    )
    parser.add_argument(
        "--split",
        default="train",
        choices=("train", "val", "test"),
        help="data split the landscape loss is computed on (default train)",
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--batch-size", type=int, help="grid points per compiled chunk")
    parser.add_argument(
        "--scale",
        choices=("auto", "log", "linear"),
        default="auto",
        help="colour scale of the plots (auto: log for networks, linear for 2-D functions)",
    )
    parser.add_argument(
        "--persistence",
        type=float,
        help="persistence threshold for minima (default: 1e-6 of the value range)",
    )
    parser.add_argument("--out", help="output folder (default results/landscape/<...>)")
    parser.add_argument("--quiet", action="store_true")


def _log(args, msg):
    if not args.quiet:
        print(msg, flush=True)


def run(args) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from optlab import landscape as ls
    from optlab import problems, train
    from optlab.plot import landscape as pl

    if args.resolution < 3:
        raise ValueError(f"--resolution must be >= 3, got {args.resolution}")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.range is not None and not (
        all(math.isfinite(r) for r in args.range) and args.range[0] < args.range[1]
    ):
        raise ValueError(f"--range must be two finite numbers LO < HI, got {args.range}")
    problem = problems.get(args.problem)
    analytic = problem.fn is not None
    log_scale = args.scale == "log" or (args.scale == "auto" and not analytic)
    directions = args.directions or ("axes" if analytic else "random")
    if directions == "axes" and not analytic:
        raise ValueError("--directions axes needs a 2-D analytic problem")
    out = Path(args.out or f"results/landscape/{args.problem}-{args.optimizer}-{directions}")
    out.mkdir(parents=True, exist_ok=True)
    lr = args.learning_rate or problem.default_learning_rate
    hp = {"learning_rate": lr}

    def fit(seed):
        return train.train(
            problem,
            args.optimizer,
            steps=args.steps,
            key=jax.random.key(seed),
            hyperparams=hp,
            snapshot_every=max(1, args.steps // 50),
        )

    t0 = time.perf_counter()
    seeds = (
        [args.seed, args.seed + 1, args.seed + 2] if directions == "three-point" else [args.seed]
    )
    runs = [fit(s) for s in seeds]
    _log(
        args,
        f"trained {len(runs)} run(s) in {time.perf_counter() - t0:.1f}s; final losses "
        + ", ".join(f"{r.loss[-1]:.4g}" for r in runs),
    )
    if problem.data is not None:
        loss_fn = ls.problem_loss(problem, args.split)  # fast path for small MLPs
    else:

        def loss_fn(p):
            return problem.loss(p, None)

    params = jax.tree_util.tree_map(jnp.asarray, runs[0].final_params)
    meta = {
        "problem": args.problem,
        "optimizer": args.optimizer,
        "learning_rate": lr,
        "steps": args.steps,
        "seeds": seeds,
        "directions": directions,
        "split": args.split,
        "final_losses": [float(r.loss[-1]) for r in runs],
    }
    paths = {}
    if directions == "random":
        d1, d2 = ls.random_directions(
            jax.random.fold_in(jax.random.key(args.seed), 7),
            params,
            args.normalization,
            ignore_biases=args.ignore_biases,
        )
        center = params
        meta.update(
            normalization=args.normalization,
            ignore_biases=args.ignore_biases,
            direction_seed=args.seed,
        )
        lo, hi = args.range or (-1.0, 1.0)
        rng_a = rng_b = (lo, hi)
    elif directions == "pca":
        pca = ls.pca_directions(runs[0].snapshots)
        center, d1, d2 = pca.center, pca.d1, pca.d2
        meta["explained_variance_ratio"] = pca.explained_variance_ratio.tolist()
        coords = ls.project_trajectory(runs[0].snapshots, center, d1, d2).coords
        paths[args.optimizer] = coords
        rng_a, rng_b = _cover(coords, args.range)
    elif directions == "three-point":
        plane = ls.plane_through(*[r.final_params for r in runs])
        center, d1, d2 = plane.origin, plane.d1, plane.d2
        meta["solution_coords"] = plane.coords.tolist()
        for s, r in zip(seeds, runs, strict=True):
            paths[f"seed {s}"] = ls.project_trajectory(r.snapshots, center, d1, d2).coords
        rng_a, rng_b = _cover(plane.coords, args.range, margin=0.5)
    elif directions == "hessian":
        d1, d2, vals = ls.hessian_directions(loss_fn, params, key=jax.random.key(args.seed))
        center = params
        meta["hessian_top_eigenvalues"] = vals.tolist()
        lo, hi = args.range or (-1.0, 1.0)
        rng_a = rng_b = (lo, hi)
    else:  # axes of an analytic problem
        center = jnp.zeros(2, jnp.float32)
        d1, d2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
        paths[args.optimizer] = np.asarray(runs[0].snapshots, np.float64).reshape(-1, 2)
        if args.range:
            rng_a = rng_b = tuple(args.range)
        else:
            rng_a, rng_b = problem.bounds
    alphas = np.linspace(*rng_a, args.resolution)
    betas = np.linspace(*rng_b, args.resolution)
    s = ls.compute_slice(
        loss_fn,
        center,
        d1,
        d2,
        alphas,
        betas,
        batch_size=args.batch_size,
        dtype=args.dtype,
        metadata=meta,
    )
    _log(
        args,
        f"slice {args.resolution}x{args.resolution}: {s.metadata['seconds']:.2f}s "
        f"({s.metadata['points_per_second']:.0f} points/s incl. compilation, "
        f"chunk {s.metadata['batch_size']})",
    )
    g = ls.slice_function(loss_fn, center, d1, d2)
    res = ls.analyze_grid(
        s.values, alphas, betas, g, persistence_threshold=args.persistence, refine_dtype=args.dtype
    )
    if not analytic and res.minima:
        sharp = ls.sharpness_at(
            loss_fn, center, d1, d2, [m.point for m in res.minima[:8]], num_iter=20
        )
        meta["sharpness_top_eigenvalue"] = sharp.tolist()
    arrays = {f"traj_{i}": np.asarray(c) for i, c in enumerate(paths.values())}
    meta["trajectory_labels"] = list(paths)
    s = ls.Slice(s.alphas, s.betas, s.values, {**s.metadata, **meta})
    ls.save_slice(out / "slice", s, arrays=arrays)
    ls.save_analysis(out / "analysis", res)
    labels = (
        ("x", "y")
        if directions == "axes"
        else (r"$\alpha$ (direction 1)", r"$\beta$ (direction 2)")
    )
    title = f"{args.problem}, {args.optimizer}, {directions} plane"
    pl.save(
        pl.contour(
            alphas,
            betas,
            s.values,
            analysis=res,
            log_scale=log_scale,
            trajectories=paths or None,
            title=title,
            xlabel=labels[0],
            ylabel=labels[1],
        ),
        out / "contour",
    )
    pl.save(
        pl.contour(
            alphas,
            betas,
            s.values,
            analysis=res,
            basins=res.basins,
            title=f"basins: {title}",
            xlabel=labels[0],
            ylabel=labels[1],
        ),
        out / "basins",
    )
    pl.save(pl.surface(alphas, betas, s.values, log_scale=log_scale), out / "surface")
    pl.save(pl.disconnectivity(res, title="minima and barriers"), out / "disconnectivity")
    mid = args.resolution // 2
    pl.save(
        pl.curves(
            alphas,
            {"along direction 1": s.values[:, mid]},
            log_scale=log_scale,
            xlabel=labels[0],
        ),
        out / "curve",
    )
    summary = {
        "minima": len(res.minima),
        "global_minimum": res.minima[0].to_dict() if res.minima else None,
        "saddles": len(res.saddles),
        "nonfinite_fraction": res.nonfinite_fraction,
        "points_per_second": s.metadata["points_per_second"],
    }
    with open(out / "summary.json", "w") as fh:
        json.dump(ls.analysis._jsonable(summary), fh, indent=2)
    _log(
        args,
        f"{len(res.minima)} minima, {len(res.saddles)} saddles; "
        + (
            f"global min {res.minima[0].value:.5g} at {np.round(res.minima[0].point, 4)}"
            if res.minima
            else "no finite values"
        ),
    )
    _log(
        args,
        f"wrote {out}/ (slice.json/.npz, analysis.json/.npz, contour/basins/surface/"
        "disconnectivity/curve .pdf/.png)",
    )
    return 0


def _cover(coords, given, margin=0.25):
    import numpy as np

    if given:
        return tuple(given), tuple(given)
    c = np.asarray(coords, np.float64)
    lo, hi = c.min(axis=0), c.max(axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))
