"""optlab.sweep: whole sweeps in one program equal the same runs done one by one.

The reference for every run is ``optlab.train.train`` (the sequential trainer, a separate code
path) with ``optimizers.get(name, **hp)`` and ``jax.random.key(seed)``; the minibatch order is
checked against ``optlab.data.get_batch`` directly.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest

from optlab import data, problems, sweep, train

STEPS = 12


@pytest.fixture(scope="module")
def full_batch():
    return problems.get("adder", n=60)  # 42 training rows, full batch -> lanes engine


@pytest.fixture(scope="module")
def minibatch():
    return problems.get("adder", n=60, batch_size=8)  # minibatches -> vmap/map engine


def reference(problem, name, hp, seed, steps=STEPS, eval_every=None):
    # by name: train caches one compiled program per (name, hyperparams), shared across seeds
    return train.train(
        problem,
        name,
        hyperparams=hp,
        steps=steps,
        key=jax.random.key(seed),
        eval_every=eval_every,
        snapshots=False,
    )


def assert_run_matches(res, i, ref, rtol=2e-5):
    np.testing.assert_allclose(res.loss[i], ref.loss, rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(res.grad_norm[i], ref.grad_norm, rtol=rtol, atol=1e-6)
    np.testing.assert_array_equal(res.eval_steps, ref.eval_steps)
    np.testing.assert_allclose(res.val_loss[i], ref.val_loss, rtol=rtol, atol=1e-6)
    assert set(res.final) == set(ref.final)
    for k, v in ref.final.items():
        np.testing.assert_allclose(res.final[k][i], v, rtol=rtol, atol=1e-6, err_msg=k)
    assert bool(res.diverged[i]) == ref.diverged
    assert int(res.diverged_step[i]) == ref.diverged_step


@pytest.fixture(scope="module")
def adam_lanes(full_batch):
    grid = {"learning_rate": [0.003, 0.03]}
    # chunks=3: three compiled calls continue each other (the progress-bar path)
    return sweep.sweep(
        full_batch, "adam", grid=grid, seeds=[0, 5], steps=STEPS, eval_every=4, chunks=3
    )


def test_adam_full_batch_equals_sequential_train(full_batch, adam_lanes):
    res = adam_lanes
    assert res.method == "lanes"
    assert [(c["learning_rate"], c["seed"]) for c in res.configs] == [
        (0.003, 0),
        (0.003, 5),
        (0.03, 0),
        (0.03, 5),
    ]
    for i, cfg in enumerate(res.configs):
        ref = reference(
            full_batch, "adam", {"learning_rate": cfg["learning_rate"]}, cfg["seed"], eval_every=4
        )
        assert_run_matches(res, i, ref)
    run = res.run(3)
    assert isinstance(run, train.Run) and run.config["seed"] == 5
    np.testing.assert_array_equal(run.loss, res.loss[3])


def test_momentum_two_hyperparameters_equals_sequential_train(full_batch):
    grid = {"learning_rate": [0.001, 0.004], "momentum": [0.5, 0.7, 0.9]}
    res = sweep.sweep(full_batch, "momentum", grid=grid, seeds=[1], steps=STEPS, batch_size_runs=4)
    assert res.method == "lanes" and len(res) == 6 and res.batch_size_runs == 4  # 2 groups
    for i in (1, 3, 5):  # both groups, both learning rates, all three momenta
        cfg = res.configs[i]
        hp = {k: cfg[k] for k in grid}
        assert_run_matches(res, i, reference(full_batch, "momentum", hp, cfg["seed"]))


@pytest.mark.parametrize("binary", [False, True], ids=["softmax-ce", "binary-ce"])
def test_classification_losses_and_metrics_equal_sequential_train(binary):
    # lanes engine with the softmax and sigmoid cross-entropies, tanh, and the accuracy metric
    problem = problems.get(
        "moons-mlp", n=80, hidden=(3,), batch_size=None, binary=binary, activation="tanh"
    )
    res = sweep.sweep(
        problem, "adam", grid={"learning_rate": [0.01, 0.05]}, seeds=[0], steps=8, eval_every=4
    )
    assert res.method == "lanes" and set(res.val_metrics) == {"accuracy"}
    for i, cfg in enumerate(res.configs):
        ref = reference(problem, "adam", {"learning_rate": cfg["learning_rate"]}, 0, 8, 4)
        assert_run_matches(res, i, ref)
        np.testing.assert_allclose(res.val_metrics["accuracy"][i], ref.val_metrics["accuracy"])


@pytest.mark.parametrize("method", ["map"])  # "vmap" runs in the seeds and LAMB tests
def test_minibatch_sgd_equals_sequential_train(minibatch, method):
    res = sweep.sweep(
        minibatch,
        "sgd",
        grid={"learning_rate": [0.001, 0.003, 0.01]},
        seeds=[2],
        steps=STEPS,
        eval_every=5,  # blocks of 5, 5 and 2 steps: the masked last block
        method=method,
        batch_size_runs=2,
    )
    assert res.method == method
    assert res.batch_size_runs == (2 if method == "map" else 3)
    for i, cfg in enumerate(res.configs):
        hp = {"learning_rate": cfg["learning_rate"]}
        assert_run_matches(res, i, reference(minibatch, "sgd", hp, cfg["seed"], eval_every=5))


def test_default_minibatch_sweep_shares_each_seeds_batches_and_matches(minibatch, monkeypatch):
    # Default arguments on a minibatched problem: all runs vmapped, grid points of one seed
    # drawing that seed's minibatch once, and (on 2 cores) two groups of grid points run side
    # by side: the path that makes the digits sweep fast. Every run still equals its own
    # sequential train run, the masked last block included.
    monkeypatch.setattr(sweep.engines, "cores", lambda: 2)  # this path on any machine
    res = sweep.sweep(
        minibatch, "adam", grid={"learning_rate": [0.001, 0.003, 0.01, 0.03]}, seeds=[2, 7],
        steps=8, eval_every=5,
    )  # fmt: skip
    assert res.method == "vmap" and res.batch_size_runs == 8
    assert res.config["shared_seeds"] == 2 and res.config["parallel_groups"] == 2, res.config
    assert "drawn once" in res.config["method_reason"]
    for i, cfg in enumerate(res.configs):
        hp = {"learning_rate": cfg["learning_rate"]}
        ref = reference(minibatch, "adam", hp, cfg["seed"], steps=8, eval_every=5)
        assert_run_matches(res, i, ref)
    # a single grid point has nothing to share: each run draws its own batches
    one = sweep.sweep(minibatch, "adam", grid={"learning_rate": [0.01]}, seeds=[2, 7], steps=2)
    assert one.config["shared_seeds"] == 0
    # share_batches=False (what studies pass, to reuse one program): own draws, same runs
    own = sweep.sweep(
        minibatch, "adam", grid={"learning_rate": [0.001, 0.003, 0.01, 0.03]}, seeds=[2, 7],
        steps=8, eval_every=5, share_batches=False,
    )  # fmt: skip
    assert own.method == "vmap" and own.config["shared_seeds"] == 0
    assert own.config["parallel_groups"] == 1
    np.testing.assert_allclose(own.loss, res.loss, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="share_batches"):
        sweep.sweep(minibatch, "adam", grid={"learning_rate": [0.01]}, seeds=[2], steps=2,
                    share_batches="yes")  # fmt: skip


def test_digits_sweep_default_engine_is_shared_vmap():
    # The benchmarked digits sweep (4 lr x 4 seeds): one vmapped program with each seed's
    # minibatch drawn once, instead of lax.map over chunks of 4 runs (benchmarks/sweep.py).
    digits = problems.get("digits-mlp")
    method, size, reason = sweep.choose_method(digits, "adam", 16, n_seeds=4)
    assert (method, size) == ("vmap", 16), reason
    # without seed sharing (or with one seed's grid points beyond a chunk) the chunks stay
    assert sweep.choose_method(digits, "adam", 16)[:2] == ("map", 4)
    assert sweep.choose_method(digits, "adam", 64, n_seeds=8)[:2] == ("map", 4)
    # groups of whole grid points per core, each keeping >= 2 grid points to share a batch
    groups = sweep.engines.parallel_groups
    assert [groups(4, 2), groups(2, 2), groups(3, 2), groups(8, 4), groups(6, 4)] == [2, 1, 1, 4, 3]
    assert groups(4, 1) == 1


def test_norm_based_optimizer_falls_back_and_matches(full_batch):
    # LAMB's trust ratio uses per-tensor norms: run-last leaves would mix runs.
    method, _, reason = sweep.choose_method(full_batch, "lamb", 2)
    assert method != "lanes" and "mixes runs" in reason
    res = sweep.sweep(full_batch, "lamb", grid={"learning_rate": [0.01]}, seeds=[0, 1], steps=6)
    for i, cfg in enumerate(res.configs):
        ref = reference(full_batch, "lamb", {"learning_rate": 0.01}, cfg["seed"], steps=6)
        assert_run_matches(res, i, ref)


def test_divergence_is_flagged_and_isolated(full_batch):
    # groups of 2 runs: [0.01, 1e8] and [0.02, padding copy]
    grid = {"learning_rate": [0.01, 1e8, 0.02]}
    res = sweep.sweep(full_batch, "sgd", grid=grid, seeds=[0], steps=STEPS, batch_size_runs=2)
    assert res.method == "lanes" and res.loss.shape == (3, STEPS)
    assert res.diverged.tolist() == [False, True, False]
    assert res.diverged_step[0] == res.diverged_step[2] == -1
    assert 0 <= res.diverged_step[1] < STEPS
    assert np.isnan(res.loss[1, res.diverged_step[1] + 1 :]).all()
    assert all(np.isnan(v[1]) for v in res.final.values())
    assert all(np.isfinite(v[[0, 2]]).all() for v in res.final.values())
    for i, lr in enumerate(grid["learning_rate"]):
        ref = reference(full_batch, "sgd", {"learning_rate": lr}, 0)
        np.testing.assert_allclose(res.loss[i], ref.loss, rtol=2e-5, atol=1e-6)
        assert res.diverged_step[i] == ref.diverged_step
        # the diverged run keeps its last finite params, as train does
        for got, want in zip(
            jax.tree_util.tree_leaves(res.final_params),
            jax.tree_util.tree_leaves(ref.final_params),
            strict=True,
        ):
            np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_seeds_are_paired_across_optimizers(minibatch):
    # A learning rate far below float32 resolution leaves the params at their initial values,
    # so the loss at step t is the initial params' loss on minibatch t: same init and the same
    # batch order for both optimizers, and exactly what get_batch gives for the seed's data key.
    steps, seeds = 6, [3, 4]
    runs = {
        name: sweep.sweep(
            minibatch, name, grid={"learning_rate": [1e-30]}, seeds=seeds, steps=steps
        )
        for name in ("sgd", "adam")
    }
    for j, seed in enumerate(seeds):
        init_key, data_key = train.split_key(jax.random.key(seed))
        params = minibatch.init(init_key)
        expected = [
            float(
                minibatch.loss(
                    params,
                    data.get_batch(minibatch.data.train, data_key, t, minibatch.batch_size),
                )
            )
            for t in range(steps)
        ]
        for name, res in runs.items():
            np.testing.assert_allclose(res.loss[j], expected, rtol=1e-5, err_msg=name)
            np.testing.assert_allclose(
                res.val_loss[j, 0],
                float(minibatch.loss(params, minibatch.data.val)),
                rtol=1e-5,
            )
    assert not np.allclose(runs["sgd"].loss[0], runs["sgd"].loss[1])  # seeds differ


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"grid": {"learning_rate": []}}, "learning_rate"),
        ({"grid": {"learning_rate": [0.1], "bogus": [1.0]}}, "bogus"),
        ({"grid": {"momentum": [0.9]}}, "momentum"),  # adam takes no momentum
        ({"steps": 0}, "steps"),
        ({"steps": -3}, "steps"),
        ({"seeds": [0, -1]}, "seed"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [0.5]}, "seed"),
        ({"grid": {"learning_rate": [-0.1]}}, "learning_rate"),
        ({"grid": {"learning_rate": [float("nan")]}}, "learning_rate"),
        ({"grid": {"learning_rate": [0.1]}, "fixed": {"learning_rate": 0.2}}, "learning_rate"),
        ({"method": "fast"}, "method"),
        # optax.adam branches in Python on `nesterov`: not sweepable as an array (warmup_cosine
        # used to be the example here; it now traces, see tests/test_precision.py)
        ({"grid": {"learning_rate": [0.1], "nesterov": [0.0, 1.0]}}, "cannot sweep"),
    ],
)
def test_bad_input_raises_before_training(full_batch, kwargs, needle):
    args = {"grid": {"learning_rate": [0.1]}, "seeds": [0], "steps": 5, **kwargs}
    before = sweep.compile_count()
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=needle):
        sweep.sweep(full_batch, "adam", **args)
    assert sweep.compile_count() == before
    assert time.perf_counter() - t0 < 1.0


def test_unknown_problem_and_optimizer():
    with pytest.raises(ValueError, match="no-such-problem"):
        sweep.sweep("no-such-problem", "adam", grid={}, seeds=[0], steps=1)
    with pytest.raises(ValueError, match="no-such-opt"):
        sweep.sweep("adder", "no-such-opt", grid={}, seeds=[0], steps=1)


def test_no_recompilation_for_new_values_with_same_shapes(full_batch, adam_lanes):
    before = sweep.compile_count()
    res = sweep.sweep(
        full_batch,
        "adam",
        grid={"learning_rate": [0.01, 0.02]},
        seeds=[7, 8],
        steps=STEPS,
        eval_every=4,
        chunks=3,
    )
    assert sweep.compile_count() == before
    assert res.compile_time == 0.0
    ref = reference(full_batch, "adam", {"learning_rate": 0.02}, 8, eval_every=4)
    assert_run_matches(res, 3, ref)


def test_auto_on_an_accelerator_vmaps_all_runs_and_skips_lanes(monkeypatch):
    # the lanes layout and the small map chunks are CPU choices; on a GPU/TPU backend auto
    # runs one vmapped program over the runs (measured on an H200: 85x vs 23x sequential)
    from optlab.sweep import engines

    cpu = engines.choose_method(problems.get("adder"), "adam", 64)
    assert cpu[0] == "lanes"
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    method, size, why = engines.choose_method(problems.get("adder"), "adam", 64)
    assert (method, size) == ("vmap", 64) and "accelerator" in why
    method, size, _ = engines.choose_method(problems.get("digits-mlp"), "adam", 64)
    assert (method, size) == ("vmap", 64)
    # an explicit engine is still honoured
    assert engines.choose_method(problems.get("adder"), "adam", 64, method="lanes")[0] == "lanes"
