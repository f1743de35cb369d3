"""The package's import graph flows one way (docs/architecture.md): checked on the source.

Every ``import`` in ``optlab/`` (module-level or inside a function: a lazy import is still a
dependency) is read from the syntax tree and mapped to the top-level part it names. A part may
import only parts of a lower layer or its own part, so the graph has no cycles and, for
example, ``landscape`` needs nothing from training and the plots need no jax.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "optlab"

# Lowest first. A part may import parts listed before it (and itself), never after it.
LAYERS: list[tuple[str, ...]] = [
    ("_io", "_checks", "_cache"),  # infrastructure: no jax-specific ideas
    ("mlp", "cnn", "losses", "stats", "distributed", "precision"),  # pure building blocks
    ("data", "optimizers", "store"),
    ("problems", "lanes", "classic", "plugins"),  # plugins: user code registering both
    ("landscape",),  # slices and analysis of any f: nothing from training
    ("train",),
    ("sweep",),
    ("study",),
    ("pipelines",),  # multi-step workflows that combine the engines
    ("plot",),  # draw stored numpy results
    ("apidoc",),
    ("commands",),  # thin: parse, call a pipeline or the library, print
    ("cli",),
]
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}

# Parts that draw or parse must not touch jax at all.
NO_JAX = ("plot", "commands", "cli", "_io", "_checks", "_cache", "stats")


def _part_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _module_name(path: Path) -> list[str]:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = ["optlab", *rel.parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            if mod == "optlab":  # from optlab import a, b: each name is a part
                out += [(node.lineno, f"optlab.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, mod))
    return out


SOURCES = sorted(p for p in ROOT.rglob("*.py") if _part_of(p) not in ("__init__", "__main__"))


def test_every_part_has_a_layer():
    parts = {_part_of(p) for p in SOURCES}
    assert parts <= set(RANK), f"parts without a layer: {sorted(parts - set(RANK))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    part = _part_of(path)
    bad = []
    for line, mod in _imports(path):
        names = mod.split(".")
        if names[0] == "jax" and part in NO_JAX:
            bad.append(f"line {line}: {part} imports {mod} (it must not need jax)")
        if names[0] != "optlab" or len(names) < 2 or names[1] in ("__init__", "__version__"):
            continue
        target = names[1]
        if target not in RANK:
            continue  # a name re-exported by optlab/__init__ (e.g. __version__)
        if RANK[target] > RANK[part]:
            bad.append(f"line {line}: {part} imports {mod}, a higher layer")
    assert not bad, "\n".join(bad)
