"""Loss-landscape figures from numpy arrays and saved results (matplotlib only, no jax).

Every function takes numpy arrays (or the JSON-able summary of an analysis, as written by
``optlab.landscape.save_analysis`` / returned by ``SliceAnalysis.to_dict()``), draws on a new
figure sized for a paper column (3.4 in wide) unless ``ax`` is given, and returns the figure.
``save(fig, stem)`` writes ``stem.pdf`` and ``stem.png`` (atomically, through the one figure
saver ``optlab.plot._mpl.save``).

- :func:`contour`: filled contours (optionally log-scaled) with minima (global one starred),
  saddles with their barrier heights, basins shaded, trajectories overlaid.
- :func:`surface`: 3-D surface.
- :func:`curves`: 1-D interpolation curves.
- :func:`trajectories`: several optimizers' projected paths on one plane.
- :func:`disconnectivity`: the merge tree of the minima as a disconnectivity graph.
- :func:`spectrum`: Hessian eigenvalues and/or an SLQ density.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colors, ticker

from optlab.plot import _mpl

COLUMN_WIDTH = 3.4
RC = {
    "font.size": 7,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "lines.linewidth": 1.0,
    "axes.linewidth": 0.6,
    "savefig.dpi": 300,
    "figure.dpi": 150,
    "pdf.fonttype": 42,
}
TRAJ_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def _fig(ax, height=2.8, projection=None):
    if ax is not None:
        return ax.figure, ax
    with matplotlib.rc_context(RC):
        return _mpl.new_figure(
            figsize=(COLUMN_WIDTH, height), subplot_kw={"projection": projection}
        )


def save(fig, stem, formats: Sequence[str] = ("pdf", "png")) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` (parent folders created); returns the paths."""
    return _mpl.save(fig, stem, formats, bbox_inches="tight", pad_inches=0.02)


def _summary(analysis) -> dict | None:
    if analysis is None:
        return None
    if isinstance(analysis, Mapping):
        return dict(analysis)
    return analysis.to_dict()


def _log_values(values: np.ndarray):
    v = np.asarray(values, np.float64)
    finite = np.isfinite(v)
    vmin = np.min(v[finite]) if finite.any() else 0.0
    span = np.ptp(v[finite]) if finite.any() else 1.0
    shift = vmin - max(1e-6 * span, 1e-12)
    return v - shift, shift


def contour(
    alphas,
    betas,
    values,
    *,
    analysis=None,
    basins: np.ndarray | None = None,
    log_scale: bool = False,
    levels: int = 30,
    trajectories: Mapping[str, np.ndarray] | None = None,
    show_saddles: bool = True,
    annotate_barriers: bool = True,
    xlabel: str = r"$\alpha$ (direction 1)",
    ylabel: str = r"$\beta$ (direction 2)",
    title: str | None = None,
    colorbar: bool = True,
    cmap: str = "viridis",
    ax=None,
    height: float = 2.8,
):
    """Filled contour plot of a slice with its minima, saddles, barriers and basins.

    Args:
      alphas, betas: grid axes; ``values[i, j]`` is at ``(alphas[i], betas[j])``.
      values: the grid (NaN/Inf drawn as blank, hatched grey).
      analysis: an analysis summary (``SliceAnalysis.to_dict()`` or loaded JSON) or a
        ``SliceAnalysis``; marks minima (circles; the global minimum a star; squares for
        minima on the box edge), saddles (crosses) and, with ``annotate_barriers``, each saddle's
        barrier height over the higher of the two minima it separates.
      basins: integer label grid (``-1`` = non-finite); when given, basins are shaded in
        pastel colours under contour lines instead of the filled contours.
      log_scale: colour by ``log(values - min + eps)`` (useful for losses spanning decades).
      levels: number of contour levels.
      trajectories: ``{label: (m, 2) coordinates}`` drawn as lines with start/end markers.
    """
    a = np.asarray(alphas, np.float64)
    b = np.asarray(betas, np.float64)
    v = np.asarray(values, np.float64)
    fig, ax = _fig(ax, height)
    with matplotlib.rc_context(RC):
        A, B = np.meshgrid(a, b, indexing="ij")
        cs = _draw_levels(ax, A, B, v, basins, log_scale, levels, cmap)
        if np.any(~np.isfinite(v)):
            _hatch_nonfinite(ax, A, B, v)
        if colorbar:
            _colorbar(fig, ax, cs, log_scale)
        s = _summary(analysis)
        if s is not None:
            minima = s.get("minima", [])
            _mark_minima(ax, minima)
            if show_saddles:
                _mark_saddles(ax, s, minima, annotate_barriers)
        if trajectories:
            _draw_trajectories(ax, trajectories)
        ax.set_xlim(a[0], a[-1])
        ax.set_ylim(b[0], b[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig


def _draw_levels(ax, A, B, v, basins, log_scale, levels, cmap):
    """Filled contours, or pastel basins under contour lines; returns the contour set."""
    vm = np.ma.masked_invalid(v)
    norm = None
    if log_scale:
        shifted, _ = _log_values(v)
        vm = np.ma.masked_invalid(shifted)
        lo, hi = vm.min(), vm.max()
        lev = np.geomspace(lo, hi, levels) if hi > lo else levels
        norm = colors.LogNorm(vmin=lo, vmax=hi)
    else:
        lev = levels
    if basins is None:
        cs = ax.contourf(A, B, vm, levels=lev, norm=norm, cmap=cmap)
        cs.set_rasterized(True)
        return cs
    lab = np.ma.masked_less(np.asarray(basins), 0)
    n_lab = int(lab.max()) + 1 if lab.count() else 1
    pastel = matplotlib.colormaps["Pastel1" if n_lab <= 9 else "tab20"]
    ax.pcolormesh(
        A,
        B,
        lab,
        cmap=pastel,
        vmin=-0.5,
        vmax=pastel.N - 0.5,
        shading="nearest",
        rasterized=True,
    )
    return ax.contour(A, B, vm, levels=lev, norm=norm, cmap=cmap, linewidths=0.5)


def _hatch_nonfinite(ax, A, B, v):
    """Hatch the vertices where the loss is NaN or Inf."""
    ax.contourf(
        A,
        B,
        (~np.isfinite(v)).astype(float),
        levels=[0.5, 1.5],
        colors="none",
        hatches=["////"],
    )


def _colorbar(fig, ax, cs, log_scale):
    cb = fig.colorbar(cs, ax=ax, shrink=0.9, pad=0.02)
    cb.set_label("loss - min + eps (log)" if log_scale else "loss")
    if log_scale:
        cb.locator = ticker.LogLocator(numticks=6)
        cb.formatter = ticker.LogFormatterSciNotation()
        cb.update_ticks()
    cb.ax.tick_params(labelsize=5.5)


def _mark_minima(ax, minima):
    """Minima numbered in order: the global one a star, edge minima squares, others circles."""
    for k, m in enumerate(minima):
        p = np.asarray(m["point"], np.float64)
        if m.get("is_global"):
            ax.plot(*p, marker="*", ms=9, mfc="gold", mec="k", mew=0.6, zorder=5)
        else:
            mk = "s" if m.get("on_boundary") else "o"
            ax.plot(*p, marker=mk, ms=4, mfc="white", mec="k", mew=0.6, zorder=5)
        ax.annotate(
            str(k),
            p,
            clip_on=True,
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=5.5,
            color="k",
            zorder=6,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6},
        )


def _mark_saddles(ax, summary, minima, annotate_barriers):
    """Saddles that are not barriers in grey; barrier saddles in crimson with their height
    over the higher of the two minima they separate."""
    for sd in summary.get("critical_saddles", []):
        if list(sd.get("minima", [-1, -1])) == [-1, -1]:  # not a barrier
            p = np.asarray(sd["point"], np.float64)
            ax.plot(*p, marker="x", ms=3.5, color="0.35", mew=0.8, zorder=5)
    for sd in summary.get("saddles", []):
        p = np.asarray(sd["point"], np.float64)
        ax.plot(*p, marker="x", ms=4.5, color="crimson", mew=1.0, zorder=5)
        if annotate_barriers and minima:
            i, j = sd["minima"]
            hi_min = max(float(minima[i]["value"]), float(minima[j]["value"]))
            h = float(sd["value"]) - hi_min
            ax.annotate(
                f"{h:.3g}",
                p,
                xytext=(3, -7),
                textcoords="offset points",
                fontsize=5.5,
                color="crimson",
                zorder=6,
            )


def _draw_trajectories(ax, trajectories: Mapping[str, np.ndarray]):
    for k, (label, xy) in enumerate(trajectories.items()):
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        c = TRAJ_COLORS[k % len(TRAJ_COLORS)]
        ax.plot(xy[:, 0], xy[:, 1], "-", color=c, lw=1.0, label=label, zorder=4)
        ax.plot(*xy[0], "o", ms=3, color=c, zorder=4)
        ax.plot(*xy[-1], "D", ms=3.5, color=c, mec="k", mew=0.4, zorder=4)
    ax.legend(loc="best", frameon=True, framealpha=0.8, handlelength=1.5)


def trajectories(
    alphas, betas, values, paths: Mapping[str, np.ndarray], *, log_scale=True, ax=None, **kw
):
    """Several optimizers' projected trajectories (``{label: (m, 2)}``) on one plane's
    contours (log-scaled by default). Start: dot; end: diamond."""
    return contour(alphas, betas, values, trajectories=paths, log_scale=log_scale, ax=ax, **kw)


def surface(
    alphas,
    betas,
    values,
    *,
    log_scale=False,
    ax=None,
    title=None,
    elev=35,
    azim=-60,
    cmap="viridis",
    height=2.8,
):
    """3-D surface of a slice (``log_scale`` plots ``log10(values - min + eps)``)."""
    a = np.asarray(alphas, np.float64)
    b = np.asarray(betas, np.float64)
    v = np.asarray(values, np.float64)
    fig, ax = _fig(ax, height, projection="3d")
    with matplotlib.rc_context(RC):
        A, B = np.meshgrid(a, b, indexing="ij")
        z = np.log10(_log_values(v)[0]) if log_scale else v
        z = np.where(np.isfinite(z), z, np.nan)
        ax.plot_surface(
            A, B, z, cmap=cmap, linewidth=0, antialiased=True, rcount=80, ccount=80, rasterized=True
        )
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel(r"$\alpha$", labelpad=-8)
        ax.set_ylabel(r"$\beta$", labelpad=-8)
        ax.set_zlabel("log10 loss" if log_scale else "loss", labelpad=-6)
        ax.tick_params(pad=-3)
        if title:
            ax.set_title(title)
    return fig


def curves(
    alphas,
    series: Mapping[str, np.ndarray],
    *,
    log_scale=False,
    marks=None,
    ax=None,
    xlabel=r"$\alpha$",
    ylabel="loss",
    title=None,
    height=2.2,
):
    """1-D interpolation curves: ``series`` maps labels to value arrays over ``alphas``;
    ``marks`` is an optional ``{label: alpha}`` of vertical reference lines (e.g. the end
    points of a line through two solutions at 0 and 1)."""
    a = np.asarray(alphas, np.float64)
    fig, ax = _fig(ax, height)
    with matplotlib.rc_context(RC):
        for k, (label, vals) in enumerate(series.items()):
            ax.plot(
                a,
                np.asarray(vals, np.float64),
                color=TRAJ_COLORS[k % len(TRAJ_COLORS)],
                label=label,
            )
        for label, x in (marks or {}).items():
            ax.axvline(x, color="0.5", lw=0.6, ls="--")
            ax.annotate(
                label,
                (x, 1),
                xycoords=("data", "axes fraction"),
                xytext=(2, -8),
                textcoords="offset points",
                fontsize=5.5,
                color="0.3",
            )
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(frameon=False)
        if title:
            ax.set_title(title)
    return fig


def disconnectivity(analysis, *, ax=None, title=None, height=2.4, label_values=True):
    """Disconnectivity graph (Becker & Karplus 1997; Wales 2003) of the minima.

    Each minimum is a vertical line rising from its value; two branches join at the barrier
    (minimax saddle) level where their basins merge; the global minimum is starred. Minima
    only connected through non-finite regions rise to the top (marked ``inf``).
    """
    s = _summary(analysis)
    minima = s["minima"]
    k = len(minima)
    vals = np.array([float(m["value"]) for m in minima])
    tree = np.asarray([[float(x) for x in row] for row in s.get("merge_tree", [])]).reshape(-1, 4)
    fig, ax = _fig(ax, height)
    with matplotlib.rc_context(RC):
        if k == 0:
            ax.text(0.5, 0.5, "no minima", ha="center", transform=ax.transAxes)
            return fig
        n_nodes = k + len(tree)
        children = {k + r: (int(row[0]), int(row[1])) for r, row in enumerate(tree)}
        level = {i: vals[i] for i in range(k)}
        level.update({k + r: row[2] for r, row in enumerate(tree)})
        parent = {}
        for node, (c1, c2) in children.items():
            parent[c1] = parent[c2] = node
        roots = [n for n in range(n_nodes) if n not in parent]
        finite_levels = [lv for lv in level.values() if np.isfinite(lv)]
        span = float(np.ptp(finite_levels))
        if span <= 1e-9 * (1.0 + abs(max(finite_levels))):
            span = 0.1 * max(abs(max(finite_levels)), 1e-3)
        top = max(finite_levels) + 0.08 * span
        order: list[int] = []

        def leaves(node):
            if node < k:
                order.append(node)
                return
            a, b = children[node]
            # lower branch first, so the deepest minima sit to the left
            first, second = sorted((a, b), key=lambda c: _min_leaf(c, children, vals, k))
            leaves(first)
            leaves(second)

        for r in sorted(roots, key=lambda c: _min_leaf(c, children, vals, k)):
            leaves(r)
        xpos = {leaf: i for i, leaf in enumerate(order)}

        def x_of(node):
            if node < k:
                return xpos[node]
            a, b = children[node]
            return 0.5 * (x_of(a) + x_of(b))

        for node in range(n_nodes):
            x = x_of(node)
            up = level[parent[node]] if node in parent else top
            ax.plot([x, x], [level[node], up], color="k", lw=0.8)
            if node in children:
                a, b = children[node]
                ax.plot([x_of(a), x_of(b)], [level[node]] * 2, color="k", lw=0.8)
        if len(roots) > 1:
            ax.annotate("inf", (0.5 * (len(order) - 1), top), ha="center", va="bottom", fontsize=6)
        for i in range(k):
            m = minima[i]
            if m.get("is_global"):
                ax.plot(xpos[i], vals[i], "*", ms=8, mfc="gold", mec="k", mew=0.5, zorder=5)
            else:
                ax.plot(xpos[i], vals[i], "o", ms=3, mfc="white", mec="k", mew=0.6, zorder=5)
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([str(i) for i in order])
        ax.set_xlabel("minimum")
        ax.set_ylabel("loss")
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_ylim(min(finite_levels) - 0.05 * span, top + 0.05 * span)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.spines[["top", "right"]].set_visible(False)
        if title:
            ax.set_title(title)
    return fig


def _min_leaf(node, children, vals, k):
    if node < k:
        return vals[node]
    a, b = children[node]
    return min(_min_leaf(a, children, vals, k), _min_leaf(b, children, vals, k))


def spectrum(
    eigenvalues=None,
    *,
    density: tuple[np.ndarray, np.ndarray] | None = None,
    ax=None,
    title=None,
    log_density=True,
    height=2.2,
):
    """Hessian spectrum: top eigenvalues as a stem plot and/or an SLQ density curve."""
    fig, ax = _fig(ax, height)
    with matplotlib.rc_context(RC):
        if density is not None:
            grid, dens = (np.asarray(x, np.float64) for x in density)
            ax.plot(
                grid,
                np.maximum(dens, 1e-12) if log_density else dens,
                color="#1f77b4",
                label="SLQ density",
            )
            if log_density:
                ax.set_yscale("log")
                ax.set_ylim(max(1e-6, np.max(dens) * 1e-6), np.max(dens) * 2)
            ax.set_ylabel("density")
        if eigenvalues is not None:
            ev = np.sort(np.asarray(eigenvalues, np.float64))[::-1]
            target = ax.twinx() if density is not None else ax
            target.vlines(ev, 0, 1, color="crimson", lw=0.9, label="top eigenvalues")
            target.plot(ev, np.ones_like(ev), "o", color="crimson", ms=2.5)
            if density is not None:
                target.set_yticks([])
                target.set_ylim(0, 1.2)
            else:
                ax.set_ylim(0, 1.2)
                ax.set_yticks([])
        ax.set_xlabel("Hessian eigenvalue")
        handles = [h for a_ in fig.axes for h in a_.get_legend_handles_labels()[0]]
        labels = [lb for a_ in fig.axes for lb in a_.get_legend_handles_labels()[1]]
        if handles:
            ax.legend(handles, labels, frameon=True, framealpha=0.9, loc="center right")
        if title:
            ax.set_title(title)
    return fig


def overview(
    alphas,
    betas,
    values,
    analysis,
    *,
    basins=None,
    log_scale=False,
    title=None,
    trajectories: Mapping[str, Any] | None = None,
):
    """Two panels side by side (full text width, 7 in): contour with analysis and the
    disconnectivity graph."""
    with matplotlib.rc_context(RC):
        fig, axes = _mpl.new_figure(
            1, 2, figsize=(2 * COLUMN_WIDTH, 2.8), gridspec_kw={"width_ratios": [1.4, 1]}
        )
    contour(
        alphas,
        betas,
        values,
        analysis=analysis,
        basins=basins,
        log_scale=log_scale,
        ax=axes[0],
        title=title,
        trajectories=trajectories,
    )
    disconnectivity(analysis, ax=axes[1], title="disconnectivity graph")
    return fig


def save_standard_figures(
    out,
    alphas,
    betas,
    values,
    analysis,
    *,
    basins: np.ndarray,
    trajectories: Mapping[str, np.ndarray] | None = None,
    title: str,
    xlabel: str = r"$\alpha$ (direction 1)",
    ylabel: str = r"$\beta$ (direction 2)",
    log_scale: bool = False,
) -> list[Path]:
    """The figures of ``optlab landscape`` in the folder ``out`` (each as .pdf and .png).

    ``contour`` (with the analysis and the trajectories), ``basins``, ``surface``,
    ``disconnectivity`` and ``curve`` (the slice along direction 1 through the middle of the
    grid). Returns the paths written.
    """
    out = Path(out)
    labels = {"xlabel": xlabel, "ylabel": ylabel}
    mid = len(np.asarray(betas)) // 2
    figures = {
        "contour": contour(
            alphas,
            betas,
            values,
            analysis=analysis,
            log_scale=log_scale,
            trajectories=trajectories or None,
            title=title,
            **labels,
        ),
        "basins": contour(
            alphas,
            betas,
            values,
            analysis=analysis,
            basins=basins,
            title=f"basins: {title}",
            **labels,
        ),  # fmt: skip
        "surface": surface(alphas, betas, values, log_scale=log_scale),
        "disconnectivity": disconnectivity(analysis, title="minima and barriers"),
        "curve": curves(
            alphas,
            {"along direction 1": np.asarray(values)[:, mid]},
            log_scale=log_scale,
            xlabel=xlabel,
        ),
    }
    return [path for name, fig in figures.items() for path in save(fig, out / name)]
