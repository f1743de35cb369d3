"""docs/api.md is generated from the docstrings and must be current."""

import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "api.md"


def test_api_overview_is_current():
    out = subprocess.run(
        [sys.executable, "-m", "optlab.apidoc"], capture_output=True, text=True, check=True
    )
    assert DOC.read_text() == out.stdout, "regenerate with: python -m optlab.apidoc > docs/api.md"
    assert "(undocumented)" not in out.stdout, "every public function needs a docstring"
