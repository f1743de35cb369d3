"""The landscape analysis against the slice it analyses: a 2-conv CNN on the digits.

A tiny pure-JAX convolutional net (3x3 conv, 4 channels -> ReLU -> 3x3 conv, 8 channels ->
ReLU -> dense 10) on the 8x8 handwritten digits (all 1,797; 512 with ``--quick``), trained
for a few Adam steps; a 51x51 slice through random filter-normalized directions
(``ls.compute_slice`` with default arguments: the path users get) and then
``ls.analyze_grid`` on it (minima and saddles refined on the slice function). Target: the
analysis takes no longer than the slice. Both are timed on their first call (compilation
included, as a user running it once sees it) and again warm.

Run: ``python -m benchmarks.analysis`` (or ``python -m benchmarks --only analysis``).
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.common import format_table, machine
from optlab import landscape as ls
from optlab import losses


def _conv(x, w, b):
    y = jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + b


def cnn_apply(params, x):
    h = jax.nn.relu(_conv(x, params["c1"]["w"], params["c1"]["b"]))
    h = jax.nn.relu(_conv(h, params["c2"]["w"], params["c2"]["b"]))
    h = h.reshape(h.shape[0], -1)
    return h @ params["d"]["w"] + params["d"]["b"]


def cnn_init(key):
    k1, k2, k3 = jax.random.split(key, 3)

    def he(k, shape, fan_in):
        return jax.random.normal(k, shape) * jnp.sqrt(2.0 / fan_in)

    return {
        "c1": {"w": he(k1, (3, 3, 1, 4), 9), "b": jnp.zeros(4)},
        "c2": {"w": he(k2, (3, 3, 4, 8), 36), "b": jnp.zeros(8)},
        "d": {"w": he(k3, (8 * 8 * 8, 10), 512), "b": jnp.zeros(10)},
    }


def _setup(steps: int, n: int | None = None):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = jnp.asarray(d.images[:n, ..., None] / 16.0, jnp.float32)
    y = jnp.asarray(d.target[:n], jnp.int32)

    def loss_fn(p):
        return losses.softmax_cross_entropy(cnn_apply(p, x), y)

    params = cnn_init(jax.random.key(0))
    opt = optax.adam(1e-2)

    @jax.jit
    def train(p):
        def step(c, _):
            p, s = c
            g = jax.grad(loss_fn)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    return loss_fn, train(params)


def run(quick: bool = False) -> list[dict]:
    res = 11 if quick else 51
    loss_fn, params = _setup(20 if quick else 100, 512 if quick else None)
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    a = np.linspace(-1, 1, res)
    times = {}
    for label in ("first", "warm"):
        t0 = time.perf_counter()
        s = ls.compute_slice(loss_fn, params, d1, d2, a, a)
        t1 = time.perf_counter()
        g = ls.slice_function(loss_fn, params, d1, d2)
        r = ls.analyze_grid(s.values, s.alphas, s.betas, g)
        t2 = time.perf_counter()
        times[label] = (t1 - t0, t2 - t1)
    (sf, af), (sw, aw) = times["first"], times["warm"]
    n_sad = len(r.saddles) if hasattr(r, "saddles") else -1
    return [{
        "benchmark": "landscape analysis",
        "case": f"2-conv CNN, digits ({512 if quick else 1797}), {res}x{res} slice "
        f"(path {s.metadata['path']}) then analyze_grid",
        "optlab_s": af, "baseline": "the slice itself (first call)", "baseline_s": sf,
        "ratio": sf / af,
        "notes": f"first call: slice {sf:.2f}s, analysis {af:.2f}s; warm: slice {sw:.2f}s, "
        f"analysis {aw:.2f}s; {len(r.minima)} minima, {n_sad} saddles",
    }]  # fmt: skip


if __name__ == "__main__":
    rows = run(quick="--quick" in sys.argv)
    info = machine()
    print(f"machine: {info['cpu']} ({info['cores']} cores), JAX {info['jax']} on {info['backend']}")
    print(format_table(rows, ["case", "optlab_s", "baseline_s", "ratio", "notes"]))
