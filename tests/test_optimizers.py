"""The optimizer registry: optax equivalence, custom optimizers, a shared suite, bad input."""

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optlab import optimizers

REQUIRED = [
    "sgd",
    "momentum",
    "nesterov",
    "adam",
    "adamw",
    "nadam",
    "amsgrad",
    "rmsprop",
    "adagrad",
    "adadelta",
    "adabelief",
    "yogi",
    "lion",
    "lamb",
    "lars",
    "novograd",
    "radam",
    "lbfgs",
    "gd",
    "heavy-ball",
    "adam-ref",
    "newton-cg",
]

A = np.diag([1.0, 10.0]).astype(np.float32)


def quad_tree(p):
    """A quadratic over a pytree (tests that the tree structure survives every optimizer)."""
    x = jnp.concatenate([p["a"], p["b"]["c"]])
    return 0.5 * x @ (jnp.asarray(A) @ x)


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def run(opt, f, params, steps):
    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(f)(params)
        if optimizers.needs_value_fn(opt):
            upd, state = opt.update(grads, state, params, value=value, grad=grads, value_fn=f)
        else:
            upd, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, upd), state), value

    (params, _), values = jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), None, steps))(
        params
    )
    return params, values


def test_required_names_registered():
    assert set(REQUIRED) <= set(optimizers.names())
    assert optimizers.names() == sorted(optimizers.names())


# Learning rates that make each optimizer progress on Rosenbrock in 300 steps.
ROSEN_LR = {
    "sgd": 1e-3,
    "momentum": 1e-4,
    "nesterov": 1e-4,
    "gd": 1e-3,
    "heavy-ball": 1e-4,
    "adagrad": 0.1,
    "adadelta": 1.0,
    "lars": 1.0,
    "lion": 1e-2,
    "sign_sgd": 1e-2,
    "rprop": 1e-3,
    "yogi": 1e-2,
    "radam": 1e-3,
    "lbfgs": None,
    "newton-cg": 1.0,
}


@pytest.mark.parametrize("name", optimizers.names())
def test_shared_suite(name):
    """Every registered optimizer: the loss falls, values stay finite, the tree is preserved."""
    params = {"a": jnp.array([1.0]), "b": {"c": jnp.array([1.0])}}
    f0 = float(quad_tree(params))
    out, values = run(optimizers.get(name), quad_tree, params, 100)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(params)
    assert all(np.isfinite(v).all() for v in jax.tree_util.tree_leaves(out))
    assert np.isfinite(values).all()
    assert float(quad_tree(out)) < f0

    lr = ROSEN_LR.get(name, 1e-2)
    opt = optimizers.get(name) if name == "lbfgs" else optimizers.get(name, learning_rate=lr)
    x0 = jnp.array([-1.2, 1.0])
    xr, values = run(opt, rosenbrock, x0, 300)
    assert np.isfinite(np.asarray(xr)).all()
    assert float(rosenbrock(xr)) < float(rosenbrock(x0))


def test_lbfgs_and_newton_cg_find_rosenbrock_minimum():
    for name, steps in (("lbfgs", 60), ("newton-cg", 40)):
        x, _ = run(optimizers.get(name), rosenbrock, jnp.array([-1.2, 1.0]), steps)
        np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-3, err_msg=name)


def test_adam_ref_matches_optax_adam_step_for_step():
    key = jax.random.key(0)
    params = {"w": jax.random.normal(key, (5, 3)), "b": jnp.zeros(3)}
    target = jax.random.normal(jax.random.key(1), (5, 3))

    def f(p):
        return jnp.sum((p["w"] - target) ** 2 * (1 + jnp.arange(3))) + jnp.sum(jnp.sin(p["b"]))

    for kw in ({}, {"b1": 0.8, "b2": 0.99, "eps": 1e-6, "eps_root": 1e-8}):
        ours, theirs = optimizers.get("adam-ref", learning_rate=0.01, **kw), optax.adam(0.01, **kw)
        p1 = p2 = params
        s1, s2 = ours.init(p1), theirs.init(p2)
        for _ in range(50):
            u1, s1 = ours.update(jax.grad(f)(p1), s1, p1)
            u2, s2 = theirs.update(jax.grad(f)(p2), s2, p2)
            p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
            for a, b in zip(
                jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2), strict=True
            ):
                np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: optimizers.get("gd", learning_rate=0.1), lambda: optax.sgd(0.1)),
        (
            lambda: optimizers.get("heavy-ball", learning_rate=0.05, beta=0.8),
            lambda: optax.sgd(0.05, momentum=0.8),
        ),
        (
            lambda: optimizers.get("momentum", learning_rate=0.05),
            lambda: optax.sgd(0.05, momentum=0.9),
        ),
        (
            lambda: optimizers.get("nesterov", learning_rate=0.05),
            lambda: optax.sgd(0.05, momentum=0.9, nesterov=True),
        ),
        (
            lambda: optimizers.get("adamw", learning_rate=0.01, weight_decay=0.1),
            lambda: optax.adamw(0.01, weight_decay=0.1),
        ),
    ],
)
def test_equivalences_with_optax(ours, theirs):
    x0 = jnp.array([-1.2, 1.0])
    a, _ = run(ours(), rosenbrock, x0, 30)
    b, _ = run(theirs(), rosenbrock, x0, 30)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_newton_cg_solves_quadratic_in_one_step():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((6, 6))
    H = m @ m.T + 6 * np.eye(6)
    c = rng.standard_normal(6)
    f = lambda x: 0.5 * x @ (jnp.asarray(H, jnp.float32) @ x) - jnp.asarray(c, jnp.float32) @ x  # noqa: E731
    opt = optimizers.get("newton-cg", damping=0.0, cg_iters=6, cg_tol=1e-10)
    x, _ = run(opt, f, jnp.zeros(6), 1)
    np.testing.assert_allclose(x, np.linalg.solve(H, c), rtol=1e-4, atol=1e-5)


def test_newton_cg_without_value_fn_raises():
    opt = optimizers.get("newton-cg")
    p = jnp.zeros(2)
    with pytest.raises(ValueError, match="value_fn"):
        opt.update(p, opt.init(p), p)


def schedule_lrs(opt, steps):
    """Learning rate actually applied at each step, read off sgd updates for gradient 1."""
    p = jnp.zeros(())
    state = opt.init(p)
    out = []
    for _ in range(steps):
        u, state = opt.update(jnp.ones(()), state, p)
        out.append(-float(u))
    return np.array(out)


def test_schedules_match_closed_forms():
    T = 40
    t = np.arange(T)
    lrs = schedule_lrs(optimizers.get("sgd", learning_rate=0.1, schedule="cosine", steps=T), T)
    np.testing.assert_allclose(lrs, 0.1 * 0.5 * (1 + np.cos(np.pi * t / T)), rtol=1e-5, atol=1e-7)
    lrs = schedule_lrs(optimizers.get("sgd", learning_rate=0.1, schedule="step", steps=T), T)
    np.testing.assert_allclose(
        lrs, 0.1 * np.where(t < 20, 1, np.where(t < 30, 0.1, 0.01)), rtol=1e-5
    )
    lrs = schedule_lrs(
        optimizers.get(
            "sgd", learning_rate=0.1, schedule="warmup_cosine", steps=T, warmup_steps=10
        ),
        T,
    )
    np.testing.assert_allclose(lrs[:10], 0.1 * t[:10] / 10, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        lrs[10:], 0.1 * 0.5 * (1 + np.cos(np.pi * (t[10:] - 10) / 30)), rtol=1e-4, atol=1e-7
    )
    lrs = schedule_lrs(
        optimizers.get(
            "sgd",
            learning_rate=0.1,
            schedule="exponential",
            schedule_kwargs={"transition_steps": 10, "decay_rate": 0.5},
        ),
        T,
    )
    np.testing.assert_allclose(lrs, 0.1 * 0.5 ** (t / 10), rtol=1e-5)
    # Custom optimizers take schedules too.
    lrs = schedule_lrs(optimizers.get("gd", learning_rate=0.1, schedule="cosine", steps=T), T)
    np.testing.assert_allclose(lrs, 0.1 * 0.5 * (1 + np.cos(np.pi * t / T)), rtol=1e-5, atol=1e-7)


def test_clipping_and_coupled_weight_decay():
    g = {"w": jnp.array([6.0, 8.0])}  # norm 10
    p = {"w": jnp.array([1.0, -2.0])}
    opt = optimizers.get("sgd", learning_rate=1.0, clip_norm=1.0)
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(u["w"], [-0.6, -0.8], rtol=1e-6)
    opt = optimizers.get("sgd", learning_rate=1.0, clip_value=7.0)
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(u["w"], [-6.0, -7.0])
    opt = optimizers.get("sgd", learning_rate=0.5, weight_decay=0.1)
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(
        u["w"], -0.5 * (np.array([6.0, 8.0]) + 0.1 * np.array([1.0, -2.0])), rtol=1e-6
    )


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'.*adam.*sgd"):
        optimizers.get("adamm")


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match=f"learning_rate must be positive and finite, got {lr}"):
        optimizers.get("adam", learning_rate=lr)


def test_unknown_and_nonfinite_hyperparameters():
    with pytest.raises(ValueError, match=r"does not take hyperparameter\(s\) \['beta1'\].*b1"):
        optimizers.get("adam", beta1=0.9)
    with pytest.raises(ValueError, match="b2=nan must be finite"):
        optimizers.get("adam", b2=float("nan"))
    with pytest.raises(ValueError, match="unknown schedule 'cosin'"):
        optimizers.get("adam", schedule="cosin", steps=10)
    with pytest.raises(ValueError, match="needs steps"):
        optimizers.get("adam", schedule="cosine")


def test_register_custom_optimizer():
    @optimizers.register("test-scaled-sign", defaults={"learning_rate": 0.5})
    def scaled_sign(learning_rate, power: float = 1.0):
        return optax.chain(optax.scale_by_sign(), optax.scale(-learning_rate * power))

    assert "test-scaled-sign" in optimizers.names()
    assert optimizers.defaults("test-scaled-sign") == {"learning_rate": 0.5, "power": 1.0}
    opt = optimizers.get("test-scaled-sign")
    p = jnp.array([1.0, -1.0])
    u, _ = opt.update(jnp.array([3.0, -0.1]), opt.init(p), p)
    np.testing.assert_allclose(u, [-0.5, 0.5])
    with pytest.raises(ValueError, match="already registered"):
        optimizers.register("test-scaled-sign")(lambda learning_rate: optax.sgd(learning_rate))


def test_defaults_table_in_docs_is_current():
    doc = Path(__file__).parents[1] / "docs" / "optimizers.md"
    out = subprocess.run(
        [sys.executable, "-m", "optlab.optimizers"], capture_output=True, text=True, check=True
    )
    assert doc.read_text() == out.stdout, (
        "regenerate with: python -m optlab.optimizers > docs/optimizers.md"
    )
