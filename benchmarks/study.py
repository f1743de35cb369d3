"""A whole default study end to end, against the same runs as a loop of ``train`` calls.

optlab runs each (problem, optimizer) group of trials and seeds as one compiled sweep. The
baseline is what one writes without sweeps: one ``optlab.train.train`` call per run (each new
learning rate builds a new optimizer, so each run compiles its own program). Also measured:
the study in a fresh process twice with JAX's persistent compilation cache on
(``optlab --compilation-cache``), to show how much of the wall time is compilation, and a
cold study (``--no-compilation-cache``) with and without the programs it shares (sgd and
momentum, the batch order of a minibatched problem), alternated, in new processes.
Run: ``python -m benchmarks.study``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.common import format_table, machine
from optlab import study, train


def _config(quick: bool) -> study.StudyConfig:
    if quick:
        return study.DEFAULT_CONFIG.restricted(
            problems=("adder",), optimizers=("sgd", "adam"), budget=3, seeds=3, steps=200
        )
    return study.DEFAULT_CONFIG


def _sequential(cfg: study.StudyConfig, res) -> float:
    """Re-run every stored run of the study as its own ``train.train`` call."""
    built = {p: cfg.build_problem(p) for p in cfg.problems}
    t0 = time.perf_counter()
    for row in res.summary_rows():
        p = row["problem"]
        hp = {k[3:]: v for k, v in row.items() if k.startswith("hp_") and v is not None}
        key = jax.random.key(int(row["seed"]))
        train.train(built[p], row["optimizer"], steps=cfg.steps_of(p), key=key, hyperparams=hp,
                    eval_every=cfg.eval_every, snapshots=False)  # fmt: skip
    return time.perf_counter() - t0


def _cli_study(out: Path, cache: Path, quick: bool) -> float:
    cmd = [
        sys.executable,
        "-m",
        "optlab",
        "--compilation-cache",
        str(cache),
        "compare",
        "--quiet",
        "--out",
        str(out),
    ]
    if quick:
        cmd += [
            "--problem",
            "adder",
            "--optimizers",
            "sgd,adam",
            "--budget",
            "3",
            "--seeds",
            "3",
            "--steps",
            "200",
        ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ))
    return time.perf_counter() - t0


# A child process running the study with a fresh (no persistent) cache; with "off", the
# program sharing (sgd/momentum, the batch order program) is switched off, as before it existed.
_CHILD = """
import json, sys
from jax import monitoring
seconds = []
monitoring.register_event_duration_secs_listener(
    lambda name, s, **kw: seconds.append(s) if name.endswith("backend_compile_duration") else None)
from optlab import cli
from optlab.study import execute
from optlab.sweep import engines, runner
if sys.argv[1] == "off":
    execute._SHARED_PROGRAMS.clear()
    engines._MAX_ORDER_WORDS = 0
cli.main(sys.argv[2:])
out = {"compile_s": sum(seconds), "programs": runner.compile_count(), "xla": len(seconds)}
print(json.dumps(out))
"""


def _cold_study(out: Path, quick: bool, sharing: bool) -> tuple[float, dict]:
    """Wall seconds of a cold ``optlab compare`` in a new process, and what it compiled."""
    args = ["--no-compilation-cache", "compare", "--quiet", "--no-report", "--out", str(out)]
    if quick:
        args += ["--problem", "digits-mlp", "--optimizers", "sgd,momentum,adam", "--budget",
                 "3", "--seeds", "3", "--steps", "100"]  # fmt: skip
    cmd = [sys.executable, "-c", _CHILD, "on" if sharing else "off", *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - t0
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def _sharing_rows(tmp: Path, quick: bool) -> list[dict]:
    """Cold studies with and without program sharing, alternated (median of per-pair ratios)."""
    pairs = []
    for i in range(2 if quick else 3):
        off = _cold_study(tmp / f"off{i}", quick, sharing=False)
        on = _cold_study(tmp / f"on{i}", quick, sharing=True)
        pairs.append((on, off))
    wall_ratio = float(np.median([off[0] / on[0] for on, off in pairs]))
    comp_ratio = float(np.median([off[1]["compile_s"] / on[1]["compile_s"] for on, off in pairs]))
    on, off = pairs[-1]
    case = "cold optlab compare (no compilation cache), new process"
    return [
        {
            "benchmark": "default study", "case": case + ": wall",
            "optlab_s": min(p[0][0] for p in pairs), "baseline": "same, programs not shared",
            "baseline_s": min(p[1][0] for p in pairs), "ratio": wall_ratio,
            "notes": f"sweep programs {on[1]['programs']} vs {off[1]['programs']}, "
            f"XLA compilations {on[1]['xla']} vs {off[1]['xla']}",
        },
        {
            "benchmark": "default study", "case": case + ": XLA compile seconds",
            "optlab_s": min(p[0][1]["compile_s"] for p in pairs),
            "baseline": "same, programs not shared",
            "baseline_s": min(p[1][1]["compile_s"] for p in pairs), "ratio": comp_ratio,
            "notes": "sgd+momentum one program; batch order one program per problem",
        },
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    cfg = _config(quick)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        res = study.run_study(cfg, tmp / "study")
        wall = time.perf_counter() - t0
        compile_s, run_s = res.total_times()
        n_runs = len(res.summary_rows())
        seq = _sequential(cfg, res)
        case = f"{len(cfg.problems)} problems x {len(cfg.optimizers)} optimizers, {n_runs} runs"
        rows.append({
            "benchmark": "default study", "case": case, "optlab_s": wall,
            "baseline": "one train() call per run", "baseline_s": seq, "ratio": seq / wall,
            "compile_s": compile_s, "run_s": run_s,
            "notes": f"compile {compile_s:.1f}s + run {run_s:.1f}s inside the study",
        })  # fmt: skip
        cache = tmp / "jax-cache"
        cold = _cli_study(tmp / "cold", cache, quick)
        warm = _cli_study(tmp / "warm", cache, quick)
        rows.append({
            "benchmark": "default study", "case": "optlab compare, new process, warm compile cache",
            "optlab_s": warm, "baseline": "same, empty cache", "baseline_s": cold,
            "ratio": cold / warm, "notes": "--compilation-cache; training only (--no-report)",
        })  # fmt: skip
        rows += _sharing_rows(tmp, quick)
    return rows


if __name__ == "__main__":
    rows = run(quick="--quick" in sys.argv)
    print(machine())
    print(format_table(rows, ["case", "optlab_s", "baseline", "baseline_s", "ratio", "notes"]))
