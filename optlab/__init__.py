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
    "cli",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"optlab.{name}")
    raise AttributeError(f"module 'optlab' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
