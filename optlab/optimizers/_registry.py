"""The optimizer registry: name -> factory returning an ``optax.GradientTransformation``."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optax

# Keyword arguments of a factory that are not numeric hyperparameters (dtypes, masks,
# sub-transformations). They are accepted by ``get`` but not listed as defaults.
_NON_NUMERIC = {
    "mu_dtype",
    "accumulator_dtype",
    "mask",
    "weight_decay_mask",
    "trust_ratio_mask",
    "linesearch",
    "key",
    "seed",
    "dtype_momentum",
}


@dataclass(frozen=True)
class Entry:
    """One registered optimizer."""

    name: str
    factory: Callable[..., optax.GradientTransformation]
    defaults: Mapping[str, Any]
    description: str = ""
    source: str = "optlab"
    reference: str = ""
    keywords: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, Entry] = {}


def _signature_defaults(factory: Callable) -> tuple[dict[str, Any], tuple[str, ...]]:
    params = inspect.signature(factory).parameters
    keywords = tuple(
        p
        for p in params
        if params[p].kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    )
    defaults = {
        name: p.default
        for name, p in params.items()
        if p.default is not inspect.Parameter.empty
        and name not in _NON_NUMERIC
        and (isinstance(p.default, (int, float, bool)) or p.default is None)
    }
    return defaults, keywords


def register(
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    description: str = "",
    source: str = "optlab",
    reference: str = "",
):
    """Decorator registering ``factory(learning_rate, **hyperparams)`` under ``name``.

    The factory must return an ``optax.GradientTransformation``. Its keyword defaults are
    recorded (``defaults`` overrides or adds, e.g. a default ``learning_rate``).

    Example:
        >>> import optax
        >>> from optlab import optimizers
        >>> @optimizers.register("my-sign-sgd", defaults={"learning_rate": 0.01})
        ... def my_sign_sgd(learning_rate):
        ...     return optax.chain(optax.scale_by_sign(), optax.scale(-learning_rate))
        >>> "my-sign-sgd" in optimizers.names()
        True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"optimizer name must be a non-empty string, got {name!r}")

    def wrap(factory: Callable[..., optax.GradientTransformation]):
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"optimizer {name!r} is already registered; pick another name")
        sig_defaults, keywords = _signature_defaults(factory)
        merged = {**sig_defaults, **(defaults or {})}
        _REGISTRY[name] = Entry(
            name,
            factory,
            dict(merged),
            description or _summary(factory),
            source,
            reference,
            keywords,
        )
        return factory

    return wrap


def _summary(factory: Callable) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.splitlines()[0] if doc else ""


def names() -> list[str]:
    """Sorted names of all registered optimizers."""
    return sorted(_REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry for ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown optimizer {name!r}; known optimizers: {', '.join(names())}"
        ) from None


def factory(name: str) -> Callable[..., optax.GradientTransformation]:
    """The raw factory registered under ``name`` (for ``optax.inject_hyperparams``)."""
    return entry(name).factory


def defaults(name: str) -> dict[str, Any]:
    """Default hyperparameters of ``name``, including its default ``learning_rate``."""
    return dict(entry(name).defaults)


def concrete_float(x) -> float | None:
    """``float(x)`` for a concrete real scalar; ``None`` for anything else.

    ``None`` for tracers (hyperparameters swept as arrays are traced: the sweep checks their
    values itself), arrays of several values, callables (schedules), ``None`` and ``bool``.
    Converting is the test: ``float`` of a tracer raises ``ConcretizationTypeError``, a
    ``TypeError``.
    """
    if x is None or isinstance(x, bool) or callable(x):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def check_finite(name: str, key: str, value) -> None:
    """Reject non-finite numeric hyperparameters (tracers and arrays in sweeps are skipped)."""
    v = concrete_float(value)
    if v is not None and not math.isfinite(v):
        raise ValueError(f"{name}: hyperparameter {key}={value!r} must be finite")
