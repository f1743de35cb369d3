"""``optlab landscape``: train, slice, analyse and plot a loss landscape in one command.

The work is :func:`optlab.pipelines.landscape.run`; this module parses the options into its
config, draws the figures from the result (``optlab.plot.landscape``) and prints.
"""

from __future__ import annotations

import argparse

import numpy as np

NAME = "landscape"
HELP = (
    "Train a problem with an optimizer (or load a study's tuned runs), then compute a 2-D loss "
    "slice (random, PCA, three-point or Hessian plane) or a 1-D line between two solutions, "
    "find minima, saddles, barriers and basins or a low-loss path, and plot them."
)

# the choices of --directions (optlab.pipelines.landscape.DIRECTIONS; not imported here so
# that `optlab --help` does not load jax)
DIRECTIONS = ("random", "pca", "three-point", "hessian", "axes", "line")
PATHS = ("bezier", "polychain", "neb")

_EPILOG = """\
directions:
  random       filter-normalized Gaussian plane through the trained params (Li et al. 2018)
  pca          top-2 PCA plane of the training trajectory, centred on the final params
  three-point  plane through the solutions of three seeds (seed, seed+1, seed+2)
  hessian      the top-2 Hessian eigenvectors at the trained params (Lanczos)
  axes         the coordinate plane of a 2-D analytic problem (the function itself)
  line         1-D: the straight line between the solutions of two seeds (seed, seed+1),
               loss and accuracy on the train and test splits (Goodfellow et al. 2015);
               with --path, also a low-loss path trained between them (mode connectivity:
               bezier / polychain, Garipov et al. 2018; neb, Draxler et al. 2018)

figures: contour (the loss with labelled levels; networks on a log colour scale of the loss
itself), basins, surface, disconnectivity, curve (the loss along the line beta = 0 through
the plane's centre: for three-point, the line through the first two solutions), accuracy
(classification problems: loss and accuracy side by side); line: interpolation (and path).
--scale above-min draws loss - min(loss) on a log scale, labelled so.

--from-study DIR uses the stored final params of the study's tuned runs of --problem and
--optimizer (no training; three-point takes three seeds, line two; pca is not available).

--range is in units of the directions (random: filter norms; pca: unit vectors; three-point:
||theta_1 - theta_0||; line: t, default -0.5 1.5). Without it: random/hessian [-1, 1], pca
and three-point cover the trajectory / the three solutions with a margin, axes the problem's
standard box.

examples:
  optlab landscape --problem adder --optimizer adam --steps 2000 --directions three-point
  optlab landscape --problem digits-mlp --optimizer sgd --steps 1000 --directions pca \\
                   --resolution 41 --out results/landscape/digits-pca
  optlab landscape --problem six-hump-camel --optimizer adam --steps 300
  optlab landscape --problem digits-mlp --directions line --path bezier --steps 1000
  optlab landscape --problem adder --optimizer adam --hp b1=0.95 --directions pca
  optlab landscape --from-study results/study --problem digits-mlp --optimizer adam \\
                   --directions three-point
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
        help="plane to slice, or line (default: axes for 2-D analytic problems, else random)",
    )
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an optimizer hyperparameter (repeatable), e.g. --hp b1=0.95 --hp eps=1e-6",
    )
    parser.add_argument(
        "--from-study",
        metavar="DIR",
        help="use the stored final params of this study's runs (no training)",
    )
    parser.add_argument(
        "--path",
        choices=PATHS,
        help="with --directions line: fit a low-loss path of this kind between the solutions",
    )
    parser.add_argument(
        "--path-steps", type=int, default=500, help="steps of the path fit (default 500)"
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
        choices=("auto", "log", "linear", "above-min"),
        default="auto",
        help="colour scale of the plots (auto: log for networks, linear for 2-D functions; "
        "above-min: loss - min on a log scale)",
    )
    parser.add_argument(
        "--persistence",
        type=float,
        help="persistence threshold for minima (default: 1e-6 of the value range)",
    )
    parser.add_argument("--out", help="output folder (default results/landscape/<...>)")
    parser.add_argument("--quiet", action="store_true")


def _config(args):
    from optlab.pipelines.landscape import LandscapeConfig, parse_hyperparams

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
        hyperparams=parse_hyperparams(args.hp),
        from_study=args.from_study,
        path=args.path,
        path_steps=args.path_steps,
    )


def _draw(result) -> None:
    from optlab.plot import landscape as pl

    cfg, s, res = result.config, result.slice, result.analysis
    xlabel, ylabel = pl.plane_labels(s.metadata)
    quantity = next(iter(result.line["values"]))
    origin = "stored runs of a study" if cfg.from_study else cfg.optimizer
    pl.save_standard_figures(
        result.out,
        s.alphas,
        s.betas,
        s.values,
        res,
        basins=res.basins,
        trajectories=result.paths,
        title=f"{cfg.problem}, {origin}, {result.directions} plane",
        scale=result.scale,
        quantity=quantity,
        points=result.points or None,
        line={**result.line, "xlabel": xlabel},
        accuracy=result.accuracy,
        xlabel=xlabel,
        ylabel=ylabel,
    )


def _draw_line(result) -> list[str]:
    """``interpolation`` (the straight line, t in the range) and, with a path, ``path``."""
    from optlab.plot import landscape as pl

    cfg = result.config
    seeds = result.seeds
    marks = {f"seed {seeds[0]}": 0.0, f"seed {seeds[1]}": 1.0}
    xlabel = rf"$t$ in $(1-t)\,\theta_{{{seeds[0]}}} + t\,\theta_{{{seeds[1]}}}$"
    losses = {k.replace(" loss", ""): v for k, v in result.values.items() if "loss" in k}
    accs = {k.replace(" accuracy", ""): v for k, v in result.values.items() if "accuracy" in k}
    log_scale = cfg.scale in ("auto", "log")
    fig = pl.interpolation(
        result.ts, losses, accs or None, marks=marks, log_scale=log_scale, xlabel=xlabel,
        title=f"{cfg.problem}: straight line between seeds {seeds[0]} and {seeds[1]}",
    )  # fmt: skip
    pl.save(fig, result.out / "interpolation")
    names = ["interpolation"]
    if result.path is not None:
        st, pa, pt = result.straight, result.path, result.path_test
        losses = {"train, straight line": st.losses, f"train, {cfg.path} path": pa.losses}
        ts = {"train, straight line": st.ts, f"train, {cfg.path} path": pa.ts}
        accs = {}
        if "train accuracy" in st.metrics:
            accs = {"train, straight line": st.metrics["train accuracy"],
                    f"train, {cfg.path} path": pa.metrics["train accuracy"]}  # fmt: skip
        if "test loss" in st.metrics:
            losses["test, straight line"] = st.metrics["test loss"]
            ts["test, straight line"] = st.ts
            if "test accuracy" in st.metrics:
                accs["test, straight line"] = st.metrics["test accuracy"]
        if pt is not None:
            losses[f"test, {cfg.path} path"] = pt.losses
            ts[f"test, {cfg.path} path"] = pt.ts
            if "test accuracy" in pt.metrics:
                accs[f"test, {cfg.path} path"] = pt.metrics["test accuracy"]
        fig = pl.interpolation(
            ts, losses, accs or None, marks=marks, log_scale=log_scale,
            title=(f"{cfg.problem}: training-loss barrier {st.barrier:.3g} (straight line) "
                   f"vs {pa.barrier:.3g} ({cfg.path} path)"),
        )  # fmt: skip
        pl.save(fig, result.out / "path")
        names.append("path")
    return names


def run(args) -> int:
    from optlab.pipelines import landscape as pipeline

    def log(msg):
        if not args.quiet:
            print(msg, flush=True)

    result = pipeline.run(_config(args), log=log)
    if isinstance(result, pipeline.LineResult):
        names = _draw_line(result)
        log(f"wrote {result.out}/ (line.json/.npz, {'/'.join(names)} .pdf/.png)")
        return 0
    _draw(result)
    res = result.analysis
    if res.minima:
        best = res.minima[0]
        found = f"global min {best.value:.5g} at {np.round(best.point, 4)}"
    else:
        found = "no finite values"
    log(f"{len(res.minima)} minima, {len(res.saddles)} saddles; {found}")
    extra = "/accuracy" if result.accuracy is not None else ""
    log(
        f"wrote {result.out}/ (slice.json/.npz, analysis.json/.npz, contour/basins/surface/"
        f"disconnectivity/curve{extra} .pdf/.png)"
    )
    return 0
