"""Tests for optlab.cnn against a numpy float64 reference written with explicit window loops,
and for the conv nets' place in the landscape code (filter normalization per output filter,
no MLP-only lanes path)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optlab import cnn, lanes, problems
from optlab.landscape import random_directions

# ------------------------------------------------------------------- numpy float64 reference


def np_conv_same(x, w, b):
    """Stride-1 "SAME" convolution (cross-correlation, as in every deep-learning library) of
    NHWC ``x`` with HWIO ``w``, zero padding ``(k - 1) // 2`` before and the rest after."""
    n, height, width, _ = x.shape
    kh, kw, _, c_out = w.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    xp = np.zeros((n, height + kh - 1, width + kw - 1, x.shape[3]))
    xp[:, top : top + height, left : left + width] = x
    out = np.zeros((n, height, width, c_out))
    for i in range(height):
        for j in range(width):
            window = xp[:, i : i + kh, j : j + kw, :]  # (n, kh, kw, c_in)
            out[:, i, j, :] = np.einsum("nhwc,hwco->no", window, w)
    return out + b


def np_max_pool_same(x, p):
    """``p x p`` windows with stride ``p``; the edge padded with -inf, ``total // 2`` before."""
    n, height, width, c = x.shape
    oh, ow = -(-height // p), -(-width // p)
    top, left = (oh * p - height) // 2, (ow * p - width) // 2
    out = np.empty((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * p - top, j * p - left
            rows = slice(max(r0, 0), min(r0 + p, height))
            cols = slice(max(c0, 0), min(c0 + p, width))
            out[:, i, j, :] = x[:, rows, cols, :].max(axis=(1, 2))
    return out


def np_cnn(params, x, pool=2):
    h = np.asarray(x, np.float64)
    for layer in params["conv"]:
        h = np_conv_same(h, np.asarray(layer["w"], np.float64), np.asarray(layer["b"], np.float64))
        h = np_max_pool_same(np.maximum(h, 0.0), pool)
    h = h.reshape(h.shape[0], -1)  # (H, W, C) order
    dense = params["dense"]
    for k, layer in enumerate(dense):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if k < len(dense) - 1:
            h = np.maximum(h, 0.0)
    return h


def _with_random_biases(params, key):
    """Nonzero biases, so the reference also checks where they are added."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    leaves = [
        x + 0.3 * jax.random.normal(k, x.shape, x.dtype) if x.ndim == 1 else x
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, leaves)


@pytest.mark.parametrize(
    "shape, channels, kernel, pool",
    [((7, 6, 2), (3, 4), 3, 2), ((6, 5, 1), (2,), 4, 3)],  # odd sizes: padded windows
)
def test_forward_matches_numpy_float64(shape, channels, kernel, pool):
    with jax.enable_x64(True):
        make = lambda k: cnn.init(  # noqa: E731
            k, shape, channels, (5,), 3, kernel_size=kernel, pool=pool, dtype=jnp.float64
        )
        params = jax.jit(make)(jax.random.key(0))
        params = _with_random_biases(params, jax.random.key(2))
        x = jax.random.normal(jax.random.key(1), (2, *shape), jnp.float64)
        got = np.asarray(jax.jit(lambda p, x: cnn.apply(p, x, pool=pool))(params, x))
    want = np_cnn(jax.tree_util.tree_map(np.asarray, params), np.asarray(x), pool)
    assert got.dtype == np.float64 and got.shape == (2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_max_pool_is_reduce_window_same():
    h = jax.random.normal(jax.random.key(0), (2, 7, 9, 3))
    for p in (2, 3):
        want = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, p, p, 1), (1, p, p, 1), "SAME")
        np.testing.assert_array_equal(np.asarray(cnn.max_pool(h, p)), np.asarray(want))


def test_init_layout_and_he_scale():
    # DeepOBS 2c2d on MNIST; shapes only (eval_shape computes nothing)
    p = jax.eval_shape(lambda k: cnn.init(k, (28, 28, 1)), jax.random.key(0))
    shapes = [(layer["w"].shape, layer["b"].shape) for layer in p["conv"] + p["dense"]]
    assert shapes == [
        ((5, 5, 1, 32), (32,)),
        ((5, 5, 32, 64), (64,)),
        ((7 * 7 * 64, 1024), (1024,)),
        ((1024, 10), (10,)),
    ]
    out = jax.eval_shape(cnn.apply, p, jax.ShapeDtypeStruct((3, 4, 28, 28, 1), jnp.float32))
    assert out.shape == (3, 4, 10)  # any leading batch shape
    small = jax.jit(lambda k: cnn.init(k, (2, 2, 32), (64,), (), 2))(jax.random.key(0))
    w = np.asarray(small["conv"][0]["w"], np.float64)
    assert abs(w.std() / np.sqrt(2.0 / (5 * 5 * 32)) - 1) < 0.02  # He: var 2 / fan_in
    assert not np.any(np.asarray(small["conv"][0]["b"]))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="channels"):
        cnn.init(jax.random.key(0), (8, 8, 1), channels=())
    with pytest.raises(ValueError, match="input_shape"):
        cnn.init(jax.random.key(0), (8, 8))
    with pytest.raises(ValueError, match="scheme"):
        cnn.init(jax.random.key(0), (8, 8, 1), scheme="xavier")
    p = jax.eval_shape(lambda k: cnn.init(k, (8, 8, 1), (2,), (), kernel_size=3), jax.random.key(0))
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W, 1\)"):
        cnn.apply(p, jnp.ones((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="image_shape"):
        problems.cnn_problem("x", problems.get("digits-mlp").data, image_shape=(7, 7, 1))


# ------------------------------------------------------------------- landscape


def test_filter_normalization_per_output_filter_of_hwio_kernels():
    params = jax.jit(lambda k: cnn.init(k, (8, 8, 2), (3, 4), (6,), 5, kernel_size=3))(
        jax.random.key(0)
    )
    d1, d2 = jax.jit(lambda k, p: random_directions(k, p, "filter"))(jax.random.key(1), params)
    for d in (d1, d2):
        for layer, dl in zip(params["conv"], d["conv"], strict=True):
            w, dw = np.asarray(layer["w"], np.float64), np.asarray(dl["w"], np.float64)
            for o in range(w.shape[-1]):  # one filter: the (k, k, c_in) kernel of output o
                np.testing.assert_allclose(
                    np.linalg.norm(dw[..., o]), np.linalg.norm(w[..., o]), rtol=1e-5
                )
            # not per (input, output) slice: those ratios differ
            ratios = np.linalg.norm(dw, axis=(0, 1)) / np.linalg.norm(w, axis=(0, 1))
            assert np.ptp(ratios) > 1e-2
        for layer, dl in zip(params["dense"], d["dense"], strict=True):  # dense: per column
            w, dw = np.asarray(layer["w"], np.float64), np.asarray(dl["w"], np.float64)
            np.testing.assert_allclose(
                np.linalg.norm(dw, axis=0), np.linalg.norm(w, axis=0), rtol=1e-5
            )


def test_conv_problems_never_take_the_mlp_lanes_path():
    from optlab.sweep.engines import choose_method

    p = problems.get("digits-cnn")
    assert lanes.structural_reason(p, full_batch=False) is not None
    assert lanes.lanes_loss(p) is None  # what landscape slices of problem_loss ask
    method, _, reason = choose_method(p, "sgd", 4, batch_size_runs=None)
    assert method != "lanes" and "not an MLP" in reason
