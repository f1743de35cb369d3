"""Argument validators shared by every public entry point (the Python-boundary tier of errors).

Each raises before any compute, with a message that names the argument, what was given and
what is accepted. A value of the wrong *type* raises :class:`ArgumentTypeError`, which is both
a ``TypeError`` and a ``ValueError``, so callers (and the CLI, which turns ``ValueError`` into
one line) may catch either.
"""

from __future__ import annotations

import difflib
import math
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "MAX_STEPS",
    "CostWarning",
    "available_memory",
    "check_memory",
    "is_int",
    "positive_int",
    "int_at_least",
    "real",
    "one_of",
    "steps",
    "suggest",
    "writable_dir",
]

#: The largest step count: step counters inside the compiled loops are int32.
MAX_STEPS = 2**31 - 1


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def is_int(value: Any) -> bool:
    """True for Python and numpy integers (never for ``bool``)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(
    name: str, value: Any, *, allow_none: bool = False, maximum: int | None = None
) -> int | None:
    """``int(value)`` if it is an integer >= 1 (and <= ``maximum``; or ``None`` when allowed).

    Raises:
      ValueError: ``"<name> must be a positive integer, got <value>"`` (or ``"... <=
      <maximum> ..."``).
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or value < 1:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{none}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be a positive integer <= {maximum}, got {value!r}")
    return int(value)


def steps(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """A step count: a positive integer <= :data:`MAX_STEPS` (the loops count in int32)."""
    return positive_int(name, value, allow_none=allow_none, maximum=MAX_STEPS)


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
        raise ValueError(f"unknown {name} {value!r}{suggest(value, choices)}; accepted: {choices}")
    return value


def suggest(value: Any, known: Iterable[Any]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``known`` to ``value``, else ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def writable_dir(name: str, path: str | os.PathLike) -> Path:
    """``Path(path)`` if it is (or can be created as) a directory this process can write.

    Creates nothing: checks that ``path`` is not a file, that its nearest existing ancestor
    is a directory, and that a file can be created there (a temporary one, removed at once).

    Raises:
      ValueError: ``"<name> <path> is a file, not a directory"``, ``"... cannot be written
      (...)"``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a file, not a directory; give a directory")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(
            f"{name} {str(path)!r} cannot be created: {str(probe)!r} is a file, not a directory"
        )
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".optlab-probe-"):
            pass
    except OSError as err:
        where = "" if probe == path else f" (its parent {str(probe)!r})"
        raise ValueError(
            f"{name} {str(path)!r} cannot be written{where}: {err.strerror or err}; "
            "give a writable directory"
        ) from None
    return path


class CostWarning(UserWarning):
    """A computation that will use much memory or time (it still runs)."""


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def check_memory(
    what: str, nbytes: float, *, hint: str, warn_bytes: float = 2**30, available: int | None = None
) -> None:
    """Refuse (``ValueError``) a computation needing more than the available memory; warn
    (:class:`CostWarning`) above ``warn_bytes``.

    Args:
      what: the computation, e.g. ``"a 30000 x 30000 landscape grid"``.
      nbytes: its estimated peak memory.
      hint: how to make it smaller (appended to both messages).
      available: bytes available (default :func:`available_memory`).
    """
    avail = available_memory() if available is None else available
    if avail is not None and nbytes > avail:
        raise ValueError(
            f"{what} needs about {_gib(nbytes)} of memory, more than the {_gib(avail)} "
            f"available; {hint}"
        )
    if nbytes > warn_bytes:
        warnings.warn(
            f"{what} needs about {_gib(nbytes)} of memory; {hint}", CostWarning, stacklevel=3
        )
