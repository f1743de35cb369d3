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
