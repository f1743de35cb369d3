"""No host round-trips inside the compiled loops: they run under jax.transfer_guard("disallow")."""

import jax
import jax.numpy as jnp
import numpy as np

from optlab import problems, train


def test_training_chunk_runs_without_transfers():
    problem = problems.get("digits-mlp", sizes=(64, 8, 10), batch_size=32)
    from optlab.train import api, loop

    opt = api.resolve_optimizer("adam", None)[0]
    state = train.init_state(problem, opt, jax.random.key(0))
    args = (
        state,
        problem.data.train,
        problem.data.val,
        jnp.asarray(0, jnp.int32),
        jnp.asarray(40, jnp.int32),
    )
    layout = loop.chunk_layout(40, 10, 1)  # 4 blocks of 10 steps
    compiled, _ = api.compiled_chunk(problem, opt, layout=layout, snapshots=True, args=args)
    args = jax.device_put(args)
    with jax.transfer_guard("disallow"):
        state, out = compiled(*args)
        jax.block_until_ready(state)
    assert np.isfinite(np.asarray(out[0])).all()


def test_sweep_program_runs_without_transfers():
    from optlab.sweep import engines
    from optlab.train import loop

    problem = problems.get("adder", n=100)
    spec = engines.Spec(problem, "adam", {}, "vmap", 4)
    init_fn, chunk_fn, *_ = engines.programs(
        spec, layout=loop.chunk_layout(20, 5, 1), runs=4, params0=None
    )
    hp = {"learning_rate": jnp.asarray([1e-3, 3e-3, 1e-2, 3e-2])}
    keys = [train.split_key(jax.random.key(s)) for s in range(4)]
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[problem.init(k[0]) for k in keys])
    data_keys = jnp.stack([k[1] for k in keys])
    state = jax.jit(init_fn)(hp, params, data_keys)
    args = jax.device_put(
        (
            state,
            hp,
            problem.data.train,
            problem.data.val,
            jnp.asarray(0, jnp.int32),
            jnp.asarray(20, jnp.int32),
        )
    )
    compiled = jax.jit(chunk_fn).lower(*args).compile()
    with jax.transfer_guard("disallow"):
        state, out = compiled(*args)
        jax.block_until_ready(state)
    assert np.isfinite(np.asarray(out[0])).all()


def test_slice_program_runs_without_transfers():
    from optlab import landscape, mlp
    from optlab.landscape import slices

    params = mlp.init(jax.random.key(0), (3, 8, 1))
    x = jnp.ones((32, 3))

    def loss(p):
        return jnp.mean(mlp.apply(p, x) ** 2)

    d1, d2 = landscape.random_directions(jax.random.key(1), params, "filter")
    g = np.linspace(-1, 1, 9)
    pts = jnp.asarray(np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2), jnp.float32)
    args = jax.device_put((params, (d1, d2), pts))
    slices._eval_points(loss, *args, 16, 1)  # compile outside the guard
    with jax.transfer_guard("disallow"):
        out = slices._eval_points(loss, *args, 16, 1)
        jax.block_until_ready(out)
    # the same chunked program (the default arguments may take a batched fast path instead)
    ref = landscape.slice_2d(loss, params, d1, d2, g, g, batch_size=16)
    np.testing.assert_allclose(np.asarray(out).reshape(9, 9), ref, rtol=1e-6)
