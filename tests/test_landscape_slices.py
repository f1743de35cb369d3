"""Slices and directions against numpy float64 and exact algebra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optlab import landscape as ls
from optlab import mlp

SIZES = (4, 6, 5, 3)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, SIZES[0])).astype(np.float32)
    y = rng.normal(size=(40, SIZES[-1])).astype(np.float32)
    params = mlp.init(jax.random.key(0), SIZES)
    # non-zero biases so that bias normalization is visible
    params = [
        {"w": p["w"], "b": jnp.asarray(rng.normal(size=p["b"].shape), jnp.float32)} for p in params
    ]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(p):
        return jnp.mean((mlp.apply(p, xj) - yj) ** 2)

    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    return params, loss, x, y, d1, d2


def _np_loss(params, x, y):
    h = x.astype(np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if i < len(params) - 1:
            h = np.maximum(h, 0.0)
    return np.mean((h - y.astype(np.float64)) ** 2)


def _np_point(params, d1, d2, a, b):
    return [
        {k: np.asarray(p[k], np.float64) + a * np.asarray(u[k]) + b * np.asarray(v[k]) for k in p}
        for p, u, v in zip(params, d1, d2, strict=True)
    ]


@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_slice_2d_matches_numpy_float64(setup, batch_size):
    params, loss, x, y, d1, d2 = setup
    alphas = np.linspace(-1, 1, 5)
    betas = np.linspace(-0.5, 1.5, 4)
    out = ls.slice_2d(loss, params, d1, d2, alphas, betas, batch_size=batch_size)
    assert out.shape == (5, 4)
    ref = np.array(
        [[_np_loss(_np_point(params, d1, d2, a, b), x, y) for b in betas] for a in alphas]
    )
    np.testing.assert_allclose(out, ref, rtol=2e-5)


def test_slice_2d_float64_and_slice_1d(setup):
    params, loss, x, y, d1, d2 = setup
    alphas = np.linspace(-1, 1, 3)
    out64 = ls.slice_2d(loss, params, d1, d2, alphas, alphas, dtype="float64")
    zero = jax.tree_util.tree_map(jnp.zeros_like, d2)
    ref = np.array(
        [[_np_loss(_np_point(params, d1, d2, a, b), x, y) for b in alphas] for a in alphas]
    )
    # params/data are float32 values; in float64 the only error left is summation order
    np.testing.assert_allclose(out64, ref, rtol=1e-6)
    line = ls.slice_1d(loss, params, d1, alphas)
    ref1 = [_np_loss(_np_point(params, d1, zero, a, 0.0), x, y) for a in alphas]
    np.testing.assert_allclose(line, ref1, rtol=2e-5)
    assert jnp.zeros(1).dtype == jnp.float32  # x64 was not left enabled


def test_filter_normalization(setup):
    params, *_ = setup
    d1, d2 = ls.random_directions(jax.random.key(5), params, "filter")
    for dl, pl in zip(d1, params, strict=True):
        # each filter (column w[:, j], one output unit) has the norm of the params' filter
        np.testing.assert_allclose(
            np.linalg.norm(np.asarray(dl["w"]), axis=0),
            np.linalg.norm(np.asarray(pl["w"]), axis=0),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            np.linalg.norm(np.asarray(dl["b"])), np.linalg.norm(np.asarray(pl["b"])), rtol=1e-5
        )
    # the two directions are different draws
    assert not np.allclose(np.asarray(d1[0]["w"]), np.asarray(d2[0]["w"]))
    dz, _ = ls.random_directions(jax.random.key(5), params, "filter", ignore_biases=True)
    assert all(np.all(np.asarray(layer["b"]) == 0) for layer in dz)
    np.testing.assert_allclose(np.asarray(dz[0]["w"]), np.asarray(d1[0]["w"]))


def test_layer_and_no_normalization_and_orthogonalize(setup):
    params, *_ = setup
    dl, _ = ls.random_directions(jax.random.key(2), params, "layer")
    for a, b in zip(jax.tree_util.tree_leaves(dl), jax.tree_util.tree_leaves(params), strict=True):
        np.testing.assert_allclose(np.linalg.norm(a), np.linalg.norm(b), rtol=1e-5)
    dn, _ = ls.random_directions(jax.random.key(2), params, "none")
    flat = np.concatenate([np.ravel(v) for v in jax.tree_util.tree_leaves(dn)])
    assert abs(flat.mean()) < 0.2 and abs(flat.std() - 1) < 0.2
    o1, o2 = ls.random_directions(jax.random.key(3), params, "filter", orthogonalize=True)
    st = ls.direction_stats(params, o1, o2)
    assert abs(st["cosine"]) < 1e-6
    with pytest.raises(ValueError, match="normalization"):
        ls.random_directions(jax.random.key(0), params, "bogus")


def test_pca_directions_orthonormal_and_projection_exact():
    rng = np.random.default_rng(1)
    center = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    u = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    v = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    coef = rng.normal(size=(12, 2))
    coef[-1] = 0.0  # last snapshot is the centre
    snaps = [
        jax.tree_util.tree_map(
            lambda c, x, y, i=i: c + coef[i, 0] * x + coef[i, 1] * y, center, u, v
        )
        for i in range(12)
    ]
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *snaps)
    pca = ls.pca_directions(stacked)
    V = np.stack(
        [
            np.concatenate([np.ravel(t) for t in jax.tree_util.tree_leaves(d)])
            for d in (pca.d1, pca.d2)
        ]
    )
    np.testing.assert_allclose(V @ V.T, np.eye(2), atol=1e-6)
    np.testing.assert_allclose(pca.explained_variance_ratio.sum(), 1.0, atol=1e-6)
    assert pca.explained_variance_ratio[0] >= pca.explained_variance_ratio[1]
    # the trajectory lies in the plane: residuals vanish, and projecting onto (u, v) gives
    # back the known coefficients
    proj = ls.project_trajectory(stacked, pca.center, pca.d1, pca.d2)
    assert proj.relative_residual.max() < 1e-6
    proj_uv = ls.project_trajectory(ls.stack_snapshots(snaps), center, u, v)
    np.testing.assert_allclose(proj_uv.coords, coef, atol=1e-8)


def test_plane_and_line_through_points(setup):
    params, loss, x, y, *_ = setup
    rng = np.random.default_rng(2)
    others = [
        jax.tree_util.tree_map(
            lambda t: t + 0.3 * rng.normal(size=t.shape).astype(np.float32), params
        )
        for _ in range(2)
    ]
    plane = ls.plane_through(params, others[0], others[1])
    for pt, c in zip([params, *others], plane.coords, strict=True):
        rebuilt = jax.tree_util.tree_map(
            lambda o, a, b, c=c: (
                np.asarray(o, np.float64)
                + c[0] * np.asarray(a, np.float64)
                + c[1] * np.asarray(b, np.float64)
            ),
            plane.origin,
            plane.d1,
            plane.d2,
        )
        for r, t in zip(
            jax.tree_util.tree_leaves(rebuilt), jax.tree_util.tree_leaves(pt), strict=True
        ):
            np.testing.assert_allclose(r, t, atol=1e-5)
    st = ls.direction_stats(params, plane.d1, plane.d2)
    assert abs(st["cosine"]) < 1e-6 and st["d1_norm"] == pytest.approx(st["d2_norm"], rel=1e-6)
    origin, d = ls.line_through(params, others[0])
    vals = ls.slice_1d(loss, origin, d, [-0.5, 0.0, 1.0, 1.5])
    np.testing.assert_allclose(vals[1], _np_loss(params, x, y), rtol=2e-5)
    np.testing.assert_allclose(vals[2], _np_loss(others[0], x, y), rtol=2e-5)
    extra = jax.tree_util.tree_map(
        lambda a, b: 1.5 * np.asarray(b) - 0.5 * np.asarray(a), params, others[0]
    )
    np.testing.assert_allclose(vals[3], _np_loss(extra, x, y), rtol=2e-5)


def test_compute_slice_metadata_and_roundtrip(setup, tmp_path):
    params, loss, x, y, d1, d2 = setup
    s = ls.compute_slice(
        loss,
        params,
        d1,
        d2,
        np.linspace(-1, 1, 4),
        np.linspace(-2, 2, 3),
        metadata={"seed": 1, "normalization": "filter"},
    )

    def flat(t):
        return np.concatenate(
            [np.ravel(np.asarray(v, np.float64)) for v in jax.tree_util.tree_leaves(t)]
        )  # noqa: E731

    p, u, v = flat(params), flat(d1), flat(d2)
    md = s.metadata
    assert md["cosine"] == pytest.approx(u @ v / np.linalg.norm(u) / np.linalg.norm(v), rel=1e-6)
    assert md["step_relative"] == pytest.approx(
        max(np.linalg.norm(u), 2 * np.linalg.norm(v)) / np.linalg.norm(p), rel=1e-6
    )
    assert md["seed"] == 1 and md["resolution"] == [4, 3]
    stem = ls.save_slice(tmp_path / "s", s, arrays={"traj": np.zeros((3, 2))})
    back, extra = ls.load_slice(stem)
    np.testing.assert_array_equal(back.values, s.values)
    np.testing.assert_array_equal(back.alphas, s.alphas)
    assert back.metadata["normalization"] == "filter" and extra["traj"].shape == (3, 2)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert set(z.files) == {"alphas", "betas", "values", "traj"}


def test_bad_slice_input(setup):
    params, loss, x, y, d1, d2 = setup
    with pytest.raises(ValueError, match="d2"):
        ls.slice_2d(loss, params, d1, d2[:-1], [0.0], [0.0])
    bad = jax.tree_util.tree_map(lambda t: t, d2)
    bad[0] = {"w": bad[0]["w"][:, :2], "b": bad[0]["b"]}
    with pytest.raises(ValueError, match="d2 leaf"):
        ls.slice_2d(loss, params, d1, bad, [0.0], [0.0])
    with pytest.raises(ValueError, match="alphas"):
        ls.slice_2d(loss, params, d1, d2, [0.0, np.nan], [0.0])
    with pytest.raises(ValueError, match="betas"):
        ls.slice_2d(loss, params, d1, d2, [0.0], [])
    with pytest.raises(ValueError, match="batch_size"):
        ls.slice_2d(loss, params, d1, d2, [0.0], [0.0], batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        ls.slice_2d(loss, params, d1, d2, [0.0], [0.0], dtype="float16")


def test_nonfinite_losses_pass_through():
    f = lambda p: jnp.where(p[0] > 0.5, jnp.nan, jnp.sum(p**2))  # noqa: E731
    out = ls.slice_1d(f, jnp.zeros(2), jnp.array([1.0, 0.0]), np.linspace(0, 1, 5))
    assert np.isnan(out[-1]) and np.isnan(out[-2]) and out[0] == 0.0


def test_auto_batch_size_scales_with_cost():
    small = ls.auto_batch_size(lambda p: jnp.sum(p**2), jnp.zeros(3), 10_000)
    x = jnp.ones((2048, 64))
    big_params = mlp.init(jax.random.key(0), (64, 128, 128, 10))
    big = ls.auto_batch_size(lambda p: jnp.mean(mlp.apply(p, x) ** 2), big_params, 2601)
    assert small >= 100 and 1 <= big <= 16


def test_second_slice_does_not_recompile(setup):
    from optlab.landscape.slices import _eval_points

    params, loss, x, y, d1, d2 = setup
    a = np.linspace(-1, 1, 4)
    ls.slice_2d(loss, params, d1, d2, a, a, batch_size=2)
    n = _eval_points._cache_size()
    ls.slice_2d(loss, params, d2, d1, a + 0.5, a, batch_size=2)  # new values, same shapes
    assert _eval_points._cache_size() == n


def test_parallel_subchunks_with_padding(setup):
    from optlab.landscape.slices import _eval_points

    params, loss, x, y, d1, d2 = setup
    pts = np.random.default_rng(3).uniform(-1, 1, size=(23, 2))
    out = np.asarray(_eval_points(loss, params, (d1, d2), jnp.asarray(pts, jnp.float32), 3, 2))
    ref = [_np_loss(_np_point(params, d1, d2, a, b), x, y) for a, b in pts]
    np.testing.assert_allclose(out, ref, rtol=2e-5)


_SHARDED_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
from optlab import distributed, landscape as ls, mlp
from optlab.landscape import slices
assert jax.device_count() == 4
rng = np.random.default_rng(0)
x = rng.normal(size=(30, 3)).astype(np.float32)
p = mlp.init(jax.random.key(0), (3, 4, 1))
loss = lambda q: jnp.mean(mlp.apply(q, jnp.asarray(x)) ** 2)
d1, d2 = ls.random_directions(jax.random.key(1), p)
a = np.linspace(-1, 1, 7)
builds = slices._PER_DEVICE.builds
out = ls.slice_2d(loss, p, d1, d2, a, a)  # 49 points over 4 devices (padded to 52)
assert slices._PER_DEVICE.builds == builds + 1  # the sharded path was taken
def np_loss(alpha, beta):
    h = x.astype(np.float64)
    for i, (l, u, v) in enumerate(zip(p, d1, d2)):
        w = np.asarray(l["w"], np.float64) + alpha * np.asarray(u["w"]) + beta * np.asarray(v["w"])
        b = np.asarray(l["b"], np.float64) + alpha * np.asarray(u["b"]) + beta * np.asarray(v["b"])
        h = h @ w + b
        if i == 0:
            h = np.maximum(h, 0)
    return np.mean(h ** 2)
ref = np.array([[np_loss(i, j) for j in a] for i in a])
np.testing.assert_allclose(out, ref, rtol=2e-5)
ls.slice_2d(loss, p, d2, d1, a + 0.5, a)  # same function and shapes: nothing rebuilt
assert slices._PER_DEVICE.builds == builds + 1
# each device holds its own share of the result
fn = slices._per_device(loss, 4, 1)
res = distributed.shard_batched(fn, jnp.zeros((32, 2)), p, (d1, d2))
assert len(res.sharding.device_set) == 4
print("ok")
"""


def test_slice_sharded_over_devices():
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run(
        [sys.executable, "-c", _SHARDED_SCRIPT], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_save_slice_either_argument_order(tmp_path):
    a = np.linspace(-1, 1, 5)
    s = ls.Slice(a, a, np.add.outer(a, a) ** 2, {"note": "x"})
    ls.save_slice(s, tmp_path / "one")  # the order a user may guess
    ls.save_slice(tmp_path / "two", s)
    for stem in ("one", "two"):
        back, _ = ls.load_slice(tmp_path / stem)
        np.testing.assert_array_equal(back.values, s.values)
    with pytest.raises(TypeError, match=r"save_slice\(path, slice\) takes a file path"):
        ls.save_slice(tmp_path / "x", {"values": 1})


def test_auto_batch_size_is_wider_on_an_accelerator(monkeypatch):
    # on a GPU/TPU the chunk budgets grow by ACCELERATOR_CHUNK_FACTOR (the cost estimate is
    # cached, so only the backend changes between the two calls)
    from optlab.landscape import slices

    x = jnp.ones((2048, 64))
    params = mlp.init(jax.random.key(0), (64, 128, 128, 10))

    def loss(p):
        return jnp.mean(mlp.apply(p, x) ** 2)

    cpu = ls.auto_batch_size(loss, params, 2601)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    gpu = ls.auto_batch_size(loss, params, 2601)
    assert gpu >= cpu * slices.ACCELERATOR_CHUNK_FACTOR // 2 and gpu > cpu
