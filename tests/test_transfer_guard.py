"""No host round-trips inside the compiled loops: they run under jax.transfer_guard("disallow")."""

import jax
import jax.numpy as jnp
import numpy as np

from optlab import problems, train


def test_training_chunk_runs_without_transfers():
    problem = problems.get("digits-mlp", sizes=(64, 8, 10), batch_size=32)
    opt = train._resolve_optimizer("adam", None)[0]
    state = train.init_state(problem, opt, jax.random.key(0))
    args = (
        state,
        problem.data.train,
        problem.data.val,
        jnp.asarray(0, jnp.int32),
        jnp.asarray(40, jnp.int32),
    )
    compiled, _ = train._compiled_chunk(problem, opt, 10, 4, True, args)
    args = jax.device_put(args)
    with jax.transfer_guard("disallow"):
        state, out = compiled(*args)
        jax.block_until_ready(state)
    assert np.isfinite(np.asarray(out[0])).all()
