"""optax's optimizers registered by name, with the default learning rates optlab records.

optax itself has no default learning rate; the ones below follow the papers' or the most common
framework's choice (PyTorch/Keras) and are listed in ``docs/optimizers.md``.
"""

from __future__ import annotations

import inspect

import optax

from optlab.optimizers._registry import Range, register

_UNIT = Range(0.0, 1.0, high_open=True)  # decay rates of moving averages: [0, 1)
_POSITIVE = Range(0.0, None, low_open=True)
_NON_NEGATIVE = Range(0.0, None)

#: The valid values of optax's hyperparameters, by keyword (applied where a factory takes it).
RANGES = {
    "b1": _UNIT,
    "b2": _UNIT,
    "b3": _UNIT,
    "decay": Range(0.0, 1.0),
    "rho": Range(0.0, 1.0),
    "eps": _POSITIVE,
    "eps_root": _NON_NEGATIVE,
    "momentum": _NON_NEGATIVE,
    "weight_decay": _NON_NEGATIVE,
    "initial_accumulator_value": _NON_NEGATIVE,
    "initial_scale": _NON_NEGATIVE,
    "trust_coefficient": _POSITIVE,
    "eta_minus": Range(0.0, 1.0, low_open=True, high_open=True),
    "eta_plus": Range(1.0, None),
    "min_step_size": _NON_NEGATIVE,
    "max_step_size": _POSITIVE,
}


def _optax(name, fn, lr, reference="", ranges=None, **extra_defaults):
    source = f"optax.{getattr(fn, '__name__', name)}"
    params = inspect.signature(fn).parameters
    register(
        name,
        defaults={"learning_rate": lr, **extra_defaults},
        source=source,
        reference=reference,
        description=_first_line(fn),
        ranges={**{k: r for k, r in RANGES.items() if k in params}, **(ranges or {})},
    )(fn)


def _first_line(fn) -> str:
    doc = (fn.__doc__ or "").strip().splitlines()
    return doc[0].strip() if doc else ""


_optax("sgd", optax.sgd, 1e-2, "Robbins & Monro (1951)")
_optax("adam", optax.adam, 1e-3, "Kingma & Ba (2015), arXiv:1412.6980")
_optax("adamw", optax.adamw, 1e-3, "Loshchilov & Hutter (2019), arXiv:1711.05101")
_optax("nadam", optax.nadam, 1e-3, "Dozat (2016)")
_optax("nadamw", optax.nadamw, 1e-3, "Dozat (2016); Loshchilov & Hutter (2019)")
_optax("amsgrad", optax.amsgrad, 1e-3, "Reddi et al. (2018)")
_optax("rmsprop", optax.rmsprop, 1e-3, "Tieleman & Hinton (2012)")
_optax("adagrad", optax.adagrad, 1e-2, "Duchi et al. (2011)")
_optax("adadelta", optax.adadelta, 1.0, "Zeiler (2012), arXiv:1212.5701")
_optax("adabelief", optax.adabelief, 1e-3, "Zhuang et al. (2020), arXiv:2010.07468")
_optax("adamax", optax.adamax, 2e-3, "Kingma & Ba (2015), section 7")
_optax("yogi", optax.yogi, 1e-2, "Zaheer et al. (2018)")
_optax("lion", optax.lion, 1e-4, "Chen et al. (2023), arXiv:2302.06675")
_optax("lamb", optax.lamb, 1e-3, "You et al. (2020), arXiv:1904.00962")
_optax("lars", optax.lars, 1e-1, "You et al. (2017), arXiv:1708.03888", {"eps": _NON_NEGATIVE})
_optax("novograd", optax.novograd, 1e-3, "Ginsburg et al. (2019), arXiv:1905.11286")
_optax("radam", optax.radam, 1e-3, "Liu et al. (2020), arXiv:1908.03265")
_optax("adan", optax.adan, 1e-3, "Xie et al. (2022), arXiv:2208.06677")
_optax("sign_sgd", optax.sign_sgd, 1e-3, "Bernstein et al. (2018)")
_optax("rprop", optax.rprop, 1e-2, "Riedmiller & Braun (1993)")


@register(
    "momentum",
    defaults={"learning_rate": 1e-2},
    source="optax.sgd(momentum=...)",
    reference="Polyak (1964)",
    ranges={"momentum": _NON_NEGATIVE},
)
def momentum(learning_rate, momentum: float = 0.9):
    """SGD with (heavy-ball style, PyTorch convention) momentum, via ``optax.sgd``."""
    return optax.sgd(learning_rate, momentum=momentum)


@register(
    "nesterov",
    defaults={"learning_rate": 1e-2},
    source="optax.sgd(nesterov=True)",
    reference="Nesterov (1983); Sutskever et al. (2013)",
    ranges={"momentum": _NON_NEGATIVE},
)
def nesterov(learning_rate, momentum: float = 0.9):
    """SGD with Nesterov momentum, via ``optax.sgd(..., nesterov=True)``."""
    return optax.sgd(learning_rate, momentum=momentum, nesterov=True)


@register(
    "lbfgs",
    defaults={"learning_rate": None},
    source="optax.lbfgs",
    reference="Nocedal (1980); Liu & Nocedal (1989)",
    ranges={"memory_size": Range(1, None, integer=True)},
)
def lbfgs(learning_rate=None, memory_size: int = 10):
    """L-BFGS with optax's zoom line search (needs ``value``, ``grad``, ``value_fn`` extra args).

    ``optlab.train`` passes them; with a ``learning_rate`` the line search is replaced by a
    fixed step size.
    """
    if learning_rate is None:
        return optax.lbfgs(memory_size=memory_size)
    return optax.lbfgs(learning_rate=learning_rate, memory_size=memory_size, linesearch=None)
