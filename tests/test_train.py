"""optlab.train: against a plain Python optax loop, determinism, no recompilation, divergence."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optlab import data, problems, train


@pytest.fixture(scope="module")
def adder():
    return problems.get("adder", n=200)


@pytest.fixture(scope="module")
def digits():
    return problems.get("digits-mlp", sizes=(64, 16, 10), batch_size=64)


def python_loop_reference(problem, opt, key, steps):
    """The same training written as the textbook Python loop over optax, one step at a time."""
    init_key, data_key = train.split_key(key)
    params = problem.init(init_key)
    state = opt.init(params)

    @jax.jit
    def step(params, state, t):
        batch = data.get_batch(problem.data.train, data_key, t, problem.batch_size)
        loss, grads = jax.value_and_grad(problem.loss)(params, batch)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    out = []
    for t in range(steps):
        params, state, loss = step(params, state, t)
        out.append(float(loss))
    return np.array(out), params


def test_matches_python_optax_loop_on_minibatches(digits):
    key = jax.random.key(3)
    run = train.train(digits, optax.adam(3e-3), steps=30, key=key, eval_every=10)
    ref_loss, ref_params = python_loop_reference(digits, optax.adam(3e-3), key, 30)
    np.testing.assert_allclose(run.loss, ref_loss, rtol=1e-4, atol=1e-6)
    for a, b in zip(
        jax.tree_util.tree_leaves(run.final_params),
        jax.tree_util.tree_leaves(ref_params),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_record_contents(adder):
    run = train.train(
        adder,
        "adam",
        steps=25,
        key=jax.random.key(0),
        eval_every=10,
        hyperparams={"learning_rate": 1e-2},
    )
    assert run.loss.shape == run.grad_norm.shape == (25,)
    np.testing.assert_array_equal(run.eval_steps, [0, 10, 20, 25])
    np.testing.assert_array_equal(run.snapshot_steps, [0, 10, 20, 25])
    init = adder.init(train.split_key(jax.random.key(0))[0])
    w0 = jax.tree_util.tree_leaves(run.snapshots)[0]
    np.testing.assert_array_equal(w0[0], jax.tree_util.tree_leaves(init)[0])
    np.testing.assert_array_equal(w0[-1], jax.tree_util.tree_leaves(run.final_params)[0])
    # Validation loss at the end equals a numpy float64 evaluation of the final params.
    x, y = (np.asarray(a, np.float64) for a in adder.data.val)
    h = x
    for i, layer in enumerate(run.final_params):
        h = h @ np.asarray(layer["w"], np.float64) + layer["b"]
        h = np.maximum(h, 0) if i == 0 else h
    np.testing.assert_allclose(run.val_loss[-1], np.mean((h - y) ** 2), rtol=1e-4)
    np.testing.assert_allclose(run.final["val_loss"], np.mean((h - y) ** 2), rtol=1e-4)
    # Gradient norm at step 0 equals the norm of jax.grad at the initial params (full batch).
    g = jax.grad(adder.loss)(init, adder.data.train)
    np.testing.assert_allclose(run.grad_norm[0], optax.tree.norm(g), rtol=1e-5)
    assert not run.diverged and run.diverged_step == -1


def test_bit_identical_and_no_recompilation(adder):
    kw = dict(steps=40, eval_every=10, hyperparams={"learning_rate": 1e-2})
    a = train.train(adder, "adam", key=jax.random.key(5), **kw)
    n = train.compile_count()
    b = train.train(adder, "adam", key=jax.random.key(5), **kw)
    c = train.train(adder, "adam", key=jax.random.key(6), **kw)
    assert train.compile_count() == n, "a second call with the same shapes recompiled"
    assert b.compile_time == 0.0
    np.testing.assert_array_equal(a.loss, b.loss)
    for x, y in zip(
        jax.tree_util.tree_leaves(a.final_params),
        jax.tree_util.tree_leaves(b.final_params),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.loss, c.loss)


def test_divergence_is_flagged_not_raised(adder):
    run = train.train(
        adder, "sgd", steps=200, key=jax.random.key(0), hyperparams={"learning_rate": 10.0}
    )
    assert run.diverged
    assert 0 < run.diverged_step < 200
    assert np.isnan(run.loss[run.diverged_step + 1 :]).all()
    assert np.isfinite(run.loss[: run.diverged_step]).all()
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(run.final_params))
    assert np.isnan(run.final["val_loss"])


def test_chunks_give_the_same_result(adder):
    kw = dict(steps=60, key=jax.random.key(1), eval_every=10, hyperparams={"learning_rate": 1e-2})
    one = train.train(adder, "adam", **kw)
    many = train.train(adder, "adam", chunks=4, **kw)
    np.testing.assert_allclose(one.loss, many.loss, rtol=1e-6)
    np.testing.assert_array_equal(one.eval_steps, many.eval_steps)


def test_lbfgs_reaches_rosenbrock_minimum():
    run = train.train(problems.get("rosenbrock"), "lbfgs", steps=60, key=jax.random.key(0))
    np.testing.assert_allclose(run.final_params, [1.0, 1.0], atol=1e-4)
    assert run.final["train_loss"] < 1e-8


def test_paired_seeds_share_init(adder):
    a = train.train(adder, "sgd", steps=5, key=jax.random.key(9))
    b = train.train(adder, "adam", steps=5, key=jax.random.key(9))
    for x, y in zip(
        jax.tree_util.tree_leaves(a.snapshots), jax.tree_util.tree_leaves(b.snapshots), strict=True
    ):
        np.testing.assert_array_equal(x[0], y[0])


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"steps": 10, "eval_every": -1}, "eval_every must be a positive integer"),
    ],
)
def test_bad_arguments(adder, kw, match):
    with pytest.raises(ValueError, match=match):
        train.train(adder, "adam", key=jax.random.key(0), **kw)


def test_unknown_optimizer_and_problem():
    with pytest.raises(ValueError, match="unknown optimizer 'adem'"):
        train.train(problems.get("rosenbrock"), "adem", steps=3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="adder"):
        train.train("no-such-problem", "adam", steps=3, key=jax.random.key(0))


def test_custom_loss_problem_with_user_optimizer():
    """A user-built Problem (pure functions) trains with any optax transformation."""
    target = jnp.array([0.5, -2.0])
    problem = problems.Problem(
        name="bowl", init=lambda key: jnp.zeros(2), loss=lambda p, batch: jnp.sum((p - target) ** 2)
    )
    run = train.train(problem, optax.sgd(0.1), steps=100, key=jax.random.key(0))
    np.testing.assert_allclose(run.final_params, target, atol=1e-5)
