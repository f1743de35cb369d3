"""float64 end to end (``dtype=``) and schedules whose values may be traced (swept)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optlab import optimizers, problems, sweep, train
from optlab.train.step import split_key


def _numpy_sgd(p, key, lr, steps):
    """Full-batch SGD on the adding network (2-3-1 ReLU, MSE) in numpy float64."""
    params = [
        {k: np.asarray(v, np.float64) for k, v in layer.items()}
        for layer in p.init(split_key(key)[0])
    ]
    x = np.asarray(p.data.train.x, np.float64)
    y = np.asarray(p.data.train.y, np.float64).reshape(-1, 1)
    losses = []
    for _ in range(steps):
        (w0, b0), (w1, b1) = [(layer["w"], layer["b"]) for layer in params]
        pre = x @ w0 + b0
        h = np.maximum(pre, 0.0)
        r = h @ w1 + b1 - y
        losses.append(np.mean(r**2))
        g = 2.0 * r / r.size
        gh = (g @ w1.T) * (pre > 0)
        grads = [(x.T @ gh, gh.sum(0)), (h.T @ g, g.sum(0))]
        params = [
            {"w": layer["w"] - lr * gw, "b": layer["b"] - lr * gb}
            for layer, (gw, gb) in zip(params, grads, strict=True)
        ]
    return np.asarray(losses), params


def test_train_float64_matches_numpy_reference():
    p = problems.get("adder")
    key, lr, steps = jax.random.key(3), 0.05, 6
    run = train.train(p, "sgd", steps=steps, key=key, hyperparams={"learning_rate": lr},
                      eval_every=1, dtype="float64")  # fmt: skip
    want_loss, want_params = _numpy_sgd(p, key, lr, steps)
    assert run.loss.dtype == np.float64
    assert all(leaf.dtype == np.float64 for leaf in jax.tree.leaves(run.final_params))
    np.testing.assert_allclose(run.loss, want_loss, rtol=1e-12, atol=0)
    for got, want in zip(run.final_params, want_params, strict=True):
        np.testing.assert_allclose(got["w"], want["w"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got["b"], want["b"], rtol=1e-12, atol=1e-14)
    # float32 stays the default, and a float64 call leaves later float32 calls in float32
    run32 = train.train(p, "sgd", steps=steps, key=key, hyperparams={"learning_rate": lr})
    assert run32.loss.dtype == np.float32
    assert not jax.config.jax_enable_x64
    assert jnp.zeros(2).dtype == jnp.float32
    err32 = np.max(np.abs(run32.loss - want_loss) / want_loss)
    assert 1e-9 < err32 < 1e-4  # float32 really is float32, and close


def test_sweep_float64_equals_train_float64():
    res = sweep.sweep("adder", "sgd", grid={"learning_rate": [0.01, 0.05]}, seeds=[3],
                      steps=6, dtype="float64", eval_every=1)  # fmt: skip
    want_loss, _ = _numpy_sgd(problems.get("adder"), jax.random.key(3), 0.05, 6)
    assert res.loss.dtype == np.float64 and res.config["dtype"] == "float64"
    np.testing.assert_allclose(res.run(1).loss, want_loss, rtol=1e-12, atol=0)


def test_dtype_is_checked_first():
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]"):
        train.train("adder", "sgd", steps=2, key=jax.random.key(0), dtype="float16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        sweep.sweep("adder", "sgd", grid={"learning_rate": [0.1]}, seeds=[0], steps=2,
                    dtype="bf16")  # fmt: skip


@pytest.mark.parametrize("warmup", [0, 7])
def test_warmup_cosine_equals_optax(warmup):
    ours = optimizers.warmup_cosine(0.3, warmup_steps=warmup, steps=50, end=0.003)
    ref = optax.warmup_cosine_decay_schedule(0.0, 0.3, warmup, 50, 0.003)
    t = np.arange(0, 60)
    np.testing.assert_allclose(jax.vmap(ours)(t), jax.vmap(ref)(t), rtol=1e-6, atol=1e-8)
    # and it traces: a learning rate (and warm-up) as arrays
    f = jax.jit(lambda lr, w: optimizers.warmup_cosine(lr, warmup_steps=w, steps=50)(10))
    assert np.isfinite(float(f(jnp.float32(0.1), jnp.float32(5.0))))


def test_sweep_warmup_cosine_swept_learning_rate_equals_train():
    """Used to crash (TracerBoolConversionError in optax's ``peak_value == 0.0``)."""
    fixed = {"schedule": "warmup_cosine", "warmup_steps": 4, "weight_decay": 1e-3}
    res = sweep.sweep("adder", "adam", grid={"learning_rate": [0.01, 0.05]}, seeds=[0],
                      steps=12, fixed=fixed, eval_every=4)  # fmt: skip
    one = train.train("adder", "adam", steps=12, key=jax.random.key(0), eval_every=4,
                      hyperparams={**fixed, "learning_rate": 0.05})  # fmt: skip
    np.testing.assert_allclose(res.run(1).loss, one.loss, rtol=2e-5)
    with pytest.raises(ValueError, match=r"warmup_steps.*\[0, steps=12\)"):
        sweep.sweep("adder", "adam", grid={"warmup_steps": [3, 12]}, seeds=[0], steps=12,
                    fixed={"schedule": "warmup_cosine"})  # fmt: skip


def test_cli_dtype_reaches_the_study_and_the_landscape_training():
    from optlab import cli
    from optlab.commands import compare
    from optlab.pipelines import landscape as pipeline

    args = cli.build_parser().parse_args(
        ["compare", "--problem", "adder", "--optimizers", "sgd", "--dtype", "float64"]
    )
    assert compare.config_from_args(args).dtype == "float64"
    (run,) = pipeline.train_runs("adder", "sgd", [0], steps=3, learning_rate=0.01,
                                 snapshot_every=1, dtype="float64")  # fmt: skip
    assert all(leaf.dtype == np.float64 for leaf in jax.tree.leaves(run.final_params))
