"""Training-loop overhead: optlab's compiled ``lax.scan`` vs a Python loop of jitted steps.

Both run the identical step (loss, gradient, optax update) from the same key; the Python loop
is the idiomatic JAX baseline (one jitted ``step`` called per iteration, already compiled).
Run: ``python -m benchmarks.train_step``.
"""

from __future__ import annotations

import sys
from functools import partial

import jax
import numpy as np
import optax

from benchmarks.common import best_of, format_table, machine
from optlab import data, problems, train

CASES = {
    "adder (2-3-1, full batch 700)": ("adder", {}, 2000),
    "digits-mlp (64-128-10, batch 128)": ("digits-mlp", {}, 1000),
}


def python_loop(problem, opt, key, steps):
    init_key, data_key = train.split_key(key)
    params = problem.init(init_key)

    @jax.jit
    def step(params, state, t):
        batch = data.get_batch(problem.data.train, data_key, t, problem.batch_size)
        loss, grads = jax.value_and_grad(problem.loss)(params, batch)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    def go():
        p, s = params, opt.init(params)
        losses = []
        for t in range(steps):
            p, s, loss = step(p, s, t)
            losses.append(loss)
        jax.block_until_ready(p)
        return np.asarray(losses)

    go()  # compile
    return go


def run(quick: bool = False) -> list[dict]:
    rows = []
    for case, (name, kw, steps) in CASES.items():
        steps = steps // 4 if quick else steps
        problem = problems.get(name, **kw)
        opt = optax.adam(1e-3)
        key = jax.random.key(0)
        first = train.train(problem, opt, steps=steps, key=key, snapshots=False)
        ours = best_of(partial(train.train, problem, opt, steps=steps, key=key, snapshots=False))
        loop = python_loop(problem, opt, key, steps)
        ref_losses = loop()
        base = best_of(loop)
        same = np.allclose(first.loss, ref_losses, rtol=1e-4, atol=1e-6)
        rows.append({
            "benchmark": "train loop", "case": f"{case}, {steps} steps", "optlab_s": ours,
            "baseline": "Python loop of jitted steps", "baseline_s": base, "ratio": base / ours,
            "compile_s": first.compile_time, "us_per_step": 1e6 * first.run_time / steps,
            "notes": f"same losses: {same}",
        })  # fmt: skip
    return rows


if __name__ == "__main__":
    rows = run(quick="--quick" in sys.argv)
    print(machine())
    print(
        format_table(
            rows, ["case", "optlab_s", "baseline_s", "ratio", "compile_s", "us_per_step", "notes"]
        )
    )
