"""The code in the README and in the guides under docs/ runs as written.

Each document's ```python blocks run in order in one namespace, as a reader pasting them into
one session would run them. Blocks opened with ```python no-run (a cluster launch, a long
study) are shown but not run.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


CASES = [p for p in DOCS if python_blocks(p)]


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_snippets_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write results do so in a scratch folder
    namespace = {"__name__": f"doc_{path.stem}"}
    for i, code in enumerate(python_blocks(path)):
        exec(compile(code, f"{path.name}[block {i}]", "exec"), namespace)
