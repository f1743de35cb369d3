"""A study compiles few programs: sgd and momentum share one (optax.sgd with a traced momentum),
tuning and evaluation share it, and sgd's numbers stay those of its own plain sweep; sweeps of a
minibatched problem share the program of its batch order, whatever the optimizer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from optlab import data, optimizers, problems, study, sweep
from optlab.store import Store
from optlab.study import execute, identity
from optlab.study.config import plans, run_config
from optlab.study.results import run_index
from optlab.sweep import engines
from optlab.sweep import runner as sweep_runner

STEPS, EVERY = 12, 4


def _config(optimizers_=("sgd", "momentum")):
    return study.StudyConfig(
        name="programs", problems=("adder",), optimizers=optimizers_, budget=2, seeds=2,
        steps=STEPS, eval_every=EVERY, trajectories=False,
    )  # fmt: skip


def test_sgd_and_momentum_tuning_and_evaluation_compile_one_program(tmp_path):
    cfg = _config()
    before = sweep_runner.compile_count()
    res = study.run_study(cfg, tmp_path / "s")
    # one init and one steps program for the 4 groups (2 optimizers x tuning, evaluation);
    # without the sharing sgd and momentum compile two each
    assert sweep_runner.compile_count() - before == 2

    store, index = Store(tmp_path / "s"), run_index(Store(tmp_path / "s"))
    plan = next(p for p in plans(cfg, {"sgd": cfg.trials_of("sgd")}) if p.optimizer == "sgd")
    best = res.pair("adder", "sgd").best
    # the plain path: sgd's own sweep (optax.sgd without momentum), same runs per program
    groups = [
        (plan.trials, plan.tuning_seeds),
        ([best], plan.final_seeds),
    ]
    for trials, seeds in groups:
        lrs = sorted(t["learning_rate"] for t in trials)
        ref = sweep.sweep("adder", "sgd", grid={"learning_rate": lrs}, seeds=seeds, steps=STEPS,
                          eval_every=EVERY)  # fmt: skip
        for i, rc in enumerate(ref.configs):
            hp = {"learning_rate": rc["learning_rate"]}
            key = run_config(cfg, "adder", "sgd", next(t for t in trials if t == hp), rc["seed"])
            rec = store.load_run(index[identity.key_id(key)])
            # the stored run is sgd's: its id hashes sgd and its own trial, no momentum
            assert rec.config["optimizer"] == "sgd"
            assert rec.config["hyperparams"] == hp
            np.testing.assert_array_equal(rec.curves["loss"], ref.loss[i])
            np.testing.assert_array_equal(rec.curves["val_loss"], ref.val_loss[i])
            assert rec.summary["test_loss"] == float(ref.final["test_loss"][i])


def test_shared_program_only_for_builtin_sgd_without_momentum_keywords():
    assert execute.shared_program("sgd", [{"learning_rate": 0.1}]) == (
        "momentum",
        {"momentum": 0.0},
    )
    want_m = optimizers.defaults("momentum")["momentum"]
    assert execute.shared_program("momentum", [{"learning_rate": 0.1}]) == (
        "momentum",
        {"momentum": want_m},
    )
    # sgd with its own momentum or Nesterov flag: its own program
    assert execute.shared_program("sgd", [{"learning_rate": 0.1, "nesterov": True}]) == ("sgd", {})
    assert execute.shared_program("sgd", [{"learning_rate": 0.1, "momentum": 0.5}]) == ("sgd", {})
    assert execute.shared_program("adam", [{"learning_rate": 0.1}]) == ("adam", {})


def test_get_batch_ordered_gives_get_batch_rows_across_epochs():
    split = data.Split(jnp.arange(50.0)[:, None], jnp.arange(50))
    key = jax.random.key(3)
    # 50 rows, batches of 8: 6 steps per epoch; steps 7..30 span epochs 1..5
    pivots, salts = data.batching.epoch_key_material(key, 1, 5, 50)
    ordered = data.batching.OrderedSplit(split, pivots, salts, jnp.asarray(1, jnp.int32))
    steps = jnp.arange(7, 30)
    want = jax.vmap(lambda s: data.get_batch(split, key, s, 8).y)(steps)
    got = jax.vmap(lambda s: data.batching.get_batch_ordered(ordered, s, 8).y)(steps)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert len(np.unique(np.asarray(want[5:11]))) == 48  # epoch 2: distinct rows


def test_minibatch_sweeps_share_the_batch_order_program(monkeypatch):
    prob = problems.get("moons-mlp")
    grid = {"learning_rate": [0.05, 0.1]}
    kw = dict(grid=grid, seeds=[0, 1], steps=30, eval_every=10)
    before = sweep_runner.compile_count()
    res = sweep.sweep(prob, "sgd", **kw)
    # init, the epochs' key material (the ordered path is taken), the steps
    assert sweep_runner.compile_count() - before == 3
    sweep.sweep(prob, "adam", **kw)
    # another optimizer on the same problem and shapes: its own init and steps only
    assert sweep_runner.compile_count() - before == 5
    # the plain path (key material derived inside the step) gives the same numbers
    monkeypatch.setattr(engines, "_MAX_ORDER_WORDS", 0)
    plain = sweep.sweep(prob, "sgd", **kw)
    np.testing.assert_array_equal(res.loss, plain.loss)
    np.testing.assert_array_equal(res.val_loss, plain.val_loss)
