"""Run every benchmark and print one table of ratios against each baseline.

    python -m benchmarks            # full sizes (several minutes on a 2-core CPU)
    python -m benchmarks --quick    # smaller sizes, about a minute or two
    python -m benchmarks --only sweep,landscape

Each benchmark module runs in its own subprocess (so its peak memory is its own) and exposes
``run(quick) -> list[dict]``. Modules whose baseline is numpy (``NUMPY_BASELINE = True``) run
with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: on these machines those variables halve
numpy's matmul speed, which would flatter optlab. Results are also written as JSON to
``benchmarks/results/`` (git-ignored); copy the table into benchmarks/README.md with the machine.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import format_table, machine

MODULES = [
    "train_step",
    "get_batch",
    "sweep",
    "landscape",
    "curvature",
    "study",
    "analysis",
    "peers",
]
COLUMNS = ["benchmark", "case", "optlab_s", "baseline", "baseline_s", "ratio", "notes"]


def _child(name: str, quick: bool, out: str) -> None:
    mod = importlib.import_module(f"benchmarks.{name}")
    rows = mod.run(quick=quick)
    from benchmarks.common import peak_rss_mb

    for r in rows:
        r.setdefault("peak_rss_mb", peak_rss_mb())
    Path(out).write_text(json.dumps(rows, default=float))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--only", default="", help=f"comma-separated subset of {MODULES}")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON results")
    p.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._child:
        _child(a._child[0], a.quick, a._child[1])
        return 0
    names = [n for n in (a.only.split(",") if a.only else MODULES) if n]
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {MODULES}")
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    for name in names:
        tmp = out_dir / f".{name}.json"
        env = dict(os.environ)
        spec = importlib.util.find_spec(f"benchmarks.{name}")
        if spec is None:
            failed.append((name, "module not found"))
            continue
        if "NUMPY_BASELINE = True" in Path(spec.origin).read_text():
            env.pop("OPENBLAS_CORETYPE", None)
            env.pop("OPENBLAS_L2_SIZE", None)
        print(f"running benchmarks.{name} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "benchmarks", "--_child", name, str(tmp)]
        res = subprocess.run(cmd + (["--quick"] if a.quick else []), env=env)
        if res.returncode != 0 or not tmp.exists():
            failed.append((name, f"exit code {res.returncode}"))
            continue
        rows += json.loads(tmp.read_text())
        tmp.unlink()
    info = machine()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    from benchmarks.targets import evaluate

    targets = evaluate(rows)
    record = {"machine": info, "quick": a.quick, "date": stamp, "rows": rows, "failed": failed,
              "targets": targets}  # fmt: skip
    path = out_dir / f"benchmarks-{stamp}.json"
    path.write_text(json.dumps(record, indent=1, default=float))
    print(
        f"\nmachine: {info['cpu']} ({info['cores']} cores), JAX {info['jax']} on "
        f"{info['backend']}:{info['device']} x{info['device_count']}"
    )
    print(format_table(rows, COLUMNS + ["peak_rss_mb"]))
    print("\nratio = baseline time / optlab time (higher is better).")
    title = "Targets (issue 13)"
    if a.quick:
        title += " -- QUICK SIZES: the targets are for the full sizes"
    print(f"\n{title}")
    print(format_table(targets, ["workload", "optlab", "baseline", "measured", "target", "met"]))
    print(f"\nJSON: {path}")
    for name, why in failed:
        print(f"FAILED: benchmarks.{name}: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
