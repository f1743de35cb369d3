"""Search spaces of a study: one hyperparameter's range (:class:`Dim`) and the trial sampler.

A space is ``{hyperparameter: Dim}``. :func:`sample_trials` turns a space into the tuning
configurations of one optimizer: the full grid for all-grid spaces, otherwise a Latin
hypercube of ``budget`` draws (see its docstring). Everything here is plain Python and numpy.

Dimensions are numeric ranges and grids, categorical choices (``{choice = ["constant",
"cosine"]}``: any values, strings included) or fixed values; any of them can be conditional
(``when = {schedule = ["warmup_cosine"]}``): it is part of a trial only when the named
dimension takes one of the listed values (:func:`check_space` validates the conditions).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Dim", "check_space", "count_trials", "default_space", "sample_trials", "space_specs"]

_SAMPLED = ("log-uniform", "uniform")


_KINDS = "log_uniform, uniform, grid, choice"


@dataclass(frozen=True)
class Dim:
    """One hyperparameter's search range.

    ``kind`` is ``"log-uniform"`` or ``"uniform"`` (``low``, ``high``), ``"grid"`` (numeric
    ``values``), ``"choice"`` (categorical ``values``: strings, numbers or booleans) or
    ``"fixed"`` (``values == (v,)``). ``when`` makes the dimension conditional: ``((name,
    (allowed, ...)), ...)``, active only when each named dimension takes one of its allowed
    values. In TOML/dicts: ``{log_uniform = [1e-4, 1e-1]}``, ``{uniform = [0.8, 0.99]}``,
    ``{grid = [0.9, 0.99]}``, ``{choice = ["constant", "cosine"]}``, a plain number or string
    (fixed), each optionally with ``when = {schedule = ["warmup_cosine"]}``.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @staticmethod
    def parse(spec: Any, where: str) -> Dim:
        """Parse a dict/number/string spec; ``ValueError`` naming ``where`` on bad input."""
        if isinstance(spec, Dim):
            return spec
        if isinstance(spec, (bool, str)):
            return Dim("fixed", values=(spec,))
        if isinstance(spec, (int, float)):
            if not math.isfinite(spec):
                raise ValueError(f"{where}: must be a finite number, got {spec!r}")
            return Dim("fixed", values=(float(spec),))
        if isinstance(spec, Mapping) and "when" in spec:
            rest = {k: v for k, v in spec.items() if k != "when"}
            rest = rest.get("value", rest) if set(rest) == {"value"} else rest
            dim = Dim.parse(rest, where)
            return dataclasses.replace(dim, when=_parse_when(spec["when"], where))
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise ValueError(
                f"{where}: expected a number, a string or one of {{log_uniform = [low, high]}}, "
                f"{{uniform = [low, high]}}, {{grid = [v1, v2, ...]}}, {{choice = [a, b, ...]}} "
                f"(optionally with when = {{name = [values]}}); got {spec!r}"
            )
        ((kind, val),) = spec.items()
        kind = kind.replace("_", "-")
        if kind in _SAMPLED:
            return _parse_range(kind, val, where)
        if kind == "grid":
            return _parse_grid(val, where)
        if kind == "choice":
            return _parse_choice(val, where)
        raise ValueError(f"{where}: unknown range kind {kind!r}; accepted: {_KINDS}")

    def to_spec(self) -> Any:
        """The dict/number form (:meth:`parse` inverts it)."""
        if self.kind == "fixed":
            spec = self.values[0]
        elif self.kind in ("grid", "choice"):
            spec = {self.kind: list(self.values)}
        else:
            spec = {self.kind.replace("-", "_"): [self.low, self.high]}
        if not self.when:
            return spec
        if not isinstance(spec, dict):
            spec = {"value": spec}
        return {**spec, "when": {k: list(v) for k, v in self.when}}

    def possible_values(self) -> tuple[Any, ...] | None:
        """The values a grid, choice or fixed dimension can take (``None`` for ranges)."""
        return None if self.kind in _SAMPLED else self.values


def _parse_when(when: Any, where: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(when, Mapping) or not when:
        raise ValueError(
            f"{where}: when must be a table {{name = [values]}} (e.g. when = {{schedule = "
            f'["warmup_cosine"]}}), got {when!r}'
        )
    out = []
    for name, allowed in when.items():
        allowed = list(allowed) if isinstance(allowed, (list, tuple)) else [allowed]
        if not allowed:
            raise ValueError(f"{where}: when.{name} lists no values")
        out.append((str(name), tuple(_scalar(v) for v in allowed)))
    return tuple(sorted(out))


def _scalar(v):
    return v if isinstance(v, (bool, str)) else float(v)


def _parse_choice(val: Any, where: str) -> Dim:
    if not isinstance(val, (list, tuple)) or not val:
        raise ValueError(f"{where}: choice needs a non-empty list of values, got {val!r}")
    if not all(isinstance(v, (str, bool, int, float)) for v in val):
        raise ValueError(f"{where}: choice values must be strings, numbers or booleans: {val!r}")
    vals = tuple(_scalar(v) for v in val)
    if len(set(vals)) != len(vals):
        raise ValueError(f"{where}: choice has duplicate values: {list(val)}")
    return Dim("choice", values=vals)


def check_space(space: Mapping[str, Dim], where: str) -> None:
    """``ValueError`` unless every condition of ``space`` names a grid, choice or fixed
    dimension of the same space (not itself conditional) and values it can take."""
    for h, d in space.items():
        for name, allowed in d.when:
            parent = space.get(name)
            if parent is None or parent.possible_values() is None:
                raise ValueError(
                    f"{where}.{h}: when names {name!r}, which must be a choice, grid or fixed "
                    f"dimension of the same space (its dimensions: {sorted(space)})"
                )
            if parent.when:
                raise ValueError(f"{where}.{h}: when names {name!r}, itself conditional")
            bad = [v for v in allowed if v not in parent.possible_values()]
            if bad:
                raise ValueError(
                    f"{where}.{h}: when.{name} lists {bad}, which {name!r} never takes "
                    f"(its values: {list(parent.possible_values())})"
                )


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
    if any(isinstance(v, str) for v in val):
        raise ValueError(
            f"{where}: grid takes numbers, got {val!r}; for names use {{choice = [...]}}"
        )
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
    hyperparameter (a Latin hypercube); grid and choice dimensions are drawn uniformly from
    their values; fixed values are copied. A conditional dimension (``when``) is then left
    out of every trial whose condition fails, and repeated trials are dropped (a grid over
    ``schedule`` and ``warmup_steps when schedule = warmup_cosine`` has one constant-schedule
    trial, not one per warm-up value). The sampler is ``np.random.default_rng([search_seed,
    crc32(optimizer)])``, the same on every machine. Sampled floats are rounded to 6
    significant digits, so run ids do not depend on float printing.
    """
    if not space:
        return [{}]
    fixed = {h: d.values[0] for h, d in space.items() if d.kind == "fixed"}
    if not any(d.kind in _SAMPLED for d in space.values()):
        grids = {h: d.values for h, d in space.items() if d.kind in ("grid", "choice")}
        trials = [
            {**dict(zip(grids, combo, strict=True)), **fixed}
            for combo in itertools.product(*grids.values())
        ]
        return _active(space, trials)
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
        elif d.kind in ("grid", "choice"):
            cols[h] = np.asarray(d.values, dtype=object)[rng.integers(0, len(d.values), n)]
    trials = []
    for i in range(n):
        t = {h: _py(cols[h][i]) for h in cols}
        t.update(fixed)
        trials.append({k: _round_sig(v) for k, v in t.items()})
    return _active(space, trials)


def _active(space: Mapping[str, Dim], trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the conditional dimensions whose condition a trial does not meet; a grid then
    holds repeats (the inactive dimension's values), which are dropped (first kept)."""
    if not any(d.when for d in space.values()):
        return trials
    out, seen = [], set()
    for t in trials:
        kept = {
            h: v
            for h, v in t.items()
            if all(t.get(name) in allowed for name, allowed in space[h].when)
        }
        key = tuple(sorted((h, repr(v)) for h, v in kept.items()))
        if key not in seen:
            seen.add(key)
            out.append(kept)
    return out


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


def space_specs(space: dict[str, Dim]) -> dict[str, Any]:
    """``{hyperparameter: spec}``: a search space in its JSON/TOML form (``Dim.parse`` reads it
    back)."""
    return {h: d.to_spec() for h, d in space.items()}
