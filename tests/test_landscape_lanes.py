"""Slices of problem_loss: the points-along-lanes path against numpy float64."""

import jax
import numpy as np
import pytest

from optlab import landscape as ls
from optlab import problems
from optlab.landscape import slices


def np_mlp(params, x):
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if i < len(params) - 1:
            h = np.maximum(h, 0)
    return h


def np_loss(problem, params, split):
    out = np_mlp(params, split.x)
    y = np.asarray(split.y)
    if problem.data.task == "regression":
        return np.mean((out - y.reshape(out.shape)) ** 2)
    m = out.max(1, keepdims=True)
    lse = (m + np.log(np.exp(out - m).sum(1, keepdims=True)))[:, 0]
    return np.mean(lse - out[np.arange(len(y)), y.astype(int)])


def shifted(params, d1, d2, a, b):
    def one(p, u, v):
        return (
            np.asarray(p, np.float64)
            + a * np.asarray(u, np.float64)
            + b * np.asarray(v, np.float64)
        )

    return jax.tree_util.tree_map(one, params, d1, d2)


CASES = [("adder", "train", True), ("moons-mlp", "val", True), ("digits-mlp", "test", False)]


@pytest.mark.parametrize("name,split,uses_lanes", CASES)
def test_problem_loss_slice_matches_numpy(name, split, uses_lanes):
    problem = problems.get(name)
    params = problem.init(jax.random.key(0))
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    alphas, betas = np.linspace(-1, 1, 7), np.linspace(-0.5, 1.5, 5)
    loss_fn = ls.problem_loss(problem, split)
    assert (slices._lanes_of(loss_fn) is not None) == uses_lanes
    got = ls.slice_2d(loss_fn, params, d1, d2, alphas, betas)
    data = getattr(problem.data, split)
    want = np.array(
        [[np_loss(problem, shifted(params, d1, d2, a, b), data) for b in betas] for a in alphas]
    )
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_problem_loss_rejects_bad_split_and_analytic_problems():
    with pytest.raises(ValueError, match="split must be"):
        ls.problem_loss(problems.get("adder"), "validation")
    with pytest.raises(ValueError, match="has no data"):
        ls.problem_loss(problems.get("rosenbrock"))
