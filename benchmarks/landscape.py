"""Loss-landscape slices: compiled chunked evaluation vs a Python loop of jitted calls.

Cases (float32, CPU):

1. A 51x51 slice of a 64-128-128-10 ReLU MLP (26k params) with softmax cross-entropy over
   2,048 samples: points/second for several ``lax.map`` chunk sizes and the automatic one,
   the share of the float32 matmul peak measured in the same process (a 2048^3 ``jnp``
   matmul), the baseline: a Python loop of one jitted call per grid point (what Li et al.'s
   ``loss-landscape`` code and the ``loss-landscapes`` package do), and the peak memory.
2. The 2-3-1 adding network on its 700 training samples, 101x101 grid, vs the same loop.
3. Optional: the ``loss-landscapes`` PyPI package on the same MLP if torch is installed
   (skipped otherwise).

Run: ``python -m benchmarks.landscape`` (or ``python -m benchmarks --only landscape``).
"""

from __future__ import annotations

import importlib.util
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import (
    best_of,
    executed_flops_per_point,
    format_table,
    machine,
    peak_rss_mb,
)
from optlab import landscape as ls
from optlab import losses, mlp
from optlab.landscape.slices import plan, point_cost

NUMPY_BASELINE = False


def matmul_peak(n: int = 2048) -> float:
    """Float32 matmul FLOP/s of this machine through XLA (best of 5)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    t = best_of(lambda: f(a, b).block_until_ready(), 5)
    return 2.0 * n**3 / t


def _point_loop(loss_fn, params, d1, d2, alphas, betas):
    """The baseline: one jitted call per grid point (compiled here). Returns ``(point, loop)``;
    ``loop()`` dispatches every point from Python and gathers the values at the end."""

    @jax.jit
    def point(p, u, v, a, b):
        return loss_fn(jax.tree_util.tree_map(lambda x, y, z: x + a * y + b * z, p, u, v))

    point(params, d1, d2, 0.0, 0.0).block_until_ready()

    def loop():
        vals = [point(params, d1, d2, float(a), float(b)) for a in alphas for b in betas]
        return np.asarray(jnp.stack(vals))

    return point, loop


def loop_baseline(loss_fn, params, d1, d2, alphas, betas) -> float:
    """Seconds for one jitted call per grid point, dispatched from a Python loop."""
    _, go = _point_loop(loss_fn, params, d1, d2, alphas, betas)
    go()
    t0 = time.perf_counter()
    ref = go()
    return time.perf_counter() - t0, ref


def blocking_loop_baseline(loss_fn, params, d1, d2, alphas, betas) -> float:
    """Seconds for the same loop when each value is fetched as a Python float right away,
    as the ``loss-landscapes`` package (``loss.item()``) and Li et al.'s code do."""
    point, _ = _point_loop(loss_fn, params, d1, d2, alphas, betas)
    t0 = time.perf_counter()
    for a in alphas:
        for b in betas:
            float(point(params, d1, d2, float(a), float(b)))
    return time.perf_counter() - t0


def _mlp_setup(n_samples):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(n_samples, 64)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, n_samples), jnp.int32)
    params = mlp.init(jax.random.key(0), (64, 128, 128, 10))

    def loss_fn(p):
        return losses.softmax_cross_entropy(mlp.apply(p, x), y)

    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    return loss_fn, params, d1, d2


def memory_only(n_samples: int = 2048, res: int = 51) -> float:
    """Peak RSS (MB) of a fresh process that computes only the auto-chunked MLP slice."""
    loss_fn, params, d1, d2 = _mlp_setup(n_samples)
    a = np.linspace(-1, 1, res)
    ls.slice_2d(loss_fn, params, d1, d2, a, a)
    return peak_rss_mb()


def _fresh_process_memory(n_samples, res) -> float:
    import subprocess

    code = f"from benchmarks.landscape import memory_only; print(memory_only({n_samples}, {res}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def mlp_case(quick: bool, rounds: int = 5) -> list[dict]:
    """Round-robin timing (each round times every variant once; best round per variant), so
    that load from other processes on a shared machine affects all variants alike. The
    matmul peak is measured in every round too, and the best is used."""
    n_samples, res = (512, 21) if quick else (2048, 51)
    loss_fn, params, d1, d2 = _mlp_setup(n_samples)
    alphas = betas = np.linspace(-1, 1, res)
    npts = res * res
    flops = point_cost(loss_fn, params)["flops"]
    sizes = ([2, 4, 8] if quick else [1, 2, 4, 8, 32]) + [None]
    n_mm = 1024 if quick else 2048
    a_mm = jax.random.normal(jax.random.key(0), (n_mm, n_mm), jnp.float32)
    mm = jax.jit(jnp.matmul)
    mm(a_mm, a_mm).block_until_ready()

    _, loop = _point_loop(loss_fn, params, d1, d2, alphas, betas)
    ref = loop()
    outs = {}
    for bs in sizes:
        outs[bs] = ls.slice_2d(loss_fn, params, d1, d2, alphas, betas, batch_size=bs)
    best = {bs: np.inf for bs in sizes}
    best_loop, best_mm = np.inf, np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        mm(a_mm, a_mm).block_until_ready()
        best_mm = min(best_mm, time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop()
        best_loop = min(best_loop, time.perf_counter() - t0)
        for bs in sizes:
            t0 = time.perf_counter()
            ls.slice_2d(loss_fn, params, d1, d2, alphas, betas, batch_size=bs)
            best[bs] = min(best[bs], time.perf_counter() - t0)
    peak = 2.0 * n_mm**3 / best_mm
    t_block = blocking_loop_baseline(loss_fn, params, d1, d2, alphas, betas)
    mem = _fresh_process_memory(n_samples, res)
    rows = []
    for bs in sizes:
        t = best[bs]
        err = float(np.max(np.abs(outs[bs].ravel() - ref) / np.abs(ref)))
        pl = plan(loss_fn, params, (d1, d2), npts, batch_size=bs)
        executed = executed_flops_per_point(loss_fn, params, (d1, d2), pl, npts)
        share = npts * executed / t / peak
        effective = npts * flops / t / peak
        rows.append(
            {
                "benchmark": "landscape slice",
                "case": f"MLP 64-128-128-10, {n_samples} samples, {res}x{res}, "
                + (f"chunk {bs}" if bs else f"default ({_path(loss_fn, params, d1, d2, npts)})"),
                "optlab_s": t,
                "baseline": "Python loop of jitted per-point calls",
                "baseline_s": best_loop,
                "ratio": best_loop / t,
                "points_per_s": npts / t,
                "baseline_points_per_s": npts / best_loop,
                "peak_share": share,
                "effective_peak_share": effective,
                "matmul_peak_gflops": peak / 1e9,
                "slice_process_peak_rss_mb": mem if bs is None else None,
                "notes": f"{npts / t:,.0f} pts/s = {100 * share:.0f}% of matmul peak "
                f"({peak / 1e9:.0f} GFLOP/s) by executed flops ({executed / 1e6:.1f}M/pt), "
                f"{100 * effective:.0f}% by the loss's own ({flops / 1e6:.1f}M/pt); "
                f"loop {npts / best_loop:,.0f} pts/s; "
                f"max rel diff {err:.1e}"
                + (
                    f"; vs a loop fetching each value (float()): {t_block / t:.2f}x; peak RSS "
                    f"of a process doing only this: {mem:.0f} MB"
                    if bs is None
                    else ""
                ),
            }
        )
    return rows


def _auto_desc(loss_fn, params, n) -> str:
    from optlab.landscape.slices import auto_parallel

    bs = ls.auto_batch_size(loss_fn, params, n)
    par = auto_parallel(bs)
    return f"{par} x {max(1, bs // par)}" if par > 1 else str(bs)


def _path(loss_fn, params, d1, d2, n) -> str:
    p = plan(loss_fn, params, (d1, d2), n)
    return f"{p.path}, chunk {p.batch_size}"


def adder_case(quick: bool) -> list[dict]:
    from optlab import problems

    prob = problems.get("adder")
    batch = prob.data.train
    params = prob.init(jax.random.key(0))

    def loss_fn(p):
        return prob.loss(p, batch)

    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    res = 51 if quick else 101
    alphas = betas = np.linspace(-1, 1, res)
    t_loop, ref = loop_baseline(loss_fn, params, d1, d2, alphas, betas)
    ls.slice_2d(loss_fn, params, d1, d2, alphas, betas)
    t = best_of(lambda: ls.slice_2d(loss_fn, params, d1, d2, alphas, betas), 5)
    t_loop = min(t_loop, loop_baseline(loss_fn, params, d1, d2, alphas, betas)[0])
    t_block = blocking_loop_baseline(loss_fn, params, d1, d2, alphas, betas)
    out = ls.slice_2d(loss_fn, params, d1, d2, alphas, betas)
    err = float(np.max(np.abs(out.ravel() - ref) / np.maximum(np.abs(ref), 1e-12)))
    n = res * res
    # the same slice through ls.problem_loss: grid points along the vector lanes
    lanes_fn = ls.problem_loss(prob)
    ls.slice_2d(lanes_fn, params, d1, d2, alphas, betas)
    t_lanes = best_of(lambda: ls.slice_2d(lanes_fn, params, d1, d2, alphas, betas), 5)
    lanes_out = ls.slice_2d(lanes_fn, params, d1, d2, alphas, betas)
    lanes_err = float(np.max(np.abs(lanes_out.ravel() - ref) / np.maximum(np.abs(ref), 1e-12)))
    lanes_row = {
        "benchmark": "landscape slice",
        "case": f"adding network 2-3-1, {batch.x.shape[0]} samples, {res}x{res}, "
        "ls.problem_loss (points along the lanes)",
        "optlab_s": t_lanes,
        "baseline": "Python loop of jitted per-point calls",
        "baseline_s": t_loop,
        "ratio": t_loop / t_lanes,
        "points_per_s": n / t_lanes,
        "notes": f"{n / t_lanes:,.0f} vs {n / t_loop:,.0f} pts/s; vs a loop fetching each value "
        f"(float()): {t_block / t_lanes:.1f}x; max rel diff {lanes_err:.1e}",
    }
    return [
        lanes_row,
        {
            "benchmark": "landscape slice",
            "case": f"adding network 2-3-1, {batch.x.shape[0]} samples, {res}x{res}, an ordinary "
            f"loss_fn closure, default arguments (path {_path(loss_fn, params, d1, d2, n)})",
            "optlab_s": t,
            "baseline": "Python loop of jitted per-point calls",
            "baseline_s": t_loop,
            "ratio": t_loop / t,
            "points_per_s": n / t,
            "baseline_points_per_s": n / t_loop,
            "blocking_loop_s": t_block,
            "notes": f"{n / t:,.0f} vs {n / t_loop:,.0f} pts/s; vs a loop fetching each value "
            f"(float()): {t_block / t:.1f}x; max rel diff {err:.1e}",
        },
    ]


def loss_landscapes_case() -> dict | None:
    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("loss_landscapes") is None
    ):
        return None
    return None  # not measurable on machines without torch; kept optional


def grid_scaling(quick: bool) -> list[dict]:
    """Slice time as the grid grows (11^2 .. 201^2), compile time separately; saves a figure."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss_fn, params, d1, d2 = _mlp_setup(512 if quick else 2048)
    resolutions = [11, 21, 51] if quick else [11, 51, 101, 201]
    rows, times = [], []
    for res in resolutions:
        a = np.linspace(-1, 1, res)

        # a new function object per size, so the first call includes that size's compilation
        def f(p, _loss=loss_fn):
            return _loss(p)

        t0 = time.perf_counter()
        ls.slice_2d(f, params, d1, d2, a, a)
        first = time.perf_counter() - t0
        t = best_of(
            lambda a=a, f=f: ls.slice_2d(f, params, d1, d2, a, a), repeats=1 if res > 101 else 2
        )
        times.append(t)
        rows.append({
            "benchmark": "slice scaling", "case": f"MLP 64-128-128-10, {res}x{res} grid",
            "optlab_s": t, "baseline": "-", "baseline_s": float("nan"), "ratio": float("nan"),
            "compile_s": max(first - t, 0.0),
            "notes": f"{res * res / t:,.0f} points/s; compile ~{max(first - t, 0.0):.1f}s",
        })  # fmt: skip
    fig, ax = plt.subplots(figsize=(3.4, 2.4), layout="constrained")
    pts = np.array(resolutions) ** 2
    ax.loglog(pts, times, "o-", label="optlab slice_2d")
    ax.loglog(pts, times[0] * pts / pts[0], "k:", lw=0.8, label="linear in points")
    ax.set(xlabel="grid points", ylabel="seconds (compile excluded)", title="slice time vs grid")
    ax.legend(fontsize=7)
    out = Path(__file__).resolve().parents[1] / "results"
    out.mkdir(exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out / f"slice_scaling.{ext}", dpi=200)
    plt.close(fig)
    return rows


def cli_case(quick: bool) -> dict:
    """``optlab landscape`` as a user runs it (new process, default arguments): which slice
    path it took (recorded in ``slice.json``) and its wall time."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    res = 21 if quick else 101
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "optlab", "landscape", "--problem", "adder", "--steps",
               "2000", "--resolution", str(res), "--quiet", "--out", tmp]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        meta = json.loads((Path(tmp) / "slice.json").read_text())
    return {
        "benchmark": "landscape CLI",
        "case": f"optlab landscape --problem adder --resolution {res} (new process, defaults)",
        "optlab_s": wall, "baseline": "-", "baseline_s": float("nan"), "ratio": float("nan"),
        "slice_path": meta["path"],
        "notes": f"slice path {meta['path']} (chunk {meta['batch_size']}); slice "
        f"{meta['seconds']:.3f}s = {meta['points_per_second']:,.0f} pts/s incl. compile; wall "
        "time includes start-up, training, analysis and figures",
    }  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    rows = mlp_case(quick)
    rows += adder_case(quick)
    rows.append(cli_case(quick))
    rows += grid_scaling(quick)
    for r in rows:
        r["peak_rss_mb"] = peak_rss_mb()
    extra = loss_landscapes_case()
    if extra:
        rows.append(extra)
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    rows = run(quick=quick)
    info = machine()
    print(f"machine: {info['cpu']} ({info['cores']} cores), JAX {info['jax']} on {info['backend']}")
    print(
        f"float32 matmul peak: {rows[0]['matmul_peak_gflops']:.0f} GFLOP/s; peak RSS "
        f"{peak_rss_mb():.0f} MB; torch/loss-landscapes: "
        f"{'present' if importlib.util.find_spec('torch') else 'not installed (skipped)'}"
    )
    print(format_table(rows, ["case", "optlab_s", "baseline_s", "ratio", "notes"]))
