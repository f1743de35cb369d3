"""optlab.study: config validation, search spaces, the protocol (against a numpy float64
simulation of gradient descent / heavy ball on a quadratic), resume after kill -9, report."""

import math
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from optlab import optimizers, problems, store, study, train
from optlab.plot import study as plot_study

STEPS = 40
COND = 10.0
GD_LRS = [0.02, 0.1, 0.18, 0.5]  # 0.5 diverges: |1 - 0.5*10| = 4 per step on the stiff axis
HB_LRS = [0.02, 0.1]
HB_BETA = 0.5


def tiny_config(**kw):
    base = dict(
        name="tiny",
        problems=("quadratic",),
        optimizers=("gd", "heavy-ball"),
        search={
            "gd": {"learning_rate": {"grid": GD_LRS}},
            "heavy-ball": {"learning_rate": {"grid": HB_LRS}, "beta": HB_BETA},
        },
        tuning_seeds=2,
        seeds=3,
        steps=STEPS,
        problem_options={"quadratic": {"condition": COND, "init_noise": 0.1}},
        targets={"quadratic": 1e-3},
    )
    base.update(kw)
    return study.StudyConfig(**base)


def x0_of(seed):
    prob = problems.get("quadratic", condition=COND, init_noise=0.1)
    return np.asarray(prob.init(train.split_key(jax.random.key(seed))[0]), np.float64)


def simulate(opt, lr, seed, beta=0.0):
    """float64 numpy: f(x_t) for t = 0..STEPS (heavy ball: v <- beta v - lr g; x <- x + v)."""
    a = np.diag([1.0, COND])
    x, v = x0_of(seed), np.zeros(2)
    fs = []
    for _ in range(STEPS + 1):
        fs.append(0.5 * x @ a @ x)
        g = a @ x
        v = (beta * v - lr * g) if opt == "heavy-ball" else -lr * g
        x = x + v
    return np.asarray(fs)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "study"
    res = study.run_study(tiny_config(), root)
    return root, res


def test_protocol_matches_numpy_simulation(tiny_study):
    root, res = tiny_study
    for opt, lrs, beta in (("gd", GD_LRS, 0.0), ("heavy-ball", HB_LRS, HB_BETA)):
        pr = res.pair("quadratic", opt)
        sims = {lr: [simulate(opt, lr, s, beta) for s in (0, 1)] for lr in lrs}
        # tuning records: final f and divergence per trial and tuning seed
        for ti, trial in enumerate(pr.trials):
            lr = trial["learning_rate"]
            assert trial == ({"learning_rate": lr, "beta": beta} if beta else {"learning_rate": lr})
            for si, rec in enumerate(pr.tuning[ti]):
                f_end = sims[lr][si][-1]
                if not np.isfinite(f_end) or f_end > 1e30:
                    assert rec.summary["diverged"]
                else:
                    assert not rec.summary["diverged"]
                    np.testing.assert_allclose(rec.summary["train_loss"], f_end, rtol=2e-3)
                    np.testing.assert_allclose(
                        rec.curves["loss"], sims[lr][si][:-1], rtol=2e-3, atol=1e-7
                    )
        # selection: argmin over trials of the mean final f over the tuning seeds
        means = [np.mean([s[-1] for s in sims[lr]]) for lr in lrs]
        means = [m if np.isfinite(m) and m < 1e30 else np.inf for m in means]
        best_lr = lrs[int(np.argmin(means))]
        assert pr.best["learning_rate"] == best_lr
        # evaluation on fresh seeds 1000..1002 with the selected config
        assert [r.config["seed"] for r in pr.final] == [1000, 1001, 1002]
        want = np.array([simulate(opt, best_lr, s, beta)[-1] for s in (1000, 1001, 1002)])
        np.testing.assert_allclose(pr.final_values(), want, rtol=2e-3)
        # steps to target 1e-3: first t with f(x_t) <= 1e-3
        st = res.steps_to_target("quadratic", opt)
        for k, s in enumerate((1000, 1001, 1002)):
            f = simulate(opt, best_lr, s, beta)[:-1]
            hit = np.nonzero(f <= 1e-3)[0]
            assert st[k] == (hit[0] if hit.size else np.inf)
    assert np.isnan(res.pair("quadratic", "gd").trial_scores[3])  # lr 0.5 diverged: failed trial
    # manifest + summary.csv
    m = store.Store(root).manifest()
    assert m["config"]["optimizers"] == ["gd", "heavy-ball"]
    assert "jax" in m["sessions"][0]["versions"]
    lines = (root / "summary.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * (4 + 2) + 2 * 3  # header + tuning + final
    # trajectories on the 2D function, from the start of evaluation seed 1000
    t = res.pair("quadratic", "gd").final[0].curves["trajectory"]
    np.testing.assert_allclose(t[0], x0_of(1000), rtol=1e-6)


def test_rerun_skips_everything_and_report_regenerates(tiny_study, tmp_path):
    root, res = tiny_study
    before = store.Store(root).run_ids()
    t0 = time.perf_counter()
    res2 = study.run_study(tiny_config(), root)
    assert time.perf_counter() - t0 < 10
    assert store.Store(root).run_ids() == before
    assert res2.pair("quadratic", "gd").best == res.pair("quadratic", "gd").best
    written = plot_study.write_report(study.load_study(root), tmp_path / "rep")
    names = {p.name for p in written}
    for stem in (
        "curves_quadratic",
        "lr_sensitivity_quadratic",
        "final_quadratic",
        "tuning_budget_quadratic",
        "trajectories_quadratic",
        "performance_profile",
    ):
        assert {f"{stem}.pdf", f"{stem}.png"} <= names
    tex = (tmp_path / "rep" / "tables" / "quadratic.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{" in tex
    md = (tmp_path / "rep" / "tables" / "results.md").read_text()
    # best (lowest) mean final f is bold, computed independently here
    means = {
        o: np.mean(
            [
                simulate(
                    o,
                    res.pair("quadratic", o).best["learning_rate"],
                    s,
                    HB_BETA if o == "heavy-ball" else 0.0,
                )[-1]
                for s in (1000, 1001, 1002)
            ]
        )
        for o in ("gd", "heavy-ball")
    }
    best = min(means, key=means.get)
    row = next(line for line in md.splitlines() if line.startswith(f"| {best} "))
    assert "**" in row


def test_report_statistics_are_computed_once_in_results(tiny_study):
    """StudyResults.comparison (what the tables print) against numpy on the stored values."""
    _, res = tiny_study
    cmp = res.comparison("gd")
    assert cmp.baseline == "gd" and cmp.targets == {"quadratic": 1e-3}
    base = res.pair("quadratic", "gd")
    means = []
    for o in ("gd", "heavy-ball"):
        pr, ps = res.pair("quadratic", o), cmp.pairs[("quadratic", o)]
        v, ok = pr.final_values(), ~pr.final_failed()
        assert ps.summary.mean == pytest.approx(v[ok].mean())
        assert ps.summary.n == 3 and ps.summary.ci_low <= ps.summary.mean <= ps.summary.ci_high
        assert ps.steps_to_target_median == np.median(res.steps_to_target("quadratic", o))
        means.append(v[ok].mean())
        if o == "gd":
            assert ps.paired is None
        else:
            assert ps.paired.n_pairs == 3
            np.testing.assert_allclose(ps.paired.mean_diff, np.mean(v - base.final_values()))
    want_ranks = [1.0, 2.0] if means[0] < means[1] else [2.0, 1.0]
    np.testing.assert_array_equal(cmp.average_ranks, want_ranks)
    row_times = sum(
        r["tuning_compile_time"] + r["final_compile_time"] + r["tuning_run_time"]
        + r["final_run_time"]
        for r in res.table_rows()
    )  # fmt: skip
    assert sum(res.total_times()) == pytest.approx(row_times)
    taus, rho = res.performance_profile()
    assert taus[0] == 1.0 and rho.shape == (2, taus.size)
    assert np.all(np.diff(rho, axis=1) >= 0) and rho[:, -1].max() == 1.0
    ks, m, _ = res.pair("quadratic", "gd").tuning_budget()
    scores = res.pair("quadratic", "gd").trial_scores
    np.testing.assert_array_equal(ks, np.arange(1, scores.size + 1))
    assert m[-1] == pytest.approx(np.nanmin(scores))  # all trials: the best finite score
    with pytest.raises(ValueError, match="baseline 'nope' is not in the study"):
        res.comparison("nope")


def test_restricted_config_keeps_per_problem_settings_consistent():
    cfg = study.DEFAULT_CONFIG.restricted(problems=("adder",), optimizers=("sgd",), steps=50)
    assert cfg.problems == ("adder",) and cfg.optimizers == ("sgd",) and cfg.steps == 50
    assert cfg.problem_steps == {} and cfg.problem_metrics == {} and cfg.search == {}
    cfg = study.DEFAULT_CONFIG.restricted(metric="loss", seeds=2)
    assert cfg.problem_steps == {"digits-mlp": 300} and cfg.problem_metrics == {}
    assert cfg.seeds == 2 and cfg.metric == "loss"
    assert study.DEFAULT_CONFIG.restricted() is study.DEFAULT_CONFIG


def test_corrupt_record_is_reported(tiny_study, tmp_path):
    import shutil

    root, _ = tiny_study
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    rid = store.Store(copy).run_ids()[0]
    (copy / "runs" / rid / "curves.npz").write_bytes(b"garbage")
    with pytest.raises(store.CorruptRecordError, match=rf"{rid}.*curves.npz.*delete"):
        study.load_study(copy)


def test_search_space_sampling():
    cfg = study.StudyConfig(
        optimizers=("adam",),
        budget=8,
        search={
            "adam": {
                "learning_rate": {"log_uniform": [1e-4, 1e-1]},
                "b1": {"grid": [0.8, 0.9]},
                "eps": 1e-7,
            }
        },
    )
    trials = cfg.trials_of("adam")
    assert trials == cfg.trials_of("adam")  # deterministic
    lr = np.array([t["learning_rate"] for t in trials])
    # Latin hypercube: one sample in each of the 8 equal log-width strata
    strata = np.floor((np.log10(lr) + 4) / 3 * 8).astype(int)
    assert sorted(strata) == list(range(8))
    assert all(t["b1"] in (0.8, 0.9) and t["eps"] == 1e-7 for t in trials)
    assert cfg.replace(search_seed=1).trials_of("adam") != trials
    grid = study.StudyConfig(
        optimizers=("heavy-ball",),
        search={
            "heavy-ball": {"learning_rate": {"grid": [0.1, 0.2]}, "beta": {"grid": [0.5, 0.9]}}
        },
    ).trials_of("heavy-ball")
    assert len(grid) == 4 and {(t["learning_rate"], t["beta"]) for t in grid} == {
        (0.1, 0.5),
        (0.1, 0.9),
        (0.2, 0.5),
        (0.2, 0.9),
    }
    d = study.default_space("adam")["learning_rate"]
    assert (d.kind, d.low, d.high) == ("log-uniform", pytest.approx(1e-4), pytest.approx(1e-1))
    assert study.default_space("lbfgs") == {}


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"problems": ("nope",)}, "unknown problem 'nope'"),
        ({"optimizers": ("adam", "nope")}, "unknown optimizer 'nope'"),
        ({"search": {"gd": {}}}, "search space of 'gd' is empty"),
        ({"search": {"gd": {"momentum": 0.9}}}, "does not take hyperparameter 'momentum'"),
        ({"search": {"gd": {"learning_rate": {"log_uniform": [0.0, 1.0]}}}}, "low > 0"),
        ({"search": {"gd": {"learning_rate": {"grid": []}}}}, "non-empty"),
        ({"search": {"gd": {"learning_rate": {"normal": [1, 2]}}}}, "unknown range kind"),
        ({"seeds": 0}, "seeds must be a positive integer"),
        ({"steps": -5}, "steps must be a positive integer"),
        ({"budget": 0}, "budget must be a positive integer"),
        ({"problems": ("adder",), "metric": "accuracy"}, "metric 'accuracy' is not available"),
        ({"targets": {"adder": 0.1}}, "not in problems"),
    ],
)
def test_bad_config_rejected_before_training(kw, match, tmp_path):
    base = dict(problems=("quadratic",), optimizers=("gd",), steps=5, seeds=1, budget=1)
    base.update(kw)
    cfg = study.StudyConfig(**base)
    with pytest.raises(ValueError, match=match):
        study.run_study(cfg, tmp_path / "s")
    assert not (tmp_path / "s").exists()  # nothing was created or trained


def test_toml_config(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(
        textwrap.dedent(
            """
            name = "from-toml"
            problems = ["quadratic", "rosenbrock"]
            optimizers = ["gd", "adam"]
            budget = 3
            seeds = 2
            steps = 50

            [problem_steps]
            rosenbrock = 80

            [search.gd]
            learning_rate = { log_uniform = [1e-3, 1e-1] }

            [problem_options.quadratic]
            condition = 5.0
            """
        )
    )
    cfg = study.StudyConfig.from_toml(p)
    assert cfg == study.StudyConfig(
        name="from-toml",
        problems=("quadratic", "rosenbrock"),
        optimizers=("gd", "adam"),
        budget=3,
        seeds=2,
        steps=50,
        problem_steps={"rosenbrock": 80},
        search={"gd": {"learning_rate": {"log_uniform": [1e-3, 1e-1]}}},
        problem_options={"quadratic": {"condition": 5.0}},
    )
    assert cfg.steps_of("rosenbrock") == 80 and cfg.steps_of("quadratic") == 50
    assert study.StudyConfig.from_dict(cfg.to_dict()) == cfg
    bad = tmp_path / "bad.toml"
    bad.write_text("problems = [quadratic\n")
    with pytest.raises(ValueError, match="malformed study config .*bad.toml"):
        study.StudyConfig.from_toml(bad)
    bad.write_text('problemz = ["quadratic"]\n')
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['problemz'\]"):
        study.StudyConfig.from_toml(bad)


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from test_study import kill_config
    from optlab import study
    study.run_study(kill_config(), sys.argv[1])
    """
)


def kill_config():
    return tiny_config(
        name="kill",
        optimizers=("gd", "heavy-ball", "sgd", "momentum"),
        search={
            "gd": {"learning_rate": {"grid": GD_LRS}},
            "heavy-ball": {"learning_rate": {"grid": HB_LRS}, "beta": HB_BETA},
            "sgd": {"learning_rate": {"grid": [0.05, 0.1, 0.15]}},
            "momentum": {"learning_rate": {"grid": [0.01, 0.05]}},
        },
    )


def test_kill_9_mid_study_resumes_without_loss_or_duplicates(tmp_path):
    root = tmp_path / "killed"
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    proc = subprocess.Popen([sys.executable, str(script), str(root), tests_dir])
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (root / "runs").is_dir() and store.Store(root).run_ids():
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the study finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = store.Store(root).run_ids()
    assert 0 < len(partial)
    for rid in partial:  # what survived is complete
        store.Store(root).load_run(rid)
    res = study.run_study(kill_config(), root)
    ref = study.run_study(kill_config(), tmp_path / "uninterrupted")
    ids, ref_ids = store.Store(root).run_ids(), store.Store(tmp_path / "uninterrupted").run_ids()
    assert ids == ref_ids and set(partial) <= set(ids)
    n_expected = 2 * (4 + 2 + 3 + 2) + 4 * 3  # tuning seeds x trials + evaluation seeds
    assert len(ids) == n_expected
    for rid in ids:
        a = store.Store(root).load_run(rid)
        b = store.Store(tmp_path / "uninterrupted").load_run(rid)
        np.testing.assert_allclose(a.curves["loss"], b.curves["loss"], rtol=1e-6)
        assert a.summary["diverged"] == b.summary["diverged"]
    for o in kill_config().optimizers:
        assert res.pair("quadratic", o).best == ref.pair("quadratic", o).best
    assert math.isfinite(res.pair("quadratic", "gd").final_values().mean())


@pytest.mark.parametrize(
    "space",
    [
        {"learning_rate": {"grid": [0.02, 0.1]}, "beta": {"grid": [0.0, 0.5]}},  # product
        {"learning_rate": {"log_uniform": [0.01, 0.1]}, "beta": {"uniform": [0.0, 0.8]}},
    ],
    ids=["grid-product", "random-2d"],
)
def test_multi_hyperparameter_spaces_match_numpy(space, tmp_path):
    cfg = tiny_config(
        optimizers=("heavy-ball",),
        search={"heavy-ball": space},
        budget=3,
        tuning_seeds=1,
        seeds=2,
        trajectories=False,
    )
    res = study.run_study(cfg, tmp_path / "s")
    pr = res.pair("quadratic", "heavy-ball")
    assert len(pr.trials) == (4 if "grid" in space["beta"] else 3)
    for trial, recs in zip(pr.trials, pr.tuning, strict=True):
        want = simulate("heavy-ball", trial["learning_rate"], 0, trial["beta"])
        np.testing.assert_allclose(recs[0].curves["loss"], want[:-1], rtol=2e-3, atol=1e-7)
    best = pr.trials[int(np.nanargmin(pr.trial_scores))]
    assert pr.best == best
    for rec, seed in zip(pr.final, (1000, 1001), strict=True):
        want = simulate("heavy-ball", best["learning_rate"], seed, best["beta"])[-1]
        np.testing.assert_allclose(rec.summary["train_loss"], want, rtol=2e-3)


def test_incomplete_study_is_reported(tmp_path):
    cfg = tiny_config(name="incomplete")
    store.Store(tmp_path).init(cfg.to_dict())
    with pytest.raises(ValueError, match="incomplete.*rerun the same study"):
        study.load_study(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a study directory"):
        study.load_study(tmp_path / "nothing")
    store.Store(tmp_path).write_run({"old": "run"}, {}, {})  # a store without a run index
    with pytest.raises(ValueError, match="written by an older optlab.*new directory"):
        study.load_study(tmp_path)


# ----------------------------------------------------------------------------- run identity


_HB_SOURCE = textwrap.dedent(
    """
    import jax
    import jax.numpy as jnp
    import optax

    from optlab import optimizers


    def make(default_beta):
        # a user's optimizer: v <- beta v - lr g; x <- x + v (what `simulate` computes)
        def hb(learning_rate=0.05, beta: float = default_beta):
            def init(params):
                return (jax.tree.map(jnp.zeros_like, params),)

            def update(grads, state, params=None):
                v = jax.tree.map(lambda v, g: beta * v - learning_rate * g, state[0], grads)
                return v, (v,)

            return optax.GradientTransformation(init, update)

        return hb
    """
)

_HB_RUN = _HB_SOURCE + textwrap.dedent(
    """
    import json, sys
    from optlab import study

    optimizers.register("hb-user")(make(float(sys.argv[2])))
    cfg = study.StudyConfig.from_dict(json.loads(sys.argv[3]))
    res = study.run_study(cfg, sys.argv[1])
    print(json.dumps(res.manifest["info"]["last_session_runs"]))
    """
)


def test_changed_default_of_a_user_optimizer_trains_new_runs(tmp_path):
    """The issue's `hb` scenario: beta's default 0.9 -> 0.0 must not reuse the stored runs.

    The second session is a fresh process (the user edits the default and reruns the script);
    the report side (load_study) runs here, without the user's optimizer registered.
    """
    import json

    root = tmp_path / "hb"
    cfg = tiny_config(
        optimizers=("gd", "hb-user"),
        search={"gd": {"learning_rate": {"grid": [0.1]}},
                "hb-user": {"learning_rate": {"grid": [0.02]}}},
        tuning_seeds=1, seeds=2,
    )  # fmt: skip
    script = tmp_path / "hb.py"
    script.write_text(_HB_RUN)

    def session(beta):
        args = [sys.executable, str(script), str(root), str(beta), json.dumps(cfg.to_dict())]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    namespace = {}
    exec(_HB_SOURCE, namespace)  # the first session in this process
    _register_user_optimizer("hb-user", namespace["make"](0.9))
    try:
        first = study.run_study(cfg, root)
    finally:
        from optlab.optimizers import _registry

        _registry._REGISTRY.pop("hb-user", None)
    assert first.manifest["info"]["last_session_runs"] == {"reused": 0, "trained": 6}
    res = study.load_study(root)  # the report needs no registered optimizer
    want = [simulate("heavy-ball", 0.02, s, 0.9)[-1] for s in (1000, 1001)]
    np.testing.assert_allclose(res.pair("quadratic", "hb-user").final_values(), want, 2e-3)
    rec = res.pair("quadratic", "hb-user").final[0]
    assert rec.config["hyperparams_resolved"] == {"beta": 0.9, "learning_rate": 0.02}
    assert rec.config["optimizer_code"].startswith("hlo:")
    assert res.pair("quadratic", "gd").final[0].config["optimizer_code"] is None

    assert session(0.0) == {"reused": 3, "trained": 3}  # gd reused; every hb-user run new
    res2 = study.load_study(root)
    want0 = [simulate("heavy-ball", 0.02, s, 0.0)[-1] for s in (1000, 1001)]
    got = res2.pair("quadratic", "hb-user").final_values()
    np.testing.assert_allclose(got, want0, rtol=2e-3)
    assert not np.allclose(got, want, rtol=1e-2)  # the table changes
    rec2 = res2.pair("quadratic", "hb-user").final[0]
    assert rec2.config["hyperparams_resolved"]["beta"] == 0.0
    assert rec2.run_id != rec.run_id and store.Store(root).has_run(rec.run_id)


def _register_user_optimizer(name, factory):
    from optlab.optimizers import _registry

    _registry._REGISTRY.pop(name, None)  # as if redefined in a new session
    optimizers.register(name)(factory)


def test_code_fingerprints_see_closure_constants():
    import jax.numpy as jnp
    import optax

    from optlab.optimizers import _registry
    from optlab.study import identity

    def make(scale):
        def scaled_sgd(learning_rate=0.1):
            return optax.chain(optax.scale(scale), optax.sgd(learning_rate))

        return scaled_sgd

    try:
        fps = []
        for scale in (0.5, 0.5, 0.25):
            _register_user_optimizer("fp-user", make(scale))
            fps.append(identity.optimizer_fingerprint("fp-user"))
        assert fps[0] == fps[1] != fps[2]  # deterministic, and sees the closure constant
    finally:
        _registry._REGISTRY.pop("fp-user", None)
    assert identity.optimizer_fingerprint("adam") is None  # built-in: optlab's version pins it
    assert identity.is_builtin(optimizers.entry("heavy-ball").factory)

    def bowl(c):
        return problems.analytic_problem(
            "bowl", lambda p: c * jnp.sum(p**2), known_minima=[], bounds=None, start=(1.0, 1.0)
        )

    a, b, c = bowl(1.0), bowl(1.0), bowl(2.0)
    assert identity.problem_fingerprint(a) == identity.problem_fingerprint(b)
    assert identity.problem_fingerprint(a) != identity.problem_fingerprint(c)
    assert identity.problem_fingerprint(problems.get("quadratic")) is None
    key = study.config.run_config(tiny_config(), "quadratic", "gd", {"learning_rate": 0.1}, 0)
    ids = {store.run_id(identity.run_identity(key, problem=p)) for p in (a, b, c)}
    assert len(ids) == 2
    full = identity.run_identity(key, problem=problems.get("quadratic"))
    assert full["problem_options_resolved"]["condition"] == COND
    assert full["hyperparams_resolved"] == {"learning_rate": 0.1}
    assert full["optlab_version"]


def test_extending_a_study_reuses_every_matching_run(tiny_study, tmp_path):
    import os
    import shutil

    root, _ = tiny_study
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    before = {rid: os.stat(copy / "runs" / rid / "summary.json").st_mtime_ns
              for rid in store.Store(copy).run_ids()}  # fmt: skip
    grid = copy / "landscapes" / "quadratic.npz"
    grid.write_bytes(grid.read_bytes()[:100])  # truncated derived data: recomputed
    with pytest.raises(ValueError, match=r"quadratic\.npz is damaged.*rerun the study"):
        plot_study.plot_trajectories(study.load_study(copy), "quadratic", tmp_path / "figs")
    bigger = tiny_config(
        optimizers=("gd", "heavy-ball", "momentum"),
        search={**tiny_config().search, "momentum": {"learning_rate": {"grid": [0.05]}}},
        seeds=4,
    )
    res = study.run_study(bigger, copy)
    # 4 gd trials x 2 tuning seeds + 3 finals, 2 heavy-ball trials x 2 + 3: all reused
    assert res.manifest["info"]["last_session_runs"] == {"reused": 18, "trained": 8}
    for rid, mtime in before.items():  # never rewritten
        assert os.stat(copy / "runs" / rid / "summary.json").st_mtime_ns == mtime
    assert [r.config["seed"] for r in res.pair("quadratic", "gd").final] == [1000, 1001, 1002, 1003]
    with np.load(grid) as z:
        assert z["z"].shape == (161, 161)
    n_runs = len(store.Store(copy).run_ids())
    # a true conflict names the field, before anything is trained
    with pytest.raises(ValueError, match=r"steps \(problem 'quadratic'\): stored 40, given 41"):
        study.run_study(bigger.replace(steps=41), copy)
    with pytest.raises(ValueError, match=r"optimizers: stored \['gd', 'heavy-ball', 'momentum'\]"):
        study.run_study(tiny_config(), copy)
    with pytest.raises(ValueError, match=r"search\.gd: stored"):
        study.run_study(
            bigger.replace(search={**bigger.search, "gd": {"learning_rate": 0.1}}), copy
        )
    assert len(store.Store(copy).run_ids()) == n_runs


def test_tampered_summary_is_refused_by_the_report(tiny_study, tmp_path):
    """The issue's edit: a final run's test metric set to 1e-9 must not change the table."""
    import json
    import shutil

    root, res = tiny_study
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    rid = res.pair("quadratic", "gd").final[0].run_id
    sj = copy / "runs" / rid / "summary.json"
    rec = json.loads(sj.read_text())
    rec["summary"]["train_loss"] = 1e-9
    sj.write_text(json.dumps(rec, indent=1))
    with pytest.raises(store.CorruptRecordError, match=rf"{rid}.*summary.json.*checksum"):
        study.load_study(copy)


def test_failed_optimizers_rank_last_and_are_never_bold(tmp_path):
    cfg = tiny_config(
        search={"gd": {"learning_rate": {"grid": [1.0]}},  # |1 - 1.0*10|^40: overflows
                "heavy-ball": {"learning_rate": {"grid": [1.0]}, "beta": HB_BETA}},
        tuning_seeds=1, seeds=2,
    )  # fmt: skip
    res = study.run_study(cfg, tmp_path / "fail")
    assert all(res.pair("quadratic", o).final_failed().all() for o in ("gd", "heavy-ball"))
    md = plot_study.tables(res)["ranks"][0]
    assert "**" not in md and md.count("(all runs failed)") == 2
    assert res.comparison().all_failed.tolist() == [True, True]


def test_selected_value_at_the_edge_is_flagged_and_widened(tmp_path, capsys):
    from optlab import cli

    toml = tmp_path / "edge.toml"
    toml.write_text(
        textwrap.dedent(
            f"""
            name = "edge"
            problems = ["quadratic"]
            optimizers = ["gd"]
            seeds = 2
            steps = {STEPS}
            [search.gd]
            learning_rate = {{grid = [0.02, 0.05, 0.1]}}
            [problem_options.quadratic]
            condition = {COND}
            init_noise = 0.1
            """
        )
    )
    out = tmp_path / "edge"
    args = ["compare", "--config", str(toml), "--out", str(out), "--no-report"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    # lr 0.1 is best (the stiff axis converges in one step, the flat one fastest): the top edge
    assert "warning: gd on quadratic: selected learning_rate=0.1 is the largest value" in text
    assert "reused 0 stored run(s), trained 5 new run(s)" in text
    res = study.load_study(out)
    (hit,) = res.edge_hits("quadratic", "gd")
    assert (hit.hyperparameter, hit.value, hit.side) == ("learning_rate", 0.1, "high")
    tabs = plot_study.tables(res)
    assert "## Warnings" in tabs["warnings"][0]
    assert "learning_rate = {grid = [0.02, 0.05, 0.1, 0.2]}" in tabs["warnings"][0]
    assert "learning_rate=0.1 † (high edge)" in tabs["quadratic"][0]
    assert "†" in tabs["results"][0] and r"$^\dagger$" in tabs["quadratic"][1]
    (png,) = plot_study.plot_lr_sensitivity(res, "quadratic", tmp_path / "figs", ("png",))
    assert png.stat().st_size > 0
    # --widen: the three stored trials and the finals are reused; 0.2 is trained and loses
    # (|1 - 0.2*10| = 1: the stiff axis never converges), so 0.1 is now inside the range
    assert cli.main([*args, "--widen"]) == 0
    text = capsys.readouterr().out
    assert "--widen: searching again with gd.learning_rate" in text
    assert "reused 5 stored run(s), trained 0 new run(s)" in text
    assert "reused 5 stored run(s), trained 1 new run(s)" in text
    res = study.load_study(out)
    assert res.pair("quadratic", "gd").best == {"learning_rate": 0.1}
    assert res.warnings() == [] and "None" in plot_study.tables(res)["warnings"][0]
    # the widened study is now the stored one: the narrower search is a named conflict
    assert cli.main(args) == 2
    assert "search.gd: stored {'learning_rate': {'grid': [0.02" in capsys.readouterr().err


def test_final_runs_store_params_and_summary_holds_every_metric(tiny_study):
    """Issue 11 section 6: final runs keep their params (npz, leaves in tree_flatten order);
    summary.csv holds every final metric."""
    root, res = tiny_study
    st = store.Store(root)
    pr = res.pair("quadratic", "gd")
    like = problems.get("quadratic", condition=COND, init_noise=0.1).init(jax.random.key(0))
    a = np.diag([1.0, COND])
    for rec in pr.final:
        x = x0_of(rec.config["seed"])
        for _ in range(STEPS):  # numpy float64 gradient descent with the selected lr
            x = x - pr.best["learning_rate"] * (a @ x)
        got = st.load_params(rec.run_id, like)
        np.testing.assert_allclose(np.asarray(got, np.float64), x, rtol=2e-3, atol=1e-7)
    assert not any(st.has_params(r.run_id) for trial in pr.tuning for r in trial)
    with pytest.raises(FileNotFoundError, match="only the final"):
        st.load_params(pr.tuning[0][0].run_id, like)
    with pytest.raises(store.CorruptRecordError, match="leaves"):
        st.load_params(pr.final[0].run_id, [like, like])
    header = (root / "summary.csv").read_text().splitlines()[0].split(",")
    finals = {k for k in pr.final[0].summary if k.startswith(("train_", "val_", "test_"))}
    assert finals and finals <= set(header)
