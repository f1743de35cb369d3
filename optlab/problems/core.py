"""What a problem is: :class:`Problem`, :class:`KnownMinimum`, and the registry by name.

A problem is registered as a factory ``factory(**options) -> Problem`` whose keyword-only
parameters are its options (:func:`options` reads them from the factory's signature, so a
factory may also carry a built ``__signature__``); :func:`get` checks the options and calls it.
The built-in problems register themselves in :mod:`optlab.problems.mlp` and
:mod:`optlab.problems.analytic`.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax

from optlab import _checks, losses
from optlab import data as data_lib
from optlab.data import Dataset, Split

__all__ = [
    "Bounds",
    "KnownMinimum",
    "Problem",
    "describe",
    "get",
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
      metrics: ``{name: f(params, batch) -> scalar}``, e.g. ``{"accuracy": ...}``.

      Problems on a dataset (MLPs; ``None`` elsewhere):

      data: the :class:`optlab.data.Dataset`.
      batch_size: rows per training batch; ``None`` means full batch.
      apply: ``apply(params, x) -> outputs`` of the model.
      sizes: MLP layer widths, input first.

      Analytic problems (``None`` or empty elsewhere):

      fn: ``f(point) -> scalar`` for a point of shape ``(dim,)``.
      known_minima: :class:`KnownMinimum` s sorted by value (global ones first).
      bounds: standard search box ``((x_lo, x_hi), (y_lo, y_hi))`` (2-D functions).
      start: standard start point (what ``init`` returns without noise).

      Every problem:

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
        return data_lib.get_batch(self.data.split(split), key, step, self.batch_size)


# --------------------------------------------------------------------------- registry


class _Entry(NamedTuple):
    factory: Callable[..., Problem]
    description: str


_REGISTRY: dict[str, _Entry] = {}


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
        _REGISTRY[name] = _Entry(factory, description)
        return factory

    return deco


def register_table(
    name: str,
    *,
    defaults: Mapping[str, Any],
    description: str,
    build: Callable[[dict[str, Any]], Problem],
) -> Callable[..., Problem]:
    """Register a problem given as a table row: its options with defaults and a builder.

    The factory registered under ``name`` takes exactly the keyword options in ``defaults``
    (an unknown one raises ``TypeError`` naming it; :func:`options` lists them in this order),
    fills in the defaults and returns ``build(options)``. ``description`` is a format string
    over the options: filled with the defaults it is the listing line, the factory docstring
    and what :func:`describe` returns.

    Returns:
      The registered factory.
    """
    defaults = dict(defaults)
    signature = inspect.Signature(
        [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
            for k, v in defaults.items()
        ]
    )

    def factory(**kw: Any) -> Problem:
        signature.bind(**kw)  # TypeError naming an unknown option
        return build({**defaults, **kw})

    line = description.format(**defaults)
    factory.__signature__ = signature
    factory.__name__ = factory.__qualname__ = f"_{name.replace('-', '_')}"
    factory.__doc__ = f"The {name!r} problem: {line}."
    return register(name, description=line)(factory)


def task_loss_and_metrics(task: str, apply: Callable) -> tuple[Callable, dict[str, Callable]]:
    """The loss and metrics of a model ``apply(params, x)`` (an MLP or a conv net) on a
    ``task``: MSE; softmax CE + accuracy; sigmoid CE + accuracy."""
    if task == "regression":

        def loss(params, batch):
            return losses.mse(apply(params, batch.x), batch.y)

        return loss, {}
    if task == "classification":

        def loss(params, batch):
            return losses.softmax_cross_entropy(apply(params, batch.x), batch.y)

        def acc(params, batch):
            return losses.accuracy(apply(params, batch.x), batch.y)

        return loss, {"accuracy": acc}

    def loss(params, batch):
        return losses.binary_cross_entropy(apply(params, batch.x)[..., 0], batch.y)

    def acc(params, batch):
        return losses.binary_accuracy(apply(params, batch.x)[..., 0], batch.y)

    return loss, {"accuracy": acc}


def network_problem(
    name: str,
    ds: Dataset,
    *,
    apply: Callable,
    init: Callable,
    batch_size: int | None,
    learning_rate: float,
    init_scheme: str,
    description: str,
    config: Mapping[str, Any] | None,
    sizes: tuple[int, ...] | None = None,
) -> Problem:
    """The :class:`Problem` of a network ``apply(params, x)`` (initialized by ``init(key)``)
    on dataset ``ds``, with the loss and metrics of its task; shared by the MLP and CNN
    families. Checks ``init_scheme``, ``batch_size`` and ``learning_rate`` (a ``ValueError``
    naming the accepted values) before anything is built."""
    from optlab import mlp as mlp_lib

    if init_scheme not in mlp_lib.INITIALIZERS:
        raise ValueError(
            f"unknown init_scheme {init_scheme!r}; accepted: {list(mlp_lib.INITIALIZERS)}"
        )
    batch_size = _checks.int_at_least("batch_size", batch_size, 1, allow_none=True)
    lr = _checks.real("learning_rate", learning_rate, minimum=0, strict=True)
    loss, metrics = task_loss_and_metrics(ds.task, apply)
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


def dataset_defaults(spec) -> dict[str, Any]:
    """The options every dataset-backed table row offers after its model's own, with their
    defaults: batch size, data seed, the dataset's options, split fractions, standardization,
    learning rate and initialization (``spec`` has ``batch_size``, ``data_options`` and
    ``learning_rate``)."""
    return {
        "batch_size": spec.batch_size,
        "data_seed": 0,
        **spec.data_options,
        "fractions": data_lib.DEFAULT_FRACTIONS,
        "standardize": False,
        "learning_rate": spec.learning_rate,
        "init_scheme": "he",
    }


def load_dataset(spec, opts: Mapping[str, Any], renamed: Mapping[str, str] = {}) -> Dataset:
    """The dataset of table row ``spec`` (``spec.dataset``) with the options ``opts`` of
    :func:`dataset_defaults`; ``renamed`` maps a problem option to the dataset's name for it."""
    return data_lib.load(
        spec.dataset,
        seed=opts["data_seed"],
        fractions=opts["fractions"],
        standardize=opts["standardize"],
        **{renamed.get(k, k): opts[k] for k in spec.data_options},
    )


def register_specs(
    specs, *, defaults: Callable[[Any], Mapping[str, Any]], build: Callable[..., Problem]
) -> None:
    """:func:`register_table` for every row of a table of specs (named tuples with ``name``
    and ``description``): ``defaults(spec)`` gives a row's options, ``build(spec, options)``
    its problem."""
    for spec in specs:
        register_table(
            spec.name,
            defaults=defaults(spec),
            description=spec.description,
            build=functools.partial(build, spec),
        )


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        on_data = [n for n in names() if n.startswith(f"{name}-")]
        hint = f" ({name!r} is a dataset; problems on it: {on_data})" if on_data else ""
        hint = hint or _checks.suggest(name, names())
        raise ValueError(
            f"unknown problem {name!r}{hint}; known problems: {names()} (your own problem: "
            "register it in a module and load that with --import MODULE or a study config's "
            "imports)"
        )
    return _REGISTRY[name]


def describe(name: str) -> str:
    """One-line description of problem ``name``, without loading its data."""
    return _entry(name).description or get(name).description


def names() -> list[str]:
    """Registered problem names, sorted."""
    return sorted(_REGISTRY)


def options(name: str) -> dict[str, Any]:
    """The keyword options of problem ``name`` with their defaults."""
    return {
        p.name: p.default
        for p in inspect.signature(_entry(name).factory).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }


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
    factory = _entry(name).factory
    accepted = options(name)
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise _checks.ArgumentTypeError(
            f"problem {name!r} got unknown option(s) {unknown}; accepted: {sorted(accepted)}"
        )
    problem = factory(**kw)
    if not isinstance(problem, Problem):
        raise TypeError(
            f"the factory registered as problem {name!r} ({getattr(factory, '__name__', factory)})"
            f" returned {type(problem).__name__} {problem!r:.40}, not an optlab.problems.Problem"
        )
    return problem
