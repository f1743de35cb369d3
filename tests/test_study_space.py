"""Study search spaces over every optimizer keyword: categorical and conditional dimensions."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from optlab import study, train
from optlab.plot import study as plot_study
from optlab.store import Store
from optlab.study import identity
from optlab.study.config import run_config
from optlab.study.results import run_index
from optlab.study.space import Dim, check_space, sample_trials
from optlab.sweep import runner as sweep_runner

SPACE = {
    "schedule": {"choice": ["constant", "warmup_cosine"]},
    "learning_rate": {"grid": [0.01, 0.05]},
    "weight_decay": {"grid": [0.0, 0.01]},
    "warmup_steps": {"grid": [3], "when": {"schedule": ["warmup_cosine"]}},
}


def test_study_over_schedule_lr_weight_decay_equals_train_one_by_one(tmp_path):
    cfg = study.StudyConfig(
        name="sched", problems=("adder",), optimizers=("adam",), steps=10, eval_every=5,
        seeds=1, search={"adam": SPACE}, trajectories=False,
    )  # fmt: skip
    compiled = sweep_runner.compile_count()
    res = study.run_study(cfg, tmp_path / "s")
    # one compiled sweep (an init and a steps program) per schedule (category) of 4 trials;
    # the evaluation run reuses its category's programs
    assert sweep_runner.compile_count() - compiled == 2 * 2
    store = Store(tmp_path / "s")
    trials = cfg.trials_of("adam")
    assert len(trials) == 8
    index = run_index(store)  # study key -> run id (the id also hashes resolved settings)
    for hp in trials:
        rec = store.load_run(index[identity.key_id(run_config(cfg, "adder", "adam", hp, 0))])
        assert rec.summary["engine"] == "sweep"
        one = train.train("adder", "adam", steps=10, key=jax.random.key(0), eval_every=5,
                          hyperparams=hp)  # fmt: skip
        np.testing.assert_allclose(rec.curves["loss"], one.loss, rtol=2e-5)
        np.testing.assert_allclose(rec.summary["val_loss"], one.final["val_loss"], rtol=2e-5)
    # the report's table names the selected schedule
    md, _ = plot_study.tables(res)["adder"]
    assert f"schedule={res.pair('adder', 'adam').best['schedule']}" in md


def test_grid_with_choice_and_condition_is_the_brute_force_enumeration():
    space = {h: Dim.parse(s, h) for h, s in SPACE.items()}
    check_space(space, "search.adam")
    got = sample_trials(space, budget=5, search_seed=0, optimizer="adam")
    want = []
    for sched, lr, wd in itertools.product(["constant", "warmup_cosine"], [0.01, 0.05],
                                           [0.0, 0.01]):  # fmt: skip
        t = {"schedule": sched, "learning_rate": lr, "weight_decay": wd}
        if sched == "warmup_cosine":
            t["warmup_steps"] = 3.0
        want.append(t)
    assert sorted(map(repr, got)) == sorted(map(repr, want))
    # random search: every trial meets its conditions
    space["learning_rate"] = Dim.parse({"log_uniform": [1e-3, 1e-1]}, "lr")
    for t in sample_trials(space, budget=12, search_seed=1, optimizer="adam"):
        assert ("warmup_steps" in t) == (t["schedule"] == "warmup_cosine")
    # the spec form round-trips
    for h, d in space.items():
        assert Dim.parse(d.to_spec(), h) == d


def test_toml_search_over_generic_keywords(tmp_path):
    (tmp_path / "s.toml").write_text(
        'problems = ["adder"]\noptimizers = ["sgd"]\nsteps = 50\ndtype = "float64"\n'
        "[search.sgd]\n"
        "learning_rate = { log_uniform = [1e-3, 1e-1] }\n"
        'schedule = { choice = ["constant", "cosine", "warmup_cosine"] }\n'
        'warmup_steps = { grid = [5, 10], when = { schedule = "warmup_cosine" } }\n'
        "clip_norm = 1.0\n"
    )
    cfg = study.StudyConfig.from_toml(tmp_path / "s.toml")
    trials = cfg.trials_of("sgd")
    assert {t["schedule"] for t in trials} <= {"constant", "cosine", "warmup_cosine"}
    assert all(t["clip_norm"] == 1.0 for t in trials)
    rc = run_config(cfg, "adder", "sgd", trials[0], 0)
    assert rc["dtype"] == "float64"
    assert "dtype" not in run_config(cfg.replace(dtype="float32"), "adder", "sgd", trials[0], 0)
    # added fields at their defaults stay out of the stored config (old studies resume)
    assert "dtype" not in cfg.replace(dtype="float32").to_dict()
    assert "imports" not in cfg.to_dict()


@pytest.mark.parametrize(
    "search, match",
    [
        ({"schedule": {"choice": ["constant", "cosine_typo"]}}, r"unknown schedule 'cosine_typo'"),
        ({"weight_decay": {"grid": [-0.1]}}, r"weight_decay=-0.1 must be non-negative"),
        ({"warmup_steps": {"grid": [5], "when": {"schedule": "cosine"}}}, r"when names 'schedule'"),
        (
            {
                "schedule": {"choice": ["constant"]},
                "warmup_steps": {"grid": [5], "when": {"schedule": "warmup_cosine"}},
            },
            r"never takes",
        ),
        ({"schedule": {"grid": ["cosine"]}}, r"grid takes numbers.*choice"),
        ({"steps": 10}, r"does not take hyperparameter 'steps'.*'schedule'"),
    ],
)
def test_bad_spaces_are_refused_before_training(search, match):
    cfg = study.StudyConfig(problems=("adder",), optimizers=("adam",), search={"adam": search})
    with pytest.raises(ValueError, match=match):
        cfg.validate()


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match=r"dtype 'float16'.*accepted: \['float32', 'float64'\]"):
        study.StudyConfig(problems=("adder",), dtype="float16").validate()
