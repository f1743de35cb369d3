"""Batch-minor evaluation of many small MLPs at once: the parameter sets along the vector lanes.

Sweeps (many runs) and landscape slices (many grid points) of a small MLP both evaluate the
same network under ``R`` parameter sets on one shared batch of rows. With the sets as the
*leading* axis (``vmap``) every matmul is ``(n, 2) @ (2, 3)``-sized and the vector units idle;
here the sets are the *last* axis of everything instead: each weight is ``(fan_in, fan_out,
R)``, each bias ``(fan_out, R)``, and each unit's activation is an ``(n, R)`` array, so the
hidden widths are unrolled and the ``R`` sets fill the SIMD lanes, while the batch is read
once for all of them.

The per-set loss is the same math as ``problem.loss`` (mean squared error, softmax
cross-entropy or logistic loss of the task) and is checked numerically against
``problem.loss`` before it is used (:func:`loss_reason`). The squared-error and logistic terms
are ``optlab.losses``' own (:func:`~optlab.losses.squared_error`,
:func:`~optlab.losses.binary_log_likelihood`), reduced here over rows only. The softmax
cross-entropy is written out over the list of output columns instead of calling
``losses.softmax_cross_entropy``: that one takes an ``(n, K)`` logits array, and stacking the
columns into an ``(n, K, R)`` array would stop the per-column reductions from fusing (the
lanes layout exists for that fusion); writing ``losses.softmax_cross_entropy`` over columns
instead would change the compiled program of every other engine.

Used by ``optlab.sweep`` (the ``"lanes"`` engine) and ``optlab.landscape`` (slices of
``problem_loss``); it depends on neither.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from optlab import _cache
from optlab import losses as losses_lib
from optlab import mlp as mlp_lib

__all__ = [
    "MAX_TERMS",
    "activation_of",
    "structural_reason",
    "forward",
    "per_set_loss",
    "loss_reason",
    "lanes_loss",
    "to_lanes",
    "batched_points",
    "is_small",
]

#: Largest total number of unrolled weight terms ``sum(fan_in * fan_out)``; wider MLPs are
#: matmul-bound, where a vmapped/mapped layout is the better one.
MAX_TERMS = 512

_TASKS = ("regression", "classification", "binary")


def activation_of(problem) -> Callable | None:
    """The problem's hidden activation as a function (``None`` if unknown)."""
    act = dict(problem.config or {}).get("activation", "relu")
    if callable(act):
        return act
    return mlp_lib.ACTIVATIONS.get(act)


def structural_reason(problem, *, full_batch: bool = True) -> str | None:
    """Why the lanes layout cannot evaluate ``problem`` (``None`` if it can).

    ``full_batch=False`` skips the training-batch condition (for evaluating a fixed split,
    as landscape slices do).
    """
    if problem.data is None or problem.sizes is None or problem.apply is None:
        return "the problem is not an MLP on a dataset"
    n = int(problem.data.train.x.shape[0])
    if full_batch and problem.batch_size is not None and problem.batch_size < n:
        return f"it trains on minibatches (batch_size={problem.batch_size} < {n} rows)"
    if problem.data.task not in _TASKS:
        return f"unknown task {problem.data.task!r}"
    if activation_of(problem) is None:
        return "unknown activation"
    sizes = tuple(problem.sizes)
    terms = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if terms > MAX_TERMS:
        return (
            f"the MLP {sizes} is too wide for unrolled lanes ({terms} weight terms > "
            f"{MAX_TERMS}); it is matmul-bound, where vmap/map is the better layout"
        )
    return None


def forward(params, x, act) -> list[jax.Array]:
    """Forward pass of ``R`` MLPs at once: leaves ``(fan_in, fan_out, R)`` / ``(fan_out, R)``.

    Returns the output units as a list of ``(n, R)`` arrays; the inputs ``x`` are ``(n, d)``,
    shared by every set.
    """
    a = [x[:, i : i + 1] for i in range(x.shape[1])]  # (n, 1): broadcast over the sets
    last = len(params) - 1
    for k, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        fan_in, fan_out = w.shape[0], w.shape[1]
        z = []
        for o in range(fan_out):
            acc = a[0] * w[0, o]
            for i in range(1, fan_in):
                acc = acc + a[i] * w[i, o]
            z.append(acc + b[o])
        a = z if k == last else [act(v) for v in z]
    return a


def per_set_loss(problem, act=None) -> Callable:
    """``(params_lanes, split) -> (R,)``: the loss of each set, the same math as ``problem.loss``.

    Regression is the mean squared error over rows and outputs, classification the mean
    softmax cross-entropy over rows, binary the mean logistic loss; the output units stay a
    list of ``(n, R)`` columns (no ``(n, K, R)`` array is formed), so the reductions fuse.
    """
    act = act or activation_of(problem)
    task = problem.data.task

    def per_set(params, split):
        out = forward(params, split.x, act)
        n = split.x.shape[0]
        if task == "regression":
            y = split.y.reshape(n, -1)
            total = 0.0
            for o, v in enumerate(out):
                total = total + jnp.sum(losses_lib.squared_error(v, y[:, o : o + 1]), axis=0)
            return total / (n * len(out))
        if task == "classification":
            m = out[0]
            for v in out[1:]:
                m = jnp.maximum(m, v)
            m = jax.lax.stop_gradient(m)  # log-sum-exp shifted by the row maximum
            s = 0.0
            picked = 0.0
            labels = split.y.astype(jnp.int32)[:, None]
            for c, v in enumerate(out):
                s = s + jnp.exp(v - m)
                picked = picked + jnp.where(labels == c, v, 0.0)
            return jnp.mean(m + jnp.log(s) - picked, axis=0)
        z = out[0]
        y = split.y.reshape(n, 1).astype(z.dtype)
        return -jnp.mean(losses_lib.binary_log_likelihood(z, y), axis=0)

    return per_set


def to_lanes(tree):
    """Leaves ``(R, *shape) -> (*shape, R)``: a stack of parameter sets in the lanes layout."""
    return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, -1), tree)


_LOSS_CHECKS = _cache.Cache(maxsize=64)
_LANES_LOSSES = _cache.Cache(maxsize=64)


def loss_reason(problem) -> str | None:
    """``None`` if :func:`per_set_loss` equals ``problem.loss`` (two inits, train split).

    Checked once per problem object (cached), so a problem whose ``loss`` is not the
    standard MLP loss of its task never takes the lanes path.
    """

    def check():
        try:
            ps = [problem.init(k) for k in jax.random.split(jax.random.key(0), 2)]
            split = problem.data.train
            stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *ps)
            got = np.asarray(per_set_loss(problem)(to_lanes(stacked), split))
            want = np.asarray([float(problem.loss(p, split)) for p in ps])
            if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
                return f"the batched MLP loss {got} does not match problem.loss {want}"
        except Exception as e:  # noqa: BLE001 - any failure means: no lanes for this problem
            return f"the batched MLP loss failed ({type(e).__name__}: {e})"
        return None

    return _LOSS_CHECKS.get(_cache.ref(problem), check)


def lanes_loss(problem) -> Callable | None:
    """``(params_lanes, split) -> (R,)``: ``problem.loss`` of ``R`` parameter sets at once.

    The leaves of ``params_lanes`` carry the ``R`` sets in a trailing axis (``w: (fan_in,
    fan_out, R)``, ``b: (fan_out, R)``). ``None`` when the problem is not a small MLP on a
    dataset or its loss is not the standard one. One function object per problem, so
    programs built from it compile once.
    """

    def build():
        ok = structural_reason(problem, full_batch=False) is None and not loss_reason(problem)
        return per_set_loss(problem) if ok else None

    return _LANES_LOSSES.get(_cache.ref(problem), build)


# --------------------------------------------------------------------------------------------
# Any loss, many points: a jaxpr interpreter with the points as one axis of every value
# --------------------------------------------------------------------------------------------
#
# ``batched_points(g, k, layout)`` turns ``g(c_1, ..., c_k) -> scalar`` (a jittable function of
# k scalar coordinates, e.g. a loss on a plane) into ``G(coords (R, k)) -> (R,)`` by reading
# ``g``'s jaxpr once and evaluating it with three kinds of values:
#
# * constant: does not depend on the coordinates (the data, the centre, the directions);
# * affine: ``v0 + sum_k c_k v_k`` with constant parts ``v_k``. Linear operations (adds,
#   scalings, reshapes, broadcasts, reductions by sum, a ``dot_general`` with a constant) act on
#   the parts, so the first layer of a network on a plane, ``x (W + a D1 + b D2)``, costs three
#   matmuls for the whole grid instead of one per point;
# * batched: the points along one axis: the *last* one (``layout="minor"``: tiny models, the
#   points fill the vector lanes, elementwise and small contractions are written so that XLA
#   fuses them) or the *first* one (``layout="major"``: matmul-bound models, every operation
#   through ``jax.vmap``, i.e. batched GEMMs).
#
# An operation with no rule of its own is evaluated through ``jax.vmap`` of the primitive, so
# every jittable loss works; the rules only decide how fast.

_ELEMENTWISE = frozenset(
    """abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp convert_element_type
    copy copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma
    integer_pow is_finite le lgamma log log1p logistic lt max min mul ne neg nextafter not or
    pow reduce_precision rem round rsqrt select_n sign sin sinh sqrt square stop_gradient sub
    tan tanh xor""".split()
)
# linear in one argument (all others constant): applied to the parts of an affine value
_LINEAR_UNARY = frozenset(
    """neg convert_element_type broadcast_in_dim reshape transpose squeeze reduce_sum copy
    copy_p slice rev""".split()
)
# operations whose axis parameters index the value's own (leading) axes: unchanged with the
# points last
_SAME_AXES = frozenset(
    "reduce_sum reduce_max reduce_min reduce_prod argmax argmin squeeze cumsum cumlogsumexp "
    "cummax cummin".split()
)
_CALLS = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "remat",
          "checkpoint", "custom_lin")  # fmt: skip

#: Largest contraction size a ``dot_general`` is unrolled over in the minor layout.
MINOR_MAX_CONTRACTION = 64


class _Affine:
    """``parts[0] + sum_k c_k * parts[k + 1]``; a part is ``None`` where it is zero."""

    __slots__ = ("parts", "aval")

    def __init__(self, parts, aval):
        self.parts = list(parts)
        self.aval = aval


class _Batched:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x


def _bind_params(prim, params):
    out = prim.get_bind_params(params)
    if isinstance(out, tuple):  # older JAX: (subfuns, params), no subfuns for these
        return out[1]
    return out


def _sub_jaxpr(eqn):
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        j = eqn.params.get(key)
        if j is not None and (hasattr(j, "eqns") or hasattr(j, "jaxpr")):
            return j
    return None


class _Deferred:
    """Phase 1 (hoisting): a value that depends on the points, computed in phase 2."""

    __slots__ = ()


_DEFERRED = _Deferred()


def _deferred(eqn):
    """Phase 1's result of an equation that needs the points (one per output)."""
    return [_DEFERRED] * len(eqn.outvars) if eqn.primitive.multiple_results else _DEFERRED


_NEEDS_POINTS = object()  # tape entry: this equation is evaluated in phase 2


class _Interpreter:
    """Evaluates a jaxpr on constant, affine and batched values.

    Two phases share one traversal order. Phase 1 (``coords=None``, ``tape=[]``) evaluates
    every equation whose result does not depend on the points (constants and the parts of
    affine values, e.g. a first layer's ``x W``, ``x D1``, ``x D2``) and records them on the
    tape; phase 2 (``replay`` = that tape) takes them from the tape and evaluates only the
    rest. Phase 1 runs once per grid, outside the loop over chunks, so the hoisted work is
    done once instead of once per chunk.
    """

    def __init__(self, coords, layout, *, tape=None, replay=None, rules=None):
        self.coords = coords  # k arrays of shape (R,); None in phase 1
        self.layout = layout
        self.r = None if coords is None else coords[0].shape[0]
        self.rules_taken = set() if rules is None else rules
        self.tape = tape
        self.replay = replay

    # --- conversions ----------------------------------------------------------------------
    def materialize(self, v):
        """Any value as a batched array (points on the layout's axis)."""
        if isinstance(v, _Batched):
            return v.x
        if isinstance(v, _Affine):
            shape, dt = v.aval.shape, v.aval.dtype
            out = None
            for k, p in enumerate(v.parts):
                if p is None:
                    continue
                # a part may be a scalar literal (lax lets one broadcast in binary operations)
                p = jnp.broadcast_to(jnp.asarray(p, dt), shape)
                if k == 0:
                    term = self._broadcast(jnp.asarray(p, dt))
                else:
                    c = self.coords[k - 1].astype(dt)
                    if self.layout == "minor":
                        term = p[..., None] * c
                    else:
                        term = c.reshape((-1,) + (1,) * len(shape)) * p[None]
                out = term if out is None else out + term
            if out is None:
                out = jnp.zeros(self._shape(shape), dt)
            return jnp.broadcast_to(out, self._shape(shape))
        return self._broadcast(jnp.asarray(v))

    def _shape(self, shape):
        return (*shape, self.r) if self.layout == "minor" else (self.r, *shape)

    def _broadcast(self, x):
        x = x[..., None] if self.layout == "minor" else x[None]
        return jnp.broadcast_to(x, self._shape(x.shape[:-1] if self.layout == "minor"
                                               else x.shape[1:]))  # fmt: skip

    # --- evaluation -------------------------------------------------------------------------
    def run(self, jaxpr, consts, args):
        env = {}

        def read(a):
            return a.val if type(a).__name__ == "Literal" else env[a]

        for var, c in zip(jaxpr.constvars, consts, strict=True):
            env[var] = c
        for var, a in zip(jaxpr.invars, args, strict=True):
            env[var] = a
        for eqn in jaxpr.eqns:
            ins = [read(a) for a in eqn.invars]
            outs = self.eqn(eqn, ins)
            if not eqn.primitive.multiple_results:
                outs = [outs]
            for var, o in zip(eqn.outvars, outs, strict=True):
                env[var] = o
        return [read(a) for a in jaxpr.outvars]

    def eqn(self, eqn, ins):
        prim, params = eqn.primitive, eqn.params
        kinds = [type(v) for v in ins]
        name = prim.name
        if name in _CALLS and ({_Affine, _Batched, _Deferred} & set(kinds)):
            # into the call (both phases alike, so that they walk the same equations)
            sub = _sub_jaxpr(eqn)
            if sub is not None:
                closed = sub if hasattr(sub, "jaxpr") else None
                j = closed.jaxpr if closed is not None else sub
                consts = closed.consts if closed is not None else []
                outs = self.run(j, consts, ins)
                return outs if prim.multiple_results else outs[0]
        if _Deferred in kinds:  # phase 1: needs the points
            return _deferred(eqn)
        points_free = _Batched not in kinds
        if points_free and self.replay is not None:  # phase 2: hoisted in phase 1
            out = next(self.replay)
            if out is not _NEEDS_POINTS:
                return out
        elif points_free:
            if _Affine not in kinds:  # constant: evaluate as it is
                out = prim.bind(*ins, **_bind_params(prim, params))
            else:
                out = self.affine(eqn, ins)
                if out is not None:
                    self.rules_taken.add("affine")
            if self.tape is not None:
                self.tape.append(_NEEDS_POINTS if out is None else out)
                if out is None:
                    return _deferred(eqn)
            if out is not None:
                return out
        if self.layout == "minor":
            out = self.minor(eqn, ins)
            if out is not None:
                return out
        elif name == "conv_general_dilated" and isinstance(ins[1], (_Batched, _Affine)):
            # a kernel that differs per point: vmap would make one grouped convolution, which
            # XLA's CPU backend runs ~3x slower than the same convolutions one after another
            return self.mapped(eqn, ins)
        return self.vmapped(eqn, ins)

    def affine(self, eqn, ins):
        """The rule for operations linear in their one affine argument (``None``: none fits)."""
        name, params = eqn.primitive.name, eqn.params
        aval = eqn.outvars[0].aval if not eqn.primitive.multiple_results else None
        bind = functools.partial(eqn.primitive.bind, **params)
        aff = [i for i, v in enumerate(ins) if isinstance(v, _Affine)]
        if name in ("add", "sub") and len(ins) == 2:
            a, b = ins
            pa = a.parts if isinstance(a, _Affine) else [a]
            pb = b.parts if isinstance(b, _Affine) else [b]
            n = max(len(pa), len(pb))
            pa, pb = pa + [None] * (n - len(pa)), pb + [None] * (n - len(pb))
            parts = []
            for x, y in zip(pa, pb, strict=True):
                if y is None:
                    parts.append(x)
                elif x is None:
                    parts.append(y if name == "add" else -y)
                else:
                    parts.append(bind(x, y))
            return _Affine(parts, aval)
        if len(aff) != 1 or aval is None:
            return None
        i = aff[0]
        a = ins[i]
        if name in _LINEAR_UNARY and len(ins) == 1:
            parts = [None if p is None else bind(p) for p in a.parts]
            if name == "convert_element_type" and not jnp.issubdtype(aval.dtype, jnp.floating):
                return None
            return _Affine(parts, aval)
        linear_in_any = name in ("mul", "dot_general", "conv_general_dilated") or (
            name == "div" and i == 0
        )
        if not linear_in_any:
            return None

        def with_part(p):
            args = list(ins)
            args[i] = p
            return bind(*args)

        return _Affine([None if p is None else with_part(p) for p in a.parts], aval)

    def minor(self, eqn, ins):
        """Rules for the points along the last axis (``None``: use the vmap fallback)."""
        name, params = eqn.primitive.name, eqn.params
        if eqn.primitive.multiple_results:
            return None
        out_aval = eqn.outvars[0].aval
        if name in _ELEMENTWISE:
            shape = out_aval.shape
            args = []
            for v in ins:
                # every argument as (*shape, R): scalar literals broadcast, constants repeated
                # along the points (lax's elementwise operations take equal shapes)
                x = self.materialize(v) if isinstance(v, (_Batched, _Affine)) else jnp.asarray(v)
                if not isinstance(v, (_Batched, _Affine)):
                    x = x[..., None]
                if x.shape[:-1] != shape:
                    x = jnp.broadcast_to(x, (*shape, x.shape[-1]))
                args.append(jnp.broadcast_to(x, (*shape, self.r)))
            self.rules_taken.add("minor:elementwise")
            return _Batched(eqn.primitive.bind(*args, **params))
        if len(ins) != 1 and name != "dot_general":
            return None
        if name == "dot_general":
            return self.minor_dot(eqn, ins, out_aval)
        x = self.materialize(ins[0])
        nd = x.ndim - 1
        if name == "broadcast_in_dim":
            shape = (*params["shape"], self.r)
            dims = (*params["broadcast_dimensions"], len(params["shape"]))
            out = jax.lax.broadcast_in_dim(x, shape, dims)
        elif name == "reshape" and params.get("dimensions") is None:
            out = jnp.reshape(x, (*params["new_sizes"], self.r))
        elif name == "transpose":
            out = jnp.transpose(x, (*params["permutation"], nd))
        elif name in _SAME_AXES:
            out = eqn.primitive.bind(x, **params)  # axes index the leading (value) axes
        else:
            return None
        self.rules_taken.add(f"minor:{name}")
        return _Batched(out)

    def minor_dot(self, eqn, ins, out_aval):
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        if lb or rb:
            return None
        lhs, rhs = ins
        ls_, rs_ = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
        if math.prod(ls_[d] for d in lc) > MINOR_MAX_CONTRACTION:
            return None
        lfree = [d for d in range(len(ls_)) if d not in lc]
        rfree = [d for d in range(len(rs_)) if d not in rc]

        def arrange(v, free, contract, first):
            """(free..., contract...) for the lhs, (contract..., free...) for the rhs, with the
            points last; then unit axes so the two broadcast to (lfree, contract, rfree, R)."""
            batched = isinstance(v, (_Batched, _Affine))
            x = self.materialize(v) if batched else jnp.asarray(v)
            order = [*free, *contract] if first else [*contract, *free]
            if batched:
                order.append(x.ndim - 1)
            x = jnp.transpose(x, order)
            nf = len(free)
            if first:  # (lfree, contract[, R]) -> (lfree, contract, 1 x len(rfree)[, R])
                shape = (*x.shape[: nf + len(contract)], *([1] * len(rfree)))
            else:  # (contract, rfree[, R]) -> (1 x len(lfree), contract, rfree[, R])
                shape = (*([1] * len(lfree)), *x.shape[: len(contract) + nf])
            shape = (*shape, self.r) if batched else (*shape, 1)
            return x.reshape(shape)

        a = arrange(lhs, lfree, list(lc), True)
        b = arrange(rhs, rfree, list(rc), False)
        pet = eqn.params.get("preferred_element_type") or out_aval.dtype
        a, b = a.astype(pet), b.astype(pet)
        nl, nc = len(lfree), len(lc)
        # the contraction as a sum of broadcast products, one per contracted entry: XLA fuses
        # the chain into one loop over (free, R) (a reduce over a middle axis runs ~10x slower)
        a = a.reshape((*a.shape[:nl], -1, *a.shape[nl + nc :]))
        b = b.reshape((*b.shape[:nl], -1, *b.shape[nl + nc :]))
        k = max(a.shape[nl], b.shape[nl])
        out = None
        for i in range(k):
            ai = jax.lax.index_in_dim(a, min(i, a.shape[nl] - 1), nl, keepdims=False)
            bi = jax.lax.index_in_dim(b, min(i, b.shape[nl] - 1), nl, keepdims=False)
            out = ai * bi if out is None else out + ai * bi
        out = out.astype(out_aval.dtype)
        self.rules_taken.add("minor:dot_general")
        return _Batched(jnp.broadcast_to(out, (*out_aval.shape, self.r)))

    def mapped(self, eqn, ins):
        """The primitive applied point by point (``lax.map``), in the major layout."""
        prim = eqn.primitive
        bind_params = _bind_params(prim, eqn.params)
        batched = [isinstance(v, (_Batched, _Affine)) for v in ins]
        xs = [self.materialize(v) for v, b in zip(ins, batched, strict=True) if b]

        def f(per_point):
            it = iter(per_point)
            return prim.bind(*[next(it) if b else v for v, b in zip(ins, batched, strict=True)],
                             **bind_params)  # fmt: skip

        out = jax.lax.map(f, xs)
        self.rules_taken.add("map:" + prim.name)
        return [_Batched(o) for o in out] if prim.multiple_results else _Batched(out)

    def vmapped(self, eqn, ins):
        """The fallback: ``jax.vmap`` of the primitive over the points."""
        prim = eqn.primitive
        bind_params = _bind_params(prim, eqn.params)
        batched = [isinstance(v, (_Batched, _Affine)) for v in ins]
        args = []
        for v, b in zip(ins, batched, strict=True):
            if not b:
                args.append(v)
                continue
            x = self.materialize(v)
            args.append(jnp.moveaxis(x, -1, 0) if self.layout == "minor" else x)

        def f(*xs):
            return prim.bind(*xs, **bind_params)

        out = jax.vmap(f, in_axes=[0 if b else None for b in batched])(*args)
        self.rules_taken.add("vmap:" + prim.name)

        def back(o):
            return _Batched(jnp.moveaxis(o, 0, -1) if self.layout == "minor" else o)

        return [back(o) for o in out] if prim.multiple_results else back(out)


def batched_points(g: Callable, n_coords: int, layout: str = "minor", *, dtype=jnp.float32):
    """``coords (R, k) -> (R,)``: the scalar function ``g(c_1, ..., c_k)`` at ``R`` points.

    ``g`` is read once as a jaxpr and evaluated with the points along the last axis of every
    value (``layout="minor"``, for tiny models) or the first (``"major"``), the parts linear in
    the coordinates kept as constant parts (so a network's first layer on a plane costs three
    matmuls for the whole grid). Operations with no rule of their own go through ``jax.vmap``,
    so any jittable ``g`` works (a convolution whose kernel differs per point runs point by
    point, ``"map:conv_general_dilated"``). Returns ``(G, rules)``: the batched function and,
    after ``G`` has been traced once, the set of rules it used (``"affine"``, ``"minor:..."``,
    ``"vmap:<primitive>"``), for tests and diagnostics.

    ``G.hoist()`` evaluates, once, everything that does not depend on the points (constants
    and the parts of affine values, e.g. a first layer's ``x W``, ``x D1``, ``x D2``) and
    returns them as a tape; ``G(coords, tape)`` then computes only the rest. Call ``hoist``
    outside a loop over chunks of points and ``G(chunk, tape)`` inside it (both under the same
    ``jit``), so the hoisted work is done once per grid.
    """
    if layout not in ("minor", "major"):
        raise ValueError(f"layout must be 'minor' or 'major', got {layout!r}")
    zeros = [jnp.zeros((), dtype) for _ in range(n_coords)]
    closed = jax.make_jaxpr(g)(*zeros)
    rules: set[str] = set()

    def args():
        out = []
        for i, z in enumerate(zeros):
            parts = [None] * (n_coords + 1)
            parts[i + 1] = jnp.ones((), z.dtype)
            out.append(_Affine(parts, jax.ShapeDtypeStruct((), z.dtype)))
        return out

    def hoist():
        tape: list = []
        _Interpreter(None, layout, tape=tape, rules=rules).run(closed.jaxpr, closed.consts, args())
        return tape

    def batched(coords, hoisted=None):
        cs = [coords[:, i] for i in range(n_coords)]
        replay = None if hoisted is None else iter(hoisted)
        interp = _Interpreter(cs, layout, replay=replay, rules=rules)
        (out,) = interp.run(closed.jaxpr, closed.consts, args())
        x = interp.materialize(out)
        return x.reshape(-1) if x.ndim == 1 else x.reshape(interp.r)

    batched.hoist = hoist
    return batched, rules


def is_small(jaxpr) -> bool:
    """Whether the points-last layout suits ``jaxpr``: every ``dot_general`` contracts at most
    ``MINOR_MAX_CONTRACTION`` entries and the weight terms (contraction x free size of the
    smaller operand, summed) are at most ``MAX_TERMS``; such models leave matmul units idle."""
    terms = 0
    stack = [jaxpr]
    while stack:
        j = stack.pop()
        for eqn in j.eqns:
            sub = _sub_jaxpr(eqn)
            if sub is not None:
                stack.append(sub.jaxpr if hasattr(sub, "jaxpr") else sub)
            if eqn.primitive.name != "dot_general":
                continue
            (lc, rc), _ = eqn.params["dimension_numbers"]
            ls_, rs_ = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
            k = math.prod(ls_[d] for d in lc)
            free_l = math.prod(ls_) // max(k, 1)
            free_r = math.prod(rs_) // max(k, 1)
            if k > MINOR_MAX_CONTRACTION:
                return False
            terms += k * min(free_l, free_r)
    return terms <= MAX_TERMS
