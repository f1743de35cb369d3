"""Statistics for optimizer comparisons, in plain numpy (no scipy at run time).

Every function takes numpy arrays (or anything ``np.asarray`` accepts) and returns numpy
arrays, floats or small frozen dataclasses. Randomness (the bootstrap) comes only from an
explicit ``np.random.default_rng(seed)``; the same seed gives the same interval.

Conventions:

- **Failures.** A diverged run is a failure. Functions that summarize a metric take a boolean
  ``failed`` mask (or treat non-finite values as failures): failed runs are excluded from means,
  medians and intervals and reported as a ``failure_rate``; in time-to-target and performance
  profiles they count as ``inf``.
- **Direction.** ``higher_is_better`` says whether a larger value is better (accuracy) or worse
  (loss). Every "best" follows it.

Contents: :func:`summarize` (mean ± std, median + IQR, bootstrap CI, failure rate),
:func:`bootstrap_ci`, :func:`paired_comparison` (paired differences against a baseline with a
bootstrap CI, sign test and Wilcoxon signed-rank test), :func:`sign_test`, :func:`wilcoxon`,
:func:`rankdata`, :func:`average_ranks`, :func:`performance_ratios`,
:func:`performance_profile` (Dolan & Moré 2002), :func:`expected_best` /
:func:`tuning_budget_curve` (Dodge et al. 2019), :func:`steps_to_target`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from optlab import _checks

__all__ = [
    "Summary",
    "PairedComparison",
    "summarize",
    "bootstrap_ci",
    "paired_comparison",
    "sign_test",
    "wilcoxon",
    "rankdata",
    "average_ranks",
    "performance_ratios",
    "performance_profile",
    "expected_best",
    "tuning_budget_curve",
    "steps_to_target",
    "failure_mask",
]


def _as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def failure_mask(values, failed=None) -> np.ndarray:
    """Boolean mask of failed runs: ``failed`` (if given) or a non-finite value.

    Args:
      values: metric values, any shape.
      failed: optional boolean array of the same shape (e.g. the ``diverged`` flags).

    Returns:
      ``failed | ~isfinite(values)``.
    """
    v = np.asarray(values, dtype=np.float64)
    mask = ~np.isfinite(v)
    if failed is not None:
        f = np.asarray(failed, dtype=bool)
        if f.shape != v.shape:
            raise ValueError(f"failed has shape {f.shape}, values have shape {v.shape}")
        mask = mask | f
    return mask


# --------------------------------------------------------------------------- summaries


def bootstrap_ci(
    x,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic(x)``.

    Draws ``n_boot`` resamples of ``x`` with replacement (from ``np.random.default_rng(seed)``),
    evaluates the statistic on each and returns the ``(1-level)/2`` and ``(1+level)/2``
    quantiles of those values (Efron & Tibshirani 1993, ch. 13).

    Args:
      x: 1-D sample (finite values).
      statistic: maps a 1-D array to a scalar; called row-wise on a ``(n_boot, n)`` array
        through ``np.apply_along_axis`` unless it accepts ``axis=`` (``np.mean``, ``np.median``
        and friends do, and are vectorized).
      level: coverage, in (0, 1).
      n_boot: number of bootstrap resamples.
      seed: seed of the resampling generator.

    Returns:
      ``(low, high)``; ``(nan, nan)`` for an empty sample, ``(x0, x0)`` for a single value.

    Example:
      >>> lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0], seed=0)
      >>> bool(1.0 <= lo <= 2.5 <= hi <= 4.0)
      True
    """
    arr = _as_1d(x, "x")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _checks.positive_int("n_boot", n_boot)
    if arr.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    samples = arr[idx]
    try:
        stats = np.asarray(statistic(samples, axis=1), dtype=np.float64)
    except TypeError:
        stats = np.apply_along_axis(statistic, 1, samples).astype(np.float64)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Summary:
    """Summary of one metric over runs (seeds); failed runs are excluded except from counts.

    Attributes:
      n: number of runs, failures included.
      n_failed: number of failed (diverged or non-finite) runs.
      failure_rate: ``n_failed / n``.
      mean, std: mean and sample standard deviation (ddof=1; 0 for one run) of the successes.
      median, q25, q75: median and quartiles (IQR = q75 - q25) of the successes.
      ci_low, ci_high: percentile bootstrap CI of the mean of the successes.
      min, max: extremes of the successes.
    """

    n: int
    n_failed: int
    failure_rate: float
    mean: float
    std: float
    median: float
    q25: float
    q75: float
    ci_low: float
    ci_high: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25

    def as_dict(self) -> dict[str, float]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["iqr"] = self.iqr
        return d


def summarize(
    values, failed=None, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> Summary:
    """Mean ± std, median + IQR, bootstrap CI of the mean and failure rate of a metric.

    Args:
      values: 1-D metric values, one per run.
      failed: optional boolean mask of failed runs (e.g. ``diverged``). Non-finite values are
        always failures.
      level, n_boot, seed: bootstrap settings (see :func:`bootstrap_ci`).

    Returns:
      A :class:`Summary`; statistics of an all-failed sample are ``nan``.

    Example:
      >>> s = summarize([1.0, 2.0, 3.0, float("nan")])
      >>> (s.n, s.n_failed, s.mean, s.median)
      (4, 1, 2.0, 2.0)
    """
    v = _as_1d(values, "values")
    fail = failure_mask(v, failed)
    ok = v[~fail]
    n, nf = int(v.size), int(fail.sum())
    if ok.size == 0:
        nan = math.nan
        return Summary(n, nf, nf / n if n else nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    q25, med, q75 = np.quantile(ok, [0.25, 0.5, 0.75])
    lo, hi = bootstrap_ci(ok, np.mean, level=level, n_boot=n_boot, seed=seed)
    return Summary(
        n=n,
        n_failed=nf,
        failure_rate=nf / n,
        mean=float(ok.mean()),
        std=float(ok.std(ddof=1)) if ok.size > 1 else 0.0,
        median=float(med),
        q25=float(q25),
        q75=float(q75),
        ci_low=lo,
        ci_high=hi,
        min=float(ok.min()),
        max=float(ok.max()),
    )


# --------------------------------------------------------------------------- paired tests


def rankdata(x) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties given the average of the ranks they span.

    Example:
      >>> rankdata([10.0, 20.0, 10.0, 5.0]).tolist()
      [2.5, 4.0, 2.5, 1.0]
    """
    a = _as_1d(x, "x")
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    ranks = np.empty(a.size, dtype=np.float64)
    i = 0
    while i < a.size:
        j = i
        while j + 1 < a.size and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def sign_test(d) -> float:
    """Two-sided exact sign test of "median difference = 0"; zero differences are dropped.

    With ``k`` positive among ``n`` non-zero differences, the p-value is
    ``min(1, 2 * P[Bin(n, 1/2) <= min(k, n-k)])`` (Conover 1999, §3.4).

    Args:
      d: 1-D paired differences.

    Returns:
      The p-value (1.0 when no difference is non-zero).
    """
    a = _as_1d(d, "d")
    a = a[np.isfinite(a)]
    pos, neg = int((a > 0).sum()), int((a < 0).sum())
    n = pos + neg
    if n == 0:
        return 1.0
    k = min(pos, neg)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return float(min(1.0, 2.0 * tail))


def _wilcoxon_exact_cdf(n: int) -> np.ndarray:
    """Counts of subsets of {1..n} by sum, as a probability vector over T+ = 0..n(n+1)/2."""
    return _signed_rank_null(np.arange(1, n + 1, dtype=np.int64))


def _signed_rank_null(scores: np.ndarray) -> np.ndarray:
    """``P[sum of a random subset of scores = s]`` for s = 0..sum(scores): all 2^n sign patterns.

    ``scores`` are non-negative integers (the ranks, or twice the midranks when there are
    ties). Dynamic programming over the scores, exact in float64 up to n = 50 (the counts are
    at most 2^50 < 2^53).
    """
    total = int(scores.sum())
    counts = np.zeros(total + 1, dtype=np.float64)
    counts[0] = 1.0
    for r in scores.tolist():
        if r:
            counts[r:] = counts[r:] + counts[:-r].copy()
        else:
            counts = 2.0 * counts  # a score of 0 does not move the sum
    return counts / 2.0**scores.size


def wilcoxon(d, *, method: str = "auto") -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of "differences symmetric about 0".

    Zero differences are dropped (Wilcoxon's convention). The ranks of ``|d|`` are midranks
    (tied values share the average of the ranks they span). The statistic is
    ``T = min(T+, T-)`` with ``T+`` the sum of the ranks over positive ``d``.

    - ``method="exact"``: the exact null distribution of ``T+`` *conditional on the observed
      ranks*, ties included: every one of the ``2^n`` sign patterns of the observed midranks is
      equally likely under the null. Twice the midranks are integers, so the distribution is
      computed by dynamic programming over them; ``p = min(1, 2 P[T+ <= T])`` (the null is
      symmetric about ``sum(ranks) / 2``). Without ties this is the classical exact test.
    - ``method="approx"``: normal approximation without continuity correction,
      ``z = (T+ - n(n+1)/4) / sigma`` with
      ``sigma^2 = (n(n+1)(2n+1) - sum_t (t^3 - t)/2) / 24`` (tie correction over groups of
      tied ``|d|`` of size ``t``), ``p = 2 Phi(-|z|)``.
    - ``method="auto"``: exact when ``n <= 50`` (ties or not), otherwise approx. The normal
      approximation is anti-conservative at the sample sizes studies use: three equal
      differences give p = 0.083 with it, 0.25 exactly.

    Tested against brute-force enumeration of all ``2^n`` sign patterns, against
    ``scipy.stats.wilcoxon(d, method="exact")`` without ties and against scipy's exact
    permutation test (``method=PermutationMethod()``) with ties.

    Args:
      d: 1-D paired differences.
      method: ``"auto"``, ``"exact"`` or ``"approx"``.

    Returns:
      ``(statistic, p_value)``; ``(0.0, 1.0)`` when all differences are zero.

    Example:
      >>> round(wilcoxon([0.5, -0.2, 0.3, 0.3, 0.1, 0.7])[1], 4)  # 6 of 64 sign patterns
      0.0938

    References:
      Wilcoxon (1945), Individual comparisons by ranking methods.
      Pratt & Gibbons (1981), Concepts of Nonparametric Theory, ch. 5 (conditional test with
      midranks).
    """
    if method not in ("auto", "exact", "approx"):
        raise ValueError(f"method must be 'auto', 'exact' or 'approx', got {method!r}")
    a = _as_1d(d, "d")
    a = a[np.isfinite(a) & (a != 0)]
    n = a.size
    if n == 0:
        return (0.0, 1.0)
    r = rankdata(np.abs(a))
    t_plus = float(r[a > 0].sum())
    t_minus = float(r[a < 0].sum())
    stat = min(t_plus, t_minus)
    _, tie_counts = np.unique(np.abs(a), return_counts=True)
    if method == "auto":
        method = "exact" if n <= 50 else "approx"
    if method == "exact":
        twice = np.rint(2.0 * r).astype(np.int64)  # midranks are multiples of 1/2
        pmf = _signed_rank_null(twice)
        p = 2.0 * pmf[: int(round(2.0 * stat)) + 1].sum()
        return (stat, float(min(1.0, p)))
    mean = n * (n + 1) / 4.0
    tie = float(((tie_counts.astype(np.float64) ** 3) - tie_counts).sum())
    var = (n * (n + 1) * (2 * n + 1) - tie / 2.0) / 24.0
    if var <= 0:
        return (stat, 1.0)
    z = (t_plus - mean) / math.sqrt(var)
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return (stat, float(min(1.0, p)))


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of an optimizer against a baseline over the same seeds.

    ``diff = value - baseline`` per seed (positive = larger value than the baseline; whether
    that is better depends on the metric). Only seeds where both runs succeeded are paired.

    Attributes:
      n_pairs: number of seeds where both runs succeeded.
      mean_diff, median_diff: mean and median of the paired differences.
      ci_low, ci_high: percentile bootstrap CI of the mean difference.
      sign_p: two-sided sign-test p-value.
      wilcoxon_p: two-sided Wilcoxon signed-rank p-value.
      wins: number of seeds where the optimizer was strictly better than the baseline.
      losses: number of seeds where it was strictly worse.
    """

    n_pairs: int
    mean_diff: float
    median_diff: float
    ci_low: float
    ci_high: float
    sign_p: float
    wilcoxon_p: float
    wins: int
    losses: int

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def paired_comparison(
    values,
    baseline,
    *,
    failed=None,
    baseline_failed=None,
    higher_is_better: bool = False,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """Paired differences ``values - baseline`` over seeds, with a bootstrap CI and tests.

    ``values[i]`` and ``baseline[i]`` must come from the same seed (same initialization and
    data order). Pairs where either run failed are dropped.

    Args:
      values, baseline: 1-D arrays of equal length.
      failed, baseline_failed: optional failure masks.
      higher_is_better: direction used to count wins/losses.
      level, n_boot, seed: bootstrap settings.

    Returns:
      A :class:`PairedComparison`.
    """
    v, b = _as_1d(values, "values"), _as_1d(baseline, "baseline")
    if v.shape != b.shape:
        raise ValueError(f"values {v.shape} and baseline {b.shape} must pair up (same seeds)")
    ok = ~failure_mask(v, failed) & ~failure_mask(b, baseline_failed)
    d = v[ok] - b[ok]
    if d.size == 0:
        nan = math.nan
        return PairedComparison(0, nan, nan, nan, nan, nan, nan, 0, 0)
    lo, hi = bootstrap_ci(d, np.mean, level=level, n_boot=n_boot, seed=seed)
    better = d > 0 if higher_is_better else d < 0
    worse = d < 0 if higher_is_better else d > 0
    return PairedComparison(
        n_pairs=int(d.size),
        mean_diff=float(d.mean()),
        median_diff=float(np.median(d)),
        ci_low=lo,
        ci_high=hi,
        sign_p=sign_test(d),
        wilcoxon_p=wilcoxon(d)[1],
        wins=int(better.sum()),
        losses=int(worse.sum()),
    )


# --------------------------------------------------------------------------- across problems


def average_ranks(scores, *, higher_is_better: bool = False) -> np.ndarray:
    """Average rank of each solver over problems (rank 1 = best, ties averaged).

    Args:
      scores: ``(n_problems, n_solvers)``; a non-finite score (failure) ranks last.
      higher_is_better: direction of the score.

    Returns:
      ``(n_solvers,)`` mean rank over problems.

    Example:
      >>> average_ranks([[1.0, 2.0], [3.0, 3.0]]).tolist()
      [1.25, 1.75]
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be (n_problems, n_solvers), got shape {s.shape}")
    key = -s if higher_is_better else s.copy()
    key[~np.isfinite(s)] = np.inf
    ranks = np.stack([rankdata(row) for row in key]) if s.shape[0] else np.zeros((0, s.shape[1]))
    return ranks.mean(axis=0)


def performance_ratios(costs, failed=None) -> np.ndarray:
    """Performance ratios ``r[p, s] = cost[p, s] / min_s cost[p, s]`` (Dolan & Moré 2002).

    Costs must be positive and lower-is-better (steps or seconds to a target, a final loss).
    A failed solver gets ``r = inf``; on a problem no solver solved, every ratio is ``inf``.

    Args:
      costs: ``(n_problems, n_solvers)``.
      failed: optional boolean mask of the same shape; non-finite costs are failures.

    Returns:
      ``(n_problems, n_solvers)`` ratios, each ``>= 1`` or ``inf``.
    """
    c = np.asarray(costs, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"costs must be (n_problems, n_solvers), got shape {c.shape}")
    fail = failure_mask(c, failed)
    if np.any(c[~fail] <= 0):
        raise ValueError("performance ratios need positive costs (lower is better)")
    c = np.where(fail, np.inf, c)
    best = c.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = c / best
    r[~np.isfinite(best[:, 0])] = np.inf
    return r


def performance_profile(costs, taus, failed=None) -> np.ndarray:
    """Dolan–Moré performance profile ``rho_s(tau) = |{p : r[p, s] <= tau}| / n_problems``.

    ``rho_s(1)`` is the fraction of problems where solver ``s`` was (one of) the best;
    ``rho_s(tau)`` for large ``tau`` the fraction it solved at all.

    Args:
      costs: ``(n_problems, n_solvers)``, positive, lower is better; failures ``inf``/masked.
      taus: 1-D ratios at which to evaluate the profile (each ``>= 1``).
      failed: optional failure mask.

    Returns:
      ``(n_solvers, len(taus))``, values in [0, 1], non-decreasing in ``tau``.

    References:
      Dolan & Moré (2002), Benchmarking optimization software with performance profiles.
      Dahl et al. (2023), Benchmarking Neural Network Training Algorithms (AlgoPerf).
    """
    r = performance_ratios(costs, failed)
    t = _as_1d(taus, "taus")
    return (r[:, :, None] <= t[None, None, :]).mean(axis=0)


# --------------------------------------------------------------------------- tuning budgets


def _best_weights(n: int, k: int, replace: bool) -> np.ndarray:
    """P[the best of k draws is the i-th best-ranked of n] for i = 1..n (ascending order)."""
    i = np.arange(1, n + 1, dtype=np.float64)
    if replace:
        return (i / n) ** k - ((i - 1) / n) ** k
    denom = math.comb(n, k)
    return np.array([math.comb(int(j) - 1, k - 1) / denom for j in i], dtype=np.float64)


def expected_best(
    values, k: int, *, higher_is_better: bool = True, replace: bool = False
) -> tuple[float, float]:
    """Expected best value (and its std) of ``k`` trials drawn from the trials already run.

    Sort the ``n`` trial results from worst to best, ``v_(1) <= ... <= v_(n)`` in "goodness".
    Drawing ``k`` of them uniformly **without** replacement, the best is ``v_(i)`` with
    probability ``C(i-1, k-1) / C(n, k)``; **with** replacement (Dodge et al. 2019, eq. 1)
    with probability ``(i/n)^k - ((i-1)/n)^k``. The expectation is exact (no sampling); ties are
    handled correctly because the formula averages over draws of positions.

    Args:
      values: 1-D validation results of the ``n`` trials; a non-finite value (diverged trial)
        is the worst possible result.
      k: budget, ``1 <= k`` (and ``k <= n`` without replacement).
      higher_is_better: direction of the metric.
      replace: resample with replacement (Dodge et al.) instead of without.

    Returns:
      ``(mean, std)`` of the best of ``k``; ``inf``/``-inf`` if the best can be a failure.

    References:
      Dodge et al. (2019), Show Your Work: Improved Reporting of Experimental Results.
    """
    v = _as_1d(values, "values")
    n = v.size
    if n == 0:
        raise ValueError("expected_best needs at least one trial")
    if not (1 <= k and (replace or k <= n)):
        raise ValueError(f"k must be in [1, {n}] without replacement (got {k})")
    worst = -np.inf if higher_is_better else np.inf
    v = np.where(np.isfinite(v), v, worst)
    g = np.sort(v if higher_is_better else -v)  # ascending goodness
    w = _best_weights(n, k, replace)
    nz = w > 0
    gv = g[nz]
    if not np.all(np.isfinite(gv)):
        m = -np.inf
        return (m if higher_is_better else -m, math.nan)
    mean = float((w[nz] * gv).sum())
    var = float(max(0.0, (w[nz] * (gv - mean) ** 2).sum()))
    return (mean if higher_is_better else -mean, math.sqrt(var))


def tuning_budget_curve(
    values, ks: Sequence[int] | None = None, *, higher_is_better: bool = True, replace=False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected best validation result as a function of the tuning budget ``k``.

    Args:
      values: 1-D validation results of the trials run.
      ks: budgets (default ``1..n``).
      higher_is_better, replace: see :func:`expected_best`.

    Returns:
      ``(ks, mean, std)`` arrays.
    """
    v = _as_1d(values, "values")
    ks_arr = np.arange(1, v.size + 1) if ks is None else np.asarray(list(ks), dtype=int)
    out = [
        expected_best(v, int(k), higher_is_better=higher_is_better, replace=replace) for k in ks_arr
    ]
    mean = np.array([m for m, _ in out], dtype=np.float64)
    std = np.array([s for _, s in out], dtype=np.float64)
    return ks_arr, mean, std


# --------------------------------------------------------------------------- time to target


def steps_to_target(
    curves, steps, target: float, *, higher_is_better: bool = False, failed=None
) -> np.ndarray:
    """First step at which each curve reaches ``target``; ``inf`` if never (or diverged).

    "Reaches" means ``value <= target`` for a lower-is-better metric and ``value >= target``
    otherwise. Values that are non-finite never reach the target.

    Args:
      curves: ``(n_runs, n_points)`` or ``(n_points,)`` metric values.
      steps: ``(n_points,)`` step numbers of the points (e.g. ``eval_steps``, or
        ``arange(1, steps+1)`` for the per-step training loss).
      target: threshold.
      higher_is_better: direction.
      failed: optional ``(n_runs,)`` mask; failed runs get ``inf``.

    Returns:
      ``(n_runs,)`` float array of steps (or a float for a 1-D curve).

    Example:
      >>> steps_to_target([3.0, 2.0, 0.5, 0.1], [10, 20, 30, 40], 1.0).item()
      30.0
    """
    c = np.asarray(curves, dtype=np.float64)
    single = c.ndim == 1
    c = np.atleast_2d(c)
    s = _as_1d(steps, "steps")
    if c.shape[1] != s.size:
        raise ValueError(f"curves have {c.shape[1]} points but steps has {s.size}")
    with np.errstate(invalid="ignore"):
        hit = (c >= target) if higher_is_better else (c <= target)
    hit &= np.isfinite(c)
    first = np.argmax(hit, axis=1)
    out = np.where(hit.any(axis=1), s[first] if s.size else np.inf, np.inf).astype(np.float64)
    if failed is not None:
        f = np.asarray(failed, dtype=bool).reshape(-1)
        out = np.where(f, np.inf, out)
    return out[0] if single else out
