"""optlab.landscape.paths: low-loss paths between minima, against known saddles and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optlab import landscape as ls
from optlab import problems
from optlab.landscape import paths

A = 1.5  # the valley floor y = A (1 - x^2) bends over a ridge between the minima (+-1, 0)


def valley(p):
    """Minima at (+-1, 0) (value 0); index-1 saddle at (0, A) with value exactly 1; the straight
    line y = 0 crosses x = 0 at 1 + 4 A^2 = 10."""
    return (p[0] ** 2 - 1) ** 2 + 4 * (p[1] - A * (1 - p[0] ** 2)) ** 2


W0, W1 = jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0])


def test_curves_go_around_the_ridge():
    for method, bound in (("bezier", 1.001), ("polychain", 1.8)):
        line, path = paths.connect(
            valley, W0, W1, method=method, key=jax.random.key(0), steps=400, learning_rate=0.03
        )
        assert line.barrier == pytest.approx(1 + 4 * A**2, rel=1e-6)  # analytic, at t = 1/2
        assert line.argmax_t == pytest.approx(0.5)
        # no path can pass below the saddle value 1 (mountain pass); the fitted one is close
        assert 1.0 - 1e-4 <= path.max_loss < bound
        assert path.barrier < 0.2 * line.barrier
        assert path.losses[0] == pytest.approx(0.0, abs=1e-6)
        assert path.fit_losses[-1] < path.fit_losses[0]
    # the best quadratic Bezier is the valley floor itself: bend (0, 2A) gives y = A (1 - x^2)
    np.testing.assert_allclose(paths.connect(
        valley, W0, W1, key=jax.random.key(0), steps=400, learning_rate=0.03
    )[1].nodes[0], [0.0, 2 * A], atol=0.02)  # fmt: skip


def test_neb_top_is_the_saddle_and_optimizer_is_pluggable():
    line, path = paths.connect(
        valley, W0, W1, method="neb", steps=600, optimizer=optax.sgd(1e-2), n_images=9
    )
    assert path.max_loss == pytest.approx(1.0, abs=1e-4)
    top = path.nodes[int(np.argmax([float(valley(jnp.asarray(p))) for p in path.nodes]))]
    np.testing.assert_allclose(top, [0.0, A], atol=1e-3)


def test_himmelblau_neb_barrier_equals_analyze_slice_saddle():
    h = problems.get("himmelblau")
    res = ls.analyze_slice(h.fn, h.bounds, 41)
    m0, m2 = np.array([3.0, 2.0]), np.array([3.58442834, -1.84812653])
    saddle = next(
        s for s in res.saddles if {tuple(np.round(res.minima[i].point, 3)) for i in s.minima}
        == {tuple(np.round(m0, 3)), tuple(np.round(m2, 3))}
    )  # fmt: skip
    _, path = paths.connect(h.fn, m0, m2, method="neb", steps=500, learning_rate=2e-3, n_images=9)
    assert path.max_loss == pytest.approx(saddle.value, abs=1e-4)
    assert path.barrier == pytest.approx(saddle.value - max(path.losses[0], path.losses[-1]))


def test_evaluate_path_matches_closed_forms_on_pytrees():
    """Bezier (1-t)^2 w0 + 2t(1-t) theta + t^2 w1 and the chain w0 -> theta -> w1, in numpy."""
    rng = np.random.default_rng(0)
    w0, th, w1 = ({"a": rng.normal(size=3), "b": rng.normal(size=(2, 2))} for _ in range(3))

    def loss(p):
        return jnp.sum(jnp.sin(p["a"])) + jnp.sum(p["b"] ** 2)

    def np_loss(a, b):
        return np.sum(np.sin(a)) + np.sum(b**2)

    bz = paths.evaluate_path(loss, "bezier", [w0, th, w1], num_points=11, dtype="float64")
    pc = paths.evaluate_path(loss, "polychain", [w0, th, w1], num_points=11, dtype="float64")
    for k, t in enumerate(np.linspace(0, 1, 11)):
        pt = {n: (1 - t) ** 2 * w0[n] + 2 * t * (1 - t) * th[n] + t**2 * w1[n] for n in w0}
        assert bz.losses[k] == pytest.approx(np_loss(pt["a"], pt["b"]), rel=1e-10)
        u, (p, q) = (2 * t, (w0, th)) if t <= 0.5 else (2 * t - 1, (th, w1))
        pt = {n: (1 - u) * p[n] + u * q[n] for n in w0}
        assert pc.losses[k] == pytest.approx(np_loss(pt["a"], pt["b"]), rel=1e-10)
    acc = paths.evaluate_path(
        loss, "line", [w0, w1], num_points=5, metrics={"a0": lambda p: p["a"][0]}, dtype="float64"
    )
    np.testing.assert_allclose(
        acc.metrics["a0"], w0["a"][0] + np.linspace(0, 1, 5) * (w1["a"][0] - w0["a"][0])
    )
    assert "barrier=" in repr(acc) and "array" not in repr(acc)


def test_bad_input_is_refused_before_compute():
    with pytest.raises(ValueError, match="method.*bezier"):
        paths.connect(valley, W0, W1, method="spline")
    with pytest.raises(ValueError, match="p1"):
        paths.fit_curve(valley, W0, jnp.zeros(3), key=jax.random.key(0))
    with pytest.raises(ValueError, match="n_images"):
        paths.fit_neb(valley, W0, W1, n_images=2)
