"""``python -m optlab.apidoc > docs/api.md``: the API overview, generated from the docstrings.

Lists every public function and class of every public module with the first line of its
docstring, so the overview cannot drift from the code (``tests/test_apidoc.py`` checks that
``docs/api.md`` is current).
"""

from __future__ import annotations

import importlib
import inspect

MODULES = (
    "optlab.mlp",
    "optlab.losses",
    "optlab.data",
    "optlab.problems",
    "optlab.optimizers",
    "optlab.train",
    "optlab.sweep",
    "optlab.study",
    "optlab.stats",
    "optlab.store",
    "optlab.lanes",
    "optlab.landscape",
    "optlab.pipelines.landscape",
    "optlab.plot.study",
    "optlab.plot.landscape",
    "optlab.distributed",
    "optlab.classic",
    "optlab.precision",
    "optlab.plugins",
)


def _public(mod) -> list[tuple[str, object]]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(mod).items()
            if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", "") == mod.__name__
        ]
    out = []
    for n in names:
        obj = getattr(mod, n)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            out.append((n, obj))
    return sorted(out, key=lambda t: t[0].lower())


def _summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    line = doc.strip().splitlines()[0].strip() if doc.strip() else "(undocumented)"
    return line.replace("|", "\\|")


def render() -> str:
    lines = [
        "# API overview",
        "",
        "Generated from the docstrings by `python -m optlab.apidoc > docs/api.md`; a test checks",
        "that it is current. Each entry is the first line of the docstring; read the docstring",
        "itself (`help(optlab.train.train)`) for the arguments, maths and references.",
    ]
    for name in MODULES:
        mod = importlib.import_module(name)
        head = (inspect.getdoc(mod) or "").strip().splitlines()
        lines += ["", f"## `{name}`", ""]
        if head:
            lines += [head[0], ""]
        lines += ["| name | summary |", "|---|---|"]
        for n, obj in _public(mod):
            label = f"class `{n}`" if inspect.isclass(obj) else f"`{n}()`"
            lines.append(f"| {label} | {_summary(obj)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
