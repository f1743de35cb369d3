"""User code in every command: import modules that register optimizers and problems.

Three ways in, all ending in a plain ``import`` of a module whose top level calls
``optlab.optimizers.register`` / ``optlab.problems.register``:

- ``optlab <command> --import MODULE`` (repeatable): a module name (``my_pkg.opts``) or a path
  to a ``.py`` file (``./signum.py``);
- ``imports = ["..."]`` in a study's TOML (paths relative to the TOML file);
- installed packages that declare an entry point in the group ``optlab.plugins``
  (:data:`ENTRY_POINT_GROUP`), e.g. in their ``pyproject.toml``::

      [project.entry-points."optlab.plugins"]
      signum = "my_package.optimizers"

  ``optlab`` loads them in every command (:func:`load_entry_points`); in Python, call it
  yourself (nothing is imported behind your back when ``import optlab`` runs).

:func:`origin` says where a registered name came from (``optlab list`` prints it). Each module
or file is imported once per process, so naming it twice registers nothing twice.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ENTRY_POINT_GROUP", "load", "load_entry_points", "origin"]

#: The entry-point group installed packages use to register optimizers and problems.
ENTRY_POINT_GROUP = "optlab.plugins"

# what each import registered: ("optimizer" | "problem", name) -> where it came from
_ORIGINS: dict[tuple[str, str], str] = {}
# modules and files already imported by load(), by the name or resolved path given
_LOADED: dict[str, str] = {}


def _registered() -> set[tuple[str, str]]:
    from optlab import optimizers, problems

    return {("optimizer", n) for n in optimizers.names()} | {
        ("problem", n) for n in problems.names()
    }


def _record(before: set[tuple[str, str]], where: str) -> None:
    for item in _registered() - before:
        _ORIGINS.setdefault(item, where)


def _import_file(path: Path) -> None:
    name = "optlab_user_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has one
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def load(modules: Iterable[str], *, where: str = "--import", base: str | Path | None = None):
    """Import each of ``modules`` (module names or ``.py`` paths), once per process.

    Args:
      modules: module names (``"my_pkg.opts"``) or paths ending in ``.py``.
      where: how the caller names the option in errors (``"--import"``, ``"imports"``).
      base: directory that relative ``.py`` paths are relative to (default: the current one).

    Returns:
      The list of ``(kind, name)`` newly registered.

    Raises:
      ValueError: a file that does not exist, a module that cannot be found, or an error
        raised while importing it (its type and message are kept).
    """
    modules = list(modules)
    if not modules:
        return []  # nothing to import: not even the registries (``optlab report`` needs no jax)
    before_all = _registered()
    for text in modules:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: expected a module name or a .py path, got {text!r}")
        text = text.strip()
        is_file = text.endswith(".py") or "/" in text or "\\" in text
        if is_file:
            path = Path(text).expanduser()
            if base is not None and not path.is_absolute():
                path = Path(base) / path
            if not path.is_file():
                raise ValueError(f"{where} {text}: no such file {path}")
            key, label = str(path.resolve()), f"file {path}"
        else:
            key, label = text, f"module {text}"
        if key in _LOADED:
            continue
        before = _registered()
        try:
            if is_file:
                _import_file(Path(key))
            else:
                importlib.import_module(text)
        except ModuleNotFoundError as err:
            if not is_file and err.name and text.startswith(err.name):
                raise ValueError(
                    f"{where} {text}: no module named {err.name!r}; give an importable module "
                    "name or the path of a .py file"
                ) from None
            raise ValueError(f"{where} {text}: {type(err).__name__}: {err}") from None
        except Exception as err:  # noqa: BLE001 - the user's code: report it on one line
            raise ValueError(f"{where} {text}: {type(err).__name__}: {err}") from None
        _LOADED[key] = label
        _record(before, label)
    return sorted(_registered() - before_all)


def load_entry_points(group: str = ENTRY_POINT_GROUP):
    """Import every installed entry point of ``group`` (default ``optlab.plugins``).

    Returns:
      The list of ``(kind, name)`` newly registered.

    Raises:
      ValueError: an entry point failed to load (names the package and the error).
    """
    eps = list(importlib.metadata.entry_points(group=group))
    if not eps:
        return []
    before_all = _registered()
    for ep in eps:
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        key = f"entry point {dist}:{ep.name}"
        if key in _LOADED:
            continue
        before = _registered()
        try:
            ep.load()
        except Exception as err:  # noqa: BLE001 - an installed plugin: report it on one line
            raise ValueError(
                f"plugin {ep.name!r} of package {dist!r} (entry point group {group!r}, "
                f"{ep.value}) failed to load: {type(err).__name__}: {err}"
            ) from None
        _LOADED[key] = key
        _record(before, f"package {dist} (entry point {ep.name})")
    return sorted(_registered() - before_all)


def origin(kind: str, name: str) -> str:
    """Where the optimizer or problem ``name`` came from.

    ``kind`` is ``"optimizer"`` or ``"problem"``. The answer is the import that registered it
    (``"module my_pkg.opts"``, ``"file ./signum.py"``, ``"package my-dist (entry point
    signum)"``), ``"built-in"`` for optlab's own, or the module that defined the factory.
    """
    if (kind, name) in _ORIGINS:
        return _ORIGINS[(kind, name)]
    if kind == "optimizer":
        from optlab import optimizers

        factory = optimizers.entry(name).factory
    elif kind == "problem":
        from optlab.problems import core

        if name not in core._REGISTRY:
            raise ValueError(f"unknown problem {name!r}; known: {core.names()}")
        factory = core._REGISTRY[name].factory
    else:
        raise ValueError(f"kind must be 'optimizer' or 'problem', got {kind!r}")
    module = getattr(factory, "__module__", None) or "?"
    if module.split(".")[0] in ("optlab", "optax"):
        return "built-in"
    return f"module {module}"
