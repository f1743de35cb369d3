"""`optlab landscape` end to end, and re-plotting saved results without recomputing."""

import json

import numpy as np
import pytest

from optlab import cli
from optlab import landscape as ls
from optlab.plot import landscape as pl


def test_cli_analytic_problem_end_to_end(tmp_path):
    out = tmp_path / "camel"
    rc = cli.main(
        [
            "landscape",
            "--problem",
            "six-hump-camel",
            "--optimizer",
            "adam",
            "--steps",
            "50",
            "--resolution",
            "41",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "analysis.json").read_text())
    # the slice through the coordinate axes is the function itself: six minima, the global
    # value -1.0316 (literature)
    assert len(summary["minima"]) == 6
    assert summary["minima"][0]["value"] == pytest.approx(-1.0316, abs=1e-4)
    for name in ("contour", "basins", "surface", "disconnectivity", "curve"):
        assert (out / f"{name}.pdf").stat().st_size > 0 and (out / f"{name}.png").exists()
    # re-plot from the files alone (no jax involved): slice + analysis + stored trajectory
    s, arrays = ls.load_slice(out / "slice")
    summ, grids = ls.load_analysis(out / "analysis")
    fig = pl.overview(
        s.alphas,
        s.betas,
        s.values,
        summ,
        basins=grids["basins"],
        trajectories={"adam": arrays["traj_0"]},
    )
    paths = pl.save(fig, tmp_path / "replot" / "overview")
    assert all(p.stat().st_size > 1000 for p in paths)
    assert s.metadata["directions"] == "axes" and s.metadata["resolution"] == [41, 41]


def test_cli_network_random_plane(tmp_path):
    out = tmp_path / "adder"
    rc = cli.main(
        [
            "landscape",
            "--problem",
            "adder",
            "--steps",
            "200",
            "--resolution",
            "11",
            "--range",
            "-0.5",
            "0.5",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    s, _ = ls.load_slice(out / "slice")
    assert s.values.shape == (11, 11) and np.all(np.isfinite(s.values))
    md = s.metadata
    assert md["normalization"] == "filter" and md["seeds"] == [0]
    # the path users get: the adding network's grid points along the vector lanes
    assert md["path"] == "lanes"
    assert {"d1_norm", "d2_norm", "cosine", "step_relative"} <= set(md)


def test_cli_bad_input():
    assert cli.main(["landscape", "--resolution", "2", "--quiet"]) == 2
    assert cli.main(["landscape", "--range", "1", "-1", "--quiet"]) == 2
    assert cli.main(["landscape", "--problem", "adder", "--directions", "axes", "--quiet"]) == 2


def test_plots_handle_empty_and_nonfinite(tmp_path):
    a = np.linspace(-1, 1, 9)
    v = np.add.outer(a**2, a**2)
    v[:3, :3] = np.nan
    res = ls.analyze_grid(v, a, a)
    fig = pl.contour(a, a, v, analysis=res, basins=res.basins, log_scale=True)
    pl.save(fig, tmp_path / "c")
    pl.save(pl.disconnectivity({"minima": [], "merge_tree": []}), tmp_path / "d")
    pl.save(pl.spectrum([3.0, 1.0]), tmp_path / "e")
    pl.save(pl.trajectories(a, a, v, {"x": np.zeros((3, 2))}), tmp_path / "t")
    assert (tmp_path / "c.png").exists() and (tmp_path / "t.pdf").exists()


def test_cli_line_with_path_and_hp(tmp_path, capsys):
    """--directions line: train/test loss along the line; --path: a fitted path and both
    barriers; --hp reaches the optimizer (same params as train.train with b1 = 0.5)."""
    import jax

    from optlab import problems, train
    from optlab.pipelines import landscape as lp

    cfg = lp.LandscapeConfig(
        problem="digits-mlp", steps=20, directions="line", resolution=5, coord_range=(0.0, 1.0),
        path="bezier", path_steps=20, hyperparams=(("b1", 0.5),), out=str(tmp_path / "l"),
    )  # fmt: skip
    res = lp.run(cfg)
    prob = problems.get("digits-mlp")
    ref = train.train(
        prob, "adam", steps=20, key=jax.random.key(0),
        hyperparams={"learning_rate": prob.default_learning_rate, "b1": 0.5},
    )  # fmt: skip
    w0, w1 = res.runs[0].final_params, res.runs[1].final_params
    for a, b in zip(jax.tree.leaves(w0), jax.tree.leaves(ref.final_params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    mid = jax.tree_util.tree_map(lambda a, b: 0.25 * a + 0.75 * b, w0, w1)
    for split in ("train", "test"):
        got = res.values[f"{split} loss"]
        want = [prob.evaluate(p, split)["loss"] for p in (w0, mid, w1)]
        np.testing.assert_allclose(got[[0, 3, 4]], want, rtol=1e-5)
        acc = prob.evaluate(mid, split)["accuracy"]
        assert res.values[f"{split} accuracy"][3] == pytest.approx(acc, abs=1e-6)
    st, pa = res.straight, res.path
    assert st.barrier == pytest.approx(st.losses.max() - max(st.losses[0], st.losses[-1]))
    assert pa.losses[0] == pytest.approx(st.losses[0], rel=1e-5)
    summary = json.loads((tmp_path / "l" / "line.json").read_text())
    assert summary["path"]["barrier"] == pytest.approx(pa.barrier)
    assert cli.main(["landscape", "--hp", "b1", "--quiet"]) == 2
    assert cli.main(["landscape", "--hp", "momentum=0.9", "--quiet"]) == 2  # not adam's
    err = capsys.readouterr().err
    assert "NAME=VALUE" in err and "momentum" in err and "Traceback" not in err


def test_cli_from_study_three_point_uses_stored_params(tmp_path, capsys):
    from optlab import study

    cfg = study.StudyConfig(
        name="t", problems=("adder",), optimizers=("adam",),
        search={"adam": {"learning_rate": {"grid": [0.003, 0.01, 0.03]}}},  # 3 trials x 1 seed
        tuning_seeds=1, seeds=3, steps=30,  # the final 3 seeds reuse the tuning program
    )  # fmt: skip
    res = study.run_study(cfg, tmp_path / "s")
    final = res.pair("adder", "adam").final
    out = tmp_path / "l"
    args = ["landscape", "--from-study", str(tmp_path / "s"), "--problem", "adder"]
    rc = cli.main([*args, "--directions", "three-point", "--resolution", "5", "--out", str(out)])
    assert rc == 0
    s, _ = ls.load_slice(out / "slice")
    assert s.metadata["run_ids"] == [r.run_id for r in final]
    # the centre of a three-point plane is the first solution: its full training-split loss
    # as the study measured it after training
    assert s.metadata["center_loss"] == pytest.approx(final[0].summary["train_loss"], rel=1e-5)
    printed = capsys.readouterr().out
    assert f"training loss at the slice centre {s.metadata['center_loss']:.5g}" in printed
    for name in ("contour", "curve", "surface"):
        assert (out / f"{name}.png").exists()
    assert cli.main([*args, "--directions", "pca", "--quiet"]) == 2
    assert cli.main([*args, "--optimizer", "sgd", "--quiet"]) == 2
