"""Conv-net problems: an :mod:`optlab.cnn` network on an image :mod:`optlab.data` set.

:func:`cnn_problem` builds the problem for any dataset whose rows are flattened images
(``(n, H * W * C)``, reshaped to NHWC inside ``apply``), with the loss and metrics of its task
(as :func:`optlab.problems.mlp_problem`). The registered ones are rows of :data:`SPECS`, all
registered by one loop with one factory body:

- ``mnist-5k-cnn``: DeepOBS's ``mnist_2c2d`` on the 5,000 MNIST digits: two 5x5 conv layers
  with 32 and 64 filters, each followed by ReLU and 2x2 max-pooling, a 1024-unit ReLU dense
  layer and 10 outputs (softmax CE, batch 128).
- ``digits-cnn``: the same 2c2d shape scaled to scikit-learn's 8x8 digits: 3x3 kernels with
  16 and 32 filters (8x8 -> 4x4 -> 2x2), a 128-unit dense layer, 10 outputs (batch 128).

Every CNN problem takes the options ``channels``, ``dense``, ``kernel_size``, ``batch_size``,
``data_seed``, the dataset's own options, ``fractions``, ``standardize``, ``learning_rate``
and ``init_scheme``. Initialization is optlab's (He normal kernels, zero biases), not
DeepOBS's truncated normal with 0.05 biases.

References:
    F. Schneider, L. Balles, P. Hennig. DeepOBS: A Deep Learning Optimizer Benchmark Suite.
    ICLR 2019, arXiv:1903.05499.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax

from optlab import cnn as cnn_lib
from optlab.data import Dataset
from optlab.problems.core import (
    Problem,
    dataset_defaults,
    load_dataset,
    network_problem,
    register_specs,
)

__all__ = ["SPECS", "CNNSpec", "cnn_problem"]


def cnn_problem(
    name: str,
    ds: Dataset,
    *,
    image_shape: Sequence[int],
    channels: Sequence[int] = (32, 64),
    dense: Sequence[int] = (1024,),
    kernel_size: int = 5,
    batch_size: int | None = 128,
    learning_rate: float = 1e-3,
    init_scheme: str = "he",
    description: str = "",
    config: Mapping[str, Any] | None = None,
) -> Problem:
    """A conv net (:mod:`optlab.cnn`) on dataset ``ds`` of flattened images.

    The loss and metrics follow the task, as for :func:`optlab.problems.mlp_problem`
    (classification: softmax cross-entropy and ``accuracy``). ``apply(params, x)`` takes rows
    of shape ``(..., H * W * C)`` and reshapes them to ``(..., H, W, C)``.

    Args:
      name: problem name.
      ds: the dataset; ``ds.n_features`` must equal ``H * W * C``.
      image_shape: ``(H, W, C)`` of one image.
      channels: filters per conv block (default DeepOBS 2c2d's ``(32, 64)``).
      dense: hidden widths of the dense head (default ``(1024,)``).
      kernel_size: side of the square kernels (default 5).
      batch_size: training batch size, None for full batch.
      learning_rate: default (Adam) learning rate recorded on the problem.
      init_scheme: ``"he"``, ``"glorot"`` or ``"lecun"``.
      description: one line.
      config: options recorded on the problem.

    Returns:
      A :class:`Problem` (``sizes`` is None: it is not an MLP, so sweeps and slices never take
      the MLP-only lanes path).
    """
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError):
        raise TypeError(f"image_shape must be (H, W, C) ints, got {image_shape!r}") from None
    if len(shape) != 3 or math.prod(shape) != ds.n_features:
        raise ValueError(
            f"image_shape={image_shape!r} does not fit the {ds.name!r} rows of "
            f"{ds.n_features} features; give (H, W, C) with H * W * C = {ds.n_features}"
        )
    _, channels, dense, kernel_size, _, n_out = cnn_lib.architecture(
        shape, channels, dense, ds.n_outputs, kernel_size=kernel_size
    )

    def apply(params, x):
        return cnn_lib.apply(params, x.reshape((*x.shape[:-1], *shape)))

    init = jax.jit(
        lambda key: cnn_lib.init(
            key, shape, channels, dense, n_out, kernel_size=kernel_size, scheme=init_scheme
        )
    )
    return network_problem(
        name, ds, apply=apply, init=init, batch_size=batch_size, learning_rate=learning_rate,
        init_scheme=init_scheme, description=description, config=config,
    )  # fmt: skip


# --------------------------------------------------------------------------- the registered ones


class CNNSpec(NamedTuple):
    """One registered CNN problem.

    Attributes:
      name: problem name.
      dataset: :func:`optlab.data.load` name.
      description: one line, formatted with the problem's options.
      image_shape: ``(H, W, C)`` of the dataset's rows.
      channels: default filters per conv block.
      dense: default hidden widths of the dense head.
      kernel_size: default kernel side.
      batch_size: default training batch size.
      learning_rate: default (Adam) learning rate, measured in docs/problems.md.
      data_options: the dataset's options offered by the problem, with their defaults.
    """

    name: str
    dataset: str
    description: str
    image_shape: tuple[int, int, int]
    channels: tuple[int, ...]
    dense: tuple[int, ...]
    kernel_size: int
    batch_size: int | None
    learning_rate: float
    data_options: Mapping[str, Any] = {}


# Adam learning rates measured in docs/problems.md ("Measured").
LR_MNIST_CNN = 3e-3  # measured: best validation accuracy of 3 rates, 60 steps (docs/problems.md)
LR_DIGITS_CNN = 1e-2

SPECS: tuple[CNNSpec, ...] = (
    CNNSpec(
        "mnist-5k-cnn", "mnist-5k",
        "5,000 real MNIST digits, 2c2d conv net: 5x5 conv 32 and 64 filters with 2x2 "
        "max-pooling, dense 1024, 10 outputs (softmax CE, batch 128; DeepOBS mnist_2c2d)",
        image_shape=(28, 28, 1), channels=(32, 64), dense=(1024,), kernel_size=5,
        batch_size=128, learning_rate=LR_MNIST_CNN, data_options={"path": None},
    ),
    CNNSpec(
        "digits-cnn", "digits",
        "1,797 real 8x8 digits, 2c2d-style conv net: 3x3 conv 16 and 32 filters with 2x2 "
        "max-pooling, dense 128, 10 outputs (softmax CE, batch 128)",
        image_shape=(8, 8, 1), channels=(16, 32), dense=(128,), kernel_size=3,
        batch_size=128, learning_rate=LR_DIGITS_CNN,
    ),
)  # fmt: skip


def _defaults(spec: CNNSpec) -> dict[str, Any]:
    """Every option of ``spec``'s problem with its default, in the order :func:`options` lists."""
    return {
        "channels": spec.channels,
        "dense": spec.dense,
        "kernel_size": spec.kernel_size,
        **dataset_defaults(spec),
    }


def _build(spec: CNNSpec, opts: dict[str, Any]) -> Problem:
    """The problem of table row ``spec`` with options ``opts``."""
    ds = load_dataset(spec, opts)
    return cnn_problem(
        spec.name,
        ds,
        image_shape=spec.image_shape,
        channels=opts["channels"],
        dense=opts["dense"],
        kernel_size=opts["kernel_size"],
        batch_size=opts["batch_size"],
        learning_rate=opts["learning_rate"],
        init_scheme=opts["init_scheme"],
        description=spec.description.format(**opts),
        config=opts,
    )


register_specs(SPECS, defaults=_defaults, build=_build)
