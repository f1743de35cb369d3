"""The record of a sweep: :class:`SweepResult`, all runs as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from optlab.train.api import Run

__all__ = ["SweepResult"]


@dataclass
class SweepResult:
    """All runs of a sweep as numpy arrays, run ``i`` described by ``configs[i]``.

    Attributes:
      configs: one dict per run: the swept hyperparameter values and ``"seed"``.
      loss: training (minibatch) loss per step, ``(R, steps)``; NaN after divergence.
      grad_norm: global gradient norm per step, ``(R, steps)``.
      eval_steps: steps of the validation evaluations (0 = initial params), ``(k,)``.
      val_loss: validation loss, ``(R, k)``.
      val_metrics: ``{name: (R, k)}``.
      final: ``{key: (R,)}`` with the keys of ``optlab.train.Run.final`` (NaN if diverged).
      final_params: the params after the last step, each leaf with a leading ``R`` axis.
      diverged: ``(R,)`` bool.
      diverged_step: ``(R,)`` int, -1 where the run stayed finite.
      compile_time: seconds spent compiling (0 when the program was cached).
      run_time: seconds spent running the compiled program.
      method: the engine used (``"lanes"``, ``"vmap"`` or ``"map"``).
      batch_size_runs: runs per vmapped chunk (``"map"``), else ``R``.
      config: problem, optimizer, fixed hyperparameters, grid, seeds, steps, eval_every.
    """

    configs: list[dict[str, Any]]
    loss: np.ndarray
    grad_norm: np.ndarray
    eval_steps: np.ndarray
    val_loss: np.ndarray
    val_metrics: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    final_params: Any
    diverged: np.ndarray
    diverged_step: np.ndarray
    compile_time: float
    run_time: float
    method: str = "vmap"
    batch_size_runs: int = 1
    config: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.configs)

    def run(self, i: int) -> Run:
        """Run ``i`` as an ``optlab.train.Run`` (no snapshots; timings are the sweep's)."""
        n = len(self.configs)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"run index {i!r} out of range for a sweep of {n} runs")
        i = int(i) % n
        cfg = dict(self.configs[i])
        seed = cfg.pop("seed")
        return Run(
            loss=self.loss[i],
            grad_norm=self.grad_norm[i],
            eval_steps=self.eval_steps,
            val_loss=self.val_loss[i],
            val_metrics={k: v[i] for k, v in self.val_metrics.items()},
            final={k: float(v[i]) for k, v in self.final.items()},
            final_params=jax.tree_util.tree_map(lambda a: a[i], self.final_params),
            snapshots=None,
            snapshot_steps=np.zeros((0,), np.int64),
            diverged=bool(self.diverged[i]),
            diverged_step=int(self.diverged_step[i]),
            compile_time=self.compile_time,
            run_time=self.run_time,
            config={
                "problem": self.config.get("problem"),
                "optimizer": self.config.get("optimizer"),
                "hyperparams": {**self.config.get("fixed", {}), **cfg},
                "seed": seed,
                "steps": self.config.get("steps"),
                "eval_every": self.config.get("eval_every"),
            },
        )
