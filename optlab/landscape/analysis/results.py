"""The results of a landscape analysis: minima, saddles and the whole :class:`SliceAnalysis`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from optlab._io import jsonable

__all__ = ["Minimum", "Saddle", "SliceAnalysis"]


@dataclasses.dataclass(frozen=True)
class Minimum:
    """A local minimum of a 2-D function on a box.

    Attributes:
      point: refined location, shape ``(2,)``.
      value: ``f(point)``.
      is_global: the lowest minimum found (ties within ``global_tol`` all count).
      on_boundary: it sits on the box edge with the gradient pointing outward, so it is a
        minimum of ``f`` restricted to the box, not a critical point of ``f``.
      grid_point, grid_value, grid_index: the grid vertex it was found at.
      refined: the refinement converged (to a critical point, or to a constrained minimum on
        the edge).
      gradient_norm: norm of the gradient's free part at ``point``.
      hessian_eigenvalues: eigenvalues of the 2x2 Hessian at ``point`` (ascending).
      persistence: merge-tree persistence (``inf`` for the lowest minimum of its component).
      basin_fraction: fraction of the box's grid vertices whose steepest descent ends here.
    """

    point: np.ndarray
    value: float
    is_global: bool
    on_boundary: bool
    grid_point: np.ndarray
    grid_value: float
    grid_index: tuple[int, int]
    refined: bool
    gradient_norm: float
    hessian_eigenvalues: np.ndarray
    persistence: float
    basin_fraction: float = float("nan")

    @property
    def sharpness(self) -> float:
        """Largest Hessian eigenvalue of the slice at the minimum."""
        return float(np.max(self.hessian_eigenvalues))

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Saddle:
    """An index-1 saddle: the point where two minima's basins (sublevel sets) merge.

    Attributes:
      point, value: refined location and value (the grid vertex if not ``refined``).
      grid_point, grid_value, grid_index: the merge vertex of the grid.
      refined: Newton converged to a critical point with one negative Hessian eigenvalue.
      on_boundary: the merge vertex is on the box edge and refinement did not converge.
      hessian_eigenvalues: at ``point`` (ascending).
      minima: indices (into the result's ``minima``) of the lowest minimum on each side.
    """

    point: np.ndarray
    value: float
    grid_point: np.ndarray
    grid_value: float
    grid_index: tuple[int, int]
    refined: bool
    on_boundary: bool
    hessian_eigenvalues: np.ndarray
    minima: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class SliceAnalysis:
    """Everything :func:`~optlab.landscape.analyze_slice` finds.

    Attributes:
      alphas, betas: grid coordinates; ``values`` the grid, shape ``(len(alphas), len(betas))``.
      minima: sorted by value.
      saddles: the index-1 saddles of the merge tree (one per merge of two components).
      barriers: ``(k, k)`` barrier level between minima ``i`` and ``j``: the lowest possible
        maximum of ``f`` along a path between them (the refined saddle value where the saddle
        was refined, the grid level otherwise); ``inf`` when only paths through non-finite
        regions connect them; the diagonal holds each minimum's value.
      barriers_grid: the same on the grid alone.
      merge_tree: rows ``(node_a, node_b, level, saddle_index)`` in scipy linkage order:
        leaves ``0..k-1`` are minima, row ``r`` creates node ``k + r``; ``saddle_index`` is
        ``-1`` if the merge has no finite saddle.
      basins: int grid, the index of the minimum each vertex drains to (``-1``: non-finite).
      basin_fractions: ``(k,)`` share of grid vertices draining to each minimum.
      persistence_threshold: minima with persistence at or below it were dropped.
      n_grid_minima: grid local minima before the persistence filter.
      nonfinite_fraction: share of grid vertices where ``f`` was NaN or Inf.
      critical_saddles: every index-1 saddle found in the box (refined, with ``f``): grid
        vertices whose lower 8-neighbourhood ring has two or more components, refined by
        Newton and kept when they converge to a point with one negative and one positive
        Hessian eigenvalue; includes saddles that are not barriers (e.g. one that closes a
        loop around a maximum). ``minima`` is ``(-1, -1)`` for those not in ``saddles``.
    """

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    minima: list[Minimum]
    saddles: list[Saddle]
    barriers: np.ndarray
    barriers_grid: np.ndarray
    merge_tree: np.ndarray
    basins: np.ndarray
    basin_fractions: np.ndarray
    persistence_threshold: float
    n_grid_minima: int
    nonfinite_fraction: float
    critical_saddles: list[Saddle] = dataclasses.field(default_factory=list)

    @property
    def global_minimum(self) -> Minimum | None:
        return self.minima[0] if self.minima else None

    def barrier_heights(self) -> np.ndarray:
        """``(k, k)``: the barrier seen from minimum ``i`` toward ``j``: ``barriers[i, j] -
        value_i`` (0 on the diagonal)."""
        vals = np.array([m.value for m in self.minima])
        return self.barriers - vals[:, None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (no grids; save those with :mod:`optlab.landscape.io`)."""
        return jsonable(
            {
                "minima": [m.to_dict() for m in self.minima],
                "saddles": [s.to_dict() for s in self.saddles],
                "barriers": self.barriers,
                "barriers_grid": self.barriers_grid,
                "barrier_heights": self.barrier_heights(),
                "merge_tree": self.merge_tree,
                "basin_fractions": self.basin_fractions,
                "persistence_threshold": self.persistence_threshold,
                "n_grid_minima": self.n_grid_minima,
                "nonfinite_fraction": self.nonfinite_fraction,
                "critical_saddles": [c.to_dict() for c in self.critical_saddles],
                "bounds": [
                    [float(self.alphas[0]), float(self.alphas[-1])],
                    [float(self.betas[0]), float(self.betas[-1])],
                ],
                "resolution": [int(self.alphas.size), int(self.betas.size)],
            }
        )
