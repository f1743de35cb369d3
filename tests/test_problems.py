"""Tests for optlab.problems against independent truths.

Analytic functions are re-implemented here in numpy float64 from their textbook formulas; the
recorded minima are checked for value, zero gradient and positive-definite Hessian in float64
(x64 enabled only inside ``with jax.enable_x64(True)``), against dense grids and against a scipy
multistart search. MLP losses are compared with numpy float64 forward passes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize

from optlab import data, problems
from optlab.problems import KnownMinimum

# ------------------------------------------------------------------- numpy references


def np_rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def np_himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def np_camel(x, y):
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def np_rastrigin(x, y):
    return 20 + x**2 - 10 * np.cos(2 * np.pi * x) + y**2 - 10 * np.cos(2 * np.pi * y)


def np_beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def np_styblinski_tang(x, y):
    return 0.5 * (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y)


NP_FUNCS = {
    "rosenbrock": np_rosenbrock,
    "himmelblau": np_himmelblau,
    "six-hump-camel": np_camel,
    "rastrigin": np_rastrigin,
    "beale": np_beale,
    "styblinski-tang": np_styblinski_tang,
}

# Literature values (Jamil & Yang 2013; Surjanovic & Bingham VLSE), to their published digits.
LITERATURE = {
    "rosenbrock": ([(1.0, 1.0)], 0.0, 1e-12),
    "himmelblau": (
        [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
        0.0,
        1e-6,
    ),
    "six-hump-camel": ([(0.08984201, -0.71265640), (-0.08984201, 0.71265640)], -1.031628453, 1e-8),
    "rastrigin": ([(0.0, 0.0)], 0.0, 1e-12),
    "beale": ([(3.0, 0.5)], 0.0, 1e-12),
    "styblinski-tang": ([(-2.903534, -2.903534)], -39.16617 * 2, 1e-5),
}

N_MINIMA = {
    "rosenbrock": 1,
    "himmelblau": 4,
    "six-hump-camel": 6,
    "rastrigin": 121,
    "beale": 1,
    "styblinski-tang": 4,
}

ANALYTIC = sorted(NP_FUNCS)


def test_names():
    expected = {
        "adder", "digits-mlp", "moons-mlp", "spirals-mlp", "teacher-student", "quadratic",
        "rosenbrock", "himmelblau", "six-hump-camel", "rastrigin", "beale", "styblinski-tang",
    }  # fmt: skip
    # a superset: other code in the same session (e.g. the docs example) may register more
    assert expected <= set(problems.names())
    assert problems.names() == sorted(problems.names())


# ------------------------------------------------------------------- analytic problems


@pytest.mark.parametrize("name", ANALYTIC)
def test_fn_matches_numpy_formula(name):
    p = problems.get(name)
    pts = np.random.default_rng(0).uniform(-3, 3, size=(50, 2))
    with jax.enable_x64(True):
        got = np.asarray(jax.vmap(p.fn)(jnp.asarray(pts, jnp.float64)))
        assert got.dtype == np.float64
        loss = float(p.loss(jnp.asarray(pts[0]), None))
    np.testing.assert_allclose(got, NP_FUNCS[name](pts[:, 0], pts[:, 1]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss, NP_FUNCS[name](*pts[0]), rtol=1e-12)


@pytest.mark.parametrize("name", ANALYTIC)
def test_known_minima_are_minima(name):
    p = problems.get(name)
    f_np = NP_FUNCS[name]
    assert len(p.known_minima) == N_MINIMA[name]
    assert all(isinstance(m, KnownMinimum) for m in p.known_minima)
    values = [m.value for m in p.known_minima]
    assert values == sorted(values)
    glob = [m for m in p.known_minima if m.is_global]
    assert glob and all(m.value == pytest.approx(min(values), abs=1e-12) for m in glob)
    assert all(m.value > min(values) + 1e-6 for m in p.known_minima if not m.is_global)
    (xlo, xhi), (ylo, yhi) = p.bounds
    pts = np.asarray([m.point for m in p.known_minima], np.float64)
    assert np.all((pts[:, 0] >= xlo) & (pts[:, 0] <= xhi) & (pts[:, 1] >= ylo) & (pts[:, 1] <= yhi))
    # values: numpy float64 formula
    np.testing.assert_allclose([m.value for m in p.known_minima], f_np(pts[:, 0], pts[:, 1]),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    with jax.enable_x64(True):
        x = jnp.asarray(pts, jnp.float64)
        grads, hess = jax.jit(jax.vmap(lambda q: (jax.grad(p.fn)(q), jax.hessian(p.fn)(q))))(x)
        grads, hess = np.asarray(grads), np.asarray(hess)
    assert grads.dtype == np.float64
    scale = 1.0 + np.abs([m.value for m in p.known_minima])[:, None]
    assert np.all(np.abs(grads) < 1e-9 * scale), np.abs(grads).max()
    eig = np.linalg.eigvalsh(hess)
    assert np.all(eig > 1e-6), eig.min()
    # central finite differences of the numpy formula agree that the gradient vanishes
    h = 1e-6
    for x0, y0 in pts[:8]:
        gx = (f_np(x0 + h, y0) - f_np(x0 - h, y0)) / (2 * h)
        gy = (f_np(x0, y0 + h) - f_np(x0, y0 - h)) / (2 * h)
        assert abs(gx) < 1e-4 and abs(gy) < 1e-4


@pytest.mark.parametrize("name", ANALYTIC)
def test_global_value_vs_literature_and_dense_grid(name):
    p = problems.get(name)
    f_np = NP_FUNCS[name]
    lit_points, lit_value, tol = LITERATURE[name]
    glob = [m for m in p.known_minima if m.is_global]
    assert glob[0].value == pytest.approx(lit_value, abs=tol)
    for q in lit_points:
        d = min(np.hypot(m.point[0] - q[0], m.point[1] - q[1]) for m in glob)
        assert d < 10 * tol + 1e-6, (q, d)
    (xlo, xhi), (ylo, yhi) = p.bounds
    xs, ys = np.meshgrid(np.linspace(xlo, xhi, 1201), np.linspace(ylo, yhi, 1201), indexing="ij")
    grid = f_np(xs, ys)
    assert grid.min() >= glob[0].value - 1e-9
    # polishing the best grid point with scipy lands on the recorded global value
    i = np.unravel_index(np.argmin(grid), grid.shape)
    res = minimize(lambda v: f_np(v[0], v[1]), [xs[i], ys[i]], method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})  # fmt: skip
    assert res.fun == pytest.approx(glob[0].value, abs=1e-7)


def _fd_hessian_pd(f, x, h=1e-4):
    e = np.eye(2) * h
    hess = np.array(
        [[(f(*(x + a + b)) - f(*(x + a - b)) - f(*(x - a + b)) + f(*(x - a - b))) / (4 * h * h)
          for b in e] for a in e]
    )  # fmt: skip
    return bool(np.all(np.linalg.eigvalsh(0.5 * (hess + hess.T)) > 0))


@pytest.mark.parametrize("name", ["himmelblau", "six-hump-camel", "beale", "styblinski-tang"])
def test_multistart_finds_only_recorded_minima(name):
    """Every local minimum scipy finds from a grid of starts is in known_minima (completeness)."""
    p = problems.get(name)
    f_np = NP_FUNCS[name]
    (xlo, xhi), (ylo, yhi) = p.bounds
    recorded = np.asarray([m.point for m in p.known_minima])
    found = set()
    for x0 in np.linspace(xlo, xhi, 9)[1:-1]:
        for y0 in np.linspace(ylo, yhi, 9)[1:-1]:
            r = minimize(lambda v: f_np(v[0], v[1]), [x0, y0], method="L-BFGS-B",
                         bounds=p.bounds, options={"ftol": 1e-12, "gtol": 1e-8})  # fmt: skip
            x = r.x
            on_edge = min(x[0] - xlo, xhi - x[0], x[1] - ylo, yhi - x[1]) < 1e-3
            if on_edge or not r.success or not _fd_hessian_pd(f_np, x):
                continue  # boundary points and saddles (e.g. the camel's origin) are no minima
            d = np.hypot(*(recorded - x).T)
            assert d.min() < 1e-3, (x, r.fun)
            found.add(int(np.argmin(d)))
    assert len(found) == len(p.known_minima)


@pytest.mark.parametrize(
    "name", ["rosenbrock", "himmelblau", "beale", "styblinski-tang", "quadratic"]
)
def test_adam_with_default_learning_rate_reaches_global_minimum(name):
    p = problems.get(name)
    opt = optax.adam(p.default_learning_rate)

    @jax.jit
    def run(x):
        def step(carry, _):
            x, s = carry
            g = jax.grad(p.loss)(x, None)
            u, s = opt.update(g, s, x)
            return (optax.apply_updates(x, u), s), None

        return jax.lax.scan(step, (x, opt.init(x)), None, length=2000)[0][0]

    x = np.asarray(run(p.init(jax.random.key(0))), np.float64)
    d = min(np.hypot(*(x - np.asarray(m.point))) for m in p.known_minima if m.is_global)
    assert d < 1e-3, (x, d)


def test_describe_without_building():
    for name in problems.names():
        assert isinstance(problems.describe(name), str) and problems.describe(name)
    with pytest.raises(ValueError, match="known problems"):
        problems.describe("nope")


def test_rastrigin_local_minima_values():
    # separable: each 1D minimum solves 2x + 20 pi sin(2 pi x) = 0 near an integer
    p = problems.get("rastrigin")
    for m in p.known_minima:
        for c in m.point:
            assert abs(2 * c + 20 * np.pi * np.sin(2 * np.pi * c)) < 1e-10
            assert abs(c - round(c)) < 0.03


@pytest.mark.parametrize("name", ANALYTIC)
def test_analytic_init_start_and_noise(name):
    p = problems.get(name)
    starts = {"rosenbrock": (-1.2, 1.0)}
    x0 = p.init(jax.random.key(0))
    assert x0.shape == (2,)
    np.testing.assert_allclose(np.asarray(x0), p.start, rtol=1e-6)
    if name in starts:
        assert p.start == starts[name]
    (xlo, xhi), (ylo, yhi) = p.bounds
    assert xlo <= p.start[0] <= xhi and ylo <= p.start[1] <= yhi
    noisy = problems.get(name, init_noise=0.1)
    a, b = noisy.init(jax.random.key(1)), noisy.init(jax.random.key(2))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(noisy.init(jax.random.key(1))))
    assert np.linalg.norm(np.asarray(a) - np.asarray(p.start)) < 1.0


def test_analytic_evaluate_and_metrics():
    p = problems.get("himmelblau")
    out = p.evaluate(jnp.asarray([3.0, 2.0]))
    assert set(out) == {"loss", "gap", "distance"} and all(type(v) is float for v in out.values())
    assert out["loss"] == pytest.approx(0.0, abs=1e-6) and out["distance"] < 1e-6
    out = p.evaluate(jnp.asarray([0.0, 0.0]), "val")
    assert out["loss"] == pytest.approx(np_himmelblau(0.0, 0.0))
    assert out["distance"] == pytest.approx(np.hypot(3.0, 2.0), rel=1e-6)
    assert p._evaluator is p._evaluator  # jitted once per problem


def test_rosenbrock_parameters():
    p = problems.get("rosenbrock", a=2.0, b=10.0)
    assert p.known_minima[0].point == (2.0, 4.0)
    assert float(p.fn(jnp.asarray([2.0, 4.0]))) == 0.0
    assert float(p.fn(jnp.asarray([0.0, 0.0]))) == pytest.approx(4.0)


def test_quadratic():
    p = problems.get("quadratic", dim=5, condition=1e3, rotate=True, data_seed=3)
    a = p.config["matrix"]
    eig = np.linalg.eigvalsh(a)
    assert eig.min() == pytest.approx(1.0) and eig.max() == pytest.approx(1e3)
    x = np.random.default_rng(1).standard_normal(5)
    with jax.enable_x64(True):
        val = float(p.loss(jnp.asarray(x), None))
        g = np.asarray(jax.grad(p.fn)(jnp.asarray(x)))
    assert val == pytest.approx(0.5 * x @ a @ x, rel=1e-12)
    np.testing.assert_allclose(g, a @ x, rtol=1e-10)
    assert p.known_minima == (KnownMinimum((0.0,) * 5, 0.0, True),)
    p2 = problems.get("quadratic")
    assert p2.bounds is not None and p2.init(jax.random.key(0)).shape == (2,)
    assert float(p2.loss(jnp.asarray([1.0, 1.0]), None)) == pytest.approx(0.5 * (1 + 100))
    with pytest.raises(ValueError, match="condition"):
        problems.get("quadratic", condition=0.5)


# ------------------------------------------------------------------- registry / errors


def test_unknown_problem_lists_names():
    with pytest.raises(ValueError, match="known problems.*rosenbrock"):
        problems.get("rosenbrok")


def test_unknown_option_named():
    with pytest.raises(TypeError, match="'widht'"):
        problems.get("digits-mlp", widht=3)


def test_sizes_must_fit_data():
    with pytest.raises(ValueError, match=r"sizes\[0\]=10.*feature size 64"):
        problems.get("digits-mlp", sizes=(10, 32, 10))
    with pytest.raises(ValueError, match=r"sizes\[-1\]=3.*output size 10"):
        problems.get("digits-mlp", sizes=(64, 32, 3))
    with pytest.raises(ValueError, match="sizes or hidden"):
        problems.get("adder", sizes=(2, 3, 1), hidden=(4,))
    with pytest.raises(ValueError, match="batch_size"):
        problems.get("moons-mlp", batch_size=0)
    with pytest.raises(ValueError, match="activation"):
        problems.get("moons-mlp", activation="swishy")


def test_register_new_problem():
    name = "test-bowl"

    @problems.register(name, description="a test bowl")
    def _bowl(*, scale: float = 2.0):
        return problems.analytic_problem(
            name, lambda q: scale * jnp.sum(q**2),
            known_minima=[KnownMinimum((0.0, 0.0), 0.0, True)],
            bounds=((-1.0, 1.0), (-1.0, 1.0)), start=(0.5, 0.5),
        )  # fmt: skip

    try:
        p = problems.get(name, scale=3.0)
        assert float(p.loss(jnp.asarray([1.0, 0.0]), None)) == 3.0
        assert problems.describe(name) == "a test bowl"
        with pytest.raises(ValueError, match="already registered"):
            problems.register(name)(lambda: None)
    finally:  # keep the global registry as other tests (e.g. `optlab list`) expect it
        problems.core._REGISTRY.pop(name, None)


# ------------------------------------------------------------------- MLP problems


def _np_forward(params, x, act=lambda h: np.maximum(h, 0.0)):
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if i < len(params) - 1:
            h = act(h)
    return h


def _np_ce(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


def test_digits_mlp_loss_and_accuracy_match_numpy():
    p = problems.get("digits-mlp")
    assert p.sizes == (64, 128, 10) and p.batch_size == 128
    params = p.init(jax.random.key(0))
    val = p.data.val
    logits = _np_forward(params, val.x)
    y = np.asarray(val.y)
    out = p.evaluate(params, "val")
    assert set(out) == {"loss", "accuracy"}
    assert out["loss"] == pytest.approx(_np_ce(logits, y), rel=1e-5)
    assert out["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y), abs=1e-6)
    assert float(jax.jit(p.loss)(params, val)) == pytest.approx(_np_ce(logits, y), rel=1e-5)


def test_evaluate_compiles_once_per_split_shape():
    p = problems.get("moons-mlp", n=200)
    params = p.init(jax.random.key(0))
    a = p.evaluate(params, "val")
    params2 = jax.tree_util.tree_map(lambda w: w * 0.5, params)
    b = p.evaluate(params2, "val")
    assert a != b
    assert p._evaluator._cache_size() == 1  # new params, same shapes: no recompilation
    p.evaluate(params, "train")
    assert p._evaluator._cache_size() == 2


def test_adder_and_teacher_student_mse_match_numpy():
    for name in ("adder", "teacher-student"):
        p = problems.get(name)
        params = p.init(jax.random.key(1))
        tr = p.data.train
        ref = np.mean((_np_forward(params, tr.x) - np.asarray(tr.y, np.float64)) ** 2)
        assert float(jax.jit(p.loss)(params, tr)) == pytest.approx(ref, rel=1e-5)
        assert p.evaluate(params, "train")["loss"] == pytest.approx(ref, rel=1e-5)
    assert problems.get("adder").sizes == (2, 3, 1)
    assert problems.get("adder").batch_size is None


def test_moons_binary_bce_and_tanh_match_numpy():
    p = problems.get("moons-mlp", binary=True, hidden=(8,), activation="tanh")
    assert p.sizes == (2, 8, 1) and p.data.task == "binary"
    params = p.init(jax.random.key(2))
    te = p.data.test
    z = _np_forward(params, te.x, act=np.tanh)[:, 0]
    y = np.asarray(te.y, np.float64)
    bce = np.mean(np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y))
    out = p.evaluate(params, "test")
    assert out["loss"] == pytest.approx(bce, rel=1e-5)
    assert out["accuracy"] == pytest.approx(np.mean((z > 0) == (y > 0.5)), abs=1e-6)


def test_data_seed_separate_from_training_key():
    a = problems.get("spirals-mlp", data_seed=0, n=300)
    b = problems.get("spirals-mlp", data_seed=1, n=300)
    assert not np.array_equal(np.asarray(a.data.train.x), np.asarray(b.data.train.x))
    # the training key changes init, never the data
    p0, p1 = a.init(jax.random.key(0)), a.init(jax.random.key(1))
    assert not np.allclose(np.asarray(p0[0]["w"]), np.asarray(p1[0]["w"]))
    a2 = problems.get("spirals-mlp", data_seed=0, n=300)
    np.testing.assert_array_equal(np.asarray(a.data.train.x), np.asarray(a2.data.train.x))


def test_digits_mlp_trains_with_adam_in_one_scan():
    """Integration: get_batch inside lax.scan + optax.adam reaches >90% validation accuracy."""
    p = problems.get("digits-mlp")
    opt = optax.adam(p.default_learning_rate)
    init_key, data_key = jax.random.split(jax.random.key(0))
    params = p.init(init_key)

    @jax.jit
    def run(params, opt_state):
        def step(carry, i):
            params, opt_state = carry
            batch = p.get_batch("train", data_key, i)
            loss, g = jax.value_and_grad(p.loss)(params, batch)
            upd, opt_state = opt.update(g, opt_state, params)
            return (optax.apply_updates(params, upd), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(300))
        return params, losses

    final, losses = run(params, opt.init(params))
    assert float(losses[-20:].mean()) < 0.3 * float(losses[:5].mean())
    assert p.evaluate(final, "val")["accuracy"] > 0.9


# ------------------------------------------------------------------- DeepOBS-style problems


def _shapes(tree):
    return [tuple(x.shape) for x in jax.tree_util.tree_leaves(tree)]


def test_deepobs_architectures():
    # The published architectures (Schneider et al., 2019), read from the params' shapes.
    assert problems.get("mnist-5k-logreg").sizes == (784, 10)
    assert problems.get("mnist-5k-mlp").sizes == (784, 1000, 500, 100, 10)
    p = problems.get("mnist-5k-cnn")
    shapes = _shapes(jax.eval_shape(p.init, jax.random.key(0)))
    # conv 5x5x1x32, 5x5x32x64 (28 -> 14 -> 7 after 2x2 pooling), dense 3136 -> 1024 -> 10
    assert sorted(shapes) == sorted(
        [
            (5, 5, 1, 32),
            (32,),
            (5, 5, 32, 64),
            (64,),
            (7 * 7 * 64, 1024),
            (1024,),
            (1024, 10),
            (10,),
        ]
    )
    d = problems.get("digits-cnn")
    assert sorted(_shapes(jax.eval_shape(d.init, jax.random.key(0)))) == sorted(
        [(3, 3, 1, 16), (16,), (3, 3, 16, 32), (32,), (2 * 2 * 32, 128), (128,), (128, 10), (10,)]
    )
    for name in ("mnist-5k-logreg", "mnist-5k-mlp", "mnist-5k-cnn", "digits-cnn", "quadratic-deep"):
        assert problems.get(name).batch_size == 128
    with pytest.raises(ValueError, match="problems on it: .*'mnist-5k-cnn'"):
        problems.get("mnist-5k")


@pytest.mark.parametrize(
    "name, kw, steps",
    [
        ("mnist-5k-logreg", {}, 40),
        # real digits, a small net (the published one: test above)
        ("mnist-5k-cnn", {"channels": (4, 8), "dense": (32,), "learning_rate": 3e-3}, 30),
        ("digits-cnn", {}, 25),
    ],
)
def test_new_problems_train_and_beat_chance(name, kw, steps):
    from optlab.train import train

    p = problems.get(name, **kw)
    run = train(
        p, optax.adam(p.default_learning_rate), steps=steps, key=jax.random.key(0),
        eval_every=steps, snapshots=False,
    )  # fmt: skip
    assert run.final["test_accuracy"] > 0.5  # chance: 0.1 (ten balanced classes)
    assert run.final["test_loss"] < np.log(10)  # below the loss of a uniform guess


def test_quadratic_deep_spectrum_loss_and_minimum():
    from optlab.train import train

    p = problems.get("quadratic-deep")
    theta = p.init(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(theta), np.ones(100))  # DeepOBS start
    # The Hessian of the loss (autodiff, float32) has DeepOBS's spectrum.
    h = np.asarray(jax.hessian(p.loss)(theta, p.data.train), np.float64)
    eig = np.linalg.eigvalsh(0.5 * (h + h.T))
    assert np.all((eig[:90] > -1e-3) & (eig[:90] < 1 + 1e-3))
    assert np.all((eig[90:] > 30 - 1e-2) & (eig[90:] < 60 + 1e-2))
    np.testing.assert_allclose(eig, np.sort(p.config["eigenvalues"]), rtol=1e-4, atol=1e-4)
    # loss: numpy float64 mean of 0.5 (theta - x)^T H (theta - x) over the test points
    x = np.asarray(p.data.test.x, np.float64)
    d = np.asarray(theta, np.float64) - x
    want = np.mean(0.5 * np.einsum("ni,ij,nj->n", d, h, d))
    out = p.evaluate(theta, "test")
    assert out["loss"] == pytest.approx(want, rel=1e-4)
    # the split's minimum is its mean point: excess is the loss above it
    xbar = x.mean(axis=0)
    dm = x - xbar
    f_min = np.mean(0.5 * np.einsum("ni,ij,nj->n", dm, h, dm))
    assert out["excess"] == pytest.approx(want - f_min, rel=1e-4)
    assert p.evaluate(jnp.asarray(xbar, jnp.float32), "test")["excess"] < 1e-4
    assert p.data.sizes == {"train": 1000, "val": 500, "test": 500}  # DeepOBS: 1,000 train
    run = train(p, optax.adam(p.default_learning_rate), steps=300, key=jax.random.key(0),
                eval_every=300, snapshots=False)  # fmt: skip
    assert run.final["test_excess"] < 0.05 * out["excess"]


def test_mlp_problem_needs_only_a_name_and_data():
    p = problems.mlp_problem("mine", data.load("moons", n=200))
    assert p.sizes == (2, 64, 2) and p.batch_size == 128
    assert p.default_learning_rate == 1e-3 and set(p.metrics) == {"accuracy"}
