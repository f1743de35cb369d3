"""Named optimization problems: data + ``init`` + ``loss`` (+ metrics, known minima).

A :class:`Problem` bundles everything an optimizer run needs as pure functions:
``init(key) -> params``, ``loss(params, batch) -> scalar`` and ``metrics``; the dataset (if any)
with its fixed splits and the batch size; for the analytic 2D test functions also ``fn``
(``f(point) -> scalar``), the standard search ``bounds``, the standard ``start`` point and the
``known_minima`` from the literature, refined by Newton's method in float64.

Problems (``get(name, **kw)``):

- MLP problems on :mod:`optlab.data` sets: ``adder`` (2-3-1 ReLU, MSE, full batch),
  ``digits-mlp`` (64-128-10, softmax CE, batch 128), ``moons-mlp`` (2-16-16-2, CE, batch 64),
  ``spirals-mlp`` (2-64-64-3, CE, batch 128), ``teacher-student`` (student 10-64-1 on a
  10-32-1 teacher, MSE, batch 128).
- ``quadratic``: ``f(x) = x^T A x / 2`` with eigenvalues log-spaced in ``[1, condition]``.
- Analytic 2D functions: ``rosenbrock``, ``himmelblau``, ``six-hump-camel``, ``rastrigin``,
  ``beale``, ``styblinski-tang``.

The data seed (``data_seed``) fixes the dataset; the training key passed to ``init`` (and, by
the trainer, to :func:`optlab.data.get_batch`) only drives initialization and batch order.

Example:
    >>> import jax
    >>> from optlab import problems
    >>> p = problems.get("rosenbrock")
    >>> x0 = p.init(jax.random.key(0))
    >>> [round(float(v), 2) for v in x0], round(float(p.loss(x0, None)), 2)
    ([-1.2, 1.0], 24.2)
    >>> p.known_minima[0]
    KnownMinimum(point=(1.0, 1.0), value=0.0, is_global=True)

References:
    M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global optimization
    problems", Int. J. Math. Model. Numer. Optim. 4(2), 150-194 (2013), arXiv:1308.4008.
    S. Surjanovic and D. Bingham, "Virtual Library of Simulation Experiments: Test Functions and
    Datasets", https://www.sfu.ca/~ssurjano (2013).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import data as _data
from optlab import losses, mlp
from optlab.data import Dataset, Split

__all__ = [
    "KnownMinimum",
    "Problem",
    "analytic_problem",
    "describe",
    "get",
    "mlp_problem",
    "names",
    "options",
    "register",
]

Bounds = tuple[tuple[float, float], tuple[float, float]]


class KnownMinimum(NamedTuple):
    """A local or global minimum: ``point`` (tuple of floats), ``value`` and ``is_global``."""

    point: tuple[float, ...]
    value: float
    is_global: bool


@dataclass(frozen=True, eq=False)
class Problem:
    """An optimization problem as pure functions plus fixed data.

    Attributes:
      name: registry name.
      init: ``init(key) -> params`` (MLP weights, or the start point of an analytic problem).
      loss: ``loss(params, batch) -> scalar``; ``batch`` is a :class:`optlab.data.Split` (or
        ``None`` for analytic problems, whose loss ignores it).
      data: the :class:`optlab.data.Dataset`, or ``None``.
      metrics: ``{name: f(params, batch) -> scalar}``, e.g. ``{"accuracy": ...}``.
      batch_size: rows per training batch; ``None`` means full batch.
      apply: ``apply(params, x) -> outputs`` for MLP problems, else ``None``.
      sizes: MLP layer widths, else ``None``.
      fn: analytic problems: ``f(point) -> scalar`` for a point of shape ``(2,)``.
      known_minima: :class:`KnownMinimum` s sorted by value (global ones first).
      bounds: standard search box ``((x_lo, x_hi), (y_lo, y_hi))`` of analytic problems.
      start: standard start point of analytic problems (what ``init`` returns without noise).
      default_learning_rate: a learning rate that works for Adam on this problem (measured:
        docs/problems.md); training code may use it when no learning rate is given.
      description: one line for listings.
      config: the keyword arguments this problem was built with (for provenance).

    ``evaluate(params, split)`` returns python floats for ``"loss"`` and every metric, computed
    by one jitted function cached on the instance.
    """

    name: str
    init: Callable[[jax.Array], Any]
    loss: Callable[..., jax.Array]
    data: Dataset | None = None
    metrics: Mapping[str, Callable[..., jax.Array]] = field(default_factory=dict)
    batch_size: int | None = None
    apply: Callable[[Any, jax.Array], jax.Array] | None = None
    sizes: tuple[int, ...] | None = None
    fn: Callable[[jax.Array], jax.Array] | None = None
    known_minima: tuple[KnownMinimum, ...] = ()
    bounds: Bounds | None = None
    start: tuple[float, ...] | None = None
    default_learning_rate: float = 1e-2
    description: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "metrics", types.MappingProxyType(dict(self.metrics)))
        object.__setattr__(self, "config", types.MappingProxyType(dict(self.config)))

    @property
    def global_minimum(self) -> KnownMinimum | None:
        """The first recorded global minimum (lowest value), or ``None``."""
        glob = [m for m in self.known_minima if m.is_global]
        return min(glob, key=lambda m: m.value) if glob else None

    def loss_and_metrics(self, params: Any, batch: Split | None) -> tuple[jax.Array, dict]:
        """``(loss, {metric: value})`` of ``params`` on ``batch``: pure and jittable.

        The one definition of "evaluate on a split" that ``evaluate``, training and sweeps
        (vmapped over runs) all compile.
        """
        return self.loss(params, batch), {k: m(params, batch) for k, m in self.metrics.items()}

    @functools.cached_property
    def _evaluator(self) -> Callable[[Any, Split | None], tuple[jax.Array, dict]]:
        # cached_property writes to the instance __dict__ directly, so it works on a frozen
        # dataclass; one jitted evaluator per Problem instance, compiled once per split shape.
        return jax.jit(self.loss_and_metrics)

    def batch_of(self, split: str | Split | None) -> Split | None:
        """The full batch for ``split`` (a split name, a :class:`Split`, or None)."""
        if split is None or isinstance(split, Split):
            return split
        if self.data is None:
            return None
        return self.data.split(split)

    def evaluate(self, params: Any, split: str | Split | None = "val") -> dict[str, float]:
        """Loss and metrics of ``params`` on a whole split, as python floats.

        Args:
          params: parameters (as from ``init``).
          split: ``"train"``, ``"val"``, ``"test"``, a :class:`Split`, or None (analytic problems
            ignore it).

        Returns:
          ``{"loss": ..., **metrics}``.
        """
        if isinstance(split, str) and self.data is None:
            split = None
        loss, metrics = self._evaluator(params, self.batch_of(split))
        return {"loss": float(loss), **{k: float(v) for k, v in metrics.items()}}

    def get_batch(self, split: str, key: jax.Array, step) -> Split | None:
        """Training batch ``step`` of ``split`` with this problem's batch size (jittable)."""
        if self.data is None:
            return None
        return _data.get_batch(self.data.split(split), key, step, self.batch_size)


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., Problem]] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(
    name: str, *, description: str = ""
) -> Callable[[Callable[..., Problem]], Callable[..., Problem]]:
    """Decorator registering ``factory(**kw) -> Problem`` under ``name``.

    Keyword-only parameters of the factory are the options :func:`get` accepts. ``description``
    (one line) is what :func:`describe` returns without building the problem.

    Example (registers globally, so not run as a doctest)::

        @problems.register("bowl")
        def _bowl(*, scale: float = 1.0) -> Problem:
            return problems.analytic_problem(
                "bowl", lambda p: scale * jnp.sum(p**2),
                known_minima=[KnownMinimum((0.0, 0.0), 0.0, True)],
                bounds=((-1.0, 1.0), (-1.0, 1.0)), start=(0.5, 0.5),
            )

        problems.get("bowl", scale=2.0)
    """

    def deco(factory: Callable[..., Problem]) -> Callable[..., Problem]:
        if name in _REGISTRY:
            raise ValueError(f"problem {name!r} is already registered")
        _REGISTRY[name] = factory
        _DESCRIPTIONS[name] = description
        return factory

    return deco


def describe(name: str) -> str:
    """One-line description of problem ``name``, without loading its data."""
    _factory(name)
    return _DESCRIPTIONS[name] or get(name).description


def names() -> list[str]:
    """Registered problem names, sorted."""
    return sorted(_REGISTRY)


def options(name: str) -> dict[str, Any]:
    """The keyword options of problem ``name`` with their defaults."""
    factory = _factory(name)
    return {
        p.name: p.default
        for p in inspect.signature(factory).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }


def _factory(name: str) -> Callable[..., Problem]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown problem {name!r}; known problems: {names()}")
    return _REGISTRY[name]


def get(name: str, **kw: Any) -> Problem:
    """Build the problem ``name`` with options ``kw``.

    Args:
      name: one of :func:`names`.
      **kw: options; see :func:`options` (e.g. ``sizes``, ``hidden``, ``batch_size``,
        ``data_seed``, ``n``, ``activation`` for MLP problems; ``init_noise``, ``start`` for
        analytic ones).

    Returns:
      A :class:`Problem`.

    Raises:
      ValueError: unknown ``name`` (lists the known names) or an invalid option value.
      TypeError: an option the problem does not accept (names it and lists the accepted ones).
    """
    factory = _factory(name)
    accepted = options(name)
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise TypeError(
            f"problem {name!r} got unknown option(s) {unknown}; accepted: {sorted(accepted)}"
        )
    return factory(**kw)


# --------------------------------------------------------------------------- MLP problems


def _check_batch_size(batch_size: Any) -> int | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    return int(batch_size)


def _check_lr(learning_rate: Any) -> float:
    lr = float(learning_rate)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"learning_rate must be a positive finite number, got {learning_rate!r}")
    return lr


def mlp_problem(
    name: str,
    ds: Dataset,
    *,
    sizes: Sequence[int] | None,
    hidden: Sequence[int] | None,
    default_hidden: Sequence[int],
    activation: str | Callable,
    batch_size: int | None,
    learning_rate: float,
    init_scheme: str = "he",
    description: str = "",
    config: Mapping[str, Any] | None = None,
) -> Problem:
    """An MLP on dataset ``ds`` with the loss and metrics that fit its task.

    Regression: MSE. Classification: softmax cross-entropy of integer labels, metric
    ``accuracy``. Binary: sigmoid cross-entropy of one logit, metric ``accuracy``.

    Args:
      name: problem name.
      ds: the dataset.
      sizes: full layer widths (input first); must start with ``ds.n_features`` and end with
        ``ds.n_outputs``. Mutually exclusive with ``hidden``.
      hidden: hidden widths only; input and output widths come from the data.
      default_hidden: hidden widths used when both are None.
      activation: name in ``optlab.mlp.ACTIVATIONS`` or a callable.
      batch_size: training batch size, None for full batch.
      learning_rate: default (Adam) learning rate.
      init_scheme: ``"he"``, ``"glorot"`` or ``"lecun"``.
      description: one line.
      config: options recorded on the problem.

    Returns:
      A :class:`Problem`.
    """
    d_in, d_out = ds.n_features, ds.n_outputs
    if sizes is not None and hidden is not None:
        raise ValueError(f"give sizes or hidden, not both (sizes={sizes!r}, hidden={hidden!r})")
    if sizes is None:
        hidden = default_hidden if hidden is None else hidden
        try:
            hidden = tuple(int(h) for h in hidden)
        except TypeError:
            raise TypeError(f"hidden must be a sequence of ints, got {hidden!r}") from None
        sizes = (d_in, *hidden, d_out)
    try:
        sizes = tuple(int(s) for s in sizes)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of ints, got {sizes!r}") from None
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"sizes must list at least two positive widths, got {sizes}")
    if sizes[0] != d_in:
        raise ValueError(
            f"sizes[0]={sizes[0]} does not match the {ds.name!r} feature size {d_in} "
            f"(sizes={sizes}); use sizes=({d_in}, ..., {d_out}) or hidden=(...)"
        )
    if sizes[-1] != d_out:
        raise ValueError(
            f"sizes[-1]={sizes[-1]} does not match the {ds.name!r} output size {d_out} "
            f"(task {ds.task!r}, sizes={sizes}); use sizes=({d_in}, ..., {d_out})"
        )
    if isinstance(activation, str) and activation not in mlp.ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; accepted: {sorted(mlp.ACTIVATIONS)} or a callable"
        )
    if init_scheme not in mlp.INITIALIZERS:
        raise ValueError(f"unknown init_scheme {init_scheme!r}; accepted: {list(mlp.INITIALIZERS)}")
    batch_size = _check_batch_size(batch_size)
    lr = _check_lr(learning_rate)

    def apply(params, x):
        return mlp.apply(params, x, activation=activation)

    # jitted: one small compile instead of op-by-op dispatch of every layer's ops
    init = jax.jit(lambda key: mlp.init(key, sizes, scheme=init_scheme))

    if ds.task == "regression":

        def loss(params, batch):
            return losses.mse(apply(params, batch.x), batch.y)

        metrics = {}
    elif ds.task == "classification":

        def loss(params, batch):
            return losses.softmax_cross_entropy(apply(params, batch.x), batch.y)

        def acc(params, batch):
            return losses.accuracy(apply(params, batch.x), batch.y)

        metrics = {"accuracy": acc}
    else:

        def loss(params, batch):
            return losses.binary_cross_entropy(apply(params, batch.x)[..., 0], batch.y)

        def acc(params, batch):
            return losses.binary_accuracy(apply(params, batch.x)[..., 0], batch.y)

        metrics = {"accuracy": acc}

    return Problem(
        name=name,
        init=init,
        loss=loss,
        data=ds,
        metrics=metrics,
        batch_size=batch_size,
        apply=apply,
        sizes=sizes,
        default_learning_rate=lr,
        description=description,
        config=dict(config or {}),
    )


@register("adder", description="learn a+b with a 2-3-1 ReLU MLP (MSE, full batch)")
def _adder(
    *,
    sizes: Sequence[int] | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | Callable = "relu",
    batch_size: int | None = None,
    data_seed: int = 0,
    n: int = 1000,
    low: float = 0.0,
    high: float = 10.0,
    fractions: Sequence[float] = _data.DEFAULT_FRACTIONS,
    standardize: bool = False,
    learning_rate: float = 1e-2,
    init_scheme: str = "he",
) -> Problem:
    cfg = dict(locals())
    ds = _data.load(
        "adder", seed=data_seed, n=n, low=low, high=high, fractions=fractions,
        standardize=standardize,
    )  # fmt: skip
    return mlp_problem(
        "adder", ds, sizes=sizes, hidden=hidden, default_hidden=(3,), activation=activation,
        batch_size=batch_size, learning_rate=learning_rate, init_scheme=init_scheme,
        description="learn a+b with a 2-3-1 ReLU MLP (MSE, full batch)", config=cfg,
    )  # fmt: skip


@register(
    "digits-mlp", description="1,797 real 8x8 digits, 64-128-10 ReLU MLP (softmax CE, batch 128)"
)
def _digits_mlp(
    *,
    sizes: Sequence[int] | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | Callable = "relu",
    batch_size: int | None = 128,
    data_seed: int = 0,
    fractions: Sequence[float] = _data.DEFAULT_FRACTIONS,
    standardize: bool = False,
    learning_rate: float = 1e-3,
    init_scheme: str = "he",
) -> Problem:
    cfg = dict(locals())
    ds = _data.load("digits", seed=data_seed, fractions=fractions, standardize=standardize)
    return mlp_problem(
        "digits-mlp", ds, sizes=sizes, hidden=hidden, default_hidden=(128,),
        activation=activation, batch_size=batch_size, learning_rate=learning_rate,
        init_scheme=init_scheme,
        description="1,797 real 8x8 digits, 64-128-10 ReLU MLP (softmax CE, batch 128)",
        config=cfg,
    )  # fmt: skip


@register("moons-mlp", description="two moons, 2-16-16-2 ReLU MLP (softmax CE, batch 64)")
def _moons_mlp(
    *,
    sizes: Sequence[int] | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | Callable = "relu",
    batch_size: int | None = 64,
    data_seed: int = 0,
    n: int = 1000,
    noise: float = 0.1,
    binary: bool = False,
    fractions: Sequence[float] = _data.DEFAULT_FRACTIONS,
    standardize: bool = False,
    learning_rate: float = 1e-2,
    init_scheme: str = "he",
) -> Problem:
    cfg = dict(locals())
    ds = _data.load(
        "moons", seed=data_seed, n=n, noise=noise, binary=binary, fractions=fractions,
        standardize=standardize,
    )  # fmt: skip
    return mlp_problem(
        "moons-mlp", ds, sizes=sizes, hidden=hidden, default_hidden=(16, 16),
        activation=activation, batch_size=batch_size, learning_rate=learning_rate,
        init_scheme=init_scheme,
        description="two moons, 2-16-16-2 ReLU MLP (softmax CE, batch 64)", config=cfg,
    )  # fmt: skip


@register("spirals-mlp", description="3 spiral arms, 2-64-64-3 ReLU MLP (softmax CE, batch 128)")
def _spirals_mlp(
    *,
    sizes: Sequence[int] | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | Callable = "relu",
    batch_size: int | None = 128,
    data_seed: int = 0,
    n: int = 1500,
    arms: int = 3,
    noise: float = 0.05,
    turns: float = 1.0,
    fractions: Sequence[float] = _data.DEFAULT_FRACTIONS,
    standardize: bool = False,
    learning_rate: float = 3e-3,
    init_scheme: str = "he",
) -> Problem:
    cfg = dict(locals())
    ds = _data.load(
        "spirals", seed=data_seed, n=n, arms=arms, noise=noise, turns=turns,
        fractions=fractions, standardize=standardize,
    )  # fmt: skip
    return mlp_problem(
        "spirals-mlp", ds, sizes=sizes, hidden=hidden, default_hidden=(64, 64),
        activation=activation, batch_size=batch_size, learning_rate=learning_rate,
        init_scheme=init_scheme,
        description=f"{arms} spiral arms, 2-64-64-{arms} ReLU MLP (softmax CE, batch 128)",
        config=cfg,
    )  # fmt: skip


@register(
    "teacher-student",
    description="student MLP 10-64-1 fits a random teacher 10-32-1 (MSE, batch 128)",
)
def _teacher_student(
    *,
    sizes: Sequence[int] | None = None,
    hidden: Sequence[int] | None = None,
    activation: str | Callable = "relu",
    batch_size: int | None = 128,
    data_seed: int = 0,
    n: int = 2000,
    teacher_sizes: Sequence[int] = (10, 32, 1),
    teacher_activation: str = "relu",
    noise: float = 0.0,
    teacher_seed: int | None = None,
    fractions: Sequence[float] = _data.DEFAULT_FRACTIONS,
    standardize: bool = False,
    learning_rate: float = 1e-3,
    init_scheme: str = "he",
) -> Problem:
    cfg = dict(locals())
    ds = _data.load(
        "teacher-student", seed=data_seed, n=n, teacher_sizes=teacher_sizes,
        activation=teacher_activation, noise=noise, teacher_seed=teacher_seed,
        fractions=fractions, standardize=standardize,
    )  # fmt: skip
    return mlp_problem(
        "teacher-student", ds, sizes=sizes, hidden=hidden, default_hidden=(64,),
        activation=activation, batch_size=batch_size, learning_rate=learning_rate,
        init_scheme=init_scheme,
        description="student MLP 10-64-1 fits a random teacher 10-32-1 (MSE, batch 128)",
        config=cfg,
    )  # fmt: skip


# --------------------------------------------------------------------------- analytic problems


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
    init_noise = float(init_noise)
    if not (math.isfinite(init_noise) and init_noise >= 0):
        raise ValueError(f"init_noise must be a finite number >= 0, got {init_noise!r}")
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

    metrics = {}
    if glob:
        f_star = glob[0].value
        g_points = np.asarray([m.point for m in glob], np.float64)

        def gap(params, batch=None):
            del batch
            return fn(params) - f_star

        def distance(params, batch=None):
            del batch
            pts = jnp.asarray(g_points, params.dtype)
            return jnp.min(jnp.sqrt(jnp.sum((pts - params) ** 2, axis=-1)))

        metrics = {"gap": gap, "distance": distance}

    return Problem(
        name=name,
        init=init,
        loss=loss,
        metrics=metrics,
        fn=fn,
        known_minima=minima,
        bounds=bounds,
        start=start,
        default_learning_rate=_check_lr(learning_rate),
        description=description,
        config=dict(config or {}),
    )


def _start_of(start: Sequence[float] | None, default: Sequence[float], dim: int = 2):
    if start is None:
        return tuple(default)
    s = tuple(float(v) for v in np.ravel(np.asarray(start, np.float64)))
    if len(s) != dim:
        raise ValueError(f"start must have {dim} coordinates, got {start!r}")
    return s


@register(
    "quadratic",
    description="ill-conditioned quadratic x^T A x / 2 (default dim 2, condition 100), min 0 at 0",
)
def _quadratic(
    *,
    dim: int = 2,
    condition: float = 100.0,
    rotate: bool = False,
    data_seed: int = 0,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 1e-2,
) -> Problem:
    """``f(x) = x^T A x / 2``, ``A = Q diag(lambda) Q^T``, ``lambda`` log-spaced in [1, condition].

    ``Q`` is the identity, or with ``rotate=True`` a random orthogonal matrix from ``data_seed``.
    Unique minimum 0 at the origin; start at ``(1, ..., 1)``.
    """
    cfg = dict(locals())
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    condition = float(condition)
    if not (math.isfinite(condition) and condition >= 1.0):
        raise ValueError(f"condition must be a finite number >= 1, got {condition!r}")
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

    return analytic_problem(
        "quadratic",
        fn,
        known_minima=(KnownMinimum(tuple([0.0] * dim), 0.0, True),),
        bounds=((-2.0, 2.0), (-2.0, 2.0)) if dim == 2 else None,
        start=_start_of(start, [1.0] * dim, dim),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description=f"ill-conditioned quadratic, dim {dim}, condition number {condition:g}",
        config=dict(cfg, matrix=a, eigenvalues=eig),
    )


def _rosenbrock_fn(a: float, b: float):
    def fn(p):
        return (a - p[0]) ** 2 + b * (p[1] - p[0] ** 2) ** 2

    return fn


@register(
    "rosenbrock", description="Rosenbrock valley (a=1, b=100 by default), minimum 0 at (a, a^2)"
)
def _rosenbrock(
    *,
    a: float = 1.0,
    b: float = 100.0,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 0.1,
) -> Problem:
    """Rosenbrock's banana valley ``(a - x)^2 + b (y - x^2)^2``; minimum 0 at ``(a, a^2)``.

    Reference: H. H. Rosenbrock, "An automatic method for finding the greatest or least value of
    a function", The Computer Journal 3(3), 175-184 (1960). Start (-1.2, 1) as there.
    """
    cfg = dict(locals())
    a, b = float(a), float(b)
    if not b > 0:
        raise ValueError(f"b must be > 0, got {b!r}")
    return analytic_problem(
        "rosenbrock",
        _rosenbrock_fn(a, b),
        known_minima=(KnownMinimum((a, a * a), 0.0, True),),
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=_start_of(start, (-1.2, 1.0)),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description=f"Rosenbrock valley (a={a:g}, b={b:g}), minimum 0 at ({a:g}, {a * a:g})",
        config=cfg,
    )


def himmelblau_fn(p):
    """Himmelblau: ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``."""
    return (p[0] ** 2 + p[1] - 11.0) ** 2 + (p[0] + p[1] ** 2 - 7.0) ** 2


# Newton-refined in float64 (gradient < 2e-14 at these points); literature values in
# Himmelblau (1972) and Jamil & Yang (2013), no. 65.
HIMMELBLAU_MINIMA = (
    KnownMinimum((3.0, 2.0), 0.0, True),
    KnownMinimum((-2.805118086952745, 3.131312518250573), 0.0, True),
    KnownMinimum((-3.779310253377747, -3.2831859912861696), 0.0, True),
    KnownMinimum((3.5844283403304917, -1.8481265269644036), 0.0, True),
)


@register("himmelblau", description="Himmelblau: 4 global minima (value 0)")
def _himmelblau(
    *,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 0.1,
) -> Problem:
    """Himmelblau's function: four global minima of value 0 in ``[-5, 5]^2``.

    Reference: D. M. Himmelblau, "Applied Nonlinear Programming", McGraw-Hill (1972).
    """
    cfg = dict(locals())
    return analytic_problem(
        "himmelblau",
        himmelblau_fn,
        known_minima=HIMMELBLAU_MINIMA,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=_start_of(start, (0.0, 0.0)),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description="Himmelblau: 4 global minima (value 0)",
        config=cfg,
    )


def six_hump_camel_fn(p):
    """Six-hump camel: ``(4 - 2.1 x^2 + x^4/3) x^2 + x y + (-4 + 4 y^2) y^2``."""
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


@register("six-hump-camel", description="six-hump camel: 2 global minima (-1.0316), 4 local")
def _six_hump_camel(
    *,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 0.1,
) -> Problem:
    """Six-hump camel back: two global and four local minima in ``[-3, 3] x [-2, 2]``.

    Reference: L. C. W. Dixon and G. P. Szego, "The global optimisation problem: an
    introduction", in Towards Global Optimisation 2, North-Holland (1978).
    """
    cfg = dict(locals())
    return analytic_problem(
        "six-hump-camel",
        six_hump_camel_fn,
        known_minima=SIX_HUMP_CAMEL_MINIMA,
        bounds=((-3.0, 3.0), (-2.0, 2.0)),
        start=_start_of(start, (-1.5, 1.5)),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description="six-hump camel: 2 global minima (-1.0316), 4 local",
        config=cfg,
    )


def rastrigin_fn(p):
    """Rastrigin (A = 10): ``10 n + sum(x_i^2 - 10 cos(2 pi x_i))``."""
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


@register(
    "rastrigin", description="Rastrigin (A=10): global minimum 0 at the origin, 120 local minima"
)
def _rastrigin(
    *,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 0.1,
) -> Problem:
    """2D Rastrigin: global minimum 0 at the origin, 120 local minima in ``[-5.12, 5.12]^2``.

    Reference: L. A. Rastrigin, "Systems of extremal control", Nauka (1974); Jamil & Yang (2013)
    no. 102.
    """
    cfg = dict(locals())
    return analytic_problem(
        "rastrigin",
        rastrigin_fn,
        known_minima=RASTRIGIN_MINIMA,
        bounds=((-5.12, 5.12), (-5.12, 5.12)),
        start=_start_of(start, (2.5, 2.5)),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description="Rastrigin (A=10): global minimum 0 at the origin, 120 local minima",
        config=cfg,
    )


def beale_fn(p):
    """Beale: ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``."""
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


@register("beale", description="Beale: global minimum 0 at (3, 0.5)")
def _beale(
    *,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 0.1,
) -> Problem:
    """Beale's function: global minimum 0 at ``(3, 0.5)`` in ``[-4.5, 4.5]^2``.

    A multistart Newton search over the box finds no other local minimum.
    Reference: E. M. L. Beale, "On an iterative method for finding a local minimum of a function
    of more than one variable", Tech. Rep. 25, Princeton University (1958).
    """
    cfg = dict(locals())
    return analytic_problem(
        "beale",
        beale_fn,
        known_minima=(KnownMinimum((3.0, 0.5), 0.0, True),),
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        start=_start_of(start, (1.0, 1.0)),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description="Beale: global minimum 0 at (3, 0.5)",
        config=cfg,
    )


def styblinski_tang_fn(p):
    """Styblinski-Tang: ``sum(x_i^4 - 16 x_i^2 + 5 x_i) / 2``."""
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


@register(
    "styblinski-tang",
    description="Styblinski-Tang: global minimum -78.332 at (-2.9035, -2.9035), 3 local",
)
def _styblinski_tang(
    *,
    start: Sequence[float] | None = None,
    init_noise: float = 0.0,
    learning_rate: float = 0.1,
) -> Problem:
    """2D Styblinski-Tang: global minimum -78.33233 at (-2.903534, -2.903534), 3 local minima.

    Reference: M. A. Styblinski and T.-S. Tang, "Experiments in nonconvex optimization:
    stochastic approximation with function smoothing and simulated annealing", Neural Networks
    3(4), 467-483 (1990).
    """
    cfg = dict(locals())
    return analytic_problem(
        "styblinski-tang",
        styblinski_tang_fn,
        known_minima=STYBLINSKI_TANG_MINIMA,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=_start_of(start, (0.0, 0.0)),
        init_noise=init_noise,
        learning_rate=learning_rate,
        description="Styblinski-Tang: global minimum -78.332 at (-2.9035, -2.9035), 3 local",
        config=cfg,
    )
