"""The performance targets (issue 13), checked against the rows of one ``python -m benchmarks``
run and printed as one table: workload, optlab, baseline, measured, target, met.

Each target reads the rows the benchmark modules return (matched by ``benchmark`` and words of
``case``); a target whose rows are missing (a module not run, or ``--only``) says so. The
targets are set for the full sizes: with ``--quick`` the table is printed but marked as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple


class Target(NamedTuple):
    workload: str
    target: str
    check: Callable[[list[dict]], tuple[str, str, str, bool | None]]
    """rows -> (optlab, baseline, measured, met); raises LookupError when rows are missing."""


def _row(rows: list[dict], benchmark: str, *words: str, without: str | None = None) -> dict:
    for r in rows:
        case = str(r.get("case", ""))
        if r.get("benchmark") != benchmark or not all(w in case for w in words):
            continue
        if without is not None and without in case:
            continue
        return r
    raise LookupError(f"no {benchmark!r} row with {words}")


def _s(t: float) -> str:
    return f"{t:.3g} s" if math.isfinite(t) else "-"


def _peer_slice(rows):
    r = _row(rows, "peer: slice")
    pts = r["optlab_s"], r["baseline_s"]
    return (_s(pts[0]), f"loss-landscapes {_s(pts[1])}", f"{r['ratio']:.2f}x", r["ratio"] >= 3)


def _peak_share(rows):
    r = _row(rows, "peer: slice")
    share, eff = r["peak_share"], r.get("effective_peak_share", float("nan"))
    return (
        f"{100 * share:.0f}% of {r['matmul_peak_gflops']:.0f} GFLOP/s",
        "2048^3 matmul, same run",
        f"{100 * share:.0f}% executed flops ({100 * eff:.0f}% effective)",
        share >= 0.85,
    )


def _map4(rows):
    default = _row(rows, "landscape slice", "MLP", "default")
    four = _row(rows, "landscape slice", "MLP", "chunk 4", without="default")
    ratio = four["optlab_s"] / default["optlab_s"]
    return (_s(default["optlab_s"]), f"lax.map(batch_size=4) {_s(four['optlab_s'])}",
            f"{ratio:.2f}x", None)  # fmt: skip


def _adder_closure(rows):
    r = _row(rows, "landscape slice", "adding network", "ordinary loss_fn closure")
    return (_s(r["optlab_s"]), f"per-point loop {_s(r['baseline_s'])}", f"{r['ratio']:.1f}x",
            r["ratio"] >= 20)  # fmt: skip


def _cli_path(rows):
    r = _row(rows, "landscape CLI")
    path = r["slice_path"]
    return (_s(r["optlab_s"]), "-", f"path {path}", path in ("lanes", "minor", "major"))


def _analysis(rows):
    r = _row(rows, "landscape analysis")
    return (f"analysis {_s(r['optlab_s'])}", f"slice {_s(r['baseline_s'])}",
            f"{r['ratio']:.2f}x (slice / analysis)", r["ratio"] >= 1)  # fmt: skip


def _study(rows):
    r = _row(rows, "default study", "warm compile cache")
    return (f"{_s(r['optlab_s'])} (cached)", f"empty cache {_s(r['baseline_s'])}",
            f"{_s(r['optlab_s'])}", r["optlab_s"] <= 20)  # fmt: skip


def _adder_sweep(rows):
    r = _row(rows, "sweep", "adder", "64 runs", without="plain vmap")
    try:
        peer = _row(rows, "peer: sweep")
        extra = f"; PyTorch eager {peer['ratio']:.0f}x"
    except LookupError:
        extra = ""
    return (_s(r["optlab_s"]), f"sequential {_s(r['baseline_s'])}", f"{r['ratio']:.1f}x{extra}",
            r["ratio"] >= 5)  # fmt: skip


def _digits_sweep(rows):
    r = _row(rows, "sweep", "digits", "16 runs")
    return (_s(r["optlab_s"]), f"sequential {_s(r['baseline_s'])}", f"{r['ratio']:.2f}x",
            r["ratio"] >= 1.3)  # fmt: skip


TARGETS = [
    Target("slice 51x51, MLP 64-128-128-10, 2,048 samples, vs loss-landscapes", ">= 3x",
           _peer_slice),
    Target("same slice: share of the float32 matmul peak", ">= 85%", _peak_share),
    Target("same slice vs a hand-written lax.map(batch_size=4)", "(context)", _map4),
    Target("slice 101x101 of the adding network, ordinary loss_fn closure", ">= 20x",
           _adder_closure),
    Target("optlab landscape (CLI, defaults) takes the fast path", "fast path", _cli_path),
    Target("analyze_grid on a 2-conv CNN's slice (digits)", "<= the slice", _analysis),
    Target("default study (optlab compare) in a new process", "<= 20 s", _study),
    Target("adder sweep, 64 runs x 2,000 Adam steps", "keep (>= 5x)", _adder_sweep),
    Target("digits sweep, 16 runs", ">= 1.3x", _digits_sweep),
]  # fmt: skip


def evaluate(rows: list[dict]) -> list[dict]:
    """One dict per target: workload, optlab, baseline, measured, target, met."""
    out = []
    for t in TARGETS:
        try:
            optlab, baseline, measured, met = t.check(rows)
        except LookupError as err:
            optlab, baseline, measured, met = "-", "-", f"not measured ({err})", None
        out.append({
            "workload": t.workload, "optlab": optlab, "baseline": baseline,
            "measured": measured, "target": t.target,
            "met": "-" if met is None else ("yes" if met else "NO"),
        })  # fmt: skip
    return out
