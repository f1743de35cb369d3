"""The optimizer registry: name -> factory returning an ``optax.GradientTransformation``."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import optax

from optlab._checks import ArgumentTypeError, suggest

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
    ranges: Mapping[str, Range] = field(default_factory=dict)


class Range(NamedTuple):
    """The valid values of one hyperparameter: ``low`` to ``high`` (``None``: unbounded), each
    end open or closed; ``integer`` for counts. ``str(Range(0, 1, high_open=True))`` is
    ``"[0, 1)"``.

    Example:
        >>> str(Range(0.0, None, low_open=True))
        '> 0'
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def __str__(self) -> str:
        kind = "an integer " if self.integer else ""
        if self.high is None:
            return f"{kind}{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.low is None:
            return f"{kind}{'<' if self.high_open else '<='} {_num(self.high)}"
        lo, hi = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{kind}in {lo}{_num(self.low)}, {_num(self.high)}{hi}"

    def contains(self, v: float) -> bool:
        """Whether the real number ``v`` is in the range."""
        if self.integer and v != int(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _as_range(key: str, r) -> Range:
    if isinstance(r, Range):
        return r
    if isinstance(r, tuple) and len(r) == 2:
        return Range(*r)
    raise ValueError(
        f"range of hyperparameter {key!r} must be an optimizers.Range or a (low, high) tuple, "
        f"got {r!r}"
    )


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
    ranges: Mapping[str, Range | tuple] | None = None,
):
    """Decorator registering ``factory(learning_rate, **hyperparams)`` under ``name``.

    The factory must return an ``optax.GradientTransformation``. Its keyword defaults are
    recorded (``defaults`` overrides or adds, e.g. a default ``learning_rate``). ``ranges``
    (optional) gives the valid values of hyperparameters, ``{"beta": Range(0, 1,
    high_open=True)}`` or a closed ``(low, high)``: ``get`` refuses values outside them.

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
        checked = {k: _as_range(k, r) for k, r in (ranges or {}).items()}
        unknown = sorted(set(checked) - set(keywords))
        if unknown:
            raise ValueError(
                f"optimizer {name!r}: ranges name hyperparameter(s) {unknown} that the factory "
                f"does not take; accepted: {list(keywords)}"
            )
        _REGISTRY[name] = Entry(
            name,
            factory,
            dict(merged),
            description or _summary(factory),
            source,
            reference,
            keywords,
            checked,
        )
        return factory

    return wrap


def _summary(factory: Callable) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.splitlines()[0] if doc else ""


def names() -> list[str]:
    """Sorted names of all registered optimizers."""
    return sorted(_REGISTRY)


#: How to reach one's own optimizer, appended to "unknown optimizer" errors.
OWN_HINT = (
    " (your own optimizer: register it with optlab.optimizers.register in a module and load "
    "that with --import MODULE or a study config's imports)"
)


def entry(name: str) -> Entry:
    """The registry entry for ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown optimizer {name!r}{suggest(name, names())}; known optimizers: "
            f"{', '.join(names())}{OWN_HINT}"
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


def check_type(name: str, key: str, value) -> None:
    """Reject strings (and bytes) for numeric hyperparameters before optax sees them."""
    if key not in _NON_NUMERIC and isinstance(value, (str, bytes)):
        raise ArgumentTypeError(
            f"optimizer {name!r}: hyperparameter {key} must be a number, got the string "
            f"{value!r} (write {key}={_unquoted(value)} without quotes)"
        )


def _unquoted(value) -> str:
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return "<a number>"


def check_range(name: str, key: str, value) -> None:
    """Reject a concrete value outside the range ``name`` declares for ``key`` (if any)."""
    r = _REGISTRY[name].ranges.get(key) if name in _REGISTRY else None
    v = concrete_float(value)
    if r is None or v is None or not math.isfinite(v):
        return
    if not r.contains(v):
        raise ValueError(f"optimizer {name!r}: hyperparameter {key} must be {r}, got {value!r}")
