"""Minibatch selection inside jit: optlab's swap-or-not ``get_batch`` vs a full permutation.

The whole digits-mlp training step (64-128-10, batch 128, Adam) is timed as a compiled
``lax.scan`` of 1,000 steps with three ways of picking each step's rows:

- optlab: ``data.get_batch`` computes only the 128 entries of the epoch's permutation it needs
  (swap-or-not shuffle);
- baseline: ``jax.random.permutation(fold_in(key, epoch), n)`` of all rows at every step, then a
  slice (the obvious way);
- floor: fixed contiguous slices, no shuffling at all (a lower bound, not a valid method).

Run: ``python -m benchmarks.get_batch``.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import optax

from benchmarks.common import best_of, format_table, machine
from optlab import data, problems

NUMPY_BASELINE = False


def _program(problem, pick, steps):
    opt = optax.adam(1e-3)
    split = problem.data.train

    def step(carry, t):
        params, state = carry
        batch = pick(split, t)
        loss, grads = jax.value_and_grad(problem.loss)(params, batch)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    @jax.jit
    def run(params):
        return jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))[1]

    return run


def run(quick: bool = False) -> list[dict]:
    problem = problems.get("digits-mlp")
    steps = 250 if quick else 1000
    bs = problem.batch_size
    n = problem.data.train.x.shape[0]
    spe = n // bs
    key = jax.random.key(1)

    def optlab_pick(split, t):
        return data.get_batch(split, key, t, bs)

    def permutation_pick(split, t):
        perm = jax.random.permutation(jax.random.fold_in(key, t // spe), n)
        idx = jax.lax.dynamic_slice(perm, ((t % spe) * bs,), (bs,))
        return data.Split(split.x[idx], split.y[idx])

    def fixed_pick(split, t):
        start = (t % spe) * bs
        return data.Split(jax.lax.dynamic_slice_in_dim(split.x, start, bs),
                          jax.lax.dynamic_slice_in_dim(split.y, start, bs))  # fmt: skip

    params = problem.init(jax.random.key(0))
    times = {}
    for name, pick in (("optlab", optlab_pick), ("permutation", permutation_pick),
                       ("fixed", fixed_pick)):  # fmt: skip
        prog = _program(problem, pick, steps)
        prog(params).block_until_ready()
        times[name] = best_of(lambda prog=prog: prog(params).block_until_ready(), repeats=5)
    us = {k: 1e6 * v / steps for k, v in times.items()}
    case = f"digits-mlp train step, batch {bs}, {steps} steps"
    return [{
        "benchmark": "minibatch selection", "case": case,
        "optlab_s": times["optlab"], "baseline": "full jax.random.permutation per step",
        "baseline_s": times["permutation"], "ratio": times["permutation"] / times["optlab"],
        "notes": f"µs/step: optlab {us['optlab']:.0f}, permutation {us['permutation']:.0f}, "
                 f"no shuffling (floor) {us['fixed']:.0f}",
    }]  # fmt: skip


if __name__ == "__main__":
    rows = run(quick="--quick" in sys.argv)
    print(machine())
    print(format_table(rows, ["case", "optlab_s", "baseline_s", "ratio", "notes"]))
