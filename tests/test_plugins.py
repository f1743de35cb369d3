"""User code in every command: --import, a study's imports, entry points; reports from the store.

The registries are process-wide, so every test here registers into copies of them
(``isolated``) and leaves the process as it found it.
"""

from __future__ import annotations

import colorsys
import re
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pytest

from optlab import cli, plugins
from optlab.optimizers import _registry as opt_registry
from optlab.plot import study as plot_study
from optlab.problems import core as problem_registry

ROOT = Path(__file__).parents[1]

OPTIMIZER_MODULE = '''
import optax
from optlab import optimizers

@optimizers.register("{name}", defaults={{"learning_rate": 1e-2}})
def _factory(learning_rate=1e-2):
    """Sign descent (a test plugin)."""
    return optax.chain(optax.scale_by_sign(), optax.scale_by_learning_rate(learning_rate))
'''

PROBLEM_MODULE = """
import jax.numpy as jnp
from optlab import problems

@problems.register("{name}", description="a bowl (a test plugin)")
def _bowl():
    return problems.analytic_problem(
        "{name}", lambda p: jnp.sum(p**2), bounds=((-1.0, 1.0), (-1.0, 1.0)), start=(0.5, 0.5),
        known_minima=[problems.KnownMinimum((0.0, 0.0), 0.0, True)],
    )
"""


@pytest.fixture
def isolated(monkeypatch):
    """Copies of the registries and of the plugin bookkeeping, restored afterwards."""
    monkeypatch.setattr(opt_registry, "_REGISTRY", dict(opt_registry._REGISTRY))
    monkeypatch.setattr(problem_registry, "_REGISTRY", dict(problem_registry._REGISTRY))
    monkeypatch.setattr(plugins, "_ORIGINS", {})
    monkeypatch.setattr(plugins, "_LOADED", {})
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("fakeplug", "optlab_user_", "brokenplug")):
            del sys.modules[name]


def _fake_distribution(root: Path, dist: str, module: str, body: str) -> None:
    """An installed package as importlib.metadata sees one: a .dist-info with entry points."""
    (root / f"{module}.py").write_text(body)
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[optlab.plugins]\nfake = {module}\n")


def test_entry_point_plugins_are_listed_with_their_origin(tmp_path, monkeypatch, capsys, isolated):
    body = OPTIMIZER_MODULE.format(name="fake-sign") + PROBLEM_MODULE.format(name="fake-bowl")
    _fake_distribution(tmp_path, "fakeplug", "fakeplug_mod", body)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("fake-sign"))
    assert "[from package fakeplug (entry point fake)]" in line
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("fake-bowl"))
    assert "a bowl (a test plugin)" in line and "[from package fakeplug" in line
    # built-ins are not marked
    assert "[from" not in next(ln for ln in out.splitlines() if ln.strip().startswith("adam "))
    assert plugins.origin("optimizer", "adam") == "built-in"
    assert plugins.origin("problem", "adder") == "built-in"


def test_broken_plugins_and_bad_imports_are_one_line_errors(
    tmp_path, monkeypatch, capsys, isolated
):
    monkeypatch.chdir(tmp_path)
    for argv, match in [
        (["list", "--import", "no_such_module_xyz"], r"no module named 'no_such_module_xyz'"),
        (["list", "--import", "missing.py"], r"no such file"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(match, err), err
    _fake_distribution(tmp_path, "brokenplug", "brokenplug_mod", "raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "package 'brokenplug'" in err and "RuntimeError: boom" in err


def test_study_imports_and_a_report_that_needs_no_user_code(tmp_path, monkeypatch, isolated):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.py").write_text(
        OPTIMIZER_MODULE.format(name="mine-a").replace("_factory", "_a")
        + OPTIMIZER_MODULE.format(name="mine-b").replace("_factory", "_b")
    )
    (tmp_path / "conf" / "study.toml").write_text(
        'imports = ["mine.py"]\nproblems = ["adder"]\noptimizers = ["adam", "mine-a", "mine-b"]\n'
        "budget = 2\nseeds = 2\nsteps = 30\n"
    )
    monkeypatch.chdir(tmp_path)  # the TOML's imports are relative to the TOML, not here
    out = tmp_path / "study"
    assert cli.main(["compare", "--config", "conf/study.toml", "--out", str(out), "--quiet",
                     "--no-report"]) == 0  # fmt: skip
    # a fresh process knows nothing of mine-a / mine-b: the report reads the store only
    for name in ("mine-a", "mine-b"):
        del opt_registry._REGISTRY[name]
    assert cli.main(["report", str(out), "--quiet", "--formats", "png"]) == 0
    table = (out / "tables" / "results.md").read_text()
    assert "mine-a" in table and "mine-b" in table
    assert (out / "figures" / "curves_adder.png").exists()
    # their colours: distinct, in study order, none a built-in's
    colours = [plot_study.color_of(o, ("adam", "mine-a", "mine-b")) for o in ("mine-a", "mine-b")]
    assert colours == list(plot_study._CUSTOM[:2])
    assert not set(colours) & set(plot_study._FIXED.values())


def _lab(colour) -> np.ndarray:
    """CIE L*a*b* (D65) of a matplotlib colour, from the sRGB definition."""
    rgb = np.asarray(mcolors.to_rgb(colour))
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_custom_colours_are_saturated_and_far_from_the_fixed_ones():
    fixed = [_lab(c) for c in plot_study._FIXED.values()]
    custom = plot_study._CUSTOM
    for i, c in enumerate(custom):
        lab = _lab(c)
        assert min(np.linalg.norm(lab - f) for f in fixed) >= 20, c  # Delta E (CIE76)
        for other in custom[:i]:
            assert np.linalg.norm(lab - _lab(other)) >= 25, (c, other)
        assert colorsys.rgb_to_hsv(*mcolors.to_rgb(c))[1] > 0.5, c  # not grey
        assert lab[0] < 75, c  # not pale
    # any name outside a study list still gets one of them, stably
    assert plot_study.color_of("whatever-name") in custom
    assert plot_study.color_of("whatever-name") == plot_study.color_of("whatever-name")


def _doc_blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def test_custom_optimizers_doc_command_line_block_runs(tmp_path):
    """docs/custom_optimizers.md section 4, as a reader runs it: the module, then the shell."""
    doc = ROOT / "docs" / "custom_optimizers.md"
    module = next(b for b in _doc_blocks(doc, "python") if b.startswith("# my_optimizers.py"))
    (tmp_path / "my_optimizers.py").write_text(module)
    (shell,) = [b for b in _doc_blocks(doc, "bash") if "--import my_optimizers.py" in b]
    commands = [c.split("#")[0].strip() for c in shell.replace("\\\n", " ").splitlines()]
    outputs = []
    for command in filter(None, commands):
        argv = shlex.split(command)
        assert argv[0] == "optlab"
        proc = subprocess.run([sys.executable, "-m", "optlab", *argv[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert "[from file my_optimizers.py]" in outputs[0]
    assert "signum" in (tmp_path / "results" / "signum" / "tables" / "results.md").read_text()


def test_unknown_names_say_how_to_reach_ones_own(tmp_path, capsys):
    # a study resumed without the --import that registered its optimizer fails with a message
    # that says how to load one's own optimizer or problem
    from optlab import optimizers, problems

    with pytest.raises(ValueError, match=r"unknown optimizer 'mine'.*--import MODULE"):
        optimizers.get("mine")
    with pytest.raises(ValueError, match=r"unknown problem 'mine'.*--import MODULE"):
        problems.get("mine")
    code = cli.main(["compare", "--problem", "adder", "--optimizers", "mine", "--out",
                     str(tmp_path / "s")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--import MODULE" in err[0]
