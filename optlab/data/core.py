"""What a dataset is: :class:`Split`, :class:`Dataset`, the loader registry and the splitting.

A loader (``f(*, seed, fractions, standardize, **options) -> Dataset``, registered with
:func:`register`) draws its rows and hands them to :func:`build`, which splits them
deterministically (stratified by class for classification), optionally standardizes them with
the train split's statistics and converts them to fixed-shape ``jnp`` arrays. :func:`load`
validates the common arguments and the loader's options, then calls the loader.
"""

from __future__ import annotations

import inspect
import os
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
    "from_arrays",
    "from_npz",
    "load",
    "names",
    "register",
    "register_arrays",
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


# --------------------------------------------------------------------------- your own data


def _infer_task(y: np.ndarray) -> str:
    if y.ndim == 1 and (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
        return "classification"
    return "regression"


def _own_rows(x: Any, y: Any, task: str | None, what: str) -> tuple[np.ndarray, np.ndarray, str]:
    """``x, y`` as numpy arrays, checked (shapes, finiteness, labels), and the task."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or x.shape[0] == 0:
        raise ValueError(
            f"{what}: x must be a non-empty numeric array of shape (n, d), got shape "
            f"{x.shape} and dtype {x.dtype} (flatten images: x.reshape(len(x), -1))"
        )
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{what}: y must have shape (n,) or (n, k) with the n={x.shape[0]} rows of x, "
            f"got shape {y.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: x holds non-finite values (nan or inf)")
    if task is None:
        task = _infer_task(y)
    _checks.one_of("task", task, TASKS)
    if task == "regression":
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
            raise ValueError(f"{what}: regression targets y must be finite numbers")
        return x, y, task
    if y.ndim != 1:
        raise ValueError(f"{what}: {task} labels y must have shape (n,), got shape {y.shape}")
    labels = y.astype(np.float64) if np.issubdtype(y.dtype, np.number) else None
    allowed = "0/1" if task == "binary" else "integers 0..K-1"
    if labels is None or np.any(labels != np.round(labels)) or labels.min() < 0:
        raise ValueError(f"{what}: {task} labels y must be {allowed}, got dtype {y.dtype}")
    if task == "binary" and labels.max() > 1:
        raise ValueError(f"{what}: binary labels y must be 0/1, got values up to {labels.max()}")
    return x, labels.astype(np.int64), task


def from_arrays(
    x: Any,
    y: Any,
    *,
    task: str | None = None,
    n_classes: int | None = None,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = False,
    name: str = "arrays",
) -> Dataset:
    """A :class:`Dataset` from your own arrays, split like the built-in sets.

    The rows are split by the same code as every built-in dataset: deterministic given
    ``seed``, ``fractions`` of the rows (rounded) for validation and test, the rest for
    training, and stratified by class for classification and binary tasks (each class split
    with the fractions). ``info["indices"]`` records each split's row numbers in ``x``.

    Args:
      x: inputs, shape ``(n, d)``, numeric and finite (flatten images to rows; a problem's
        ``apply`` may reshape them, as the CNN problems do).
      y: targets: ``(n,)`` integer class labels (classification), ``(n,)`` 0/1 (binary), or
        ``(n,)``/``(n, k)`` numbers (regression, stored as ``(n, k)``).
      task: ``"classification"``, ``"binary"`` or ``"regression"``; ``None`` infers it:
        one-dimensional integer (or bool) ``y`` is classification, anything else regression.
      n_classes: classes of a classification task (default ``max(y) + 1``; give it when a
        class may be absent from the data).
      seed: data seed: fixes the split.
      fractions: (train, val, test) fractions in (0, 1) summing to 1; default 70/15/15.
      standardize: shift/scale every feature by the train split's mean and std.
      name: the dataset's name (``Dataset.name``).

    Returns:
      A :class:`Dataset` (``x`` float32; ``y`` int32 labels, float32 0/1, or float32 ``(n, k)``).

    Raises:
      ValueError: bad shapes, non-finite values, labels that do not fit ``task``, an unknown
        task, bad fractions, or too few rows of a class for the fractions.

    Example:
      >>> import numpy as np
      >>> from optlab import data
      >>> x = np.random.default_rng(0).normal(size=(200, 3))
      >>> ds = data.from_arrays(x, (x[:, 0] > 0).astype(int), seed=1)
      >>> ds.task, ds.n_classes, ds.sizes
      ('classification', 2, {'train': 140, 'val': 30, 'test': 30})
    """
    what = f"dataset {name!r}"
    x, y, task = _own_rows(x, y, task, what)
    seed = _checks.int_at_least("seed", seed, 0)
    fr = _check_fractions(fractions)
    if task == "classification":
        n_classes = _checks.int_at_least(
            "n_classes", int(y.max()) + 1 if n_classes is None else n_classes, 1
        )
        if y.max() >= n_classes:
            raise ValueError(f"{what}: label {int(y.max())} >= n_classes={n_classes}")
    elif task == "binary":
        n_classes = 2
    else:
        n_classes = None
    (split,) = rngs(seed, 1)
    info = {"seed": seed, "source": "from_arrays"}
    return build(
        name, x, y, task=task, n_classes=n_classes, rng=split, fractions=fr,
        standardize=standardize, info=info,
    )  # fmt: skip


def from_npz(
    path: str | os.PathLike,
    *,
    x_key: str = "x",
    y_key: str = "y",
    task: str | None = None,
    n_classes: int | None = None,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = False,
    name: str | None = None,
) -> Dataset:
    """A :class:`Dataset` from the arrays ``x_key`` and ``y_key`` of an ``.npz`` file.

    The file is read with ``allow_pickle=False`` (plain numeric arrays only); the rest is
    :func:`from_arrays` (same checks, same deterministic stratified split). ``name`` defaults
    to the file's stem; ``info["path"]`` records the file.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (x_key, y_key) if k not in f.files]
            if missing:
                raise ValueError(
                    f"npz file {path!r} has no array(s) {missing}; it holds {sorted(f.files)} "
                    "(choose them with x_key=..., y_key=...)"
                )
            x, y = f[x_key], f[y_key]
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read npz file {path!r}: {e}") from None
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    ds = from_arrays(
        x, y, task=task, n_classes=n_classes, seed=seed, fractions=fractions,
        standardize=standardize, name=name,
    )  # fmt: skip
    ds.info.update(path=path, source="from_npz")
    return ds


def register_arrays(
    name: str,
    x: Any,
    y: Any,
    *,
    task: str | None = None,
    n_classes: int | None = None,
) -> None:
    """Register your own arrays as dataset ``name``, so :func:`load` (and problems) find it.

    ``load(name, seed=..., fractions=..., standardize=...)`` then returns
    :func:`from_arrays` of these rows: the same deterministic (stratified) split for the same
    seed. The arrays are checked now (a :class:`ValueError` names the problem) and copied, so
    later changes to ``x`` and ``y`` do not change the dataset.

    Example (registers globally, so not run as a doctest)::

        data.register_arrays("my-set", x, y, task="classification")
        ds = data.load("my-set", seed=3)
    """
    x, y, task = _own_rows(x, y, task, f"dataset {name!r}")
    x, y = x.copy(), y.copy()

    def loader(*, seed: int, fractions: tuple[float, float, float], standardize: bool):
        return from_arrays(
            x, y, task=task, n_classes=n_classes, seed=seed, fractions=fractions,
            standardize=standardize, name=name,
        )  # fmt: skip

    loader.__doc__ = f"Your own arrays registered as {name!r}: {x.shape[0]} rows, {task}."
    register(name)(loader)
