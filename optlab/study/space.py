"""Search spaces of a study: one hyperparameter's range (:class:`Dim`) and the trial sampler.

A space is ``{hyperparameter: Dim}``. :func:`sample_trials` turns a space into the tuning
configurations of one optimizer: the full grid for all-grid spaces, otherwise a Latin
hypercube of ``budget`` draws (see its docstring). Everything here is plain Python and numpy.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Dim", "default_space", "count_trials", "sample_trials"]

_SAMPLED = ("log-uniform", "uniform")


@dataclass(frozen=True)
class Dim:
    """One hyperparameter's search range.

    ``kind`` is ``"log-uniform"`` or ``"uniform"`` (``low``, ``high``), ``"grid"`` (``values``)
    or ``"fixed"`` (``values == (v,)``). In TOML/dicts: ``{log_uniform = [1e-4, 1e-1]}``,
    ``{uniform = [0.8, 0.99]}``, ``{grid = [0.9, 0.99]}`` or a plain number (fixed).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()

    @staticmethod
    def parse(spec: Any, where: str) -> Dim:
        """Parse a dict/number spec; ``ValueError`` naming ``where`` on bad input."""
        if isinstance(spec, Dim):
            return spec
        if isinstance(spec, bool):
            return Dim("fixed", values=(spec,))
        if isinstance(spec, (int, float)):
            if not math.isfinite(spec):
                raise ValueError(f"{where}: must be a finite number, got {spec!r}")
            return Dim("fixed", values=(float(spec),))
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise ValueError(
                f"{where}: expected a number or one of {{log_uniform = [low, high]}}, "
                f"{{uniform = [low, high]}}, {{grid = [v1, v2, ...]}}; got {spec!r}"
            )
        ((kind, val),) = spec.items()
        kind = kind.replace("_", "-")
        if kind in _SAMPLED:
            return _parse_range(kind, val, where)
        if kind == "grid":
            return _parse_grid(val, where)
        raise ValueError(
            f"{where}: unknown range kind {kind!r}; accepted: log_uniform, uniform, grid"
        )

    def to_spec(self) -> Any:
        """The dict/number form (:meth:`parse` inverts it)."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "grid":
            return {"grid": list(self.values)}
        return {self.kind.replace("-", "_"): [self.low, self.high]}


def _parse_range(kind: str, val: Any, where: str) -> Dim:
    if (
        not isinstance(val, (list, tuple))
        or len(val) != 2
        or not all(isinstance(v, (int, float)) for v in val)
    ):
        raise ValueError(f"{where}: {kind} needs [low, high], got {val!r}")
    lo, hi = float(val[0]), float(val[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{where}: {kind} needs finite low < high, got [{lo}, {hi}]")
    if kind == "log-uniform" and lo <= 0:
        raise ValueError(f"{where}: log-uniform needs low > 0, got {lo}")
    return Dim(kind, lo, hi)


def _parse_grid(val: Any, where: str) -> Dim:
    if not isinstance(val, (list, tuple)) or not val:
        raise ValueError(f"{where}: grid needs a non-empty list of values, got {val!r}")
    vals = tuple(v if isinstance(v, bool) else float(v) for v in val)
    if not all(isinstance(v, bool) or math.isfinite(v) for v in vals):
        raise ValueError(f"{where}: grid values must be finite, got {val!r}")
    return Dim("grid", values=vals)


def default_space(optimizer: str) -> dict[str, Dim]:
    """The default search space of ``optimizer``: its learning rate, log-uniform.

    The range is ``[lr0 / 10, lr0 * 100]`` around the registry default ``lr0`` (three decades:
    1e-3..1 for SGD/momentum/Nesterov, 1e-4..1e-1 for Adam-type methods, 1e-5..1e-2 for Lion),
    the other hyperparameters stay at their defaults. An optimizer without a learning rate
    (L-BFGS with line search) has an empty default space: a single configuration.
    """
    from optlab import optimizers

    lr0 = optimizers.defaults(optimizer).get("learning_rate")
    if lr0 is None:
        return {}
    return {"learning_rate": Dim("log-uniform", float(lr0) / 10.0, float(lr0) * 100.0)}


def count_trials(space: Mapping[str, Dim], *, budget: int) -> int:
    """``len(sample_trials(space, budget=budget, ...))`` without drawing them."""
    if not space:
        return 1
    if not any(d.kind in _SAMPLED for d in space.values()):
        return math.prod(len(d.values) for d in space.values() if d.kind == "grid")
    return int(budget)


def sample_trials(
    space: Mapping[str, Dim], *, budget: int, search_seed: int, optimizer: str
) -> list[dict[str, Any]]:
    """The tuning configurations of ``optimizer`` over ``space`` (deterministic).

    All-grid spaces give the full grid (``budget`` is ignored). Otherwise ``budget``
    configurations: each sampled range is cut into ``budget`` equal strata (in log space
    for log-uniform) with one uniform draw per stratum, strata shuffled independently per
    hyperparameter (a Latin hypercube); grid dimensions are drawn uniformly from the grid;
    fixed values are copied. The sampler is ``np.random.default_rng([search_seed,
    crc32(optimizer)])``, the same on every machine. Sampled floats are rounded to 6
    significant digits, so run ids do not depend on float printing.
    """
    if not space:
        return [{}]
    fixed = {h: d.values[0] for h, d in space.items() if d.kind == "fixed"}
    if not any(d.kind in _SAMPLED for d in space.values()):
        grids = {h: d.values for h, d in space.items() if d.kind == "grid"}
        return [
            {**dict(zip(grids, combo, strict=True)), **fixed}
            for combo in itertools.product(*grids.values())
        ]
    rng = np.random.default_rng([int(search_seed), zlib.crc32(optimizer.encode())])
    n = int(budget)
    cols: dict[str, np.ndarray] = {}
    for h in sorted(space):  # the draw order fixes the samples: keep it sorted by name
        d = space[h]
        if d.kind in _SAMPLED:
            log = d.kind == "log-uniform"
            lo, hi = (math.log(d.low), math.log(d.high)) if log else (d.low, d.high)
            u = (rng.permutation(n) + rng.uniform(size=n)) / n
            x = lo + (hi - lo) * u
            cols[h] = np.exp(x) if log else x
        elif d.kind == "grid":
            cols[h] = np.asarray(d.values, dtype=object)[rng.integers(0, len(d.values), n)]
    trials = []
    for i in range(n):
        t = {h: _py(cols[h][i]) for h in cols}
        t.update(fixed)
        trials.append({k: _round_sig(v) for k, v in t.items()})
    return trials


def _py(v):
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    return v


def _round_sig(v, sig: int = 6):
    """Round floats to 6 significant digits so run ids do not depend on float printing."""
    if isinstance(v, float) and v != 0 and math.isfinite(v):
        return float(f"{v:.{sig}g}")
    return v
