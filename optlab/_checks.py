"""Argument validators shared by every public entry point (the Python-boundary tier of errors).

Each raises before any compute, with a message that names the argument, what was given and
what is accepted. A value of the wrong *type* raises :class:`ArgumentTypeError`, which is both
a ``TypeError`` and a ``ValueError``, so callers (and the CLI, which turns ``ValueError`` into
one line) may catch either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "is_int",
    "positive_int",
    "int_at_least",
    "real",
    "one_of",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def is_int(value: Any) -> bool:
    """True for Python and numpy integers (never for ``bool``)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """``int(value)`` if it is an integer >= 1 (or ``None`` when allowed).

    Raises:
      ValueError: ``"<name> must be a positive integer, got <value>"``.
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or value < 1:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{none}, got {value!r}")
    return int(value)


def int_at_least(name: str, value: Any, minimum: int, *, allow_none: bool = False) -> int | None:
    """``int(value)`` if it is an integer >= ``minimum`` (or ``None`` when allowed).

    Raises:
      ArgumentTypeError: not an integer (``"<name> must be an int >= <minimum>, got ..."``).
      ValueError: too small (``"<name> must be >= <minimum>, got <value>"``).
    """
    if value is None and allow_none:
        return None
    if not is_int(value):
        raise ArgumentTypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strict: bool = False,
    allow_none: bool = False,
) -> float | None:
    """``float(value)`` if it is a finite real number (``> minimum`` if ``strict``, else ``>=``).

    Raises:
      ArgumentTypeError: not a real number. ValueError: non-finite or below ``minimum``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return v


def one_of(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    Raises:
      ValueError: ``"unknown <name> <value>; accepted: [...]"``.
    """
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; accepted: {choices}")
    return value
