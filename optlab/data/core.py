"""What a dataset is: :class:`Split`, :class:`Dataset`, the loader registry and the splitting.

A loader (``f(*, seed, fractions, standardize, **options) -> Dataset``, registered with
:func:`register`) draws its rows and hands them to :func:`build`, which splits them
deterministically (stratified by class for classification), optionally standardizes them with
the train split's statistics and converts them to fixed-shape ``jnp`` arrays. :func:`load`
validates the common arguments and the loader's options, then calls the loader.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _checks

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLIT_NAMES",
    "TASKS",
    "Dataset",
    "Split",
    "build",
    "load",
    "names",
    "register",
    "rngs",
]

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.7, 0.15, 0.15)
SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")
TASKS = ("regression", "classification", "binary")


class Split(NamedTuple):
    """One split of a dataset: inputs ``x`` (n, d) float32 and targets ``y``.

    ``y`` is float32 ``(n, k)`` for regression, int32 ``(n,)`` for classification and float32
    ``(n,)`` holding 0/1 for binary tasks. A ``Split`` is a pytree (a NamedTuple), so it passes
    through ``jit``/``vmap``/``lax.scan`` unchanged.
    """

    x: jax.Array
    y: jax.Array


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named dataset with fixed train/validation/test splits.

    Attributes:
      name: the registry name (``"digits"``, ...).
      train, val, test: the three :class:`Split` s.
      task: ``"regression"``, ``"classification"`` (int labels, softmax) or ``"binary"`` (0/1).
      n_classes: number of classes for classification/binary tasks, else ``None``.
      info: provenance: ``seed``, ``fractions``, generator arguments, original row ``indices`` per
        split, standardization statistics, teacher weights, ...
    """

    name: str
    train: Split
    val: Split
    test: Split
    task: str
    n_classes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")

    def split(self, name: str) -> Split:
        """The split called ``name`` (``"train"``, ``"val"``/``"validation"`` or ``"test"``)."""
        key = {"validation": "val", "valid": "val"}.get(name, name)
        if key not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; accepted: {list(SPLIT_NAMES)}")
        return getattr(self, key)

    @property
    def n_features(self) -> int:
        """Input width ``d`` (the first MLP layer size)."""
        return int(self.train.x.shape[1])

    @property
    def n_outputs(self) -> int:
        """Output width a model needs: classes, 1 for binary, target width for regression."""
        if self.task == "classification":
            return int(self.n_classes)
        if self.task == "binary":
            return 1
        return int(self.train.y.shape[1])

    @property
    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {s: int(getattr(self, s).x.shape[0]) for s in SPLIT_NAMES}

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, n_classes={self.n_classes}, "
            f"features={self.n_features}, sizes={self.sizes})"
        )


# --------------------------------------------------------------------------- splitting


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(
            f"fractions must be three numbers (train, val, test) summing to 1, got {fractions!r}"
        ) from None
    if len(fr) != 3 or any(not (0.0 < f < 1.0) for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(
            "fractions must be three numbers in (0, 1) (train, val, test) summing to 1, "
            f"got {fractions!r}"
        )
    return fr  # type: ignore[return-value]


def _split_counts(n: int, fractions: tuple[float, float, float], what: str) -> tuple[int, int, int]:
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    n_train = n - n_val - n_test
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(
            f"{what}={n} rows are too few for fractions {fractions}: split sizes would be "
            f"{(n_train, n_val, n_test)}; every split needs at least one row"
        )
    return n_train, n_val, n_test


def _split_indices(
    rng: np.random.Generator,
    n: int,
    fractions: tuple[float, float, float],
    labels: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Deterministic (stratified when ``labels`` is given) split of ``range(n)``."""
    if labels is None:
        perm = rng.permutation(n)
        n_tr, n_va, _ = _split_counts(n, fractions, "n")
        parts = {"train": perm[:n_tr], "val": perm[n_tr : n_tr + n_va], "test": perm[n_tr + n_va :]}
    else:
        parts = {s: [] for s in SPLIT_NAMES}
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            n_tr, n_va, _ = _split_counts(len(idx), fractions, f"rows of class {c}")
            parts["train"].append(idx[:n_tr])
            parts["val"].append(idx[n_tr : n_tr + n_va])
            parts["test"].append(idx[n_tr + n_va :])
        # Shuffle within each split so classes are interleaved (matters for full-batch slices).
        parts = {s: rng.permutation(np.concatenate(v)) for s, v in parts.items()}
    return {s: np.asarray(v, np.int64) for s, v in parts.items()}


def build(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    n_classes: int | None,
    rng: np.random.Generator,
    fractions: tuple[float, float, float],
    standardize: bool,
    info: dict[str, Any],
) -> Dataset:
    """Split all rows ``x, y`` with ``rng``, optionally standardize (train statistics), and
    convert them to ``jnp`` arrays (``x`` float32; ``y`` by task)."""
    x = np.asarray(x, np.float64)
    idx = _split_indices(rng, len(x), fractions, y if task != "regression" else None)
    info = dict(info, fractions=fractions, indices=idx, standardize=bool(standardize))
    if standardize:
        mean = x[idx["train"]].mean(axis=0)
        std = x[idx["train"]].std(axis=0)
        std = np.where(std > 0, std, 1.0)  # constant features (digits' border pixels) stay 0
        x = (x - mean) / std
        info.update(mean=mean, std=std)
    if task == "classification":
        y = np.asarray(y, np.int32)
    elif task == "binary":
        y = np.asarray(y, np.float32)
    else:
        y = np.asarray(y, np.float32).reshape(len(x), -1)
    splits = {s: Split(jnp.asarray(x[i], jnp.float32), jnp.asarray(y[i])) for s, i in idx.items()}
    return Dataset(name=name, task=task, n_classes=n_classes, info=info, **splits)


def rngs(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent numpy generators from one seed (data stream, split stream, ...)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


# --------------------------------------------------------------------------- registry

_LOADERS: dict[str, Callable[..., Dataset]] = {}
_COMMON = ("seed", "fractions", "standardize")


def register(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator registering a loader ``f(*, seed, fractions, standardize, **kw) -> Dataset``."""

    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if name in _LOADERS:
            raise ValueError(f"dataset {name!r} is already registered")
        _LOADERS[name] = fn
        return fn

    return deco


def names() -> list[str]:
    """Names accepted by :func:`load`, sorted."""
    return sorted(_LOADERS)


def load(
    name: str,
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = False,
    **kw: Any,
) -> Dataset:
    """Load dataset ``name`` with deterministic splits fixed by ``seed``.

    Args:
      name: one of :func:`names` (``"adder"``, ``"digits"``, ``"moons"``, ``"spirals"``,
        ``"teacher-student"``, ``"mnist-5k"``).
      seed: data seed: fixes the generated data (synthetic sets) and the split.
      fractions: (train, val, test) fractions in (0, 1) summing to 1; default 70/15/15.
        Classification splits are stratified per class.
      standardize: if true, shift/scale every feature to zero mean and unit variance using
        train-split statistics (stored in ``info["mean"]``, ``info["std"]``).
      **kw: loader options, e.g. ``n``, ``noise``, ``arms`` (see the loader functions
        ``adder``, ``digits``, ``moons``, ``spirals``, ``teacher_student``, ``mnist_5k`` in
        :mod:`optlab.data`).

    Returns:
      A :class:`Dataset`.

    Raises:
      ValueError: unknown ``name`` (the message lists the names), bad fractions or sizes.
      TypeError: an option the loader does not accept.
    """
    if name not in _LOADERS:
        raise ValueError(
            f"unknown dataset {name!r}{_checks.suggest(name, names())}; known datasets: {names()}"
        )
    seed = _checks.int_at_least("seed", seed, 0)
    fr = _check_fractions(fractions)
    loader = _LOADERS[name]
    accepted = [
        p.name
        for p in inspect.signature(loader).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON
    ]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise _checks.ArgumentTypeError(
            f"dataset {name!r} got unknown option(s) {unknown}; accepted: {[*_COMMON, *accepted]}"
        )
    return loader(seed=seed, fractions=fr, standardize=bool(standardize), **kw)
