"""Analytic problems: the params are a point, the loss is ``f(point)``, the minima are known.

:func:`analytic_problem` builds the problem for any function. The registered ones are rows
of :data:`SPECS` (the function and its minima, bounds, start point, learning rate, one
description), all registered by one loop with one factory body:

- ``quadratic``: ``f(x) = x^T A x / 2`` with eigenvalues log-spaced in ``[1, condition]``.
- 2-D test functions: ``rosenbrock``, ``himmelblau``, ``six-hump-camel``, ``rastrigin``,
  ``beale``, ``styblinski-tang``, with every minimum in the standard box recorded
  (Newton-refined in float64) as a :class:`~optlab.problems.KnownMinimum`.

Every analytic problem takes the options ``start``, ``init_noise`` and ``learning_rate``,
after its own (``quadratic``: ``dim``, ``condition``, ``rotate``, ``data_seed``;
``rosenbrock``: ``a``, ``b``).

References:
    M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global optimization
    problems", Int. J. Math. Model. Numer. Optim. 4(2), 150-194 (2013), arXiv:1308.4008.
    S. Surjanovic and D. Bingham, "Virtual Library of Simulation Experiments: Test Functions and
    Datasets", https://www.sfu.ca/~ssurjano (2013).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _checks
from optlab.problems.core import Bounds, KnownMinimum, Problem, register_specs

__all__ = [
    "HIMMELBLAU_MINIMA",
    "RASTRIGIN_MINIMA",
    "SIX_HUMP_CAMEL_MINIMA",
    "SPECS",
    "STYBLINSKI_TANG_MINIMA",
    "AnalyticSpec",
    "Function",
    "analytic_problem",
    "beale_fn",
    "himmelblau_fn",
    "rastrigin_fn",
    "six_hump_camel_fn",
    "styblinski_tang_fn",
]


def analytic_problem(
    name: str,
    fn: Callable[[jax.Array], jax.Array],
    *,
    known_minima: Sequence[KnownMinimum],
    bounds: Bounds | None,
    start: Sequence[float],
    init_noise: float = 0.0,
    learning_rate: float = 1e-2,
    description: str = "",
    config: Mapping[str, Any] | None = None,
) -> Problem:
    """A problem whose params are a point and whose loss is ``fn(point)`` (no data).

    ``init(key)`` returns ``start`` plus ``init_noise * N(0, I)`` drawn with ``key`` (exactly
    ``start`` when ``init_noise == 0``). Metrics: ``gap`` = ``f(x) - f*`` (global value) and
    ``distance`` = Euclidean distance to the nearest global minimum.

    Args:
      name: problem name.
      fn: ``f(point) -> scalar``, jittable and differentiable.
      known_minima: recorded minima (sorted here by value).
      bounds: search box ``((x_lo, x_hi), (y_lo, y_hi))`` or None.
      start: the start point.
      init_noise: standard deviation of the key-driven jitter added to ``start``.
      learning_rate: default (Adam) learning rate.
      description: one line.
      config: options recorded on the problem.

    Returns:
      A :class:`Problem`.
    """
    start = tuple(float(s) for s in start)
    init_noise = _checks.real("init_noise", init_noise, minimum=0)
    minima = tuple(sorted(known_minima, key=lambda m: m.value))  # stable: keeps given order
    glob = [m for m in minima if m.is_global]

    def init(key):
        x0 = jnp.asarray(start, dtype=float)
        if init_noise == 0.0:
            return x0
        return x0 + init_noise * jax.random.normal(key, x0.shape, x0.dtype)

    def loss(params, batch=None):
        del batch
        return fn(params)

    return Problem(
        name=name,
        init=init,
        loss=loss,
        metrics=_minimum_metrics(fn, glob),
        fn=fn,
        known_minima=minima,
        bounds=bounds,
        start=start,
        default_learning_rate=_checks.real("learning_rate", learning_rate, minimum=0, strict=True),
        description=description,
        config=dict(config or {}),
    )


def _minimum_metrics(fn: Callable, glob: Sequence[KnownMinimum]) -> dict[str, Callable]:
    """``gap`` (``f(x) - f*``) and ``distance`` (to the nearest global minimum), if any."""
    if not glob:
        return {}
    f_star = glob[0].value
    g_points = np.asarray([m.point for m in glob], np.float64)

    def gap(params, batch=None):
        del batch
        return fn(params) - f_star

    def distance(params, batch=None):
        del batch
        pts = jnp.asarray(g_points, params.dtype)
        return jnp.min(jnp.sqrt(jnp.sum((pts - params) ** 2, axis=-1)))

    return {"gap": gap, "distance": distance}


# --------------------------------------------------------------------------- the functions


def _quadratic(*, dim: int, condition: float, rotate: bool, data_seed: int) -> Function:
    """``f(x) = x^T A x / 2``, ``A = Q diag(lambda) Q^T``, ``lambda`` log-spaced in [1, condition].

    ``Q`` is the identity, or with ``rotate=True`` a random orthogonal matrix from ``data_seed``.
    Unique minimum 0 at the origin; start at ``(1, ..., 1)``.
    """
    dim = _checks.positive_int("dim", dim)
    condition = _checks.real("condition", condition, minimum=1)
    eig = np.logspace(0.0, np.log10(condition), dim) if dim > 1 else np.ones(1)
    if rotate:
        q, r = np.linalg.qr(np.random.default_rng(data_seed).standard_normal((dim, dim)))
        q = q * np.sign(np.diag(r))
    else:
        q = np.eye(dim)
    a = (q * eig) @ q.T
    a = 0.5 * (a + a.T)

    def fn(x):
        am = jnp.asarray(a, x.dtype)
        return 0.5 * x @ (am @ x)

    return Function(
        fn,
        known_minima=(KnownMinimum(tuple([0.0] * dim), 0.0, True),),
        bounds=((-2.0, 2.0), (-2.0, 2.0)) if dim == 2 else None,
        start=tuple([1.0] * dim),
        config={"matrix": a, "eigenvalues": eig},
    )


def _rosenbrock(*, a: float, b: float) -> Function:
    """Rosenbrock's banana valley ``(a - x)^2 + b (y - x^2)^2``; minimum 0 at ``(a, a^2)``.

    Reference: H. H. Rosenbrock, "An automatic method for finding the greatest or least value of
    a function", The Computer Journal 3(3), 175-184 (1960). Start (-1.2, 1) as there.
    """
    a = _checks.real("a", a)
    b = _checks.real("b", b, minimum=0, strict=True)

    def fn(p):
        return (a - p[0]) ** 2 + b * (p[1] - p[0] ** 2) ** 2

    return Function(
        fn,
        known_minima=(KnownMinimum((a, a * a), 0.0, True),),
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=(-1.2, 1.0),
    )


def himmelblau_fn(p):
    """Himmelblau: ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``.

    Four global minima of value 0 in ``[-5, 5]^2``. Reference: D. M. Himmelblau, "Applied
    Nonlinear Programming", McGraw-Hill (1972).
    """
    return (p[0] ** 2 + p[1] - 11.0) ** 2 + (p[0] + p[1] ** 2 - 7.0) ** 2


# Newton-refined in float64 (gradient < 2e-14 at these points); literature values in
# Himmelblau (1972) and Jamil & Yang (2013), no. 65.
HIMMELBLAU_MINIMA = (
    KnownMinimum((3.0, 2.0), 0.0, True),
    KnownMinimum((-2.805118086952745, 3.131312518250573), 0.0, True),
    KnownMinimum((-3.779310253377747, -3.2831859912861696), 0.0, True),
    KnownMinimum((3.5844283403304917, -1.8481265269644036), 0.0, True),
)


def six_hump_camel_fn(p):
    """Six-hump camel: ``(4 - 2.1 x^2 + x^4/3) x^2 + x y + (-4 + 4 y^2) y^2``.

    Two global and four local minima in ``[-3, 3] x [-2, 2]``. Reference: L. C. W. Dixon and
    G. P. Szego, "The global optimisation problem: an introduction", in Towards Global
    Optimisation 2, North-Holland (1978).
    """
    x, y = p[0], p[1]
    return (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2 + x * y + (-4.0 + 4.0 * y**2) * y**2


# Newton-refined in float64 from a 41x41 grid of starts over the bounds (gradient < 3e-15).
# The global pair matches the literature (+-(0.0898, -0.7126), -1.0316; Jamil & Yang 2013 no. 131;
# Surjanovic & Bingham, "Six-Hump Camel Function"); the local minima are computed.
SIX_HUMP_CAMEL_MINIMA = (
    KnownMinimum((0.08984201310031806, -0.7126564030207396), -1.0316284534898774, True),
    KnownMinimum((-0.08984201310031806, 0.7126564030207396), -1.0316284534898774, True),
    KnownMinimum((-1.7036067149699812, 0.7960835686726252), -0.21546382438371525, False),
    KnownMinimum((1.7036067149699812, -0.7960835686726252), -0.21546382438371525, False),
    KnownMinimum((-1.6071047529201974, -0.5686514548841314), 2.1042503103112598, False),
    KnownMinimum((1.6071047529201974, 0.5686514548841314), 2.1042503103112598, False),
)


def rastrigin_fn(p):
    """Rastrigin (A = 10): ``10 n + sum(x_i^2 - 10 cos(2 pi x_i))``.

    In 2-D: global minimum 0 at the origin, 120 local minima in ``[-5.12, 5.12]^2``.
    Reference: L. A. Rastrigin, "Systems of extremal control", Nauka (1974); Jamil & Yang (2013)
    no. 102.
    """
    return 10.0 * p.shape[-1] + jnp.sum(p**2 - 10.0 * jnp.cos(2.0 * jnp.pi * p), axis=-1)


# The 1D function x^2 - 10 cos(2 pi x) + 10 has one local minimum near each integer k, |k| <= 5,
# inside [-5.12, 5.12]; positions and values Newton-refined in float64 (|f'| < 2e-13).
_RASTRIGIN_1D = {
    0: (0.0, 0.0),
    1: (0.9949586376523348, 0.9949590570932916),
    2: (1.9899122337085497, 3.979831190554087),
    3: (2.984855701039481, 8.954601241487012),
    4: (3.9797838603007536, 15.91924379246153),
    5: (4.974691390895051, 24.87372293454223),
}


def _rastrigin_minima() -> tuple[KnownMinimum, ...]:
    out = []
    for i, j in itertools.product(range(-5, 6), repeat=2):
        (xi, vi), (xj, vj) = _RASTRIGIN_1D[abs(i)], _RASTRIGIN_1D[abs(j)]
        point = (math.copysign(xi, i) if i else 0.0, math.copysign(xj, j) if j else 0.0)
        out.append(KnownMinimum(point, vi + vj, i == 0 and j == 0))
    return tuple(out)


RASTRIGIN_MINIMA = _rastrigin_minima()


def beale_fn(p):
    """Beale: ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``.

    Global minimum 0 at ``(3, 0.5)`` in ``[-4.5, 4.5]^2``; a multistart Newton search over the
    box finds no other local minimum. Reference: E. M. L. Beale, "On an iterative method for
    finding a local minimum of a function of more than one variable", Tech. Rep. 25, Princeton
    University (1958).
    """
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def styblinski_tang_fn(p):
    """Styblinski-Tang: ``sum(x_i^4 - 16 x_i^2 + 5 x_i) / 2``.

    In 2-D: global minimum -78.33233 at (-2.903534, -2.903534), 3 local minima. Reference:
    M. A. Styblinski and T.-S. Tang, "Experiments in nonconvex optimization: stochastic
    approximation with function smoothing and simulated annealing", Neural Networks 3(4),
    467-483 (1990).
    """
    return 0.5 * jnp.sum(p**4 - 16.0 * p**2 + 5.0 * p, axis=-1)


# 1D minima of (x^4 - 16x^2 + 5x)/2: x = -2.903534... (-39.166165...) and x = 2.746802...
# (-25.029446...); the 2D minima are their products. Newton-refined in float64.
_ST_LO, _ST_HI = -2.9035340277711774, 2.746802770990837
STYBLINSKI_TANG_MINIMA = (
    KnownMinimum((_ST_LO, _ST_LO), -78.33233140754282, True),
    KnownMinimum((_ST_LO, _ST_HI), -64.19561235905536, False),
    KnownMinimum((_ST_HI, _ST_LO), -64.19561235905536, False),
    KnownMinimum((_ST_HI, _ST_HI), -50.05889331056788, False),
)


# --------------------------------------------------------------------------- the registered ones


class Function(NamedTuple):
    """An analytic function with what is known about it, once its own options are fixed.

    Attributes:
      fn: ``f(point) -> scalar``.
      known_minima: the recorded minima.
      bounds: the standard search box (2-D), or None.
      start: the standard start point.
      config: extra provenance recorded on the problem (e.g. the quadratic's matrix).
    """

    fn: Callable[[jax.Array], jax.Array]
    known_minima: tuple[KnownMinimum, ...]
    bounds: Bounds | None
    start: tuple[float, ...]
    config: Mapping[str, Any] = {}


class AnalyticSpec(NamedTuple):
    """One registered analytic problem.

    Attributes:
      name: problem name.
      description: one line, formatted with the problem's options (``{dim}``, ``{a:g}``).
      function: ``function(**params) -> Function``, or a :class:`Function` when it has no
        options of its own.
      params: the function's own options with their defaults.
      learning_rate: default (Adam) learning rate, measured in docs/problems.md.
    """

    name: str
    description: str
    function: Function | Callable[..., Function]
    params: Mapping[str, Any] = {}
    learning_rate: float = 0.1


SPECS: tuple[AnalyticSpec, ...] = (
    AnalyticSpec(
        "quadratic",
        "ill-conditioned quadratic x^T A x / 2, dim {dim}, condition number {condition:g}, "
        "minimum 0 at 0",
        _quadratic,
        params={"dim": 2, "condition": 100.0, "rotate": False, "data_seed": 0},
        learning_rate=1e-2,
    ),
    AnalyticSpec(
        "rosenbrock",
        "Rosenbrock valley (a={a:g}, b={b:g}), minimum 0 at (a, a^2)",
        _rosenbrock,
        params={"a": 1.0, "b": 100.0},
    ),
    AnalyticSpec(
        "himmelblau",
        "Himmelblau: 4 global minima (value 0)",
        Function(himmelblau_fn, HIMMELBLAU_MINIMA, ((-5.0, 5.0), (-5.0, 5.0)), (0.0, 0.0)),
    ),
    AnalyticSpec(
        "six-hump-camel",
        "six-hump camel: 2 global minima (-1.0316), 4 local",
        Function(six_hump_camel_fn, SIX_HUMP_CAMEL_MINIMA, ((-3.0, 3.0), (-2.0, 2.0)), (-1.5, 1.5)),
    ),
    AnalyticSpec(
        "rastrigin",
        "Rastrigin (A=10): global minimum 0 at the origin, 120 local minima",
        Function(rastrigin_fn, RASTRIGIN_MINIMA, ((-5.12, 5.12), (-5.12, 5.12)), (2.5, 2.5)),
    ),
    AnalyticSpec(
        "beale",
        "Beale: global minimum 0 at (3, 0.5)",
        Function(beale_fn, (KnownMinimum((3.0, 0.5), 0.0, True),), ((-4.5, 4.5),) * 2, (1.0, 1.0)),
    ),
    AnalyticSpec(
        "styblinski-tang",
        "Styblinski-Tang: global minimum -78.332 at (-2.9035, -2.9035), 3 local",
        Function(styblinski_tang_fn, STYBLINSKI_TANG_MINIMA, ((-5.0, 5.0),) * 2, (0.0, 0.0)),
    ),
)


def _start_of(start: Sequence[float] | None, default: Sequence[float]) -> tuple[float, ...]:
    if start is None:
        return tuple(default)
    s = tuple(float(v) for v in np.ravel(np.asarray(start, np.float64)))
    if len(s) != len(default):
        raise ValueError(f"start must have {len(default)} coordinates, got {start!r}")
    return s


def _defaults(spec: AnalyticSpec) -> dict[str, Any]:
    """Every option of ``spec``'s problem with its default, in the order :func:`options` lists."""
    return {**spec.params, "start": None, "init_noise": 0.0, "learning_rate": spec.learning_rate}


def _build(spec: AnalyticSpec, opts: dict[str, Any]) -> Problem:
    """The problem of table row ``spec`` with options ``opts``."""
    f = spec.function
    if not isinstance(f, Function):
        f = f(**{k: opts[k] for k in spec.params})
    return analytic_problem(
        spec.name,
        f.fn,
        known_minima=f.known_minima,
        bounds=f.bounds,
        start=_start_of(opts["start"], f.start),
        init_noise=opts["init_noise"],
        learning_rate=opts["learning_rate"],
        description=spec.description.format(**opts),
        config={**opts, **f.config},
    )


register_specs(SPECS, defaults=_defaults, build=_build)
