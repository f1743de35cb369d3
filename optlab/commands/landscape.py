"""``optlab landscape``: train, slice, analyse and plot a loss landscape in one command.

The work is :func:`optlab.pipelines.landscape.run`; this module parses the options into its
config, draws the figures from the result (``optlab.plot.landscape``) and prints.
"""

from __future__ import annotations

import argparse

import numpy as np

NAME = "landscape"
HELP = (
    "Train a problem with an optimizer, then compute a 2-D loss slice (random, PCA, "
    "three-point or Hessian plane), find its minima, saddles, barriers and basins, and plot it."
)

# the choices of --directions (optlab.pipelines.landscape.DIRECTIONS; not imported here so
# that `optlab --help` does not load jax)
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
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "float64"),
        help="precision of training, slice and analysis (default float32)",
    )
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


def _config(args):
    from optlab.pipelines.landscape import LandscapeConfig

    return LandscapeConfig(
        problem=args.problem,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        steps=args.steps,
        seed=args.seed,
        directions=args.directions,
        normalization=args.normalization,
        ignore_biases=args.ignore_biases,
        resolution=args.resolution,
        coord_range=tuple(args.range) if args.range is not None else None,
        split=args.split,
        dtype=args.dtype,
        batch_size=args.batch_size,
        scale=args.scale,
        persistence=args.persistence,
        out=args.out,
    )


def _draw(result) -> None:
    from optlab.plot import landscape as pl

    cfg, s, res = result.config, result.slice, result.analysis
    if result.directions == "axes":
        labels = {"xlabel": "x", "ylabel": "y"}
    else:
        labels = {"xlabel": r"$\alpha$ (direction 1)", "ylabel": r"$\beta$ (direction 2)"}
    pl.save_standard_figures(
        result.out,
        s.alphas,
        s.betas,
        s.values,
        res,
        basins=res.basins,
        trajectories=result.paths,
        title=f"{cfg.problem}, {cfg.optimizer}, {result.directions} plane",
        log_scale=result.log_scale,
        **labels,
    )


def run(args) -> int:
    from optlab.pipelines import landscape as pipeline

    def log(msg):
        if not args.quiet:
            print(msg, flush=True)

    result = pipeline.run(_config(args), log=log)
    _draw(result)
    res = result.analysis
    if res.minima:
        best = res.minima[0]
        found = f"global min {best.value:.5g} at {np.round(best.point, 4)}"
    else:
        found = "no finite values"
    log(f"{len(res.minima)} minima, {len(res.saddles)} saddles; {found}")
    log(
        f"wrote {result.out}/ (slice.json/.npz, analysis.json/.npz, contour/basins/surface/"
        "disconnectivity/curve .pdf/.png)"
    )
    return 0
