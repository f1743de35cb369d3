"""The code in the README and in the guides under docs/ runs as written.

Each document's ```python blocks run in order in one namespace, as a reader pasting them into
one session would run them. Blocks opened with ```python no-run (a cluster launch, a long
study) are shown but not run.
"""

import re
from pathlib import Path

import pytest

from optlab.data import core as data_core
from optlab.optimizers import _registry as optimizer_registry
from optlab.problems import core as problem_core

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


CASES = [p for p in DOCS if python_blocks(p)]


@pytest.fixture
def isolated_registries():
    """What a guide registers (a dataset, a problem, an optimizer) is removed afterwards, so
    the other tests see only the built-ins whatever the order."""
    registries = (data_core._LOADERS, problem_core._REGISTRY, optimizer_registry._REGISTRY)
    saved = [dict(r) for r in registries]
    yield
    for registry, before in zip(registries, saved, strict=True):
        registry.clear()
        registry.update(before)


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_snippets_run(path, tmp_path, monkeypatch, isolated_registries):
    monkeypatch.chdir(tmp_path)  # snippets that write results do so in a scratch folder
    namespace = {"__name__": f"doc_{path.stem}"}
    for i, code in enumerate(python_blocks(path)):
        exec(compile(code, f"{path.name}[block {i}]", "exec"), namespace)
