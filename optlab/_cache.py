"""The one in-process cache: bounded, least recently used first out, keyed by identity.

Compiled XLA programs and the small closures they are built from are cached so that a second
call with the same problem, optimizer and shapes neither retraces nor recompiles. The things
that decide a program (a ``Problem``, an optax ``GradientTransformation``, a loss function)
are closures that cannot be compared by value, so a key names them by *identity*:
:func:`ref` wraps an object in a key part that hashes by ``id`` and compares with ``is`` and
that holds the object itself, so the id cannot be reused by another object while the entry
lives. Every cache is bounded (``maxsize``), so a long session that builds many problems does
not grow without limit.

Example:
  >>> from optlab import _cache
  >>> cache = _cache.Cache(maxsize=2)
  >>> f = lambda x: x
  >>> cache.get((_cache.ref(f), 3), lambda: "built")
  'built'
  >>> cache.get((_cache.ref(f), 3), lambda: "rebuilt")
  'built'
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["Cache", "ref"]


class _Ref:
    """A key part that stands for one object: hashed by ``id``, equal only to itself."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Ref) and other.obj is self.obj

    def __repr__(self) -> str:
        return f"ref({type(self.obj).__name__} at {id(self.obj):#x})"


def ref(obj: Any) -> _Ref:
    """A hashable key part naming ``obj`` by identity (and keeping it alive while cached)."""
    return _Ref(obj)


class Cache:
    """A bounded LRU map from hashable keys to values built on first use.

    Args:
      maxsize: entries kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError(f"maxsize must be a positive integer, got {maxsize!r}")
        self.maxsize = int(maxsize)
        self.builds = 0  # how many values were built (misses): compile counters read this
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def lookup(self, key: Hashable) -> tuple[bool, Any]:
        """``(True, value)`` on a hit (marked as recently used), else ``(False, None)``."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return True, self._data[key]
        return False, None

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` under ``key`` (dropping the oldest entry beyond ``maxsize``)."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value under ``key``, calling ``build()`` (outside the lock) on a miss."""
        hit, value = self.lookup(key)
        if hit:
            return value
        value = build()
        self.builds += 1
        return self.put(key, value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
