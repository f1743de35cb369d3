"""Whole hyperparameter sweeps in one compiled program.

``sweep(problem, "adam", grid={"learning_rate": [...]}, seeds=[0, 1, 2], steps=...)`` trains
every combination of grid values × seeds (``R`` runs) inside one XLA program. The swept
hyperparameters are arrays of shape ``(R,)`` passed to ``optlab.optimizers.get`` inside the
trace (the registry accepts tracers), so a second sweep with other values but the same shapes
reuses the compiled program.

Two engines lay out the runs differently (``engines``):

- ``"lanes"`` (full-batch small MLPs with an elementwise optimizer): the runs are the *last*
  axis of everything, so they sit along the SIMD lanes instead of the tiny hidden widths, and
  one ``jax.grad`` of the summed loss gives every run its own gradient. Whether an optimizer
  is elementwise is checked numerically (transforms using tensor or global norms — LAMB,
  LARS, NovoGrad, ``clip_norm`` — mix the runs and fall back to ``"vmap"``), and so is the
  batched loss against ``problem.loss``. Large sweeps run in groups of runs through one
  program.
- ``"vmap"`` / ``"map"``: ``jax.vmap`` of ``optlab.train``'s own step over all runs, or
  ``jax.lax.map`` over chunks of ``batch_size_runs`` runs (each chunk vmapped). Works for every
  problem and optimizer.

Both run ``optlab.train.loop.block_scan``, the loop ``train`` compiles. ``method="auto"``
picks ``"lanes"`` when it applies and otherwise ``"map"`` with a chunk size set by the per-run
work (measured in ``benchmarks/sweep.py``, see ``docs/sweeps.md``): a sweep must never be
slower than running its runs one after another.

Seeds are paired: seed ``s`` uses ``jax.random.key(s)``, split by ``optlab.train.split_key``
into the same init and data keys for every optimizer. Diverged runs (non-finite loss, gradient
or params) are frozen and flagged, never raising and never touching the other runs.

Modules (one way: ``validate`` -> ``engines`` -> ``runner`` -> ``api``): ``validate`` (the
arguments, checked before any compile), ``engines`` (lanes, vmap and map programs; the
choice), ``runner`` (runs and groups; local and sharded runners; the compiled-program cache),
``result`` (:class:`SweepResult`), ``api`` (:func:`sweep`).

Example:
    >>> from optlab import problems, sweep
    >>> res = sweep.sweep(problems.get("rosenbrock"), "adam",
    ...                   grid={"learning_rate": [0.01, 0.1]}, seeds=[0, 1], steps=50)
    >>> res.loss.shape, [c["learning_rate"] for c in res.configs]
    ((4, 50), [0.01, 0.01, 0.1, 0.1])
"""

from __future__ import annotations

from optlab.lanes import lanes_loss  # noqa: F401 - kept for callers of the earlier location
from optlab.sweep import api, engines, result, runner, validate  # noqa: F401 - submodules
from optlab.sweep.api import sweep
from optlab.sweep.engines import choose_method
from optlab.sweep.result import SweepResult
from optlab.sweep.runner import compile_count
from optlab.sweep.validate import METHODS

__all__ = ["SweepResult", "sweep", "choose_method", "compile_count", "METHODS"]
