"""A run's identity: everything that decides its numbers, hashed into its run id.

The run id in the store (:func:`optlab.store.run_id`) is the hash of :func:`run_identity`:

- the study's **key** of the run (:func:`optlab.study.config.run_config`: problem name and
  options, optimizer name, the trial's hyperparameters, seed, steps, evaluation interval, and
  any further field the run config holds, such as a dtype);
- the problem's **resolved options** (every option of its factory, defaults included: the data
  seed, sizes, batch size...);
- the optimizer's **resolved hyperparameters**: its registered defaults overlaid with the
  trial's values (a changed default, in optlab, optax or a user's factory, changes the id);
- a **code fingerprint** of a user-registered optimizer or problem (``None`` for optlab's
  built-ins, whose code is pinned by optlab's version): the sha256 of the lowered StableHLO
  text of one update step (optimizer) or of one initialization and one loss evaluation
  (problem) on small abstract inputs, plus, for a problem, the sha256 of its data arrays. A
  changed closure constant, helper function or data file changes the lowered program, hence
  the id. Where lowering fails, the fingerprint falls back to the factory's byte code,
  constants and closure values. Fingerprints are cached per object (``optlab._cache``);
- **optlab's version**.

So a changed definition trains new runs and never reuses stored ones. The study key alone
(:func:`key_id`) names *which* run of the study it is; the manifest maps each key to the id
that the last session trained (``manifest["info"]["run_index"]``), so a report finds the runs
without importing jax or the user's code.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

from optlab import _cache
from optlab._io import canonical_json, jsonable
from optlab.store import run_id

__all__ = [
    "run_identity",
    "key_id",
    "resolved_hyperparams",
    "resolved_problem_options",
    "optimizer_fingerprint",
    "problem_fingerprint",
    "is_builtin",
]

IDENTITY_FORMAT = 1
_FINGERPRINTS = _cache.Cache(maxsize=256)
_BUILTIN_MODULES = ("optlab.", "optax.", "optax")


def key_id(key_config: Mapping[str, Any]) -> str:
    """Id of a run's study key (:func:`optlab.study.config.run_config`): the run index key."""
    return run_id(key_config)


def _plain(value: Any) -> Any:
    """``value`` if it is JSON-able, else its ``repr`` (a dtype, a mask, a schedule...)."""
    try:
        canonical_json(value)
        return jsonable(value)
    except (TypeError, ValueError):
        return repr(value)


def resolved_hyperparams(optimizer: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """The registered defaults of ``optimizer`` overlaid with ``hyperparams`` (sorted keys).

    Example:
      >>> resolved_hyperparams("momentum", {"learning_rate": 0.1})
      {'learning_rate': 0.1, 'momentum': 0.9}
    """
    from optlab import optimizers

    merged = {**optimizers.defaults(optimizer), **dict(hyperparams)}
    return {k: _plain(merged[k]) for k in sorted(merged)}


def resolved_problem_options(problem: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of problem ``problem`` (its factory's defaults) overlaid with ``options``."""
    from optlab import problems

    merged = {**problems.options(problem), **dict(options)}
    return {
        k: (None if merged[k] is inspect.Parameter.empty else _plain(merged[k]))
        for k in sorted(merged)
    }


def is_builtin(fn: Callable) -> bool:
    """Whether ``fn`` (a factory) and every function in its closure come from optlab or optax.

    A problem registered through ``problems.register_table`` by a user has optlab's factory
    but the user's ``build`` in its closure: not built-in.
    """
    return _builtin(fn, depth=3)


def _builtin(fn: Any, depth: int) -> bool:
    module = getattr(fn, "__module__", None) or ""
    if not module.startswith(_BUILTIN_MODULES):
        return False
    if depth == 0:
        return True
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, (types.FunctionType, types.MethodType)) and not _builtin(
            value, depth - 1
        ):
            return False
    return True


def optimizer_fingerprint(optimizer: str) -> str | None:
    """sha256 of the lowered program of one update step of a user-registered optimizer.

    ``None`` for optlab's and optax's own optimizers (pinned by optlab's version). The
    optimizer is built with its defaults (a learning rate of 0.01 where it has none) and its
    ``update`` lowered on a float32 parameter vector of length 3; cached per registry entry.
    """
    from optlab import optimizers

    e = optimizers.entry(optimizer)
    if is_builtin(e.factory):
        return None
    return _FINGERPRINTS.get(("opt", _cache.ref(e)), lambda: _optimizer_digest(optimizer, e))


def _optimizer_digest(name: str, e) -> str:
    try:
        import jax
        import jax.numpy as jnp

        from optlab import optimizers

        kw = {}
        if "learning_rate" in e.keywords and e.defaults.get("learning_rate") is None:
            kw["learning_rate"] = 0.01
        opt = optimizers.get(name, **kw)
        params = {"w": jax.ShapeDtypeStruct((3,), jnp.float32)}
        state = jax.eval_shape(opt.init, params)
        if optimizers.needs_value_fn(opt):

            def step(g, s, p):
                return opt.update(g, s, p, value=jnp.sum(p["w"] ** 2), grad=g,
                                  value_fn=lambda q: jnp.sum(q["w"] ** 2))  # fmt: skip
        else:
            step = opt.update
        text = jax.jit(step).lower(params, state, params).as_text()
        return "hlo:" + hashlib.sha256(text.encode()).hexdigest()
    except Exception:  # noqa: BLE001  (any factory that cannot be lowered on a toy vector)
        return "code:" + _code_digest(e.factory)


def problem_fingerprint(prob) -> str | None:
    """sha256 of a user-registered problem's program and data (``None`` for built-ins).

    The lowered text of ``prob.init`` on a key and of ``prob.loss_and_metrics`` on abstract
    parameters and the validation batch's shapes, the batch size, and the bytes of every data
    split. Cached per ``Problem`` object.
    """
    from optlab.problems import core

    if prob.name in core.names() and is_builtin(core._entry(prob.name).factory):
        return None
    return _FINGERPRINTS.get(("prob", _cache.ref(prob)), lambda: _problem_digest(prob))


def _problem_digest(prob) -> str:
    h = hashlib.sha256()
    try:
        import jax

        key = jax.random.key(0)
        h.update(jax.jit(prob.init).lower(key).as_text().encode())
        params = jax.eval_shape(prob.init, key)
        batch = prob.batch_of("val") if prob.data is not None else None
        h.update(jax.jit(prob.loss_and_metrics).lower(params, batch).as_text().encode())
        tag = "hlo:"
    except Exception:  # noqa: BLE001
        h.update(_code_digest(prob.init).encode() + _code_digest(prob.loss).encode())
        tag = "code:"
    if prob.data is not None:
        import numpy as np

        for split in ("train", "val", "test"):
            for arr in prob.data.split(split):
                a = np.ascontiguousarray(np.asarray(arr))
                h.update(f"{split}:{a.dtype}:{a.shape}".encode())
                h.update(a.tobytes())
    h.update(repr((prob.batch_size, sorted(dict(prob.config).items()))).encode())
    return tag + h.hexdigest()


def _code_digest(fn: Any, depth: int = 4) -> str:
    """sha256 of a function's byte code, constants, names, defaults and closure values."""
    h = hashlib.sha256()
    _feed_code(h, fn, depth, set())
    return h.hexdigest()


def _feed_code(h, fn: Any, depth: int, seen: set) -> None:
    if id(fn) in seen or depth < 0:
        return
    seen.add(id(fn))
    code = getattr(fn, "__code__", None)
    if code is None:
        h.update(repr(fn).encode())
        return
    _feed_codeobj(h, code)
    h.update(repr(getattr(fn, "__defaults__", None)).encode())
    h.update(repr(getattr(fn, "__kwdefaults__", None)).encode())
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if callable(value) and hasattr(value, "__code__"):
            _feed_code(h, value, depth - 1, seen)
        else:
            h.update(repr(value).encode())
    glb = getattr(fn, "__globals__", {})
    for name in code.co_names:  # module-level constants and helpers the code reads
        if name in glb:
            value = glb[name]
            if hasattr(value, "__code__"):
                _feed_code(h, value, depth - 1, seen)
            elif isinstance(value, (int, float, str, bytes, tuple, bool)):
                h.update(f"{name}={value!r}".encode())


def _feed_codeobj(h, code: types.CodeType) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _feed_codeobj(h, c)
        else:
            h.update(repr(c).encode())


def _optlab_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("optlab")
    except md.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def run_identity(
    key_config: Mapping[str, Any], *, problem, optimizer_fp: str | None = None
) -> dict[str, Any]:
    """The full identity of a run: its study key plus what decides its numbers (see above).

    Args:
      key_config: the run's :func:`optlab.study.config.run_config`.
      problem: the built ``Problem`` (for its fingerprint).
      optimizer_fp: the optimizer's :func:`optimizer_fingerprint` (computed if not given).

    Returns:
      A JSON-able dict: the key's entries plus ``identity``, ``problem_options_resolved``,
      ``hyperparams_resolved``, ``optimizer_code``, ``problem_code`` and ``optlab_version``;
      ``optlab.store.run_id`` of it is the run id.
    """
    opt = key_config["optimizer"]
    return {
        **dict(key_config),
        "identity": IDENTITY_FORMAT,
        "problem_options_resolved": resolved_problem_options(
            key_config["problem"], key_config.get("problem_options", {})
        ),
        "hyperparams_resolved": resolved_hyperparams(opt, key_config["hyperparams"]),
        "optimizer_code": optimizer_fp if optimizer_fp is not None else optimizer_fingerprint(opt),
        "problem_code": problem_fingerprint(problem),
        "optlab_version": _optlab_version(),
    }
