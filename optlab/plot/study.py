"""Figures and tables of a comparison study, from its results directory only.

Everything here reads :class:`optlab.study.StudyResults` (numpy arrays loaded from the store)
and writes files; nothing is trained or computed with jax, and no statistic is computed here:
summaries, bootstrap intervals, paired tests, ranks, performance profiles and tuning-budget
curves come from ``optlab.study.results`` (:meth:`StudyResults.comparison`,
:meth:`StudyResults.performance_profile`, :meth:`PairResult.tuning_budget`); this module draws
and formats them. :func:`write_report` produces:

- ``figures/curves_<problem>``: training loss and the validation metric across evaluation
  seeds (median line, interquartile band) against steps and against wall-clock seconds;
- ``figures/lr_sensitivity_<problem>``: validation score of every tuning trial against its
  learning rate (failed trials marked at the top edge);
- ``figures/final_<problem>``: box plots with every seed's test metric drawn on top;
- ``figures/performance_profile``: Dolan–Moré profiles of steps-to-target across problems;
- ``figures/tuning_budget_<problem>``: expected best validation score after k trials;
- ``figures/trajectories_<problem>``: paths on contour plots of 2D analytic test functions
  (labelled "illustration");
- ``tables/results.{md,tex}``, ``tables/<problem>.{md,tex}``, ``tables/ranks.{md,tex}``,
  ``tables/warnings.{md,tex}`` (selected hyperparameters at the edge of their searched range,
  marked † in the tables and ringed in red in the learning-rate figure, with a widened
  ``[search]`` snippet).

Figures are written as PDF and PNG; each optimizer has one fixed colour in every figure
(:func:`color_of`).
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

from optlab import _checks
from optlab._io import atomic_write_text
from optlab.plot._mpl import new_figure, save

__all__ = [
    "color_of",
    "write_report",
    "plot_curves",
    "plot_lr_sensitivity",
    "plot_final",
    "plot_performance_profile",
    "plot_tuning_budget",
    "plot_trajectories",
    "tables",
    "warnings_section",
]

# Fixed colours for the common optimizers (Okabe–Ito and Tableau, colour-blind aware);
# any other name (a custom optimizer) gets one of _CUSTOM (see color_of).
_FIXED = {
    "sgd": "#000000",
    "gd": "#555555",
    "momentum": "#E69F00",
    "heavy-ball": "#8C564B",
    "nesterov": "#56B4E9",
    "adam": "#D55E00",
    "adam-ref": "#F0A080",
    "adamw": "#009E73",
    "nadam": "#17BECF",
    "amsgrad": "#BCBD22",
    "rmsprop": "#0072B2",
    "adagrad": "#7F7F7F",
    "adadelta": "#9467BD",
    "adabelief": "#E377C2",
    "lion": "#CC79A7",
    "yogi": "#2CA02C",
    "radam": "#FF7F0E",
    "lamb": "#1F77B4",
    "lars": "#AEC7E8",
    "novograd": "#98DF8A",
    "lbfgs": "#C49C94",
    "newton-cg": "#F7B6D2",
}
# Colours of custom optimizers: saturated and dark enough to stand out next to the IQR bands
# (none pale, none grey), each at least 20 CIE76 units (Delta E) from every fixed colour above
# and 25 from each other (chosen from ColorBrewer's Set1/Dark2/PRGn/BrBG and a few web colours;
# tests/test_plugins.py checks the distances).
_CUSTOM = (
    "#E41A1C",
    "#1B7837",
    "#762A83",
    "#A6761D",
    "#01665E",
    "#E7298A",
    "#000080",
    "#B2182B",
    "#FF00FF",
)

_STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
}


def color_of(optimizer: str, among: Sequence[str] | None = None) -> str:
    """The colour of ``optimizer`` in every figure.

    The common optimizers have fixed colours. Any other name gets one of the custom colours,
    which never equal and are never close to a fixed one: with ``among`` (a study's
    optimizers, in order) the first custom name gets the first custom colour, the second the
    second, and so on (distinct for up to nine custom optimizers, then repeating); without,
    a stable choice by a hash of the name. The report passes the study's optimizer list, so
    colours follow from the stored study alone.
    """
    if optimizer in _FIXED:
        return _FIXED[optimizer]
    if among is not None and optimizer in among:
        custom = [o for o in dict.fromkeys(among) if o not in _FIXED]
        return _CUSTOM[custom.index(optimizer) % len(_CUSTOM)]
    return _CUSTOM[zlib.crc32(optimizer.encode()) % len(_CUSTOM)]


def _label(key: str) -> str:
    if key == "train_loss":
        return "f(x)"
    split, _, name = key.partition("_")
    return (
        f"{ {'val': 'validation', 'test': 'test', 'train': 'training'}.get(split, split) } {name}"
    )


def _band(ax, x, vals, color, label, logy):
    ok = np.all(np.isfinite(vals), axis=1) if vals.ndim == 2 else None
    v = vals[ok] if ok is not None and ok.any() else vals
    if not np.isfinite(v).any():
        return  # every run failed: nothing to draw (the legend label says so)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # steps after every run diverged
        q25, med, q75 = np.nanquantile(v, [0.25, 0.5, 0.75], axis=0)
    ax.plot(x, med, color=color, label=label)
    ax.fill_between(x, q25, q75, color=color, alpha=0.2, linewidth=0)
    if logy and np.nanmin(np.where(med > 0, med, np.nan)) > 0:
        ax.set_yscale("log")


def _smooth(x: np.ndarray) -> np.ndarray:
    """Running mean over ``max(1, n // 100)`` steps along the last axis (minibatch noise)."""
    w = max(1, x.shape[-1] // 100)
    if w == 1:
        return x
    c = np.cumsum(np.concatenate([np.zeros(x.shape[:-1] + (1,)), x], axis=-1), axis=-1)
    out = x.copy()
    out[..., w - 1 :] = (c[..., w:] - c[..., :-w]) / w
    return out


def plot_curves(res, problem: str, out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """Learning curves: median and IQR over evaluation seeds, vs steps and vs wall-clock."""
    analytic = res.pair(problem, res.optimizers[0]).val_key == "train_loss"
    ncols = 2 if analytic else 3
    with matplotlib.rc_context(_STYLE):
        fig, axes = new_figure(1, ncols, figsize=(2.6 * ncols, 2.3))
        for o in res.optimizers:
            pr = res.pair(problem, o)
            c = color_of(o, res.optimizers)
            loss = np.stack([r.curves["loss"].astype(np.float64) for r in pr.final])
            steps = np.arange(1, loss.shape[1] + 1)
            nfail = int(pr.final_failed().sum())
            lab = o + (f" ({nfail}/{len(pr.final)} diverged)" if nfail else "")
            _band(axes[0], steps, _smooth(loss), c, lab, logy=True)
            if not analytic:
                s, v = pr.metric_curves()
                _band(axes[1], s, v, c, o, logy=not pr.higher_is_better)
                sps = float(np.mean([r.summary.get("seconds_per_step", 0.0) for r in pr.final]))
                _band(axes[2], s * sps, v, c, o, logy=not pr.higher_is_better)
            else:
                sps = float(np.mean([r.summary.get("seconds_per_step", 0.0) for r in pr.final]))
                _band(axes[1], steps * sps, loss, c, o, logy=True)
        pr0 = res.pair(problem, res.optimizers[0])
        axes[0].set(xlabel="step", ylabel="f(x)" if analytic else "training loss (running mean)")
        if not analytic:
            axes[1].set(xlabel="step", ylabel=_label(pr0.val_key))
            axes[2].set(xlabel="wall-clock (s, excl. compile)", ylabel=_label(pr0.val_key))
        else:
            axes[1].set(xlabel="wall-clock (s, excl. compile)", ylabel="f(x)")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", frameon=False)
        fig.suptitle(
            f"{problem}: median and interquartile range over {len(pr0.final)} seeds", fontsize=8
        )
        return save(fig, out_dir / f"curves_{problem}", formats)


def plot_lr_sensitivity(res, problem: str, out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """Validation score of each tuning trial against its learning rate."""
    with matplotlib.rc_context(_STYLE):
        fig, ax = new_figure(figsize=(3.4, 2.5))
        any_lr = mixed = False
        any_edge = False
        top = []
        for o in res.optimizers:
            pr = res.pair(problem, o)
            lrs = np.array([t.get("learning_rate", np.nan) for t in pr.trials], dtype=float)
            if not np.isfinite(lrs).any():
                continue
            any_lr = True
            order = np.argsort(lrs)
            x, y = lrs[order], pr.trial_scores[order]
            ok = np.isfinite(y)
            # a line only when the learning rate is all that varies between trials
            others = {repr(sorted((k, v) for k, v in t.items() if k != "learning_rate"))
                      for t in pr.trials}  # fmt: skip
            mixed = mixed or len(others) > 1
            style = "o-" if len(others) <= 1 else "o"
            ax.plot(x[ok], y[ok], style, color=color_of(o, res.optimizers), label=o, markersize=3)
            top.append((x[~ok], o))
            edge = [h for h in res.edge_hits(problem, o) if h.hyperparameter == "learning_rate"]
            if edge:
                any_edge = True
                ax.lines[-1].set_label(f"{o} (selected at {edge[0].side} edge)")
            bx = pr.trials[pr.best_index].get("learning_rate")
            if bx is not None and np.isfinite(pr.trial_scores[pr.best_index]):
                ax.plot(
                    [bx],
                    [pr.trial_scores[pr.best_index]],
                    "*",
                    color=color_of(o, res.optimizers),
                    markersize=9,
                )
                if edge:  # a red ring: the search range was too narrow here
                    ax.plot(
                        [bx], [pr.trial_scores[pr.best_index]], "o", markersize=13,
                        markerfacecolor="none", markeredgecolor="red", markeredgewidth=1.2,
                    )  # fmt: skip
        ax.set_xscale("log")
        pr0 = res.pair(problem, res.optimizers[0])
        if not pr0.higher_is_better:
            finite = np.concatenate([res.pair(problem, o).trial_scores for o in res.optimizers])
            finite = finite[np.isfinite(finite)]
            if finite.size and finite.min() > 0:
                ax.set_yscale("log")
        ylo, yhi = ax.get_ylim()
        for xs, o in top:
            if xs.size:
                edge = yhi if not pr0.higher_is_better else ylo
                ax.plot(
                    xs,
                    np.full(xs.size, edge),
                    "x",
                    color=color_of(o, res.optimizers),
                    clip_on=False,
                )
        ax.set(xlabel="learning rate", ylabel=f"{_label(pr0.val_key)} (tuning)")
        title = f"{problem}: learning-rate sensitivity\n(x = diverged, * = selected"
        title += ";\nred ring = selected at the edge of the searched range)" if any_edge else ")"
        if mixed:
            title += "\none point per trial; other hyperparameters vary between trials"
        ax.set_title(title)
        if any_lr:
            ax.legend(frameon=False)
        return save(fig, out_dir / f"lr_sensitivity_{problem}", formats)


def plot_final(res, problem: str, out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """Box plots of the per-seed test metric, each seed drawn as a point."""
    with matplotlib.rc_context(_STYLE):
        fig, ax = new_figure(figsize=(0.55 * len(res.optimizers) + 1.4, 2.5))
        rng = np.random.default_rng(0)  # jitter only
        data, labels = [], []
        for i, o in enumerate(res.optimizers):
            pr = res.pair(problem, o)
            v = pr.final_values()
            ok = np.isfinite(v) & ~pr.final_failed()
            data.append(v[ok])
            nfail = int((~ok).sum())
            labels.append(o + (f"\n{nfail} div." if nfail else ""))
            ax.scatter(
                i + 1 + rng.uniform(-0.12, 0.12, ok.sum()),
                v[ok],
                s=9,
                color=color_of(o, res.optimizers),
                zorder=3,
                linewidths=0,
            )
        ax.boxplot(
            [d if d.size else [np.nan] for d in data],
            widths=0.5,
            showfliers=False,
            medianprops={"color": "k"},
        )
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right")
        pr0 = res.pair(problem, res.optimizers[0])
        allv = np.concatenate([d for d in data if d.size]) if any(d.size for d in data) else None
        if (
            allv is not None
            and not pr0.higher_is_better
            and allv.min() > 0
            and allv.max() / allv.min() > 30
        ):
            ax.set_yscale("log")
        ax.set_ylabel(_label(pr0.test_key))
        ax.set_title(f"{problem}: final {_label(pr0.test_key)}, {len(pr0.final)} seeds")
        return save(fig, out_dir / f"final_{problem}", formats)


def plot_performance_profile(res, out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """Dolan–Moré performance profiles of the median steps-to-target."""
    taus, rho = res.performance_profile()
    with matplotlib.rc_context(_STYLE):
        fig, ax = new_figure(figsize=(4.3, 2.5))
        for i, o in enumerate(res.optimizers):
            ax.step(taus, rho[i], where="post", color=color_of(o, res.optimizers), label=o)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(
            xlabel=r"$\tau$ (median steps-to-target / best)",
            ylabel=r"fraction of problems $\rho(\tau)$",
            ylim=(-0.02, 1.02),
        )
        ax.set_title(f"Performance profiles over {len(res.problems)} problem(s)")
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False)
        return save(fig, out_dir / "performance_profile", formats)


def plot_tuning_budget(res, problem: str, out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """Expected best validation score after k trials (exact, without replacement) ± std."""
    with matplotlib.rc_context(_STYLE):
        fig, ax = new_figure(figsize=(3.4, 2.5))
        pr0 = res.pair(problem, res.optimizers[0])
        for o in res.optimizers:
            pr = res.pair(problem, o)
            ks, m, sd = pr.tuning_budget()
            ok = np.isfinite(m)
            ax.plot(ks[ok], m[ok], "o-", color=color_of(o, res.optimizers), label=o, markersize=3)
            # the best of k trials lies between the worst and best trial: clip the ±std band
            fin = pr.trial_scores[np.isfinite(pr.trial_scores)]
            if fin.size:
                sd = np.nan_to_num(sd)
                lo, hi = (
                    np.clip(m - sd, fin.min(), fin.max()),
                    np.clip(m + sd, fin.min(), fin.max()),
                )
                ax.fill_between(
                    ks[ok],
                    lo[ok],
                    hi[ok],
                    color=color_of(o, res.optimizers),
                    alpha=0.12,
                    linewidth=0,
                )
        ax.set(xlabel="tuning budget k (trials)", ylabel=f"expected best {_label(pr0.val_key)}")
        if not pr0.higher_is_better:
            allm = np.concatenate([res.pair(problem, o).trial_scores for o in res.optimizers])
            allm = allm[np.isfinite(allm)]
            if allm.size and allm.min() > 0:
                ax.set_yscale("log")
        ax.set_title(f"{problem}: expected best of k trials (± std)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False)
        return save(fig, out_dir / f"tuning_budget_{problem}", formats)


def plot_trajectories(res, problem: str, out_dir: Path, formats=("pdf", "png")) -> list[Path]:
    """Optimizer paths (first evaluation seed, selected config) on the function's contours."""
    grid_path = Path(res.root) / "landscapes" / f"{problem}.npz"
    if not grid_path.exists():
        return []
    try:
        with np.load(grid_path, allow_pickle=False) as z:
            x, y, f = z["x"], z["y"], z["z"]
    except Exception as err:  # noqa: BLE001  (BadZipFile, EOFError, KeyError, ValueError...)
        raise ValueError(
            f"{grid_path} is damaged ({type(err).__name__}: {err}); it is derived data: "
            f"rerun the study (`optlab compare` with the same config and --out {res.root}) "
            "to recompute it"
        ) from None
    info = res.manifest.get("info", {}).get("problems", {}).get(problem, {})
    with matplotlib.rc_context({**_STYLE, "axes.grid": False}):
        fig, ax = new_figure(figsize=(3.6, 3.0))
        fmin = float(np.min(f))
        levels = fmin + np.geomspace(1e-2, max(1e-1, float(np.max(f)) - fmin), 25)
        ax.contour(x, y, f, levels=levels, cmap="Greys_r", linewidths=0.5, alpha=0.7)
        for o in res.optimizers:
            pr = res.pair(problem, o)
            rec = pr.final[0]
            if "trajectory" not in rec.curves:
                continue
            t = rec.curves["trajectory"]
            t = t[np.all(np.isfinite(t), axis=1)]
            ax.plot(
                t[:, 0], t[:, 1], "-", color=color_of(o, res.optimizers), label=o, linewidth=1.0
            )
            ax.plot(t[-1, 0], t[-1, 1], "o", color=color_of(o, res.optimizers), markersize=3)
        if len(res.optimizers):
            t0 = res.pair(problem, res.optimizers[0]).final[0].curves.get("trajectory")
            if t0 is not None:
                ax.plot(t0[0, 0], t0[0, 1], "ks", markersize=4, label="start")
        for m in info.get("known_minima", []):
            ax.plot(m[0], m[1], "*", color="gold", markeredgecolor="k", markersize=8)
        ax.set(xlim=(x[0], x[-1]), ylim=(y[0], y[-1]), xlabel="$x_1$", ylabel="$x_2$")
        ax.set_title(f"{problem} (illustration; tuned, equal budgets)")
        ax.legend(frameon=True, framealpha=0.85, edgecolor="none", fontsize=6, loc="best")
        return save(fig, out_dir / f"trajectories_{problem}", formats)


# ----------------------------------------------------------------------------- tables


def _fmt(v: float, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞"
    return f"{v:.{digits}g}"


def _fmt_hp(v) -> str:
    """A hyperparameter value: numbers to 3 digits, names (a schedule) and flags as given."""
    if isinstance(v, (bool, str)) or not isinstance(v, (int, float)):
        return str(v)
    return _fmt(v, 3)


def _tex(s: str) -> str:
    return (
        s.replace("\\", r"\textbackslash{}")
        .replace("_", r"\_")
        .replace("%", r"\%")
        .replace("&", r"\&")
        .replace("#", r"\#")
        .replace("±", r"$\pm$")
        .replace("∞", r"$\infty$")
        .replace("–", "--")
        .replace("≤", r"$\le$")
        .replace("≥", r"$\ge$")
        .replace("Δ", r"$\Delta$")
        .replace("†", r"$^\dagger$")
    )


def _render(header: list[str], rows: list[list[str]], bold: list[list[bool]], caption: str):
    md = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r, b in zip(rows, bold, strict=True):
        md.append(
            "| " + " | ".join(f"**{c}**" if bb else c for c, bb in zip(r, b, strict=True)) + " |"
        )
    md_text = f"{caption}\n\n" + "\n".join(md) + "\n"
    tex = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_tex(caption)}}}",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(_tex(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for r, b in zip(rows, bold, strict=True):
        tex.append(
            " & ".join(
                rf"\textbf{{{_tex(c)}}}" if bb else _tex(c) for c, bb in zip(r, b, strict=True)
            )
            + r" \\"
        )
    tex += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return md_text, "\n".join(tex) + "\n"


def tables(res, baseline: str | None = None) -> dict[str, tuple[str, str]]:
    """All tables as ``{name: (markdown, latex)}``; best entries in bold.

    - ``results``: optimizers × problems, test metric mean ± std over seeds (failure counts).
    - ``<problem>``: per optimizer: mean ± std, median [IQR], 95% bootstrap CI, failure rate,
      median steps-to-target, paired difference to ``baseline`` with CI and sign/Wilcoxon
      p-values, the selected hyperparameters, compile and run time.
    - ``ranks``: average rank over problems (by mean test metric; failures rank last).

    The numbers are :meth:`optlab.study.StudyResults.comparison`'s; this only formats them.
    """
    cmp = res.comparison(baseline)
    out = {"results": _overview_table(res, cmp)}
    failed = cmp.all_failed if cmp.all_failed is not None else [False] * len(res.optimizers)
    out["ranks"] = _render(
        ["optimizer", "average rank"],
        [
            [o, f"{r:.2f}" + (" (all runs failed)" if f else "")]
            for o, r, f in zip(res.optimizers, cmp.average_ranks, failed, strict=True)
        ],
        [[False, bool(b)] for b in cmp.best_ranked()],
        f"Average rank over {len(res.problems)} problem(s) (1 = best; ties averaged; an "
        "optimizer whose runs failed ranks last and is never bold).",
    )
    for p in res.problems:
        out[p] = _problem_table(res, cmp, p)
    out["warnings"] = warnings_section(res)
    return out


def warnings_section(res) -> tuple[str, str]:
    """The report's warnings as ``(markdown, latex)``: selected values at a range's edge.

    Each line names the problem, optimizer, hyperparameter, selected value and searched
    range; then a ``[search]`` TOML snippet with the widened ranges (what
    ``optlab compare --widen`` runs) to paste into the study config.
    """
    hits = res.warnings()
    if not hits:
        md = "## Warnings\n\nNone: no selected hyperparameter is at the edge of its range.\n"
        return md, "% optlab: no warnings\n"
    lines = ["## Warnings", ""]
    lines += [f"- {o} on {p}: {hit.message()}" for p, o, hit in hits]
    widened = res.widened_search()
    if widened:
        lines += [
            "",
            "Widened search ranges (paste into the study config, or run `optlab compare "
            "--widen` with the same options and --out to search again; stored runs are "
            "reused):",
            "",
            "```toml",
            *_toml_search(widened),
            "```",
        ]
    md = "\n".join(lines) + "\n"
    tex = ["\\paragraph{Warnings.}", "\\begin{itemize}"]
    tex += [rf"\item {_tex(f'{o} on {p}: {hit.message()}')}" for p, o, hit in hits]
    tex += ["\\end{itemize}"]
    return md, "\n".join(tex) + "\n"


def _toml_search(search: dict) -> list[str]:
    lines = []
    for o, space in search.items():
        lines.append(f'[search."{o}"]' if not o.replace("_", "").isalnum() else f"[search.{o}]")
        for h, spec in space.items():
            if isinstance(spec, dict):
                ((kind, val),) = spec.items()
                val_text = "[" + ", ".join(f"{v:g}" for v in val) + "]"
                lines.append(f"{h} = {{{kind} = {val_text}}}")
            else:
                lines.append(f"{h} = {spec!r}".replace("True", "true").replace("False", "false"))
    return lines


def _bold_best(values: Sequence[float], higher: bool) -> list[bool]:
    """Which entries equal the best finite value (none when no value is finite)."""
    col = np.asarray(values, dtype=np.float64)
    if not np.isfinite(col).any():
        return [False] * col.size
    best = np.nanmax(col) if higher else np.nanmin(col)
    return [bool(v == best) for v in col]


def _overview_table(res, cmp) -> tuple[str, str]:
    header = ["optimizer", *res.problems]
    cells = [[o] for o in res.optimizers]
    bold = [[False] * len(header) for _ in res.optimizers]
    for j, p in enumerate(res.problems):
        summaries = [cmp.pairs[(p, o)].summary for o in res.optimizers]
        for i, s in enumerate(summaries):
            if s.n_failed == s.n:
                c = f"all {s.n} diverged"
            else:
                c = f"{_fmt(s.mean)} ± {_fmt(s.std, 2)}"
                if s.n_failed:
                    c += f" ({s.n_failed}/{s.n} div.)"
            if res.edge_hits(p, res.optimizers[i]):
                c += " †"
            cells[i].append(c)
        best = _bold_best([s.mean for s in summaries], res.higher_is_better(p))
        for i, b in enumerate(best):
            bold[i][j + 1] = b
    metrics = ", ".join(f"{p}: {res.pair(p, res.optimizers[0]).test_key}" for p in res.problems)
    return _render(
        header,
        cells,
        bold,
        f"Final metric after tuning (mean ± std over seeds; {metrics}). Best in bold; † a "
        "selected hyperparameter at the edge of its searched range (see warnings).",
    )


def _problem_table(res, cmp, p: str) -> tuple[str, str]:
    baseline = cmp.baseline
    pb = res.pair(p, baseline)
    header = [
        "optimizer",
        "mean ± std",
        "median [IQR]",
        "95% CI",
        "failed",
        "steps to target",
        f"Δ vs {baseline} [95% CI]",
        "sign p",
        "Wilcoxon p",
        "selected",
        "compile s",
        "run s",
    ]
    rows = []
    for o in res.optimizers:
        ps = cmp.pairs[(p, o)]
        s, pc = ps.summary, ps.paired
        if pc is None:
            dcell, sp, wp = "–", "–", "–"
        else:
            dcell = f"{_fmt(pc.mean_diff, 3)} [{_fmt(pc.ci_low, 3)}, {_fmt(pc.ci_high, 3)}]"
            sp, wp = _fmt(pc.sign_p, 2), _fmt(pc.wilcoxon_p, 2)
        edges = {h.hyperparameter: h.side for h in res.edge_hits(p, o)}
        hp = (
            ", ".join(
                f"{k}={_fmt_hp(x)}" + (f" † ({edges[k]} edge)" if k in edges else "")
                for k, x in res.pair(p, o).best.items()
            )
            or "defaults"
        )
        rows.append(
            [
                o,
                f"{_fmt(s.mean)} ± {_fmt(s.std, 2)}",
                f"{_fmt(s.median)} [{_fmt(s.q25)}, {_fmt(s.q75)}]",
                f"[{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]",
                f"{s.n_failed}/{s.n}",
                _fmt(ps.steps_to_target_median),
                dcell,
                sp,
                wp,
                hp,
                f"{ps.compile_time:.1f}",
                f"{ps.run_time:.1f}",
            ]
        )
    hib = pb.higher_is_better
    best = _bold_best([cmp.pairs[(p, o)].summary.mean for o in res.optimizers], hib)
    bold = [[i == 1 and b for i in range(len(header))] for b in best]
    return _render(
        header,
        rows,
        bold,
        f"{p}: {pb.test_key} over {len(pb.final)} seeds; steps to {_label(pb.val_key)} "
        f"{'≥' if hib else '≤'} {_fmt(cmp.targets[p])} (median over seeds); paired differences "
        f"against {baseline} on the same seeds; compile and run seconds of tuning plus "
        "evaluation; † selected value at the edge of its searched range (see warnings).",
    )


def write_report(
    res,
    out_dir: str | os.PathLike | None = None,
    *,
    baseline: str | None = None,
    formats: Sequence[str] = ("pdf", "png"),
) -> list[Path]:
    """Write every figure and table of the study ``res``; returns the paths written.

    Args:
      res: a :class:`optlab.study.StudyResults` (from ``optlab.study.load_study``).
      out_dir: where to write (default: the study directory); figures go to
        ``out_dir/figures``, tables to ``out_dir/tables``.
      baseline: optimizer for paired comparisons (default: the first in the study).
      formats: figure formats.
    """
    if baseline is not None:  # before any figure is written
        _checks.one_of("baseline", baseline, res.optimizers)
    root = Path(out_dir) if out_dir is not None else Path(res.root)
    fig_dir, tab_dir = root / "figures", root / "tables"
    written: list[Path] = []
    for p in res.problems:
        written += plot_curves(res, p, fig_dir, formats)
        written += plot_lr_sensitivity(res, p, fig_dir, formats)
        written += plot_final(res, p, fig_dir, formats)
        written += plot_tuning_budget(res, p, fig_dir, formats)
        written += plot_trajectories(res, p, fig_dir, formats)
    written += plot_performance_profile(res, fig_dir, formats)
    for name, (md, tex) in tables(res, baseline).items():
        for ext, text in (("md", md), ("tex", tex)):
            path = tab_dir / f"{name}.{ext}"
            atomic_write_text(path, text)
            written.append(path)
    return written
