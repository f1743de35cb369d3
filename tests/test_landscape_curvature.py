"""Curvature against the dense Hessian (numpy.linalg.eigh) and exact traces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from optlab import landscape as ls
from optlab import mlp


@pytest.fixture(scope="module")
def small_mlp():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(25, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(25, 2)), jnp.float32)
    params = mlp.init(jax.random.key(0), (3, 6, 2), scheme="glorot")

    def loss(p):
        return jnp.mean((mlp.apply(p, x, "tanh") - y) ** 2)

    # dense Hessian in float64 through the flattened vector
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda t: jnp.asarray(t, jnp.float64), params)
        flat, unravel = ravel_pytree(p64)
        x64, y64 = jnp.asarray(np.asarray(x), jnp.float64), jnp.asarray(np.asarray(y), jnp.float64)
        H = np.asarray(
            jax.hessian(lambda f: jnp.mean((mlp.apply(unravel(f), x64, "tanh") - y64) ** 2))(flat)
        )
    jax.clear_caches()
    return params, loss, H


def test_hvp_matches_dense_hessian(small_mlp):
    params, loss, H = small_mlp
    v = jax.tree_util.tree_map(lambda t: jnp.ones_like(t) * 0.5, params)
    hv = ravel_pytree(ls.hvp(loss, params, v))[0]
    np.testing.assert_allclose(np.asarray(hv), H @ np.full(H.shape[0], 0.5), rtol=1e-4, atol=1e-5)


def test_lanczos_matches_eigh(small_mlp):
    params, loss, H = small_mlp
    ev = np.linalg.eigh(H)
    n = H.shape[0]
    eig = ls.lanczos(loss, params, k=3, num_iter=n, dtype="float64")
    np.testing.assert_allclose(eig.values, ev.eigenvalues[::-1][:3], rtol=1e-8, atol=1e-10)
    # eigenvectors agree up to sign
    v0 = ravel_pytree(eig.vectors[0])[0]
    assert abs(float(np.asarray(v0) @ ev.eigenvectors[:, -1])) == pytest.approx(1.0, abs=1e-6)
    low = ls.lanczos(loss, params, k=2, num_iter=n, which="smallest", dtype="float64")
    np.testing.assert_allclose(low.values, ev.eigenvalues[:2], atol=1e-8)
    # float32 with a short Krylov space still finds the top eigenvalue
    quick = ls.lanczos(loss, params, k=1, num_iter=20)
    assert quick.values[0] == pytest.approx(ev.eigenvalues[-1], rel=1e-3)


def test_hessian_directions_are_top_eigenvectors(small_mlp):
    params, loss, H = small_mlp
    d1, d2, vals = ls.hessian_directions(loss, params, num_iter=H.shape[0], dtype="float64")
    u = np.asarray(ravel_pytree(d1)[0], np.float64)
    w = np.asarray(ravel_pytree(d2)[0], np.float64)
    ev = np.linalg.eigh(H)
    np.testing.assert_allclose(H @ u, vals[0] * u, atol=1e-6)
    np.testing.assert_allclose(H @ w, vals[1] * w, atol=1e-6)
    assert vals[0] == pytest.approx(ev.eigenvalues[-1], rel=1e-8)


def test_hutchinson_exact_for_diagonal_hessian():
    c = {"a": jnp.arange(1.0, 7.0).reshape(2, 3), "b": jnp.array([0.5, -2.0])}

    def loss(p):
        return 0.5 * sum(
            jnp.sum(ci * pi**2)
            for ci, pi in zip(
                jax.tree_util.tree_leaves(c), jax.tree_util.tree_leaves(p), strict=False
            )
        )  # noqa: E731

    params = jax.tree_util.tree_map(jnp.ones_like, c)
    est = ls.hutchinson_trace(loss, params, key=jax.random.key(0), num_probes=5)
    # Rademacher probes: z^T D z = tr D exactly, for every probe
    np.testing.assert_allclose(est.samples, 21.0 - 1.5, rtol=1e-6)


def test_hutchinson_close_to_exact_trace(small_mlp):
    params, loss, H = small_mlp
    est = ls.hutchinson_trace(loss, params, key=jax.random.key(1), num_probes=400)
    tr = np.trace(H)
    # the variance of Rademacher Hutchinson is 2 * sum_{i != j} H_ij^2 per probe
    sd = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / 400)
    assert abs(est.mean - tr) < 4 * sd
    assert est.stderr == pytest.approx(sd, rel=0.3)


def test_slq_density(small_mlp):
    params, loss, H = small_mlp
    grid, dens, nodes = ls.spectral_density(
        loss, params, key=jax.random.key(2), num_probes=3, num_iter=H.shape[0], dtype="float64"
    )
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-3)
    ev = np.linalg.eigvalsh(H)
    # with a full Krylov space the quadrature nodes are exactly the eigenvalues
    th = nodes["theta"][0]
    np.testing.assert_allclose(np.sort(th[np.isfinite(th)]), ev, atol=1e-7)


def test_sharpness_at_points(small_mlp):
    params, loss, H = small_mlp
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    s = ls.sharpness_at(loss, params, zero, zero, [[0.0, 0.0]], num_iter=H.shape[0])
    assert s[0] == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-4)


def test_bad_curvature_input(small_mlp):
    params, loss, _ = small_mlp
    with pytest.raises(ValueError, match="k must"):
        ls.lanczos(loss, params, k=0)
    with pytest.raises(ValueError, match="which"):
        ls.lanczos(loss, params, which="middle")
    with pytest.raises(ValueError, match="num_probes"):
        ls.hutchinson_trace(loss, params, key=jax.random.key(0), num_probes=0)


def test_residuals_are_true_and_reprs_short(small_mlp):
    """Residuals are ||H v - lambda v|| (checked with the dense Hessian), not the Lanczos
    estimate that drops to round-off; printing shows numbers, not arrays of vectors."""
    params, loss, H = small_mlp
    eig = ls.lanczos(loss, params, k=2, num_iter=12)
    for j in range(2):
        v = np.asarray(ravel_pytree(eig.vectors[j])[0], np.float64)
        want = np.linalg.norm(H @ v - eig.values[j] * v)
        assert eig.residuals[j] == pytest.approx(want, rel=0.05, abs=1e-6)
    r = repr(eig)
    assert r.startswith("Eigen(values=[") and "2 pytrees" in r and len(r) < 200
    t = ls.hutchinson_trace(loss, params, key=jax.random.key(1), num_probes=4)
    assert repr(t).startswith("TraceEstimate(mean=") and "num_probes=4" in repr(t)


def test_curvature_averaged_over_minibatches(small_mlp):
    """Four equal minibatches of a mean loss: the averaged HVP is the full-batch Hessian's
    (dense float64 reference), for Lanczos and Hutchinson, from a fresh-iterator factory."""
    params, _, H = small_mlp
    rng = np.random.default_rng(0)
    x = np.asarray(rng.normal(size=(25, 3)), np.float32)[:24]
    y = np.asarray(rng.normal(size=(25, 2)), np.float32)[:24]

    def loss_b(p, batch):
        bx, by = batch
        return jnp.mean((mlp.apply(p, bx, "tanh") - by) ** 2)

    batches = [(x[i : i + 6], y[i : i + 6]) for i in range(0, 24, 6)]
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda t: jnp.asarray(t, jnp.float64), params)
        flat, unravel = ravel_pytree(p64)
        H24 = np.asarray(
            jax.hessian(lambda f: loss_b(unravel(f), (x.astype(np.float64), y.astype(np.float64))))(
                flat
            )
        )
    jax.clear_caches()
    eig = ls.lanczos(loss_b, params, k=1, num_iter=15, batches=lambda: iter(batches))
    assert eig.values[0] == pytest.approx(np.linalg.eigvalsh(H24)[-1], rel=1e-3)
    tr = ls.hutchinson_trace(loss_b, params, key=jax.random.key(0), num_probes=4, batches=batches)
    z = np.asarray(jax.random.rademacher(jax.random.key(0), (4, H.shape[0]), dtype=jnp.float32))
    np.testing.assert_allclose(tr.samples, np.einsum("pi,ij,pj->p", z, H24, z), rtol=1e-4)
    with pytest.raises(TypeError, match="re-iterable"):
        ls.lanczos(loss_b, params, batches=iter(batches))
