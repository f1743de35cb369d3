"""Shared helpers for the benchmark scripts: machine description, timing, table printing."""

from __future__ import annotations

import os
import platform
import resource
import time

import jax


def machine() -> dict:
    """CPU model, core count, JAX version and the device JAX runs on."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    dev = jax.devices()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
    }


def best_of(fn, repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn`` (which must block until done)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux ``ru_maxrss`` is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` restricted to ``columns``."""

    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def executed_flops_per_point(loss_fn, params, directions, plan, n_points: int) -> float:
    """Flops per grid point of the program a slice of ``n_points`` points actually runs, by
    XLA's cost analysis.

    For the ``"major"``/``"minor"`` paths the parts that do not depend on the points (a first
    layer's ``x W``, ``x D1``, ``x D2``) are computed once per grid and the rest once per
    chunk of ``plan.batch_size`` points: the two are separated by costing the program for one
    chunk and for two. This is less than the loss's own flops per point. For ``"map"`` it is
    the loss's own cost. A share of the matmul peak computed from it is the share of the
    hardware's peak the slice used; one from the loss's own flops is an effective rate.
    """
    import jax.numpy as jnp

    from optlab.landscape import slices

    if plan.path not in ("major", "minor"):
        return slices.point_cost(loss_fn, params)["flops"]
    fn, _ = slices._points_fn(loss_fn, params, tuple(directions), plan.path)
    dt = jnp.dtype(jax.tree_util.tree_leaves(params)[0].dtype)

    def flops(rows):
        pts = jax.ShapeDtypeStruct((rows, len(directions)), dt)
        cost = slices.lowered_cost(jax.jit(lambda c: fn(c, fn.hoist())).lower(pts))
        return float(cost.get("flops", float("nan")))

    one, two = flops(plan.batch_size), flops(2 * plan.batch_size)
    per_chunk, once = two - one, 2 * one - two
    chunks = -(-n_points // plan.batch_size)
    return (once + chunks * per_chunk) / n_points
