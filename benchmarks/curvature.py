"""Top Hessian eigenvalues: Lanczos on Hessian-vector products vs the dense Hessian.

The baseline forms the full Hessian with ``jax.hessian`` and diagonalizes it with
``numpy.linalg.eigh`` (float64), which is what one does without HVPs. Lanczos needs only
``num_iter`` HVPs and memory for that many parameter vectors. The eigenvalues must agree.
Run: ``python -m benchmarks.curvature``. numpy's baseline runs with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset when started through ``python -m benchmarks`` (see benchmarks/README.md).
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from benchmarks.common import format_table, machine
from optlab import landscape, problems, train

NUMPY_BASELINE = True  # numpy eigh: run with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset


def case(sizes, n_rows, k=3):
    problem = problems.get("digits-mlp", sizes=sizes, batch_size=None)
    run = train.train(problem, "adam", steps=200, key=jax.random.key(0), snapshots=False,
                      hyperparams={"learning_rate": 3e-3})  # fmt: skip
    params = jax.tree_util.tree_map(jnp.asarray, run.final_params)
    split = problem.data.train
    batch = type(split)(split.x[:n_rows], split.y[:n_rows])

    def loss_fn(p):
        return problem.loss(p, batch)

    n = ravel_pytree(params)[0].size
    landscape.lanczos(loss_fn, params, k=k)  # compile
    t0 = time.perf_counter()
    eig = landscape.lanczos(loss_fn, params, k=k)
    t_lanczos = time.perf_counter() - t0

    flat, unravel = ravel_pytree(params)
    hess = jax.jit(jax.hessian(lambda v: loss_fn(unravel(v))))
    hess(flat).block_until_ready()  # compile
    t0 = time.perf_counter()
    H = np.asarray(hess(flat), np.float64)
    dense = np.linalg.eigh(0.5 * (H + H.T))[0][::-1][:k]
    t_dense = time.perf_counter() - t0
    err = float(np.max(np.abs(eig.values - dense) / np.abs(dense)))
    return {
        "benchmark": "hessian top-k",
        "case": f"MLP {'-'.join(map(str, sizes))} ({n} params), k={k}",
        "optlab_s": t_lanczos, "baseline": "jax.hessian + numpy eigh", "baseline_s": t_dense,
        "ratio": t_dense / t_lanczos, "notes": f"max rel. eigenvalue error {err:.1e}",
        "top_eigenvalues": [float(v) for v in eig.values],
    }  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    sizes = [(64, 16, 10)] if quick else [(64, 16, 10), (64, 32, 10)]
    return [case(s, 512) for s in sizes]


if __name__ == "__main__":
    rows = run(quick="--quick" in sys.argv)
    print(machine())
    print(format_table(rows, ["case", "optlab_s", "baseline_s", "ratio", "notes"]))
