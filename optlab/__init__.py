"""optlab: a functional JAX toolkit for studying neural-network optimizers.

Submodules (imported lazily, so ``import optlab`` stays cheap):

- ``optlab.mlp``: MLP params as pytrees, pure ``init``/``apply``.
- ``optlab.losses``: losses and metrics.
- ``optlab.data``: datasets as fixed-shape arrays, in-jit minibatching.
- ``optlab.problems``: named problems (data + init + loss + metrics), analytic 2D functions.
- ``optlab.optimizers``: a registry of optax optimizers and custom ones, by name.
- ``optlab.train``: compiled training (``lax.scan``), run records, divergence flags.
- ``optlab.sweep`` / ``optlab.study`` / ``optlab.stats`` / ``optlab.store``: comparison studies.
- ``optlab.landscape``: loss-landscape slices, minima, saddles, barriers, basins, curvature.
- ``optlab.plot``: publication figures from stored numpy results.
- ``optlab.distributed``: sharding over all devices, multi-host helpers.
- ``optlab.classic``: the hand-set 2-3-1 adding network.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "mlp",
    "losses",
    "data",
    "problems",
    "optimizers",
    "train",
    "sweep",
    "study",
    "stats",
    "store",
    "landscape",
    "plot",
    "distributed",
    "classic",
    "cli",
)


def default_compilation_cache_dir() -> str:
    """``$OPTLAB_COMPILATION_CACHE``, else ``$XDG_CACHE_HOME/optlab/jax`` (``~/.cache/...``)."""
    import os

    if os.environ.get("OPTLAB_COMPILATION_CACHE"):
        return os.path.expanduser(os.environ["OPTLAB_COMPILATION_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return os.path.expanduser(os.path.join(base, "optlab", "jax"))


def enable_compilation_cache(path=None) -> str:
    """Keep compiled XLA programs on disk so later processes skip compilation.

    Uses JAX's persistent compilation cache. ``path`` defaults to
    :func:`default_compilation_cache_dir` (``$OPTLAB_COMPILATION_CACHE`` or
    ``~/.cache/optlab/jax``). Returns the folder used. The ``optlab`` CLI turns it on by
    default (``--no-compilation-cache`` or ``OPTLAB_NO_COMPILATION_CACHE=1`` turn it off).
    Before JAX is imported this only sets JAX's environment variables, so a command that
    never compiles does not import JAX for it.
    """
    import os
    import sys

    path = os.path.expanduser(str(path or default_compilation_cache_dir()))
    os.makedirs(path, exist_ok=True)
    settings = {
        "jax_compilation_cache_dir": path,
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    if "jax" in sys.modules:
        import jax

        for k, v in settings.items():
            jax.config.update(k, v)
    else:  # read by JAX when it is imported
        for k, v in settings.items():
            os.environ[k.upper()] = str(v)
    return path


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"optlab.{name}")
    raise AttributeError(f"module 'optlab' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
