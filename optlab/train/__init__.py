"""Compiled training: one ``lax.scan`` over steps, run in chunks, returning a run record.

``train(problem, optimizer, steps=..., key=...)`` compiles the whole loop (forward, backward,
optimizer update, divergence check, evaluation and parameter snapshots) into one XLA program
that is called once per chunk of steps; between chunks only a progress bar runs on the host.

Divergence never raises: when the loss, the gradient or the new params become NaN/Inf the run
keeps its last finite params, stops updating, records ``diverged=True`` and the step, and its
later losses are NaN.

Modules (the flow is one way: ``step`` -> ``loop`` -> ``api``; ``optlab.sweep`` uses ``step``
and ``loop`` too):

- ``step``: :class:`TrainState`, :func:`split_key`, :func:`init_state`, :func:`make_step`,
  :func:`divergence_rule`, :func:`make_evaluate` (pure, vmappable: what sweeps batch).
- ``loop``: the one block scan of training and sweeps, its chunk layout, the evaluation points,
  the jitted evaluator cache, :func:`evaluate_splits` and :func:`final_metrics`.
- ``api``: :func:`train`, :class:`Run`, :func:`progress_bar`, :func:`compile_count`.

Seeds are paired: ``key`` is split into an init key and a data key by a fixed rule that does not
depend on the optimizer, so the same key gives every optimizer the same initial params and the
same minibatch order.
"""

from __future__ import annotations

from optlab.train import api, loop, step  # noqa: F401 - submodules as attributes
from optlab.train.api import Run, compile_count, progress_bar, train
from optlab.train.loop import abstract_signature, evaluate_splits, final_metrics
from optlab.train.step import (
    TrainState,
    divergence_rule,
    init_state,
    make_evaluate,
    make_step,
    split_key,
)

__all__ = [
    "Run",
    "TrainState",
    "init_state",
    "make_step",
    "make_evaluate",
    "split_key",
    "train",
    "compile_count",
    "abstract_signature",
    "divergence_rule",
    "evaluate_splits",
    "final_metrics",
    "progress_bar",
]
