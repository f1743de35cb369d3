"""`optlab list`, `optlab compare`, `optlab report` end to end (in-process, tiny studies)."""

import numpy as np
import pytest

from optlab import cli, optimizers, problems, store

TINY = [
    "--problem",
    "quadratic",
    "--optimizers",
    "gd,heavy-ball",
    "--budget",
    "2",
    "--seeds",
    "2",
    "--steps",
    "20",
    "--eval-every",
    "5",
]


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in optimizers.names():
        assert f"  {name} " in out
    for name in problems.names():
        assert f"  {name} " in out
    assert "learning_rate=0.001, b1=0.9" in out  # adam's defaults
    assert cli.main(["list", "problems"]) == 0
    assert "adam" not in capsys.readouterr().out.split("Problems")[0]


def test_help_texts(capsys):
    for cmd in ("compare", "report", "list"):
        with pytest.raises(SystemExit) as e:
            cli.main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage: optlab " + cmd in out
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    out = capsys.readouterr().out
    for flag in ("--problem", "--optimizers", "--seeds", "--budget", "--steps", "--out", "--quiet"):
        assert flag in out
    assert "examples:" in out


def test_compare_quiet_then_report(tmp_path, capsys):
    out_dir = tmp_path / "cmp"
    assert cli.main(["compare", *TINY, "--out", str(out_dir), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""  # --quiet: silent
    figs = sorted(p.name for p in (out_dir / "figures").iterdir())
    assert "performance_profile.pdf" in figs and "curves_quadratic.png" in figs
    s = store.Store(out_dir)
    assert len(s.run_ids()) == 2 * 2 + 2 * 2  # 2 trials x 1 tuning seed + 2 evaluation seeds
    # the manifest records the CLI's settings
    cfg = s.manifest()["config"]
    assert cfg["optimizers"] == ["gd", "heavy-ball"] and cfg["steps"] == 20 and cfg["seeds"] == 2
    # report regenerates every figure/table from the store only
    before = {p.name: p.read_bytes() for p in (out_dir / "tables").iterdir()}
    for p in (out_dir / "figures").iterdir():
        p.unlink()
    for p in (out_dir / "tables").iterdir():
        p.unlink()
    assert cli.main(["report", str(out_dir), "--baseline", "heavy-ball"]) == 0
    out = capsys.readouterr().out
    assert "| optimizer | quadratic |" in out and "wrote" in out
    assert sorted(p.name for p in (out_dir / "figures").iterdir()) == figs
    after = {p.name: p.read_bytes() for p in (out_dir / "tables").iterdir()}
    assert after["results.md"] == before["results.md"]
    assert b"vs heavy-ball" in after["quadratic.md"]
    # rerunning the same command trains nothing new
    n = len(s.run_ids())
    assert cli.main(["compare", *TINY, "--out", str(out_dir), "--quiet", "--no-report"]) == 0
    assert len(s.run_ids()) == n
    # the table's numbers are the stored runs' numbers
    rec = [r for r in s.load_runs() if r.config["seed"] >= 1000 and r.config["optimizer"] == "gd"]
    mean = np.mean([r.summary["train_loss"] for r in rec])
    assert f"{mean:.4g}" in after["results.md"].decode()


def test_compare_log_when_not_quiet(tmp_path, capsys):
    assert cli.main(["compare", *TINY, "--out", str(tmp_path / "c"), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "study 'cli'" in out and "tuning" in out and "compile" in out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--optimizers", "gd,nope"], "unknown optimizer 'nope'"),
        (["--problem", "nope"], "unknown problem 'nope'"),
        (["--seeds", "0"], "--seeds must be a positive integer"),
        (["--steps", "-1"], "--steps must be a positive integer"),
        (["--config", "missing.toml"], "missing.toml does not exist"),
    ],
)
def test_compare_bad_input_exit_2(argv, match, tmp_path, capsys):
    out_dir = tmp_path / "x"
    assert cli.main(["compare", *argv, "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert match in err
    assert not out_dir.exists()


def test_report_errors(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err
