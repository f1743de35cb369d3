"""The one block scan of training and sweeps, its chunk layout and its evaluation points.

A run of ``steps`` steps is cut three ways:

- *blocks* of ``block`` steps: an inner ``lax.scan`` over the steps of a block, after which
  the params are evaluated on the validation split (and, for ``train``, recorded);
- *chunks* of ``n_blocks`` blocks: an outer ``lax.scan`` over blocks, one compiled call each;
  between chunks only the host runs (progress bar, logging);
- ``chunks`` calls cover ``chunks * n_blocks * block >= steps`` steps; when that is more than
  ``steps`` (``exact`` false) the extra steps are masked out and the last, partial block is
  evaluated at ``steps``.

:func:`block_scan` is that loop for any step function (``optlab.train``'s, vmapped or mapped
over runs, or the lanes engine's); :class:`Layout` and :func:`chunk_layout` its arithmetic;
:func:`evaluation_points` which block ends are reported; :func:`step_curves` and
:func:`eval_curves` put the chunks' outputs back into per-step and per-evaluation curves.
The jitted evaluation of a whole split (:func:`evaluator`) and the compiled-program cache
helper (:func:`cached_compile`) are shared by ``train`` and ``sweep`` too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _cache
from optlab.train.step import make_evaluate, tree_where

__all__ = [
    "Layout",
    "chunk_layout",
    "block_scan",
    "Points",
    "evaluation_points",
    "step_curves",
    "eval_curves",
    "splits",
    "evaluator",
    "evaluate_splits",
    "final_metrics",
    "abstract_signature",
    "compile_program",
    "cached_compile",
]


# --------------------------------------------------------------------------- layout


class Layout(NamedTuple):
    """How ``steps`` steps are cut into compiled calls (see the module docstring)."""

    block: int  # steps per block (evaluation granularity)
    n_blocks: int  # blocks per compiled call
    chunks: int  # compiled calls
    exact: bool  # chunks * n_blocks * block == steps: no step is masked

    @property
    def steps_per_chunk(self) -> int:
        return self.n_blocks * self.block


def chunk_layout(steps: int, block: int, chunks: int) -> Layout:
    """At most ``chunks`` equal calls of whole blocks covering ``steps`` steps."""
    n_blocks_total = -(-steps // block)
    chunks = min(chunks, n_blocks_total)
    n_blocks = -(-n_blocks_total // chunks)
    chunks = -(-n_blocks_total // n_blocks)
    return Layout(block, n_blocks, chunks, chunks * n_blocks * block == steps)


# --------------------------------------------------------------------------- the scan


def block_scan(
    step: Callable,
    evaluate: Callable,
    layout: Layout,
    *,
    params_of: Callable,
    snapshots: bool = False,
    masked: bool | None = None,
) -> Callable:
    """One compiled call: ``layout.n_blocks`` blocks of ``layout.block`` steps.

    Args:
      step: ``(state, hp, train_split, step_index) -> (state, (loss, grad_norm))``.
      evaluate: ``(params, split) -> (loss, metrics)``, applied after every block.
      layout: the chunk layout.
      params_of: ``state -> params`` (what is evaluated and snapshotted).
      snapshots: also return the params after every block.
      masked: mask the steps at and past ``num_steps`` (default: unless ``layout.exact``).

    Returns:
      ``chunk(state, hp, train_split, val_split, start, num_steps) -> (state, (losses,
      grad_norms, evaluation, snapshot))``, the step outputs ``(n_blocks, block, ...)``, the
      evaluations (``None`` without a validation split) and snapshots (``None`` unless asked)
      ``(n_blocks, ...)``.
    """
    block, n_blocks = layout.block, layout.n_blocks
    masked = not layout.exact if masked is None else masked

    def chunk(state, hp, train_split, val_split, start, num_steps):
        def block_fn(state, b):
            def inner(state, i):
                index = start + b * block + i
                new_state, (loss, gnorm) = step(state, hp, train_split, index)
                if not masked:
                    return new_state, (loss, gnorm)
                active = index < num_steps
                state = tree_where(active, new_state, state)
                nan = jnp.asarray(jnp.nan, loss.dtype)
                return state, (jnp.where(active, loss, nan), jnp.where(active, gnorm, nan))

            state, (losses, gnorms) = jax.lax.scan(inner, state, jnp.arange(block))
            params = params_of(state)
            evaluation = evaluate(params, val_split) if val_split is not None else None
            return state, (losses, gnorms, evaluation, params if snapshots else None)

        return jax.lax.scan(block_fn, state, jnp.arange(n_blocks))

    return chunk


# --------------------------------------------------------------------------- outputs


class Points(NamedTuple):
    """Reported block ends: ``ends`` (step after each block, the partial last one at
    ``steps``) and ``mask`` (which blocks are reported), over all ``chunks * n_blocks``."""

    ends: np.ndarray
    mask: np.ndarray


def evaluation_points(layout: Layout, steps: int, every: int) -> Points:
    """The blocks ending at a multiple of ``every`` or at the last step (step 0 not included)."""
    ends = np.arange(1, layout.chunks * layout.n_blocks + 1) * layout.block
    valid = ends <= steps
    mask = valid & ((ends % every == 0) | (ends == steps))
    if ends[valid].size == 0 or ends[valid][-1] != steps:
        # steps is not a multiple of the block: the last (partial) block ends at `steps` too.
        last = int(np.argmax(ends >= steps))
        mask[last] = True
        ends = ends.copy()
        ends[last] = steps
    return Points(ends, mask)


def step_curves(outs, steps: int, lead: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    """Per-step ``(losses, grad_norms)`` from the chunks' outputs, shape ``(*lead, steps)``."""

    def curve(j):
        parts = [np.asarray(o[j]).reshape(*lead, -1) for o in outs]
        return np.concatenate(parts, axis=-1)[..., :steps]

    return curve(0), curve(1)


def eval_curves(first, outs, mask: np.ndarray, lead: tuple = ()):
    """``(val_loss, {metric: values})`` at step 0 and the reported blocks, float64.

    ``first`` is ``(loss, metrics)`` of the initial params; ``outs`` the chunks' outputs.
    """

    def curve(first_value, per_chunk):
        later = np.concatenate([np.asarray(x).reshape(*lead, -1) for x in per_chunk], axis=-1)
        first_value = np.asarray(first_value, np.float64).reshape(*lead, 1)
        return np.concatenate([first_value, later[..., mask]], axis=-1).astype(np.float64)

    loss0, metrics0 = first
    val_loss = curve(loss0, [o[2][0] for o in outs])
    val_metrics = {k: curve(metrics0[k], [o[2][1][k] for o in outs]) for k in metrics0}
    return val_loss, val_metrics


# --------------------------------------------------------------------------- evaluation


def splits(problem) -> tuple[Any, Any]:
    """``(train_split, val_split)`` a run trains and validates on; ``None`` if missing or empty."""
    if problem.data is None:
        return None, None
    val = problem.data.val
    return problem.data.train, (None if val is not None and val.x.shape[0] == 0 else val)


_EVALUATORS = _cache.Cache(maxsize=64)


def evaluator(problem, *, runs: bool = False) -> Callable:
    """The jitted :func:`~optlab.train.step.make_evaluate` of ``problem`` (cached per problem).

    ``runs=True``: vmapped over a leading runs axis of the params (the split is shared).
    """

    def build():
        evaluate = make_evaluate(problem)
        return jax.jit(jax.vmap(evaluate, in_axes=(0, None)) if runs else evaluate)

    return _EVALUATORS.get((_cache.ref(problem), runs), build)


def evaluate_splits(problem, evaluate, params) -> dict[str, np.ndarray]:
    """``evaluate(params, split)`` on every non-empty split, as float64 numpy arrays.

    Keys are ``"<split>_loss"`` and ``"<split>_<metric>"`` for the train, validation and test
    splits (only ``"train_loss"`` for problems without data). ``evaluate`` is
    :func:`evaluator`'s function, or one vmapped over runs (sweeps).
    """
    if problem.data is None:
        loss, _ = evaluate(params, None)
        return {"train_loss": np.asarray(loss, np.float64)}
    out = {}
    for split_name in ("train", "val", "test"):
        split = getattr(problem.data, split_name)
        if split is None or split.x.shape[0] == 0:
            continue
        loss, metrics = evaluate(params, split)
        out[f"{split_name}_loss"] = np.asarray(loss, np.float64)
        out.update({f"{split_name}_{k}": np.asarray(v, np.float64) for k, v in metrics.items()})
    return out


def final_metrics(problem, params) -> dict[str, float]:
    """Loss and metrics of ``params`` on the full train, validation and test splits."""
    return {k: float(v) for k, v in evaluate_splits(problem, evaluator(problem), params).items()}


# --------------------------------------------------------------------------- compiling


def abstract_signature(tree) -> tuple:
    """A hashable (tree structure, shapes, dtypes) key of a pytree, for compiled-program caches."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(x)), str(jnp.result_type(x))) for x in leaves)


def compile_program(fn: Callable, args, options: dict[str, Any] | None = None):
    """``jax.jit(fn)`` lowered for ``args`` and compiled (with XLA:CPU ``options`` if given)."""
    lowered = jax.jit(fn).lower(*args)
    if options and jax.default_backend() == "cpu":
        try:
            return lowered.compile(compiler_options=options)
        except Exception:  # noqa: BLE001 - an XLA without this option: compile plainly
            pass
    return lowered.compile()


def cached_compile(cache: _cache.Cache, key: Hashable, build: Callable) -> tuple[Any, float]:
    """``(program, seconds spent building it)``: 0.0 on a cache hit (``cache.builds`` counts)."""
    seconds = [0.0]

    def timed():
        t0 = time.perf_counter()
        program = build()
        seconds[0] = time.perf_counter() - t0
        return program

    return cache.get(key, timed), seconds[0]
