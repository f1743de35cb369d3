"""Slices of problem_loss: the points-along-lanes path against numpy float64."""

import jax
import numpy as np
import pytest

from optlab import landscape as ls
from optlab import problems
from optlab.landscape import slices


def np_mlp(params, x):
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if i < len(params) - 1:
            h = np.maximum(h, 0)
    return h


def np_loss(problem, params, split):
    out = np_mlp(params, split.x)
    y = np.asarray(split.y)
    if problem.data.task == "regression":
        return np.mean((out - y.reshape(out.shape)) ** 2)
    m = out.max(1, keepdims=True)
    lse = (m + np.log(np.exp(out - m).sum(1, keepdims=True)))[:, 0]
    return np.mean(lse - out[np.arange(len(y)), y.astype(int)])


def shifted(params, d1, d2, a, b):
    def one(p, u, v):
        return (
            np.asarray(p, np.float64)
            + a * np.asarray(u, np.float64)
            + b * np.asarray(v, np.float64)
        )

    return jax.tree_util.tree_map(one, params, d1, d2)


CASES = [("adder", "train", True), ("moons-mlp", "val", True), ("digits-mlp", "test", False)]


@pytest.mark.parametrize("name,split,uses_lanes", CASES)
def test_problem_loss_slice_matches_numpy(name, split, uses_lanes):
    problem = problems.get(name)
    params = problem.init(jax.random.key(0))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    alphas, betas = np.linspace(-1, 1, 7), np.linspace(-0.5, 1.5, 5)
    loss_fn = ls.problem_loss(problem, split)
    assert (slices._lanes_of(loss_fn) is not None) == uses_lanes
    got = ls.slice_2d(loss_fn, params, d1, d2, alphas, betas)
    data = getattr(problem.data, split)
    want = np.array(
        [[np_loss(problem, shifted(params, d1, d2, a, b), data) for b in betas] for a in alphas]
    )
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_problem_loss_rejects_bad_split_and_analytic_problems():
    with pytest.raises(ValueError, match="split must be"):
        ls.problem_loss(problems.get("adder"), "validation")
    with pytest.raises(ValueError, match="has no data"):
        ls.problem_loss(problems.get("rosenbrock"))


# ---- any loss: the jaxpr evaluator (optlab.lanes.batched_points) -----------------------------


def _closure_slice(loss_fn, params, d1, d2, alphas, betas):
    s = ls.compute_slice(loss_fn, params, d1, d2, alphas, betas)
    return s.values, s.metadata["path"]


def test_ordinary_closure_takes_points_minor_path_and_matches_numpy():
    # a plain closure (not problem_loss) of the adding network: the small-model fast path
    problem = problems.get("adder")
    data = problem.data.train
    params = problem.init(jax.random.key(0))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    alphas, betas = np.linspace(-1, 1, 6), np.linspace(-0.5, 1.5, 5)
    got, path = _closure_slice(lambda p: problem.loss(p, data), params, d1, d2, alphas, betas)
    assert path == "minor"
    want = np.array(
        [[np_loss(problem, shifted(params, d1, d2, a, b), data) for b in betas] for a in alphas]
    )
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_wider_mlp_closure_takes_points_major_path_and_matches_numpy():
    from optlab import losses, mlp

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    params = mlp.init(jax.random.key(0), (8, 32, 32, 4))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    got, path = _closure_slice(
        lambda p: losses.softmax_cross_entropy(mlp.apply(p, x), y), params, d1, d2, alphas, betas
    )
    assert path == "major"

    class P:  # np_loss reads the task only
        data = type("D", (), {"task": "classification"})

    split = type("S", (), {"x": x, "y": y})
    want = np.array(
        [[np_loss(P, shifted(params, d1, d2, a, b), split) for b in betas] for a in alphas]
    )
    np.testing.assert_allclose(got, want, rtol=2e-5)


@pytest.mark.parametrize("layout", ["minor", "major"])
def test_batched_points_rules_and_vmap_fallback_match_numpy(layout):
    # an affine first layer, a tanh, a sort (no rule of its own: the vmap fallback), a
    # contraction over a middle axis and a max-reduction, against numpy float64
    import jax.numpy as jnp

    from optlab import lanes

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    w = rng.normal(size=(3, 5)).astype(np.float32)
    u = rng.normal(size=(3, 5)).astype(np.float32)

    def g(a, b):
        h = jnp.tanh(x @ (w + a * u) + b)
        return jnp.max(jnp.sort(h, axis=1)[:, -2:].sum(1)) + jnp.einsum("ij,ij->", h, h) * a

    fn, rules = lanes.batched_points(g, 2, layout)
    pts = rng.normal(size=(9, 2)).astype(np.float32)
    got = np.asarray(jax.jit(fn)(pts))
    want = []
    for a, b in pts.astype(np.float64):
        h = np.tanh(x @ (w + a * u) + b)
        want.append(np.max(np.sort(h, axis=1)[:, -2:].sum(1)) + np.sum(h * h) * a)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert "affine" in rules and "vmap:sort" in rules
    if layout == "minor":
        assert "minor:dot_general" in rules


def test_explicit_batch_size_takes_the_map_path():
    problem = problems.get("adder")
    params = problem.init(jax.random.key(0))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    a = np.linspace(-1, 1, 3)
    s = ls.compute_slice(ls.problem_loss(problem), params, d1, d2, a, a, batch_size=2)
    assert s.metadata["path"] == "map" and s.metadata["batch_size"] == 2
    fast = ls.compute_slice(ls.problem_loss(problem), params, d1, d2, a, a)
    assert fast.metadata["path"] == "lanes"
    np.testing.assert_allclose(fast.values, s.values, rtol=1e-5)


@pytest.mark.parametrize("layout", ["minor", "major"])
def test_batched_points_program_runs_without_transfers(layout):
    import jax.numpy as jnp

    problem = problems.get("adder")
    data = problem.data.train
    params = problem.init(jax.random.key(0))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")

    def loss(p):
        return problem.loss(p, data)

    g = np.linspace(-1, 1, 5)
    pts = jnp.asarray(np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2), jnp.float32)
    args = jax.device_put((params, (d1, d2), pts))
    slices._eval_traced(loss, *args, layout, 8)  # compile outside the guard
    with jax.transfer_guard("disallow"):
        out = jax.block_until_ready(slices._eval_traced(loss, *args, layout, 8))
    ref = ls.slice_2d(loss, params, d1, d2, g, g, batch_size=4)
    np.testing.assert_allclose(np.asarray(out).reshape(5, 5), ref, rtol=1e-5)


def _np_conv_same(x, w):
    """NHWC x HWIO 'SAME' convolution (stride 1) in float64 numpy, by explicit windows."""
    kh, kw = w.shape[:2]
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, i : i + h, j : j + wd], w[i, j])
    return out


def test_cnn_closure_major_path_maps_per_point_kernels_and_matches_numpy():
    # two convolutions: the first (constant images, kernel on the plane) is affine; the second
    # has a kernel that differs per point and is evaluated point by point (lax.map), not as
    # one grouped convolution
    import jax.numpy as jnp

    from optlab import lanes, losses

    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 5, 1)).astype(np.float32)
    y = rng.integers(0, 3, 3)
    params = {
        "c1": rng.normal(size=(3, 3, 1, 2)).astype(np.float32) * 0.5,
        "c2": rng.normal(size=(3, 3, 2, 3)).astype(np.float32) * 0.5,
        "d": rng.normal(size=(75, 3)).astype(np.float32) * 0.2,
    }
    params = jax.tree.map(jnp.asarray, params)
    d1, d2 = ls.random_directions(jax.random.key(3), params, "filter")

    def conv(h, w):
        return jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip

    def loss(p):
        h = jax.nn.relu(conv(jax.nn.relu(conv(x, p["c1"])), p["c2"]))
        return losses.softmax_cross_entropy(h.reshape(3, -1) @ p["d"], y)

    alphas, betas = np.linspace(-1, 1, 4), np.linspace(-0.5, 0.5, 3)
    got, path = _closure_slice(loss, params, d1, d2, alphas, betas)
    assert path == "major"
    fn, rules = lanes.batched_points(
        lambda a, b: loss(jax.tree.map(lambda p, u, v: p + a * u + b * v, params, d1, d2)), 2,
        "major",
    )  # fmt: skip
    jax.eval_shape(fn, jax.ShapeDtypeStruct((2, 2), jnp.float32))
    assert "affine" in rules and "map:conv_general_dilated" in rules
    assert "vmap:conv_general_dilated" not in rules

    def np_loss(p):
        p = {k: np.asarray(v, np.float64) for k, v in p.items()}
        h = np.maximum(_np_conv_same(np.maximum(_np_conv_same(x, p["c1"]), 0), p["c2"]), 0)
        z = h.reshape(3, -1) @ p["d"]
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(3), y]))

    want = np.array([[np_loss(shifted(params, d1, d2, a, b)) for b in betas] for a in alphas])
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["minor", "major"])
def test_hoisted_parts_leave_the_chunk_program(layout):
    # the first layer on a plane (x W, x D1, x D2) does not depend on the points: hoist()
    # computes it once per grid, and the per-chunk program keeps only the later layers
    import jax.numpy as jnp

    from optlab import lanes, losses, mlp

    rng = np.random.default_rng(4)
    x = rng.normal(size=(70, 8)).astype(np.float32)
    y = rng.integers(0, 4, 70)
    params = mlp.init(jax.random.key(0), (8, 80, 4))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")

    def g(a, b):
        p = shifted(params, d1, d2, a, b)
        return losses.softmax_cross_entropy(mlp.apply(p, x), y)

    fn, _ = lanes.batched_points(g, 2, layout)
    pts = jnp.asarray(rng.normal(size=(5, 2)), jnp.float32)

    def dots(f):
        jaxpr = jax.make_jaxpr(f)(pts)
        return sum(e.primitive.name == "dot_general" for e in jaxpr.jaxpr.eqns)

    tape = fn.hoist()
    # a dot over the data (70 x 8 x 80 per part) must not be left in the per-chunk program
    big = [e for e in jax.make_jaxpr(lambda c: fn(c, tape))(pts).jaxpr.eqns
           if e.primitive.name == "dot_general" and 8 in e.invars[0].aval.shape[-1:]]  # fmt: skip
    assert not big
    assert dots(lambda c: fn(c, tape)) < dots(fn)
    want = [float(g(a, b)) for a, b in np.asarray(pts)]
    np.testing.assert_allclose(np.asarray(jax.jit(lambda c: fn(c, tape))(pts)), want, rtol=2e-5)
