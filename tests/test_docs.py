"""The code in the README (and in the guides under docs/) runs as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


CASES = [(p, i, code) for p in DOCS for i, code in enumerate(python_blocks(p))]


@pytest.mark.parametrize("path,index,code", CASES, ids=[f"{p.name}-{i}" for p, i, _ in CASES])
def test_snippet_runs(path, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write results do so in a scratch folder
    exec(compile(code, f"{path.name}[{index}]", "exec"), {"__name__": f"snippet_{index}"})
