"""optlab.stats against scipy and hand-computed/brute-force references."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats as ss

from optlab import stats


def test_summarize_matches_numpy_and_excludes_failures():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    x_fail = np.concatenate([x, [np.nan, np.inf]])
    failed = np.zeros(x_fail.size, bool)
    failed[3] = True  # a diverged run whose value happens to be finite
    s = stats.summarize(x_fail, failed)
    ok = np.delete(x, 3)
    assert s.n == 22 and s.n_failed == 3
    assert s.failure_rate == pytest.approx(3 / 22)
    assert s.mean == pytest.approx(ok.mean())
    assert s.std == pytest.approx(np.std(ok, ddof=1))
    assert s.median == pytest.approx(np.median(ok))
    assert s.iqr == pytest.approx(ss.iqr(ok))
    assert s.ci_low < s.mean < s.ci_high
    allfail = stats.summarize([np.nan, np.nan])
    assert allfail.failure_rate == 1.0 and math.isnan(allfail.mean)


def test_bootstrap_ci_matches_scipy_percentile_and_is_seeded():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=40)
    lo, hi = stats.bootstrap_ci(x, np.mean, n_boot=20_000, seed=3)
    ref = ss.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=5)
    # Different random streams: agree to Monte Carlo error.
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.03)
    assert stats.bootstrap_ci(x, seed=3, n_boot=20_000) == (lo, hi)
    # Median works through the axis= fast path; a plain lambda through apply_along_axis.
    a = stats.bootstrap_ci(x, np.median, n_boot=500, seed=0)
    b = stats.bootstrap_ci(x, lambda v: float(np.median(v)), n_boot=500, seed=0)
    assert a == pytest.approx(b)


def test_rankdata_matches_scipy():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=30).astype(float)
    np.testing.assert_allclose(stats.rankdata(x), ss.rankdata(x, method="average"))


def test_average_ranks_against_scipy_rankdata():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(6, 5)).astype(float)
    expect = np.mean([ss.rankdata(r) for r in scores], axis=0)
    np.testing.assert_allclose(stats.average_ranks(scores), expect)
    expect_hi = np.mean([ss.rankdata(-r) for r in scores], axis=0)
    np.testing.assert_allclose(stats.average_ranks(scores, higher_is_better=True), expect_hi)
    # A failure ranks last.
    np.testing.assert_allclose(stats.average_ranks([[np.nan, 1.0, 2.0]]), [3.0, 1.0, 2.0])


@pytest.mark.parametrize("n", [1, 3, 7, 12, 30])
def test_sign_test_matches_binomtest(n):
    rng = np.random.default_rng(n)
    d = rng.normal(0.3, 1.0, size=n)
    d[::5] = 0.0  # zeros are dropped
    k, m = int((d > 0).sum()), int((d != 0).sum())
    ref = ss.binomtest(k, m, 0.5).pvalue if m else 1.0
    assert stats.sign_test(d) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 20, 40])
def test_wilcoxon_exact_matches_scipy(n):
    rng = np.random.default_rng(10 + n)
    d = rng.normal(0.4, 1.0, size=n)
    stat, p = stats.wilcoxon(d, method="exact")
    ref = ss.wilcoxon(d, method="exact")
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    assert stats.wilcoxon(d)[1] == pytest.approx(p)  # auto picks exact here


def test_wilcoxon_approx_with_ties_and_zeros_matches_scipy():
    rng = np.random.default_rng(7)
    d = np.round(rng.normal(0.3, 1.0, size=60), 1)  # many ties
    d[:4] = 0.0
    stat, p = stats.wilcoxon(d)  # auto -> approx (ties)
    ref = ss.wilcoxon(d, method="asymptotic", zero_method="wilcox", correction=False)
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    big = rng.normal(size=80)
    p2 = stats.wilcoxon(big)[1]
    assert p2 == pytest.approx(ss.wilcoxon(big, method="asymptotic").pvalue, rel=1e-10)
    assert stats.wilcoxon(np.zeros(5)) == (0.0, 1.0)


def test_paired_comparison():
    base = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    vals = base - np.array([0.5, 0.1, 0.3, -0.2, 0.4, 0.6])
    fail = np.array([False, False, False, False, False, True])
    pc = stats.paired_comparison(vals, base, failed=fail, higher_is_better=False)
    d = (vals - base)[:5]
    assert pc.n_pairs == 5
    assert pc.mean_diff == pytest.approx(d.mean())
    assert pc.median_diff == pytest.approx(np.median(d))
    assert (pc.wins, pc.losses) == (4, 1)
    assert pc.sign_p == pytest.approx(ss.binomtest(1, 5).pvalue)
    assert pc.wilcoxon_p == pytest.approx(ss.wilcoxon(d, method="exact").pvalue)
    assert pc.ci_low <= pc.mean_diff <= pc.ci_high
    with pytest.raises(ValueError, match="pair"):
        stats.paired_comparison([1.0], [1.0, 2.0])


def test_performance_profile_hand_computed():
    costs = np.array(
        [
            [10.0, 20.0, np.inf],  # ratios 1, 2, inf
            [30.0, 15.0, 15.0],  # ratios 2, 1, 1
            [np.inf, np.inf, np.inf],  # nobody solved: all inf
            [5.0, 50.0, 10.0],  # ratios 1, 10, 2
        ]
    )
    r = stats.performance_ratios(costs)
    np.testing.assert_allclose(r[0], [1, 2, np.inf])
    np.testing.assert_allclose(r[3], [1, 10, 2])
    assert np.all(np.isinf(r[2]))
    rho = stats.performance_profile(costs, [1.0, 2.0, 5.0, 100.0])
    np.testing.assert_allclose(rho[0], [2 / 4, 3 / 4, 3 / 4, 3 / 4])
    np.testing.assert_allclose(rho[1], [1 / 4, 2 / 4, 2 / 4, 3 / 4])
    np.testing.assert_allclose(rho[2], [1 / 4, 2 / 4, 2 / 4, 2 / 4])
    failed = np.zeros_like(costs, bool)
    failed[3, 0] = True
    np.testing.assert_allclose(stats.performance_ratios(costs, failed)[3], [np.inf, 5, 1])
    with pytest.raises(ValueError, match="positive"):
        stats.performance_ratios([[0.0, 1.0]])


@pytest.mark.parametrize("higher", [True, False])
def test_expected_best_without_replacement_vs_enumeration(higher):
    v = np.array([0.3, 0.9, 0.1, 0.5, 0.5, 0.7, np.nan])  # with a tie and a failure
    clean = np.where(np.isnan(v), -np.inf if higher else np.inf, v)
    best = max if higher else min
    for k in range(1, v.size + 1):
        subsets = [best(c) for c in itertools.combinations(clean, k)]
        mean, std = stats.expected_best(v, k, higher_is_better=higher)
        if np.all(np.isfinite(subsets)):
            assert mean == pytest.approx(np.mean(subsets), rel=1e-12)
            assert std == pytest.approx(np.std(subsets), abs=1e-12)
        else:
            assert mean == (-np.inf if higher else np.inf)


def test_expected_best_with_replacement_vs_enumeration():
    v = np.array([0.2, 0.8, 0.5, 0.5])
    for k in (1, 2, 3):
        draws = [max(c) for c in itertools.product(v, repeat=k)]
        mean, std = stats.expected_best(v, k, replace=True)
        assert mean == pytest.approx(np.mean(draws))
        assert std == pytest.approx(np.std(draws))
    ks, m, _ = stats.tuning_budget_curve(v)
    np.testing.assert_array_equal(ks, [1, 2, 3, 4])
    assert m[0] == pytest.approx(v.mean()) and m[-1] == pytest.approx(v.max())
    assert np.all(np.diff(m) >= 0)
    with pytest.raises(ValueError, match="k must be"):
        stats.expected_best(v, 5)


def test_steps_to_target():
    steps = np.array([10, 20, 30, 40])
    curves = np.array(
        [
            [3.0, 2.0, 0.5, 0.1],
            [3.0, 3.0, 3.0, 3.0],
            [0.9, np.nan, np.nan, np.nan],
            [1.0, 0.2, 0, 0],
        ]
    )
    out = stats.steps_to_target(curves, steps, 1.0, failed=[False, False, False, True])
    np.testing.assert_array_equal(out, [30, np.inf, 10, np.inf])
    acc = stats.steps_to_target([0.1, 0.5, 0.95], [1, 2, 3], 0.9, higher_is_better=True)
    assert acc == 3.0


# --------------------------------------------------------------------------- exactness at
# the sample sizes studies use (n = 2..5 seeds), with ties, against brute force and scipy


def _wilcoxon_brute(d):
    """Two-sided exact p of the signed-rank test conditional on the midranks: all 2^n signs."""
    d = np.asarray(d, float)
    d = d[d != 0]
    r = ss.rankdata(np.abs(d))
    t_obs = min(r[d > 0].sum(), r[d < 0].sum())
    sums = [
        sum(ri for ri, s in zip(r, signs, strict=True) if s)
        for signs in itertools.product([0, 1], repeat=d.size)
    ]
    return t_obs, min(1.0, 2 * np.mean(np.asarray(sums) <= t_obs + 1e-9))


WILCOXON_TIES = [
    [0.3, 0.3, 0.3],  # three equal differences: exact p = 2/8
    [0.5, -0.2, 0.3, 0.3, 0.1, 0.7],  # the issue's example: 6/64 = 0.094
    [1.0, -1.0],
    [2.0, 2.0, -1.0, 0.0, 2.0],
    [0.1, 0.1, -0.1, 0.1],
    [1.0, 1.0, 2.0, 2.0, -3.0],
    [-0.5, -0.5, -0.5, -0.5, -0.5],
]


@pytest.mark.parametrize("d", WILCOXON_TIES)
def test_wilcoxon_exact_with_ties_vs_enumeration_and_scipy_permutation(d):
    stat, p = stats.wilcoxon(d)  # auto: exact for n <= 50, ties included
    t_ref, p_ref = _wilcoxon_brute(d)
    assert stat == pytest.approx(t_ref) and p == pytest.approx(p_ref, rel=1e-12)
    nz = np.asarray(d, float)
    nz = nz[nz != 0]
    ref = ss.wilcoxon(nz, method=ss.PermutationMethod())  # exact: enumerates 2^n <= 9999
    assert p == pytest.approx(ref.pvalue, rel=1e-12)


def test_wilcoxon_issue_values():
    assert stats.wilcoxon([0.3, 0.3, 0.3])[1] == pytest.approx(0.25)
    assert stats.wilcoxon([0.5, -0.2, 0.3, 0.3, 0.1, 0.7])[1] == pytest.approx(6 / 64)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_wilcoxon_every_sign_pattern_and_tie_structure_small_n(n):
    """Every sign pattern over magnitudes with and without ties, against the enumeration."""
    for mags in ([1.0 + i for i in range(n)], [1.0] * n, [1.0] * (n - 1) + [2.0]):
        for signs in itertools.product([-1, 1], repeat=n):
            d = np.asarray(signs) * np.asarray(mags)
            assert stats.wilcoxon(d)[1] == pytest.approx(_wilcoxon_brute(d)[1], rel=1e-12)


def test_wilcoxon_exact_large_n_with_ties_vs_monte_carlo_free_scipy():
    rng = np.random.default_rng(4)
    d = np.round(rng.normal(0.2, 1.0, size=12), 1)  # ties; 2^12 = 4096 patterns
    ref = ss.wilcoxon(d[d != 0], method=ss.PermutationMethod(n_resamples=5000))
    assert stats.wilcoxon(d)[1] == pytest.approx(ref.pvalue, rel=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_sign_test_small_n_with_ties_vs_binomtest(n):
    for signs in itertools.product([-1, 0, 1], repeat=n):
        d = np.asarray(signs, float)
        k, m = int((d > 0).sum()), int((d != 0).sum())
        ref = ss.binomtest(k, m, 0.5).pvalue if m else 1.0
        assert stats.sign_test(d) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize(
    "x", [[1.0, 3.0], [2.0, 2.0, 5.0], [0.1, 0.4, 0.4, 0.9], [1.0, 1, 2, 7, 7]]
)
def test_bootstrap_ci_small_n_vs_exact_bootstrap_distribution(x):
    """At n <= 5 the bootstrap distribution is enumerable (n^n equally likely resamples)."""
    x = np.asarray(x)
    means = np.sort(
        [np.mean(x[list(idx)]) for idx in itertools.product(range(x.size), repeat=x.size)]
    )
    lo, hi = stats.bootstrap_ci(x, n_boot=20_000, seed=1)

    def within(v, p, tol=0.007):  # v is a p-quantile of the exact distribution, +-tol
        return np.mean(means < v - 1e-12) <= p + tol and np.mean(means <= v + 1e-12) >= p - tol

    # Monte Carlo with 20000 resamples: each percentile is within 0.7% in probability
    assert within(lo, 0.025) and within(hi, 0.975)
    s = stats.summarize(x)
    assert s.std == pytest.approx(np.std(x, ddof=1)) and s.median == pytest.approx(np.median(x))
    assert (s.q25, s.q75) == pytest.approx(tuple(np.quantile(x, [0.25, 0.75])))


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_ranks_small_n_with_ties_and_failures_vs_scipy(n):
    rng = np.random.default_rng(n)
    scores = rng.integers(0, 2, size=(3, n)).astype(float)  # many ties
    scores[0, -1] = np.nan  # a failure ranks last on its problem, below every tie
    key = np.where(np.isfinite(scores), scores, np.inf)
    expect = np.mean([ss.rankdata(row) for row in key], axis=0)
    np.testing.assert_allclose(stats.average_ranks(scores), expect)
    assert stats.average_ranks(scores[:1])[-1] == n  # strictly last on that problem


def test_performance_profile_small_with_ties_vs_direct_count():
    costs = np.array([[2.0, 2.0, 4.0], [1.0, np.inf, 3.0], [5.0, 5.0, 5.0], [np.inf, np.inf, 1.0]])
    taus = np.array([1.0, 1.5, 2.0, 3.0, 10.0])
    rho = stats.performance_profile(costs, taus)
    for s in range(3):
        for j, t in enumerate(taus):
            count = sum(
                np.isfinite(costs[p, s]) and costs[p, s] / np.min(costs[p]) <= t for p in range(4)
            )
            assert rho[s, j] == count / 4
