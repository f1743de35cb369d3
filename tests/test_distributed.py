"""Sharding over devices: 8 forced CPU devices give the same numbers as one (subprocess)."""

import json
import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from optlab import distributed as dist


def test_pad_leading_and_errors():
    tree = {"a": jnp.arange(5.0), "b": jnp.ones((5, 2))}
    padded, n = dist.pad_leading(tree, 4)
    assert n == 5 and padded["a"].shape == (8,) and padded["b"].shape == (8, 2)
    np.testing.assert_array_equal(padded["a"], [0, 1, 2, 3, 4, 4, 4, 4])
    with pytest.raises(ValueError, match="same leading size"):
        dist.pad_leading({"a": jnp.ones(3), "b": jnp.ones(4)}, 2)
    with pytest.raises(ValueError, match="empty batch"):
        dist.pad_leading(jnp.ones((0, 2)), 2)


def test_map_sharded_matches_numpy_on_one_device():
    xs = np.random.default_rng(0).standard_normal((37, 5)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    out = dist.map_sharded(
        lambda x, w: jnp.sum(jnp.tanh(x @ w)), jnp.asarray(xs), jnp.asarray(w), batch_size=4
    )
    ref = np.tanh(xs.astype(np.float64) @ w.astype(np.float64)).sum(1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


SCRIPT = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    from optlab import distributed as dist, landscape, mlp, problems, sweep
    xs = jnp.asarray(np.random.default_rng(0).standard_normal((37, 5)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).standard_normal((5, 3)), jnp.float32)
    f = lambda x, w: jnp.sum(jnp.tanh(x @ w))
    out = dist.map_sharded(f, xs, w, batch_size=2)
    rows = dist.shard_rows(jnp.ones((16, 3)) * jnp.arange(16.0)[:, None])
    mean = jax.jit(lambda r: jnp.mean(r))(rows)
    res = {"devices": jax.device_count(), "out": np.asarray(out).tolist(),
           "mean": float(mean), "row_shards": len(rows.sharding.device_set)}
    # A sweep on both engines: 9 runs (one diverges) over 8 devices, padding dropped.
    lanes = sweep.sweep(problems.get("adder", n=200), "sgd", steps=40, eval_every=20,
                        grid={"learning_rate": [1e-3, 3e-3, 10.0]}, seeds=[0, 1, 2])
    mapped = sweep.sweep(problems.get("digits-mlp", sizes=(64, 8, 10), batch_size=32), "momentum",
                         grid={"learning_rate": [1e-2, 3e-2]}, seeds=[0, 1, 2], steps=20,
                         eval_every=10, method="map")
    for name, r in (("lanes", lanes), ("map", mapped)):
        res[name] = {"method": r.method, "loss": r.loss.tolist(), "val": r.val_loss.tolist(),
                     "diverged": r.diverged.tolist(),
                     "final": {k: v.tolist() for k, v in r.final.items()}}
    # A network slice and find_minima on an analytic function, grid points over the devices.
    params = mlp.init(jax.random.key(0), (3, 5, 2))
    x = jnp.asarray(np.random.default_rng(2).standard_normal((16, 3)), jnp.float32)
    loss = lambda p: jnp.mean(mlp.apply(p, x) ** 2)
    d1, d2 = landscape.random_directions(jax.random.key(1), params, "filter")
    grid = np.linspace(-1, 1, 13)
    res["slice"] = landscape.slice_2d(loss, params, d1, d2, grid, grid).tolist()
    # data parallel: the 16 rows split over the devices, each grid point evaluated whole
    dp = dist.data_parallel_loss(lambda p, xb: jnp.mean(mlp.apply(p, xb) ** 2), x)
    res["slice_dp"] = landscape.slice_2d(dp, params, d1, d2, grid, grid, shard="data").tolist()
    himmelblau = problems.get("himmelblau").fn
    mins = landscape.find_minima(himmelblau, ((-5, 5), (-5, 5)), resolution=41)
    res["minima"] = [[float(m.point[0]), float(m.point[1]), float(m.value)] for m in mins]
    print(json.dumps(res))
""")


def run_with_devices(n):
    env = dict(
        os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_eight_devices_equal_one():
    one, eight = run_with_devices(1), run_with_devices(8)
    assert one["devices"] == 1 and eight["devices"] == 8
    assert eight["row_shards"] == 8
    np.testing.assert_allclose(eight["out"], one["out"], rtol=1e-6, atol=1e-6)
    assert eight["mean"] == one["mean"] == 7.5
    for engine in ("lanes", "map"):
        a, b = one[engine], eight[engine]
        assert a["method"] == b["method"] and (a["method"] == "lanes") == (engine == "lanes")
        assert a["diverged"] == b["diverged"]
        np.testing.assert_allclose(
            np.array(b["loss"], float), np.array(a["loss"], float), rtol=1e-5
        )
        np.testing.assert_allclose(np.array(b["val"], float), np.array(a["val"], float), rtol=1e-5)
        for k in a["final"]:
            np.testing.assert_allclose(
                np.array(b["final"][k], float), np.array(a["final"][k], float), rtol=1e-5
            )
    assert one["lanes"]["diverged"].count(True) == 3  # the lr=10 runs, flagged on both
    np.testing.assert_allclose(eight["slice"], one["slice"], rtol=1e-6)
    np.testing.assert_allclose(eight["slice_dp"], one["slice"], rtol=1e-5)
    np.testing.assert_allclose(one["slice_dp"], one["slice"], rtol=1e-6)
    np.testing.assert_allclose(eight["minima"], one["minima"], rtol=1e-6, atol=1e-9)
    # and against the literature: Himmelblau's four minima, value 0
    assert len(one["minima"]) == 4
    np.testing.assert_allclose(np.array(one["minima"])[:, 2], 0.0, atol=1e-6)
