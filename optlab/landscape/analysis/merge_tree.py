"""Stages 2 and 4 of the analysis: merge tree, barriers and basins of a grid.

The merge tree is the 0-dimensional persistent homology of the sublevel sets: vertices are
added in increasing order of value (ties broken by index) and joined to their added
8-neighbours with union-find; where two components meet, the one whose minimum is higher
dies (elder rule) and, unless its persistence is at or below the threshold, the merge is an
event: an approximate index-1 saddle whose level is the barrier (minimax path level) between
every minimum on one side and every minimum on the other. Minima that refine to the same
point are grouped (their barriers merged), every vertex's descent sink is mapped to the
minimum that absorbed it (basins), and single linkage over the barrier matrix gives the
tree in scipy linkage order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from optlab.landscape.analysis.grid import OFFSETS


class Merge(NamedTuple):
    """Two components meet at ``vertex`` at ``level``: the minima kept on each side
    (``left``: the elder component's) and the representatives (lowest minima) of both."""

    vertex: int
    level: float
    left: list[int]
    right: list[int]
    elder: int
    young: int


class MergeTree(NamedTuple):
    """``births``: vertex ids of all grid minima; ``persistence`` per birth; ``absorbed``:
    noise birth -> the birth that absorbed it; ``kept``: births above the threshold;
    ``events``: the merges of kept components."""

    births: list[int]
    persistence: dict[int, float]
    absorbed: dict[int, int]
    kept: list[int]
    events: list[Merge]

    def survivor(self, birth: int) -> int:
        """The kept minimum that absorbed ``birth`` (itself if kept)."""
        kept = set(self.kept)
        while birth not in kept:
            birth = self.absorbed[birth]
        return birth


def merge_tree(values: np.ndarray, threshold: float) -> MergeTree:
    """Union-find over the 8-neighbour grid graph, vertices added in increasing value
    (see the module docstring); ``values`` has ``+inf`` at non-finite vertices."""
    n, m = values.shape
    flat = values.ravel()
    total = flat.size
    finite = np.isfinite(flat)
    order = np.lexsort((np.arange(total), np.where(finite, flat, np.inf)))
    order = order[finite[order]]
    rank = np.full(total, total, dtype=np.int64)
    rank[order] = np.arange(order.size)
    parent = np.full(total, -1, dtype=np.int64)
    rep: dict[int, int] = {}
    kept: dict[int, list[int]] = {}
    births: list[int] = []
    persistence: dict[int, float] = {}
    absorbed: dict[int, int] = {}
    events = []

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for v in order.tolist():
        i, j = divmod(v, m)
        roots = set()
        for di, dj in OFFSETS:
            ni, nj = i + di, j + dj
            if 0 <= ni < n and 0 <= nj < m:
                u = ni * m + nj
                if parent[u] >= 0:
                    roots.add(find(u))
        if not roots:
            parent[v] = v
            rep[v] = v
            kept[v] = [v]
            births.append(v)
            continue
        rs = sorted(roots, key=lambda r: rank[rep[r]])
        elder = rs[0]
        parent[v] = elder
        level = float(flat[v])
        for r in rs[1:]:
            young = rep[r]
            pers = level - float(flat[young])
            persistence[young] = pers
            if pers > threshold:
                events.append(Merge(v, level, list(kept[elder]), list(kept[r]), rep[elder], young))
                kept[elder] = kept[elder] + kept[r]
            else:
                absorbed[young] = rep[elder]
            parent[r] = elder
            del kept[r]
    for b in births:
        persistence.setdefault(b, math.inf)
    kept_births = [b for b in births if persistence[b] > threshold]
    return MergeTree(births, persistence, absorbed, kept_births, events)


class Barriers(NamedTuple):
    """``(k, k)`` barrier levels between minima: ``refined`` (refined saddle values where
    the saddle was accepted), ``grid`` (grid levels) and ``saddle`` (the event index, -1)."""

    refined: np.ndarray
    grid: np.ndarray
    saddle: np.ndarray


def barrier_matrices(tree: MergeTree, saddle_values, saddle_ok) -> Barriers:
    """Barriers between the kept minima (in ``tree.kept`` order) from the merge events."""
    k = len(tree.kept)
    vidx = {v: t for t, v in enumerate(tree.kept)}
    bar_grid = np.full((k, k), np.inf)
    bar = np.full((k, k), np.inf)
    sad_of = np.full((k, k), -1, dtype=np.int64)
    for e_i, ev in enumerate(tree.events):
        lev_ref = float(saddle_values[e_i]) if saddle_ok[e_i] else ev.level
        for p in ev.left:
            for q in ev.right:
                ip, iq = vidx[p], vidx[q]
                bar_grid[ip, iq] = bar_grid[iq, ip] = ev.level
                bar[ip, iq] = bar[iq, ip] = lev_ref
                sad_of[ip, iq] = sad_of[iq, ip] = e_i
    return Barriers(bar, bar_grid, sad_of)


def group_minima(points: np.ndarray, values: np.ndarray, cell: np.ndarray):
    """Group minima that refined to the same point (within half a cell per axis).

    Returns ``(keep, remap)``: the kept indices, lowest value first, and for every minimum
    the position (in ``keep``) of its group.
    """
    k = len(values)
    groups = list(range(k))
    order = np.argsort(values, kind="stable")
    tol = 0.5 * cell
    for ii, p in enumerate(order):
        for q in order[:ii]:
            if groups[q] == q and np.all(np.abs(points[p] - points[q]) <= tol):
                groups[p] = int(q)
                break
    keep = [t for t in order if groups[t] == t]
    remap = {t: keep.index(groups[t]) for t in range(k)}
    return keep, remap


def merge_barriers(bars: Barriers, remap: dict[int, int], kk: int) -> Barriers:
    """Barriers between groups: the lowest over their members (diagonals left ``inf``)."""
    k = bars.refined.shape[0]
    B = np.full((kk, kk), np.inf)
    BG = np.full((kk, kk), np.inf)
    S = np.full((kk, kk), -1, dtype=np.int64)
    for p in range(k):
        for q in range(k):
            rp, rq = remap[p], remap[q]
            if rp == rq:
                continue
            if bars.refined[p, q] < B[rp, rq]:
                B[rp, rq] = bars.refined[p, q]
                S[rp, rq] = bars.saddle[p, q]
            BG[rp, rq] = min(BG[rp, rq], bars.grid[p, q])
    return Barriers(B, BG, S)


def basin_labels(sinks: np.ndarray, tree: MergeTree, remap: dict[int, int], shape) -> np.ndarray:
    """Label grid: the group of the minimum each vertex's descent sink belongs to (-1:
    non-finite)."""
    vidx = {v: t for t, v in enumerate(tree.kept)}
    sink_map = {s: remap[vidx[tree.survivor(s)]] for s in np.unique(sinks[sinks >= 0]).tolist()}
    flat_basins = np.full(sinks.size, -1, dtype=np.int64)
    valid = sinks >= 0
    if valid.any():
        lut_keys = np.array(sorted(sink_map))
        lut_vals = np.array([sink_map[s] for s in lut_keys])
        flat_basins[valid] = lut_vals[np.searchsorted(lut_keys, sinks[valid])]
    return flat_basins.reshape(shape)


def single_linkage(B: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Kruskal on the barrier matrix: rows ``(node_a, node_b, level, saddle)`` (linkage order).

    The barrier (minimax) matrix is an ultrametric, so single linkage recovers the merge
    tree. Pairs separated by an infinite barrier are never merged (the tree is a forest).
    """
    k = B.shape[0]
    if k < 2:
        return np.zeros((0, 4))
    iu, ju = np.triu_indices(k, 1)
    lev = B[iu, ju]
    order = np.argsort(lev, kind="stable")
    parent = list(range(k))
    node = list(range(k))
    rows = []

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for o in order:
        if not np.isfinite(lev[o]):
            break
        p, q = find(iu[o]), find(ju[o])
        if p == q:
            continue
        level = max([lev[o], *(rows[node[r] - k][2] for r in (p, q) if node[r] >= k)])
        rows.append((node[p], node[q], level, S[iu[o], ju[o]]))
        parent[q] = p
        node[p] = k + len(rows) - 1
    return np.array(rows, dtype=np.float64).reshape(-1, 4)
