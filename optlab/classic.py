"""The classic hand-set 2-3-1 ReLU network that adds two numbers.

The network of the well-known introduction to neural networks: inputs ``a, b``, hidden ReLU
units ``c, d, e``, linear output ``f``. Its weights (``w_ac`` is the weight from ``a`` to ``c``)
make ``f ≈ a + b`` for non-negative inputs; ``d`` is nearly always negative before the ReLU, so
it is switched off, and ``c`` and ``e`` carry the sum. It is one of infinitely many weight
settings that add: any rescaling ``w_in * s, w_out / s`` of a hidden unit (ReLU is positively
homogeneous), any permutation of the hidden units, and any split of the sum between ``c`` and
``e`` gives another.

Example:
    >>> import jax.numpy as jnp
    >>> from optlab import classic, mlp
    >>> round(float(mlp.apply(classic.adder_params(), jnp.array([2.0, 2.0]))[0]), 2)
    3.99
"""

from __future__ import annotations

from optlab import mlp

#: The hand-set weights, named as in the article (inputs a, b; hidden c, d, e; output f).
ADDER_WEIGHTS = {
    "w_ac": 0.9907079, "w_ad": 0.01417504, "w_ae": 0.88046944,
    "w_bc": 1.0264927, "w_bd": -0.8950311, "w_be": 0.7524377,
    "w_cf": 0.794296, "w_df": 1.1687347, "w_ef": 0.2406084,
    "b_c": -0.00070612, "b_d": -0.06846002, "b_e": -0.00055442, "b_f": -0.00000929,
}  # fmt: skip


def adder_params(weights: dict[str, float] | None = None) -> mlp.Params:
    """The hand-set adding network as ``optlab.mlp`` params (sizes ``(2, 3, 1)``)."""
    w = dict(ADDER_WEIGHTS if weights is None else weights)
    hidden = ("c", "d", "e")
    return mlp.from_weights([
        ([[w[f"w_{i}{h}"] for h in hidden] for i in ("a", "b")], [w[f"b_{h}"] for h in hidden]),
        ([[w[f"w_{h}f"]] for h in hidden], [w["b_f"]]),
    ])  # fmt: skip


def named_weights(params: mlp.Params) -> dict[str, float]:
    """The inverse of :func:`adder_params`: ``{"w_ac": ..., "b_f": ...}`` for 2-3-1 params."""
    if mlp.sizes_of(params) != (2, 3, 1):
        raise ValueError(f"expected a 2-3-1 network, got sizes {mlp.sizes_of(params)}")
    hidden = ("c", "d", "e")
    out = {}
    for r, i in enumerate(("a", "b")):
        for c, h in enumerate(hidden):
            out[f"w_{i}{h}"] = float(params[0]["w"][r, c])
    for c, h in enumerate(hidden):
        out[f"w_{h}f"] = float(params[1]["w"][c, 0])
        out[f"b_{h}"] = float(params[0]["b"][c])
    out["b_f"] = float(params[1]["b"][0])
    return out
