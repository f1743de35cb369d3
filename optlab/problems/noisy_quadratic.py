"""``quadratic-deep``: DeepOBS's 100-dimensional noisy quadratic with a deep-learning spectrum.

The loss of a batch of "data" points ``x_i`` is

    L(theta) = mean_i 0.5 (theta - x_i)^T H (theta - x_i),

with ``x_i ~ N(0, noise^2 I)`` (the minibatch noise) and a fixed Hessian ``H = R^T diag(lambda)
R``: 90 % of the eigenvalues uniform in ``[0, 1]`` and 10 % uniform in ``[30, 60]`` (for
``dim = 100``: 90 and 10), mimicking the spectrum reported for deep networks (a bulk near
zero and a few large outliers; Chaudhari et al., 2017), ``R`` a uniformly (Haar) random
rotation. ``theta`` starts at ``(1, ..., 1)``. As in DeepOBS: ``noise = 0.6``, 1,000 training
points, batch 128. The spectrum and rotation are drawn from ``hessian_seed`` with numpy's
generator (the recipe of DeepOBS, not its exact numbers: DeepOBS draws them from
``RandomState(42)`` with its own rotation sampler); the data points from ``data_seed``.

On a split with points ``x_i`` the minimizer is their mean ``x_bar`` and the minimum is
``mean_i 0.5 (x_i - x_bar)^T H (x_i - x_bar)``; the metric ``excess`` is the loss above it
(``0.5 (theta - x_bar)^T H (theta - x_bar)``), 0 at the split's own minimum.

References:
    F. Schneider, L. Balles, P. Hennig. DeepOBS: A Deep Learning Optimizer Benchmark Suite.
    ICLR 2019, arXiv:1903.05499 (test problem ``quadratic_deep``).
    P. Chaudhari et al. Entropy-SGD: Biasing Gradient Descent Into Wide Valleys. ICLR 2017,
    arXiv:1611.01838 (the eigenvalue spectrum).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from optlab import _checks
from optlab import data as data_lib
from optlab.data import Dataset
from optlab.data.core import rngs
from optlab.problems.core import Problem, register_table

__all__ = ["deep_spectrum_hessian", "noisy_quadratic_problem"]

# Adam learning rate measured in docs/problems.md ("Measured").
LR_QUADRATIC_DEEP = 3e-2


def deep_spectrum_hessian(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(H, eigenvalues)``: ``H = R^T diag(lambda) R`` with DeepOBS's deep-learning spectrum.

    ``round(0.9 * dim)`` eigenvalues uniform in ``[0, 1]``, the rest uniform in ``[30, 60]``;
    ``R`` Haar-random orthogonal (QR of a Gaussian matrix with the signs of ``diag(r)``
    fixed). float64, exactly symmetric.
    """
    dim = _checks.int_at_least("dim", dim, 2)
    rng = np.random.default_rng(_checks.int_at_least("hessian_seed", seed, 0))
    n_small = int(round(0.9 * dim))
    eig = np.concatenate([rng.uniform(0.0, 1.0, n_small), rng.uniform(30.0, 60.0, dim - n_small)])
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    rot = q * np.sign(np.diag(r))
    h = rot @ np.diag(eig) @ rot.T
    return 0.5 * (h + h.T), eig


def noisy_quadratic_problem(
    name: str,
    ds: Dataset,
    hessian: np.ndarray,
    *,
    start: float = 1.0,
    batch_size: int | None = 128,
    learning_rate: float = LR_QUADRATIC_DEEP,
    description: str = "",
    config: Mapping[str, Any] | None = None,
) -> Problem:
    """The stochastic quadratic ``mean_i 0.5 (theta - x_i)^T H (theta - x_i)`` on ``ds``.

    Args:
      name: problem name.
      ds: a dataset whose rows ``x`` (shape ``(n, dim)``) are the data points (``y`` unused).
      hessian: symmetric ``(dim, dim)`` matrix ``H``.
      start: every coordinate of the start point (``init`` ignores its key).
      batch_size: training batch size, None for full batch.
      learning_rate: default (Adam) learning rate recorded on the problem.
      description: one line.
      config: options recorded on the problem.

    Returns:
      A :class:`Problem` with metric ``excess`` (loss above the split's minimum).
    """
    hessian = np.asarray(hessian, np.float64)
    dim = ds.n_features
    if hessian.shape != (dim, dim):
        raise ValueError(f"hessian must have shape ({dim}, {dim}) for {dim} features")
    batch_size = _checks.int_at_least("batch_size", batch_size, 1, allow_none=True)
    lr = _checks.real("learning_rate", learning_rate, minimum=0, strict=True)
    start = _checks.real("start", start)

    def init(key):
        del key  # the start point is fixed, as in DeepOBS
        return jnp.full((dim,), start, jnp.float32)

    def loss(params, batch):
        d = params - batch.x
        h = jnp.asarray(hessian, d.dtype)
        return 0.5 * jnp.mean(jnp.sum(d * (d @ h), axis=-1))

    def excess(params, batch):
        d = params - jnp.mean(batch.x, axis=0)
        return 0.5 * d @ (jnp.asarray(hessian, d.dtype) @ d)

    return Problem(
        name=name,
        init=init,
        loss=loss,
        data=ds,
        metrics={"excess": excess},
        batch_size=batch_size,
        default_learning_rate=lr,
        description=description,
        config=dict(config or {}),
    )


def _build(opts: dict[str, Any]) -> Problem:
    dim = _checks.int_at_least("dim", opts["dim"], 2)
    n = _checks.int_at_least("n", opts["n"], 3)
    noise = _checks.real("noise", opts["noise"], minimum=0)
    hessian, eig = deep_spectrum_hessian(dim, opts["hessian_seed"])
    # stream 0 of the data seed splits the rows (from_arrays), stream 1 draws them
    _, gen = rngs(_checks.int_at_least("data_seed", opts["data_seed"], 0), 2)
    x = noise * gen.standard_normal((n, dim))
    ds = data_lib.from_arrays(
        x,
        np.zeros((n, 1)),
        task="regression",
        seed=opts["data_seed"],
        fractions=opts["fractions"],
        name="noisy-quadratic",
    )
    return noisy_quadratic_problem(
        "quadratic-deep",
        ds,
        hessian,
        batch_size=opts["batch_size"],
        learning_rate=opts["learning_rate"],
        description=_DESCRIPTION.format(**opts),
        config={**opts, "eigenvalues": eig},
    )


_DESCRIPTION = (
    "noisy quadratic, dim {dim}: 90% of the Hessian's eigenvalues in [0, 1], 10% in [30, 60], "
    "data N(0, {noise:g}^2 I) (batch {batch_size}; DeepOBS quadratic_deep)"
)

register_table(
    "quadratic-deep",
    defaults={
        "dim": 100,
        "n": 2000,
        "noise": 0.6,
        "batch_size": 128,
        "data_seed": 0,
        "hessian_seed": 0,
        "fractions": (0.5, 0.25, 0.25),
        "learning_rate": LR_QUADRATIC_DEEP,
    },
    description=_DESCRIPTION,
    build=_build,
)
