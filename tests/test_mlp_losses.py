"""optlab.mlp and optlab.losses against numpy float64 references and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optlab import losses, mlp


def np_forward(params, x, act=lambda h: np.maximum(h, 0.0)):
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if i < len(params) - 1:
            h = act(h)
    return h


def test_init_shapes_and_contract():
    params = mlp.init(jax.random.key(0), (2, 3, 1))
    assert [p["w"].shape for p in params] == [(2, 3), (3, 1)]
    assert [p["b"].shape for p in params] == [(3,), (1,)]
    assert mlp.sizes_of(params) == (2, 3, 1)
    assert mlp.num_params(params) == 2 * 3 + 3 + 3 + 1


@pytest.mark.parametrize("scheme,var", [("he", 2 / 400), ("glorot", 2 / 700), ("lecun", 1 / 400)])
def test_init_variance(scheme, var):
    w = np.asarray(mlp.init(jax.random.key(1), (400, 300), scheme=scheme)[0]["w"], np.float64)
    # 120k samples: the empirical variance is within ~1% of the target.
    assert abs(w.var() / var - 1) < 0.03
    assert abs(w.mean()) < 0.01 * np.sqrt(var) * 10


def test_init_keys_differ_per_layer_and_seed():
    a = mlp.init(jax.random.key(0), (5, 5, 5))
    b = mlp.init(jax.random.key(1), (5, 5, 5))
    assert not np.allclose(a[0]["w"], a[1]["w"])
    assert not np.allclose(a[0]["w"], b[0]["w"])


@pytest.mark.parametrize("batch_shape", [(), (7,), (3, 4)])
def test_apply_matches_numpy(batch_shape):
    params = mlp.init(jax.random.key(2), (4, 8, 6, 3))
    params = jax.tree_util.tree_map(lambda p: p + 0.1, params)  # non-zero biases
    x = np.random.default_rng(0).standard_normal((*batch_shape, 4)).astype(np.float32)
    out = mlp.apply(params, jnp.asarray(x))
    assert out.shape == (*batch_shape, 3)
    np.testing.assert_allclose(out, np_forward(params, x), rtol=1e-5, atol=1e-5)


def test_apply_other_activation():
    params = mlp.init(jax.random.key(3), (3, 5, 2))
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(
        mlp.apply(params, jnp.asarray(x), activation="tanh"),
        np_forward(params, x, np.tanh),
        rtol=1e-5,
        atol=1e-6,
    )


def test_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        params = mlp.init(jax.random.key(4), (3, 4, 1), dtype=jnp.float64)
        params = jax.tree_util.tree_map(lambda p: p + 0.05, params)
        x = jnp.asarray(np.random.default_rng(2).standard_normal((10, 3)))
        y = jnp.asarray(np.random.default_rng(3).standard_normal((10, 1)))
        grads = jax.grad(lambda p: losses.mse(mlp.apply(p, x), y))(params)
        w = np.asarray(params[0]["w"])
        eps = 1e-6
        for idx in [(0, 0), (1, 2), (2, 3)]:

            def f(val, idx=idx):
                p = [dict(layer) for layer in params]
                wp = w.copy()
                wp[idx] = val
                p[0]["w"] = wp
                return np.mean((np_forward(p, np.asarray(x)) - np.asarray(y)) ** 2)

            fd = (f(w[idx] + eps) - f(w[idx] - eps)) / (2 * eps)
            np.testing.assert_allclose(grads[0]["w"][idx], fd, rtol=1e-6, atol=1e-9)


def test_apply_rejects_wrong_feature_size():
    params = mlp.init(jax.random.key(0), (2, 3, 1))
    with pytest.raises(ValueError, match="input feature size 5.*input size 2"):
        mlp.apply(params, jnp.ones((4, 5)))


@pytest.mark.parametrize("bad", [(2,), (2, 0, 1), ()])
def test_init_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="sizes"):
        mlp.init(jax.random.key(0), bad)


def test_unknown_activation_and_scheme():
    params = mlp.init(jax.random.key(0), (2, 3, 1))
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        mlp.apply(params, jnp.ones((1, 2)), activation="swishy")
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'.*glorot"):
        mlp.init(jax.random.key(0), (2, 3), scheme="xavier")


# ---------------------------------------------------------------------------------- losses
rng = np.random.default_rng(10)


def np_logsumexp(z):
    m = z.max(-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))[..., 0]


def test_mse():
    p, t = rng.standard_normal((9, 2)), rng.standard_normal((9, 2))
    np.testing.assert_allclose(
        losses.mse(jnp.asarray(p), jnp.asarray(t)), np.mean((p - t) ** 2), rtol=1e-6
    )


def test_softmax_cross_entropy_matches_numpy_and_is_stable():
    z = rng.standard_normal((12, 5)) * 3
    y = rng.integers(0, 5, 12)
    ref = np.mean(np_logsumexp(z) - z[np.arange(12), y])
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(jnp.asarray(z, jnp.float32), jnp.asarray(y)), ref, rtol=1e-5
    )
    # Huge logits: the exact value is the logit gap.
    big = jnp.asarray([[1e4, 0.0, -1e4]], jnp.float32)
    np.testing.assert_allclose(losses.softmax_cross_entropy(big, jnp.asarray([1])), 1e4, rtol=1e-6)
    assert np.isfinite(losses.softmax_cross_entropy(big, jnp.asarray([0])))


def test_binary_cross_entropy_matches_numpy_and_is_stable():
    z = rng.standard_normal(20) * 4
    y = (rng.random(20) > 0.5).astype(np.float64)
    sig = 1 / (1 + np.exp(-z))
    ref = -np.mean(y * np.log(sig) + (1 - y) * np.log(1 - sig))
    np.testing.assert_allclose(
        losses.binary_cross_entropy(jnp.asarray(z, jnp.float32), jnp.asarray(y)), ref, rtol=1e-5
    )
    np.testing.assert_allclose(
        losses.binary_cross_entropy(jnp.asarray([200.0]), jnp.asarray([0.0])), 200.0, rtol=1e-6
    )


def test_accuracy():
    z = rng.standard_normal((50, 4))
    y = rng.integers(0, 4, 50)
    np.testing.assert_allclose(
        losses.accuracy(jnp.asarray(z), jnp.asarray(y)), np.mean(z.argmax(1) == y)
    )
    zb = rng.standard_normal(30)
    yb = (rng.random(30) > 0.5).astype(np.float32)
    np.testing.assert_allclose(
        losses.binary_accuracy(jnp.asarray(zb), jnp.asarray(yb)), np.mean((zb > 0) == (yb > 0.5))
    )


def test_cross_entropy_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels shape"):
        losses.softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))
