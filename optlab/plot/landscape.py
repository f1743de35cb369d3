"""Loss-landscape figures from numpy arrays and saved results (matplotlib only, no jax).

Every function takes numpy arrays (or the JSON-able summary of an analysis, as written by
``optlab.landscape.save_analysis`` / returned by ``SliceAnalysis.to_dict()``), draws on a new
figure sized for a paper column (3.4 in wide) unless ``ax`` is given, and returns the figure.
``save(fig, stem)`` writes ``stem.pdf`` and ``stem.png`` (atomically, through the one figure
saver ``optlab.plot._mpl.save``).

- :func:`contour`: filled contours of the loss itself with labelled contour levels (Li et al.
  2018), optionally on a log colour scale (positive values only) or as the loss above its
  minimum (only when asked, and labelled so); minima (global one starred), saddles with
  their barrier heights, basins shaded, trajectories and named solutions marked.
- :func:`surface`: 3-D surface of the loss (or of log10 of a positive loss).
- :func:`curves`: 1-D interpolation curves; :func:`interpolation`: loss and accuracy on twin
  axes along a line or a path between two solutions (Goodfellow et al. 2015).
- :func:`panels`: several quantities (loss, accuracy) of one plane side by side.
- :func:`plane_labels`: axis labels that say what the plane's axes are (PCA: explained
  variance).

Scales (``scale=``): ``"linear"`` (the values), ``"log"`` (a log colour scale of the values,
which must be positive), ``"above-min"`` (``values - min(values)`` on a log scale, floored at
1e-6 of the range; the colour bar says so and gives the minimum).
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


SCALES = ("linear", "log", "above-min")


def _scale_name(scale: str | None, log_scale: bool) -> str:
    name = scale if scale is not None else ("log" if log_scale else "linear")
    if name not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}, got {name!r}")
    return name


def _finite_range(v: np.ndarray, vmin=None, vmax=None) -> tuple[float, float]:
    f = v[np.isfinite(v)]
    lo = float(np.min(f)) if vmin is None and f.size else float(vmin if vmin is not None else 0)
    hi = float(np.max(f)) if vmax is None and f.size else float(vmax if vmax is not None else 1)
    return lo, (hi if hi > lo else lo + max(abs(lo), 1.0) * 1e-6)


def _scaled(values, scale: str, quantity: str, levels, vmin=None, vmax=None):
    """``(z, levels, norm, label, scale)``: what is coloured, at which levels, and its name.

    ``"log"`` of values that are not all positive falls back to ``"above-min"`` (a log scale
    of a non-positive quantity does not exist) and says so in the label.
    """
    v = np.asarray(values, np.float64)
    lo, hi = _finite_range(v, vmin, vmax)
    if scale == "log" and lo <= 0:
        scale = "above-min"
    n = levels if np.ndim(levels) == 0 else None
    if scale == "linear":
        lev = np.linspace(lo, hi, int(n)) if n is not None else np.asarray(levels, np.float64)
        return v, lev, None, quantity, scale
    if scale == "log":
        lev = np.geomspace(lo, hi, int(n)) if n is not None else np.asarray(levels, np.float64)
        return v, lev, colors.LogNorm(lo, hi), f"{quantity} (log scale)", scale
    floor = max(1e-6 * (hi - lo), 1e-12)
    z = np.maximum(v - lo, floor)
    top = max(hi - lo, 2 * floor)
    lev = np.geomspace(floor, top, int(n)) if n is not None else np.asarray(levels, np.float64)
    label = f"{quantity} $-$ min (log scale; min = {lo:.4g})"
    return z, lev, colors.LogNorm(floor, top), label, scale


def contour(
    alphas,
    betas,
    values,
    *,
    analysis=None,
    basins: np.ndarray | None = None,
    log_scale: bool = False,
    levels: int | Sequence[float] = 30,
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
    scale: str | None = None,
    quantity: str = "loss",
    points: Mapping[str, Sequence[float]] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    labelled_levels: int = 8,
):
    """Filled contours of a slice with labelled levels, its minima, saddles, barriers, basins.

    Args:
      alphas, betas: grid axes; ``values[i, j]`` is at ``(alphas[i], betas[j])``.
      values: the grid (NaN/Inf drawn as blank, hatched grey).
      analysis: an analysis summary (``SliceAnalysis.to_dict()`` or loaded JSON) or a
        ``SliceAnalysis``; marks minima (circles; the global minimum a star; squares for
        minima on the box edge), saddles (crosses) and, with ``annotate_barriers``, each saddle's
        barrier height over the higher of the two minima it separates.
      basins: integer label grid (``-1`` = non-finite); when given, basins are shaded in
        pastel colours under contour lines instead of the filled contours.
      scale: ``"linear"`` (default), ``"log"`` (log colour scale of positive values) or
        ``"above-min"`` (``values - min`` on a log scale); see the module docstring.
      log_scale: the older spelling of ``scale="log"``.
      levels: number of contour levels, or the levels themselves (share them, or ``vmin``/
        ``vmax``, between figures to compare them on one scale).
      labelled_levels: about this many of the levels are drawn as lines with their value.
      quantity: what ``values`` are (colour-bar label), e.g. ``"training loss"``.
      trajectories: ``{label: (m, 2) coordinates}`` drawn as lines with start/end markers.
      points: ``{name: (a, b)}`` named points (e.g. the solutions a plane passes through),
        drawn as black-edged white plus signs with their name.
    """
    a = np.asarray(alphas, np.float64)
    b = np.asarray(betas, np.float64)
    v = np.asarray(values, np.float64)
    name = _scale_name(scale, log_scale)
    fig, ax = _fig(ax, height)
    with matplotlib.rc_context(RC):
        A, B = np.meshgrid(a, b, indexing="ij")
        z, lev, norm, label, _ = _scaled(v, name, quantity, levels, vmin, vmax)
        # values outside a given vmin/vmax are drawn in the end colours (arrows on the bar)
        extend = "both" if vmin is not None or vmax is not None else "neither"
        cs = _draw_levels(ax, A, B, z, basins, lev, norm, cmap, labelled_levels, extend)
        if np.any(~np.isfinite(v)):
            _hatch_nonfinite(ax, A, B, v)
        if colorbar:
            _colorbar(fig, ax, cs, label, norm is not None)
        s = _summary(analysis)
        if s is not None:
            minima = s.get("minima", [])
            _mark_minima(ax, minima)
            if show_saddles:
                _mark_saddles(ax, s, minima, annotate_barriers)
        if trajectories:
            _draw_trajectories(ax, trajectories)
        if points:
            _mark_points(ax, points)
        ax.set_xlim(a[0], a[-1])
        ax.set_ylim(b[0], b[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _draw_levels(ax, A, B, z, basins, lev, norm, cmap, labelled, extend="neither"):
    """Filled contours with a labelled subset of the levels as lines, or pastel basins under
    contour lines; returns the (filled) contour set that carries the colour scale."""
    zm = np.ma.masked_invalid(z)
    every = max(1, round(len(lev) / max(1, labelled)))
    if basins is None:
        cs = ax.contourf(A, B, zm, levels=lev, norm=norm, cmap=cmap, extend=extend)
        cs.set_rasterized(True)
        lines = ax.contour(
            A, B, zm, levels=lev[::every], colors="k", linewidths=0.35, alpha=0.6, norm=norm
        )
        if len(lines.levels):
            ax.clabel(lines, fmt=_fmt, fontsize=4.5, inline=True, inline_spacing=1)
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
    lines = ax.contour(A, B, zm, levels=lev, norm=norm, cmap=cmap, linewidths=0.5)
    labelled_lines = ax.contour(A, B, zm, levels=lev[::every], norm=norm, cmap=cmap, linewidths=0.5)
    if len(labelled_lines.levels):
        ax.clabel(labelled_lines, fmt=_fmt, fontsize=4.5, inline=True, inline_spacing=1)
    return lines


def _mark_points(ax, points: Mapping[str, Sequence[float]]):
    """Named points: white plus signs edged black, with their names."""
    for name, p in points.items():
        p = np.asarray(p, np.float64).reshape(2)
        ax.plot(*p, marker="P", ms=6, mfc="white", mec="k", mew=0.7, ls="none",
                label=name, zorder=7)  # fmt: skip
        ax.annotate(
            name, p, xytext=(4, -9), textcoords="offset points", fontsize=5.5, zorder=7,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
        )  # fmt: skip


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


def _colorbar(fig, ax, cs, label: str, log: bool):
    cb = fig.colorbar(cs, ax=ax, shrink=0.9, pad=0.02)
    cb.set_label(label)
    if log:
        lo, hi = cs.norm.vmin, cs.norm.vmax
        few_decades = hi / lo < 300  # label 1, 2, 5 x 10^k, not a single power of ten
        subs = (1.0, 2.0, 5.0) if few_decades else (1.0,)
        cb.locator = ticker.LogLocator(subs=subs, numticks=12)
        cb.formatter = (
            ticker.FuncFormatter(lambda x, _: f"{x:.3g}")
            if few_decades
            else ticker.LogFormatterSciNotation()
        )
        cb.update_ticks()
        if few_decades:
            cb.ax.minorticks_off()
    else:
        cb.locator = ticker.MaxNLocator(7)
        cb.update_ticks()
    cb.ax.tick_params(labelsize=5.5)
    return cb


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
    scale: str | None = None,
    quantity: str = "loss",
    xlabel: str = r"$\alpha$",
    ylabel: str = r"$\beta$",
):
    """3-D surface of a slice: the values themselves, or ``log10`` of positive values.

    ``scale="log"`` (or ``log_scale=True``) plots ``log10(values)`` when every value is
    positive; ``"above-min"`` plots ``values - min`` (linear: a log of it would draw a needle
    down to the floor at the minimum). The z label says which. Non-finite values are left out.
    """
    a = np.asarray(alphas, np.float64)
    b = np.asarray(betas, np.float64)
    v = np.asarray(values, np.float64)
    name = _scale_name(scale, log_scale)
    lo, _ = _finite_range(v)
    fig, ax = _fig(ax, height, projection="3d")
    with matplotlib.rc_context(RC):
        A, B = np.meshgrid(a, b, indexing="ij")
        if name == "log" and lo > 0:
            z, zlabel = np.log10(np.where(v > 0, v, np.nan)), f"log10({quantity})"
        elif name == "linear":
            z, zlabel = v, quantity
        else:
            z, zlabel = v - lo, f"{quantity} $-$ min (min = {lo:.4g})"
        z = np.where(np.isfinite(z), z, np.nan)
        ax.plot_surface(
            A, B, z, cmap=cmap, linewidth=0, antialiased=True, rcount=len(a), ccount=len(b),
            rasterized=True, vmin=np.nanmin(z), vmax=np.nanmax(z),
        )  # fmt: skip
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel(xlabel, labelpad=-8)
        ax.set_ylabel(ylabel, labelpad=-8)
        ax.set_zlabel(zlabel, labelpad=-6)
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
    points of a line through two solutions at 0 and 1). ``log_scale`` needs positive values
    and appends "(log scale)" to the y label."""
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
        _vertical_marks(ax, marks)
        positive = all(np.nanmin(np.asarray(v, np.float64)) > 0 for v in series.values())
        if log_scale and positive:
            ax.set_yscale("log")
            ylabel = f"{ylabel} (log scale)"
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(frameon=False)
        if title:
            ax.set_title(title)
    return fig


def _vertical_marks(ax, marks):
    for label, x in (marks or {}).items():
        ax.axvline(x, color="0.5", lw=0.6, ls="--")
        ax.annotate(
            label,
            (x, 0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=5.5,
            color="0.3",
        )


def interpolation(
    ts,
    losses: Mapping[str, np.ndarray],
    accuracies: Mapping[str, np.ndarray] | None = None,
    *,
    marks: Mapping[str, float] | None = None,
    log_scale: bool = False,
    xlabel: str = r"$t$ (0: first solution, 1: second)",
    loss_label: str = "loss",
    accuracy_label: str = "accuracy",
    title: str | None = None,
    ax=None,
    height: float = 2.4,
):
    """Loss (left axis, solid) and accuracy (right axis, dashed) along a line or path between
    two solutions (Goodfellow et al. 2015; Li et al. 2018, Fig. 2).

    Args:
      ts: the path parameter of every point, or ``{label: ts}`` when the series differ
        (e.g. a NEB path has its images on the grid).
      losses: ``{label: values}`` e.g. ``{"train, straight line": ..., "test, straight
        line": ..., "train, Bezier path": ...}``; one colour per label.
      accuracies: the same labels (or others) for the right axis; ``None``: no right axis.
      marks: vertical lines, e.g. ``{"seed 0": 0, "seed 1": 1}``.
      log_scale: log left axis (positive losses only; the label says so).
    """

    def t_of(label):
        return np.asarray(ts[label] if isinstance(ts, Mapping) else ts, np.float64)

    fig, ax = _fig(ax, height)
    with matplotlib.rc_context(RC):
        color = {}
        for k, label in enumerate(dict.fromkeys([*losses, *(accuracies or {})])):
            color[label] = TRAJ_COLORS[k % len(TRAJ_COLORS)]
        for label, vals in losses.items():
            ax.plot(t_of(label), np.asarray(vals, np.float64), "-", color=color[label], label=label)
        positive = all(np.nanmin(np.asarray(v, np.float64)) > 0 for v in losses.values())
        if log_scale and positive:
            ax.set_yscale("log")
            loss_label = f"{loss_label} (log scale)"
        ax.set_ylabel(f"{loss_label} (solid)" if accuracies else loss_label)
        ax.set_xlabel(xlabel)
        _vertical_marks(ax, marks)
        handles, labels = ax.get_legend_handles_labels()
        if accuracies:
            twin = ax.twinx()
            for label, vals in accuracies.items():
                twin.plot(t_of(label), np.asarray(vals, np.float64), "--", color=color[label],
                          label=f"{label} ({accuracy_label})")  # fmt: skip
            twin.set_ylabel(f"{accuracy_label} (dashed)")
            lo = min(float(np.nanmin(np.asarray(v, np.float64))) for v in accuracies.values())
            top = max(float(np.nanmax(np.asarray(v, np.float64))) for v in accuracies.values())
            pad = 0.08 * max(top - lo, 0.01)
            twin.set_ylim(max(0.0, lo - pad), min(1.0, top) + pad)
            h2, l2 = twin.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        if len(handles) > 4:  # many series: the legend goes under the axes, off the curves
            ax.legend(handles, labels, frameon=False, fontsize=5, ncol=2, loc="upper center",
                      bbox_to_anchor=(0.5, -0.2))  # fmt: skip
        elif len(handles) > 1:
            ax.legend(handles, labels, frameon=True, framealpha=0.85, fontsize=5, loc="best")
        if title:
            ax.set_title(title)
    return fig


def plane_labels(metadata: Mapping[str, Any]) -> tuple[str, str]:
    """``(xlabel, ylabel)`` saying what a plane's axes are, from a slice's metadata.

    PCA planes carry the explained variance of each component (as Li et al. print it);
    random planes their normalization; three-point planes the solutions they span;
    Hessian planes the eigenvalues; the axes of a 2-D function are ``x`` and ``y``.
    """
    kind = metadata.get("directions")
    if kind == "pca":
        ev = list(metadata.get("explained_variance_ratio", [np.nan, np.nan]))[:2]
        return tuple(f"PC{i + 1} ({100 * r:.1f}% of variance)" for i, r in enumerate(ev))  # type: ignore[return-value]
    if kind == "random":
        norm = metadata.get("normalization", "filter")
        return (rf"$\alpha$ ({norm}-normalized random direction 1)",
                rf"$\beta$ ({norm}-normalized random direction 2)")  # fmt: skip
    if kind == "three-point":
        seeds = list(metadata.get("seeds", [0, 1, 2]))
        return (
            rf"$\alpha$ (units of $\theta_{{{seeds[1]}}} - \theta_{{{seeds[0]}}}$)",
            rf"$\beta$ (towards $\theta_{{{seeds[2]}}}$, orthogonal)",
        )
    if kind == "hessian":
        lam = list(metadata.get("hessian_top_eigenvalues", [np.nan, np.nan]))
        return (rf"$\alpha$ (Hessian eigenvector, $\lambda_1$ = {lam[0]:.3g})",
                rf"$\beta$ (Hessian eigenvector, $\lambda_2$ = {lam[1]:.3g})")  # fmt: skip
    if kind == "axes":
        return "x", "y"
    return r"$\alpha$ (direction 1)", r"$\beta$ (direction 2)"


def panels(
    alphas,
    betas,
    quantities: Mapping[str, np.ndarray],
    *,
    scales: Mapping[str, str] | None = None,
    points: Mapping[str, Sequence[float]] | None = None,
    trajectories: Mapping[str, np.ndarray] | None = None,
    xlabel: str = r"$\alpha$ (direction 1)",
    ylabel: str = r"$\beta$ (direction 2)",
    title: str | None = None,
    levels: int = 30,
):
    """One plane's quantities side by side (e.g. ``{"training loss": L, "training accuracy":
    acc}``), each panel with its own labelled colour bar and the same named points."""
    n = len(quantities)
    with matplotlib.rc_context(RC):
        fig, axes = _mpl.new_figure(1, n, figsize=(COLUMN_WIDTH * n * 0.95, 2.8))
    axes = np.atleast_1d(axes)
    for ax, (name, vals) in zip(axes, quantities.items(), strict=True):
        contour(
            alphas, betas, vals, ax=ax, quantity=name, levels=levels, points=points,
            trajectories=trajectories, scale=(scales or {}).get(name, "linear"),
            xlabel=xlabel, ylabel=ylabel, title=name,
        )  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=7.5)
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
    density: Sequence | None = None,
    ax=None,
    title=None,
    log_density=True,
    height=2.2,
):
    """Hessian spectrum: top eigenvalues as a stem plot and/or an SLQ density curve.

    ``density`` is ``(grid, density)`` or what ``optlab.landscape.spectral_density`` returns,
    ``(grid, density, nodes)`` (the nodes are not drawn).
    """
    if density is not None:
        if len(density) not in (2, 3):
            raise ValueError(
                "density must be (grid, density) or spectral_density's (grid, density, nodes), "
                f"got a sequence of {len(density)}"
            )
        density = (density[0], density[1])
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
    scale: str | None = None,
    quantity: str = "loss",
    points: Mapping[str, Sequence[float]] | None = None,
    xlabel: str = r"$\alpha$ (direction 1)",
    ylabel: str = r"$\beta$ (direction 2)",
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
        scale=scale,
        quantity=quantity,
        points=points,
        ax=axes[0],
        title=title,
        trajectories=trajectories,
        xlabel=xlabel,
        ylabel=ylabel,
    )
    disconnectivity(analysis, ax=axes[1], title="disconnectivity graph")
    axes[1].set_ylabel(quantity)
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
    scale: str | None = None,
    quantity: str = "loss",
    points: Mapping[str, Sequence[float]] | None = None,
    line: Mapping[str, Any] | None = None,
    accuracy: np.ndarray | None = None,
) -> list[Path]:
    """The figures of ``optlab landscape`` in the folder ``out`` (each as .pdf and .png).

    ``contour`` (with the analysis, the trajectories and the named ``points``), ``basins``,
    ``surface``, ``disconnectivity``, ``curve`` and, given ``accuracy`` (a grid like
    ``values``), ``accuracy`` (loss and accuracy panels side by side).

    ``line`` is the 1-D curve to draw: ``{"t": coords, "values": {label: values},
    "title": the line it follows, "xlabel": ..., "marks": {name: t}}``. Without it the grid
    row nearest ``beta = 0`` is drawn and the title gives that ``beta``. Returns the paths.
    """
    out = Path(out)
    labels = {"xlabel": xlabel, "ylabel": ylabel}
    name = _scale_name(scale, log_scale)
    common = {"quantity": quantity, "points": points, **labels}
    if line is None:
        b = np.asarray(betas, np.float64)
        j = int(np.argmin(np.abs(b)))
        line = {
            "t": alphas,
            "values": {quantity: np.asarray(values)[:, j]},
            "title": rf"along direction 1 at $\beta$ = {b[j]:.3g}",
            "xlabel": xlabel,
        }
    figures = {
        "contour": contour(
            alphas, betas, values, analysis=analysis, scale=name,
            trajectories=trajectories or None, title=title, **common,
        ),
        "basins": contour(
            alphas, betas, values, analysis=analysis, basins=basins, scale=name,
            title=f"basins: {title}", **common,
        ),
        "surface": surface(
            alphas, betas, values, scale=name, quantity=quantity, title=title,
            xlabel=xlabel.split(" (")[0], ylabel=ylabel.split(" (")[0],
        ),
        "disconnectivity": disconnectivity(analysis, title="minima and barriers"),
        "curve": curves(
            line["t"], line["values"], log_scale=name != "linear", marks=line.get("marks"),
            xlabel=line.get("xlabel", xlabel), ylabel=quantity, title=line["title"],
        ),
    }  # fmt: skip
    figures["disconnectivity"].axes[0].set_ylabel(quantity)
    if accuracy is not None:
        acc_name = quantity.replace("loss", "accuracy") if "loss" in quantity else "accuracy"
        figures["accuracy"] = panels(
            alphas, betas, {quantity: values, acc_name: accuracy},
            scales={quantity: name}, points=points, title=title, **labels,
            trajectories=trajectories or None,
        )  # fmt: skip
    return [path for n, fig in figures.items() for path in save(fig, out / n)]
