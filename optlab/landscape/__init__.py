"""Loss landscapes: slices through any model, refined minima, saddles, barriers, basins, curvature.

Typical use::

    from optlab import landscape as ls
    d1, d2 = ls.random_directions(key, params, "filter", ignore_biases=True)
    grid = ls.slice_2d(loss_fn, params, d1, d2, alphas, betas)       # compiled, chunked
    res = ls.analyze_slice(ls.slice_function(loss_fn, params, d1, d2), bounds, 51)
    res.minima, res.saddles, res.barriers, res.basin_fractions, res.merge_tree

Submodules: ``directions`` (random/filter-normalized, PCA, plane/line through points),
``slices`` (compiled grid evaluation, sharded over devices by ``optlab.distributed``),
``analysis`` (a package: ``grid``, ``merge_tree``, ``refine``, ``results``: minima, saddles,
barriers, basins), ``curvature`` (HVP, Lanczos, Hutchinson, SLQ), ``paths`` (low-loss paths
between two solutions: Bezier curves, polygonal chains, nudged elastic bands) and ``io``
(JSON + npz files). Nothing here depends on training: ``optlab.pipelines.landscape``
combines the two.
"""

from optlab.landscape.analysis import (
    Minimum,
    Saddle,
    SliceAnalysis,
    analyze_grid,
    analyze_slice,
    evaluate_grid,
    find_minima,
)
from optlab.landscape.curvature import (
    Eigen,
    TraceEstimate,
    hessian_directions,
    hutchinson_trace,
    hvp,
    lanczos,
    sharpness_at,
    spectral_density,
)
from optlab.landscape.directions import (
    NORMALIZATIONS,
    PCADirections,
    Plane,
    Projection,
    direction_stats,
    line_through,
    normalize_direction,
    orthogonalize_pair,
    pca_directions,
    plane_through,
    project_trajectory,
    random_directions,
    stack_snapshots,
)
from optlab.landscape.io import (
    load_analysis,
    load_slice,
    save_analysis,
    save_slice,
    write_json,
)
from optlab.landscape.paths import PathResult, connect, evaluate_path, fit_curve, fit_neb
from optlab.landscape.slices import (
    ProblemLoss,
    Slice,
    auto_batch_size,
    compute_slice,
    evaluate_points,
    problem_loss,
    slice_1d,
    slice_2d,
    slice_function,
)

__all__ = [
    "ProblemLoss",
    "problem_loss",
    "NORMALIZATIONS",
    "Eigen",
    "Minimum",
    "PathResult",
    "PCADirections",
    "Plane",
    "Projection",
    "Saddle",
    "Slice",
    "SliceAnalysis",
    "TraceEstimate",
    "analyze_grid",
    "analyze_slice",
    "auto_batch_size",
    "compute_slice",
    "connect",
    "direction_stats",
    "evaluate_grid",
    "evaluate_path",
    "evaluate_points",
    "find_minima",
    "fit_curve",
    "fit_neb",
    "hessian_directions",
    "hutchinson_trace",
    "hvp",
    "lanczos",
    "line_through",
    "load_analysis",
    "load_slice",
    "normalize_direction",
    "orthogonalize_pair",
    "pca_directions",
    "plane_through",
    "project_trajectory",
    "random_directions",
    "save_analysis",
    "save_slice",
    "sharpness_at",
    "slice_1d",
    "slice_2d",
    "slice_function",
    "spectral_density",
    "stack_snapshots",
    "write_json",
]
