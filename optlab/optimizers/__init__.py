"""Optimizers by name: common optax optimizers plus custom ones, all optax transformations.

Use ``get(name, **hyperparams)``; combine with a learning-rate schedule, gradient clipping and
weight decay by keyword::

    opt = optimizers.get("adam", learning_rate=3e-3, schedule="warmup_cosine", steps=2000,
                         warmup_steps=100, clip_norm=1.0, weight_decay=1e-4)

Register your own with the ``register`` decorator (see ``docs/custom_optimizers.md``).
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import optax

from optlab.optimizers import _optax, custom  # noqa: F401  (registers the built-ins)
from optlab.optimizers._registry import (
    OWN_HINT,
    Entry,
    Range,
    check_finite,
    check_range,
    check_type,
    concrete_float,
    defaults,
    entry,
    factory,
    names,
    register,
)

__all__ = [
    "GENERIC_KEYWORDS",
    "OWN_HINT",
    "accepted_keywords",
    "Entry",
    "Range",
    "check_range",
    "defaults",
    "defaults_table",
    "entry",
    "factory",
    "get",
    "make_schedule",
    "names",
    "register",
    "SCHEDULES",
    "needs_value_fn",
    "warmup_cosine",
]

SCHEDULES = ("constant", "cosine", "warmup_cosine", "step", "exponential", "linear")

#: Keywords :func:`get` takes for every optimizer, besides the optimizer's own.
GENERIC_KEYWORDS = (
    "schedule",
    "steps",
    "warmup_steps",
    "schedule_kwargs",
    "clip_norm",
    "clip_value",
    "weight_decay",
)


def accepted_keywords(name: str) -> tuple[str, ...]:
    """Every keyword ``get(name, ...)`` accepts (the optimizer's own, then the generic ones).

    The generic ones are :data:`GENERIC_KEYWORDS`: schedule, warm-up, clipping, weight decay.
    """
    own = tuple(entry(name).keywords)
    return own + tuple(k for k in GENERIC_KEYWORDS if k not in own)


def make_schedule(
    name: str,
    learning_rate: float,
    *,
    steps: int | None = None,
    warmup_steps: int = 0,
    final_fraction: float = 0.0,
    decay_rate: float = 0.1,
    boundaries: tuple[int, ...] | None = None,
    transition_steps: int | None = None,
):
    """A learning-rate schedule ``step -> lr`` (an optax schedule).

    Args:
      name: one of ``SCHEDULES``: ``"constant"``; ``"cosine"`` (to ``final_fraction * lr`` at
        ``steps``); ``"warmup_cosine"`` (linear warm-up over ``warmup_steps`` from 0, then
        cosine); ``"step"`` (multiply by ``decay_rate`` at each of ``boundaries``, by default
        at 50% and 75% of ``steps``); ``"exponential"`` (``lr * decay_rate**(t /
        transition_steps)``); ``"linear"`` (to ``final_fraction * lr`` at ``steps``).
      learning_rate: the peak learning rate.
      steps: total training steps (required by cosine, warmup_cosine, linear and default step).
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; accepted: {', '.join(SCHEDULES)}")
    if name == "constant":
        return optax.constant_schedule(learning_rate)
    needs_steps = name in ("cosine", "warmup_cosine", "linear") or (
        name == "step" and not boundaries
    )
    if needs_steps and (steps is None or steps <= 0):
        raise ValueError(
            f"schedule {name!r} needs steps > 0 (the total number of steps), got {steps}"
        )
    w = concrete_float(warmup_steps)  # None when swept (traced): the sweep checks its values
    if w is not None and not 0 <= w < (steps or math.inf):
        raise ValueError(f"warmup_steps={warmup_steps} must be in [0, steps={steps})")
    end = learning_rate * final_fraction
    if name == "cosine":
        return optax.cosine_decay_schedule(learning_rate, steps, alpha=final_fraction)
    if name == "warmup_cosine":
        return warmup_cosine(learning_rate, warmup_steps=warmup_steps, steps=steps, end=end)
    if name == "linear":
        return optax.linear_schedule(learning_rate, end, steps)
    if name == "step":
        bounds = boundaries or (steps // 2, (3 * steps) // 4)
        return optax.piecewise_constant_schedule(
            learning_rate, {int(b): decay_rate for b in bounds}
        )
    if transition_steps is None or transition_steps <= 0:
        raise ValueError(
            f"schedule 'exponential' needs transition_steps > 0, got {transition_steps}"
        )
    return optax.exponential_decay(learning_rate, transition_steps, decay_rate)


def warmup_cosine(peak, *, warmup_steps, steps: int, end=0.0):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine decay to ``end``.

    ``lr(t) = peak * t / w`` for ``t < w``, else
    ``end + (peak - end) * (1 + cos(pi * min(t - w, T - w) / (T - w))) / 2``,

    with ``w = warmup_steps`` and ``T = steps``: the same numbers as
    ``optax.warmup_cosine_decay_schedule(0.0, peak, w, T, end)`` (tested), written in ``jnp``
    without Python branches on the values, so ``peak``, ``end`` and ``warmup_steps`` may be
    traced arrays (sweeps batch them; optax's own version checks ``peak_value == 0.0`` in
    Python and fails on a tracer).
    """

    def schedule(count):
        t = jnp.asarray(count, jnp.result_type(float))
        w = jnp.asarray(warmup_steps, t.dtype)
        decay = jnp.maximum(steps - w, 1.0)
        warm = peak * t / jnp.maximum(w, 1.0)
        frac = jnp.clip(t - w, 0.0, decay) / decay
        cosine = end + (peak - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
        return jnp.where(t < w, warm, cosine)

    return schedule


def get(
    name: str,
    learning_rate: Any = None,
    *,
    schedule: str | None = None,
    steps: int | None = None,
    warmup_steps: int = 0,
    schedule_kwargs: dict | None = None,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    weight_decay: float | None = None,
    **hyperparams,
) -> optax.GradientTransformation:
    """The optimizer ``name`` as an ``optax.GradientTransformation``.

    Args:
      name: a registered name (see ``names()``).
      learning_rate: peak learning rate; defaults to the registry's default for ``name``.
        May be an array or tracer (sweeps), or an optax schedule.
      schedule: a name from ``SCHEDULES`` built around ``learning_rate`` (see
        :func:`make_schedule`, extra options in ``schedule_kwargs``).
      steps, warmup_steps: schedule lengths.
      clip_norm: clip the gradient's global norm first (``optax.clip_by_global_norm``).
      clip_value: clip each gradient entry to ``[-clip_value, clip_value]``.
      weight_decay: if the optimizer takes ``weight_decay`` itself (adamw, lion, lamb, lars,
        novograd, ...), it is passed through (decoupled decay as the paper defines it);
        otherwise ``weight_decay * θ`` is added to the gradient (coupled L2, PyTorch style).
      **hyperparams: the optimizer's own keywords (``b1``, ``momentum``, ...).

    Raises:
      ValueError: unknown name, unknown hyperparameter, non-positive or non-finite learning rate,
        non-finite hyperparameters or ones outside the range the optimizer declares
        (``entry(name).ranges``, e.g. ``b1`` in ``[0, 1)``), bad schedule options.
      TypeError: a string given for a numeric hyperparameter (``_checks.ArgumentTypeError``,
        also a ``ValueError``).
    """
    e = entry(name)
    unknown = sorted(set(hyperparams) - set(e.keywords) - {"learning_rate"})
    if unknown:
        accepted = [k for k in e.keywords if k != "learning_rate"]
        raise ValueError(
            f"optimizer {name!r} does not take hyperparameter(s) {unknown}; accepted: {accepted}"
        )
    for key, value in hyperparams.items():
        check_type(name, key, value)
        check_finite(name, key, value)
        check_range(name, key, value)
    check_type(name, "learning_rate", learning_rate)
    if learning_rate is None:
        learning_rate = e.defaults.get("learning_rate")
    _check_learning_rate(name, learning_rate)
    if schedule is not None:
        if learning_rate is None:
            raise ValueError(f"optimizer {name!r} has no learning rate to schedule")
        learning_rate = make_schedule(
            schedule,
            learning_rate,
            steps=steps,
            warmup_steps=warmup_steps,
            **(schedule_kwargs or {}),
        )
    for key, value in (
        ("clip_norm", clip_norm),
        ("clip_value", clip_value),
        ("weight_decay", weight_decay),
    ):
        check_type(name, key, value)
        check_finite(name, key, value)
        v = concrete_float(value)
        if v is not None and v < 0:
            raise ValueError(f"{key}={value!r} must be non-negative")

    kwargs = dict(hyperparams)
    if "learning_rate" in e.keywords:
        kwargs["learning_rate"] = learning_rate
    elif learning_rate is not None:
        raise ValueError(f"optimizer {name!r} takes no learning_rate")
    coupled_decay = None
    if weight_decay is not None:
        if "weight_decay" in e.keywords:
            kwargs["weight_decay"] = weight_decay
        else:
            coupled_decay = weight_decay
    opt = e.factory(**kwargs)

    pre = []
    if clip_value is not None:
        pre.append(optax.clip(clip_value))
    if clip_norm is not None:
        pre.append(optax.clip_by_global_norm(clip_norm))
    if coupled_decay is not None:
        pre.append(optax.add_decayed_weights(coupled_decay))
    return optax.chain(*pre, opt) if pre else opt


def _check_learning_rate(name: str, lr) -> None:
    v = concrete_float(lr)
    if v is None:
        return  # a schedule, or learning rates swept as arrays (checked by the sweep itself)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(
            f"optimizer {name!r}: learning_rate must be positive and finite, got {lr!r}"
        )


def needs_value_fn(opt: optax.GradientTransformation) -> bool:
    """Whether ``opt.update`` accepts optax extra args (value, grad, value_fn)."""
    return isinstance(opt, optax.GradientTransformationExtraArgs)


def defaults_table(fmt: str = "markdown") -> str:
    """A table of every registered optimizer with its default hyperparameters.

    ``python -m optlab.optimizers > docs/optimizers.md`` regenerates the docs page.
    """
    if fmt != "markdown":
        raise ValueError(f"unknown table format {fmt!r}; accepted: ['markdown']")
    lines = [
        "| name | learning rate | other defaults | source | reference |",
        "|---|---|---|---|---|",
    ]
    for n in names():
        e = entry(n)
        d = dict(e.defaults)
        lr = d.pop("learning_rate", None)
        other = ", ".join(f"`{k}={_fmt(v)}`" for k, v in d.items()) or "–"
        lr_text = "line search" if lr is None else _fmt(lr)
        lines.append(f"| `{n}` | {lr_text} | {other} | {e.source} | {e.reference} |")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
