"""Minima, saddles, barriers and basins against analytic truths from the literature."""

import jax.numpy as jnp
import numpy as np
import pytest

from optlab import landscape as ls


def camel(z):
    x, y = z[0], z[1]
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def himmelblau(z):
    x, y = z[0], z[1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def beale(z):
    x, y = z[0], z[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def double_well(z):
    return (z[0] ** 2 - 1) ** 2 + z[1] ** 2


@pytest.fixture(scope="module")
def camel_result():
    return ls.analyze_slice(camel, ((-3, 3), (-2, 2)), 101)


def test_six_hump_camel_minima(camel_result):
    ms = camel_result.minima
    assert len(ms) == 6
    # literature: two global minima at (+-0.0898, -+0.7126), f = -1.0316
    glob = [m for m in ms if m.is_global]
    assert len(glob) == 2
    ref = np.array([0.08984201, -0.71265640])
    pts = sorted((m.point for m in glob), key=lambda p: p[0])
    np.testing.assert_allclose(pts[1], ref, atol=1e-5)
    np.testing.assert_allclose(pts[0], -ref, atol=1e-5)
    for m in glob:
        assert m.value == pytest.approx(-1.0316284535, abs=1e-6)
        assert not m.on_boundary and m.refined
    # the other four: (+-1.7036, -+0.7961) f=-0.2155 and (+-1.6071, +-0.5687) f=2.1043
    others = sorted(round(m.value, 4) for m in ms if not m.is_global)
    assert others == [-0.2155, -0.2155, 2.1043, 2.1043]
    assert [m.value for m in ms] == sorted(m.value for m in ms)
    # every refined minimum has a positive definite Hessian (both eigenvalues > 0)
    assert all(np.all(m.hessian_eigenvalues > 0) for m in ms)


def test_camel_basins_partition_the_box(camel_result):
    r = camel_result
    assert r.basins.shape == (101, 101)
    assert set(np.unique(r.basins)) == set(range(6))
    np.testing.assert_allclose(r.basin_fractions.sum(), 1.0)
    np.testing.assert_allclose([m.basin_fraction for m in r.minima], r.basin_fractions)
    # symmetric function f(x, y) = f(-x, -y): mirror-image minima drain similar areas
    g = [m.basin_fraction for m in r.minima if m.is_global]
    assert abs(g[0] - g[1]) < 0.02


def test_camel_saddle_between_global_minima_is_origin(camel_result):
    r = camel_result
    i, j = [k for k, m in enumerate(r.minima) if m.is_global]
    # f(0, 0) = 0 is the index-1 saddle joining the two global minima (grad 0, Hessian
    # [[8, 1], [1, -8]] indefinite)
    assert r.barriers[i, j] == pytest.approx(0.0, abs=1e-9)
    assert r.barrier_heights()[i, j] == pytest.approx(1.0316284535, abs=1e-6)
    s0 = min(r.saddles, key=lambda s: abs(s.value))
    np.testing.assert_allclose(s0.point, [0.0, 0.0], atol=1e-7)
    assert s0.refined and s0.hessian_eigenvalues[0] < 0 < s0.hessian_eigenvalues[1]
    assert r.merge_tree.shape == (5, 4)  # six leaves, five merges
    # 6 minima, 2 maxima and 7 saddles: 6 - 7 + 2 = 1, the Euler characteristic of the box
    # (the gradient points outward on its edge)
    assert len(r.critical_saddles) == 7
    assert np.all(np.diff(r.merge_tree[:, 2]) >= 0)


def _himmelblau_grad_hess(p):
    x, y = p
    g = np.array(
        [4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7), 2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7)]
    )
    h = np.array([[12 * x**2 + 4 * y - 42, 4 * x + 4 * y], [4 * x + 4 * y, 12 * y**2 + 4 * x - 26]])
    return g, h


def _newton_np(p, n=50):
    p = np.array(p, dtype=np.float64)
    for _ in range(n):
        g, h = _himmelblau_grad_hess(p)
        p = p - np.linalg.solve(h, g)
    return p


def test_himmelblau_minima_and_barriers():
    r = ls.analyze_slice(himmelblau, ((-5, 5), (-5, 5)), 80, dtype="float64")
    known = np.array(
        [[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]]
    )
    assert len(r.minima) == 4
    for m in r.minima:
        assert m.is_global and m.value == pytest.approx(0.0, abs=1e-9)
        assert np.min(np.linalg.norm(known - m.point, axis=1)) < 1e-5
    # saddles, found independently by float64 Newton on the hand-derived gradient
    saddle_pts = [_newton_np(p) for p in ([0.09, 2.88], [-3.07, -0.08], [3.39, 0.07])]
    saddle_vals = sorted(float(himmelblau(p)) for p in saddle_pts)
    for p in saddle_pts:
        g, h = _himmelblau_grad_hess(p)
        assert np.linalg.norm(g) < 1e-9 and np.linalg.eigvalsh(h)[0] < 0
    # merge tree: three merges at exactly these three saddle values (the fourth saddle,
    # f = 178.3, closes a cycle and is never a minimax barrier)
    np.testing.assert_allclose(r.merge_tree[:, 2], saddle_vals, rtol=1e-8)
    assert [s.refined for s in r.saddles] == [True] * 3
    # all four saddles of the box, including the one that is not a barrier
    p4 = _newton_np([-0.13, -1.95])
    all_vals = sorted([*saddle_vals, float(himmelblau(p4))])
    np.testing.assert_allclose([s.value for s in r.critical_saddles], all_vals, rtol=1e-8)
    assert r.critical_saddles[-1].minima == (-1, -1)
    np.testing.assert_allclose(r.critical_saddles[-1].point, p4, atol=1e-7)
    # barrier between minimum near (3, 2) and (3.58, -1.85) is the lowest saddle
    i = int(np.argmin(np.linalg.norm([m.point - [3, 2] for m in r.minima], axis=1)))
    j = int(np.argmin(np.linalg.norm([m.point - [3.584428, -1.848126] for m in r.minima], axis=1)))
    assert r.barriers[i, j] == pytest.approx(saddle_vals[0], rel=1e-8)
    # minimax barriers form an ultrametric: B[i,k] <= max(B[i,j], B[j,k])
    B = r.barriers
    for a in range(4):
        for b in range(4):
            for c in range(4):
                assert B[a, c] <= max(B[a, b], B[b, c]) + 1e-9


def test_beale_edge_minimum_flagged():
    r = ls.analyze_slice(beale, ((-4.5, 4.5), (-4.5, 4.5)), 91, dtype="float64")
    glob = r.minima[0]
    np.testing.assert_allclose(glob.point, [3.0, 0.5], atol=1e-5)
    assert glob.value == pytest.approx(0.0, abs=1e-9) and not glob.on_boundary
    edge = [m for m in r.minima if m.on_boundary and abs(m.point[0] + 4.5) < 1e-9]
    assert edge, [(m.point, m.on_boundary) for m in r.minima]
    m = edge[0]
    # independent check with central differences in float64: df/dx > 0 points out of the
    # box at x = -4.5 (so it is not a critical point), and df/dy = 0 along the edge
    h = 1e-6
    fx = (float(beale(m.point + [h, 0])) - float(beale(m.point - [h, 0]))) / (2 * h)
    fy = (float(beale(m.point + [0, h])) - float(beale(m.point - [0, h]))) / (2 * h)
    assert fx > 0.05 and abs(fy) < 1e-6
    assert not glob.on_boundary


def test_double_well_barrier_and_basins():
    # even resolution: the saddle at the origin is not a grid vertex; refinement finds it
    r = ls.analyze_slice(double_well, ((-2, 2), (-1.3, 1.3)), 40)
    assert len(r.minima) == 2
    np.testing.assert_allclose(sorted(m.point[0] for m in r.minima), [-1, 1], atol=1e-7)
    assert r.barriers[0, 1] == pytest.approx(1.0, abs=1e-9)
    assert abs(r.barriers_grid[0, 1] - 1.0) > 1e-3  # the grid alone is off
    np.testing.assert_allclose(r.basin_fractions, [0.5, 0.5], atol=1e-12)
    assert len(r.saddles) == 1
    np.testing.assert_allclose(r.saddles[0].point, [0, 0], atol=1e-8)


def test_single_minimum_plateau_and_nan_regions():
    r = ls.analyze_slice(lambda z: jnp.sum((z - 0.3) ** 2), ((-1, 1), (-1, 1)), 21)
    assert len(r.minima) == 1 and r.saddles == [] and r.merge_tree.shape == (0, 4)
    np.testing.assert_allclose(r.minima[0].point, [0.3, 0.3], atol=1e-7)
    assert r.basin_fractions[0] == 1.0 and r.minima[0].persistence == np.inf

    flat = ls.analyze_slice(lambda z: 0.0 * z[0] + 2.0, ((-1, 1), (-1, 1)), 11)
    assert len(flat.minima) == 1 and flat.minima[0].value == 2.0

    def walled(z):
        return jnp.where(jnp.abs(z[0]) < 0.25, jnp.nan, double_well(z))

    w = ls.analyze_slice(walled, ((-2, 2), (-1, 1)), 41)
    assert w.nonfinite_fraction > 0.05
    assert len(w.minima) == 2 and all(m.persistence == np.inf for m in w.minima)
    assert w.barriers[0, 1] == np.inf and w.merge_tree.shape == (0, 4)
    assert set(np.unique(w.basins)) == {-1, 0, 1}
    np.testing.assert_allclose(w.basin_fractions.sum() + w.nonfinite_fraction, 1.0)

    allnan = ls.analyze_grid(np.full((5, 5), np.nan), np.arange(5.0), np.arange(5.0))
    assert allnan.minima == [] and allnan.nonfinite_fraction == 1.0


def bumpy(z):
    return double_well(z) + 0.05 * jnp.sin(25 * z[0]) * jnp.sin(25 * z[1])


def test_persistence_threshold_drops_noise():
    raw = ls.analyze_slice(bumpy, ((-2, 2), (-1, 1)), 101, persistence_threshold=0.0)
    clean = ls.analyze_slice(bumpy, ((-2, 2), (-1, 1)), 101, persistence_threshold=0.3)
    assert len(raw.minima) > 10
    assert len(clean.minima) == 2 and clean.n_grid_minima == raw.n_grid_minima
    # the origin is still a critical point (sin(0) = 0) with value 1: the barrier
    assert clean.barriers[0, 1] == pytest.approx(1.0, abs=1e-9)
    # noise minima's basins are absorbed into the two survivors
    np.testing.assert_allclose(clean.basin_fractions.sum(), 1.0)


def test_find_minima_on_a_network_slice_of_a_quadratic():
    # linear least squares: the slice g(a, b) is an exact 2-D quadratic whose minimum solves
    # a 2x2 linear system (numpy float64 truth)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = rng.normal(size=30)
    w0, u, v = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    params = {"w": jnp.asarray(w0, jnp.float32)}
    loss = lambda p: jnp.mean((jnp.asarray(X, jnp.float32) @ p["w"] - y) ** 2)  # noqa: E731
    g = ls.slice_function(loss, params, {"w": jnp.asarray(u)}, {"w": jnp.asarray(v)})
    ms = ls.find_minima(g, ((-3, 3), (-3, 3)), 31)
    A = X @ np.stack([u, v], 1)
    c, *_ = np.linalg.lstsq(A, y - X @ w0, rcond=None)
    assert len(ms) == 1
    np.testing.assert_allclose(ms[0].point, c, atol=2e-4)


@pytest.mark.parametrize(
    "bounds, resolution, match",
    [
        (((1, 0), (0, 1)), 11, "bounds"),
        (((0, 0), (0, 1)), 11, "bounds"),
        (((0, 1), (0, np.inf)), 11, "bounds"),
        (((0, 1), (0, np.nan)), 11, "bounds"),
        ((0, 1), 11, "bounds"),
        (((0, 1), (0, 1)), 2, "resolution"),
        (((0, 1), (0, 1)), 5.5, "resolution"),
    ],
)
def test_bad_input(bounds, resolution, match):
    with pytest.raises(ValueError, match=match):
        ls.find_minima(double_well, bounds, resolution)
