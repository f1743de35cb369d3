"""Benchmark: a whole sweep in one compiled program vs the same runs one after another.

Run:
    .venv/bin/python benchmarks/sweep.py            # full (about 8-10 minutes on 2 CPU cores)
    .venv/bin/python benchmarks/sweep.py --quick    # smaller, for a smoke test

Cases (issue 3, "Performance"):

- adder: 2-3-1 ReLU MLP, 1,000 training samples, full batch, MSE, Adam, 2,000 steps,
  8 learning rates x 8 seeds = 64 runs. Target: sweep >= 5x faster than sequential.
- digits: 64-128-10 ReLU MLP, minibatch 128, 20 epochs, 4 learning rates x 4 seeds.
  Target (issue 13): >= 1.3x sequential. ``auto`` vmaps the runs, draws each seed's
  minibatch once for its learning rates, and on 2 cores runs two groups of 2 learning rates
  x 4 seeds side by side on two threads; the other rows are the old ``map`` chunks.

Baseline: each run's training as one jitted ``lax.scan`` (``optlab.train``'s own step, the
hyperparameters passed as arguments so it compiles once), called once per run, summed. Sweeps
and baseline are timed alternately ``--repeats`` times in this process; two ratios are
printed: min(sequential) / min(sweep), and the median over repeats of the ratio of each sweep
to the sequential timing just before it (robust when other jobs share the machine). Every
sweep is compiled and run once untimed first, as the sequential runner is. Compile time is
reported separately.
Final losses of the sweep are compared with ``optlab.train.train`` runs of the same configs.
Scaling of the time per run with the number of runs (1 -> 256) is written to
``results/sweep_scaling.png`` and ``results/sweep_scaling.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from optlab import optimizers, problems, sweep, train
from optlab.sweep import engines, runner

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    dev = jax.devices()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores; jax {jax.__version__}; device {dev.platform} "
        f"({dev.device_kind}); python {platform.python_version()}"
    )


def sequential_runner(problem, name: str, steps: int):
    """One run = one call of a jitted lax.scan over ``train.make_step`` (hp as arguments)."""

    def one(hp, key):
        opt = optimizers.get(name, **hp)
        state = train.init_state(problem, opt, key)
        step = train.make_step(problem, opt)
        split = problem.data.train

        def body(s, i):
            s, (loss, gnorm) = step(s, split, i)
            return s, loss

        state, losses = jax.lax.scan(body, state, jnp.arange(steps))
        return losses

    return jax.jit(one)


def time_sequential(fn, configs) -> tuple[float, np.ndarray]:
    finals, total = [], 0.0
    for cfg in configs:
        hp = {k: jnp.float32(v) for k, v in cfg.items() if k != "seed"}
        key = jax.random.key(cfg["seed"])
        t0 = time.perf_counter()
        losses = jax.block_until_ready(fn(hp, key))
        total += time.perf_counter() - t0
        finals.append(float(losses[-1]))
    return total, np.asarray(finals)


def run_case(label, problem, name, lrs, seeds, steps, repeats, methods, check_train):
    """Time sequential vs sweep engines (alternating, min of ``repeats``); rows for the table.

    Sweeps evaluate only at the end (``eval_every=steps``) like the baseline, which evaluates
    nothing; ``methods`` maps a label to ``sweep`` keywords, plus ``_xla`` to replace the lanes
    XLA options for that variant.
    """
    n_runs = len(lrs) * len(seeds)
    print(f"\n== {label}: {problem.name} {problem.sizes}, batch {problem.batch_size or 'full'}, "
          f"train rows {problem.data.train.x.shape[0]}, {name}, {steps} steps, "
          f"{len(lrs)} lr x {len(seeds)} seeds = {n_runs} runs")  # fmt: skip
    grid = {"learning_rate": list(lrs)}
    configs = [{"learning_rate": lr, "seed": s} for lr in lrs for s in seeds]
    seq = sequential_runner(problem, name, steps)
    t0 = time.perf_counter()
    time_sequential(seq, configs[:1])
    seq_compile = time.perf_counter() - t0
    results = {m: {"times": [], "compile": None, "res": None} for m in methods}
    seq_times = []
    saved = dict(engines._LANES_XLA_OPTIONS)
    # round 0 compiles and runs each sweep once, untimed, as the sequential runner's warm-up
    # call above (the first execution of a new program is ~20 ms slower on CPU)
    for rep in range(repeats + 1):
        if rep:
            t_seq, seq_final = time_sequential(seq, configs)
            seq_times.append(t_seq)
        for m, kw in methods.items():
            kw = dict(kw)
            xla = kw.pop("_xla", None)
            if xla is not None:
                engines._LANES_XLA_OPTIONS = xla
                runner._PROGRAMS.clear()
            try:
                res = sweep.sweep(problem, name, grid=grid, seeds=seeds, steps=steps,
                                  eval_every=steps, **kw)  # fmt: skip
            finally:
                if xla is not None:
                    engines._LANES_XLA_OPTIONS = saved
                    runner._PROGRAMS.clear()
            if results[m]["compile"] is None:
                results[m]["compile"] = res.compile_time
            if rep:
                results[m]["times"].append(res.run_time)
            results[m]["res"] = res
    t_seq = min(seq_times)
    print(f"sequential compiled runs: {t_seq:.3f} s (median {np.median(seq_times):.3f}); "
          f"compile {seq_compile:.2f} s (once)")  # fmt: skip
    rows = []
    for m, d in results.items():
        res = d["res"]
        t = min(d["times"])
        rel = np.abs(res.loss[:, -1] - seq_final) / np.maximum(np.abs(seq_final), 1e-12)
        n_same = int(np.sum(rel <= 1e-4))
        # paired: each sweep timed right after its own sequential baseline (load drifts)
        paired = float(np.median(np.asarray(seq_times) / np.asarray(d["times"])))
        rows.append((label, m, res.method, res.batch_size_runs, t, np.median(d["times"]),
                     d["compile"], t_seq / t, paired, float(np.median(rel)), n_same,
                     n_runs, res.config.get("shared_seeds", 0),
                     res.config.get("parallel_groups", 1)))  # fmt: skip
        print(f"  {m:18s} engine={res.method:5s} chunk={res.batch_size_runs:3d}  "
              f"run {t:7.3f} s (median {np.median(d['times']):.3f})  "
              f"compile {d['compile']:.2f} s  speedup x{t_seq / t:5.2f} (min/min), "
              f"x{paired:5.2f} (median of paired)  final loss vs seq.: "
              f"median rel. diff {np.median(rel):.1e}, {n_same}/{n_runs} within 1e-4")  # fmt: skip
    if check_train:
        res = results[next(iter(results))]["res"]
        print("  same runs via optlab.train.train (final train loss):")
        step_i = max(1, n_runs // check_train)
        for i in list(range(0, n_runs, step_i))[:check_train]:
            cfg = res.configs[i]
            run = train.train(problem, name, hyperparams={"learning_rate": cfg["learning_rate"]},
                              steps=steps, key=jax.random.key(cfg["seed"]),
                              eval_every=steps, snapshots=False)  # fmt: skip
            a, b = res.final["train_loss"][i], run.final["train_loss"]
            rel = abs(a - b) / max(abs(b), 1e-12)
            print(f"    lr={cfg['learning_rate']:.4g} seed={cfg['seed']}: sweep {a:.6g}  "
                  f"train {b:.6g}  rel. diff {rel:.1e}")  # fmt: skip
    return rows


def _scaling_methods() -> tuple[str, ...]:
    """The engines the scaling curve compares: lanes is a CPU layout (on an accelerator its
    numerical check against ``problem.loss`` fails under TF32 matmuls, and auto skips it)."""
    return ("lanes", "vmap") if jax.default_backend() == "cpu" else ("vmap",)


def scaling(problem, name, steps, runs_list, repeats):
    """Median time per run vs number of runs, interleaved with sequential runs (same process)."""
    print(f"\n== scaling: {problem.name}, {name}, {steps} steps, median of {repeats} repeats")
    seq = sequential_runner(problem, name, steps)
    time_sequential(seq, [{"learning_rate": 1e-2, "seed": 0}])
    times: dict = {}
    compile_s: dict = {}
    for _ in range(repeats):
        for r in runs_list:
            lrs = [float(v) for v in np.logspace(-3, -1, r)]
            t, _ = time_sequential(seq, [{"learning_rate": lr, "seed": 0} for lr in lrs[:4]])
            times.setdefault(("sequential", r), []).append(t / min(r, 4))
            for method in _scaling_methods():
                res = sweep.sweep(problem, name, grid={"learning_rate": lrs}, seeds=[0],
                                  steps=steps, eval_every=steps, method=method)  # fmt: skip
                compile_s.setdefault((method, r), res.compile_time)
                times.setdefault((method, r), []).append(res.run_time / r)
    per_seq = float(np.median([v for (m, _), vs in times.items() if m == "sequential" for v in vs]))
    out = []
    print(f"  sequential: {per_seq * 1e3:.2f} ms per run (median over all repeats)")
    print(f"  {'runs':>5s} {'engine':>6s} {'ms/run':>8s} {'speedup':>8s} {'compile s':>9s}")
    for method in _scaling_methods():
        for r in runs_list:
            t = float(np.median(times[(method, r)]))
            t_seq = float(np.median(times[("sequential", r)]))
            out.append((method, r, t, t_seq / t, compile_s[(method, r)]))
            print(f"  {r:5d} {method:>6s} {t * 1e3:8.3f} {t_seq / t:8.2f} "
                  f"{compile_s[(method, r)]:9.2f}")  # fmt: skip
    return per_seq, out


def torch_adder(problem, lrs, seeds, steps) -> float | None:
    """Idiomatic PyTorch loop over the same 64 adder runs (own init), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    x = torch.as_tensor(np.asarray(problem.data.train.x))
    y = torch.as_tensor(np.asarray(problem.data.train.y)).reshape(len(x), -1)
    total = 0.0
    for lr in lrs:
        for s in seeds:
            torch.manual_seed(s)
            model = torch.nn.Sequential(
                torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)
            )
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                opt.step()
            total += time.perf_counter() - t0
    return total


def save_scaling(per_seq, rows, path_png, path_csv):
    path_png.parent.mkdir(parents=True, exist_ok=True)
    with open(path_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["engine", "runs", "seconds_per_run", "speedup_vs_sequential", "compile_s"])
        w.writerows(rows)
        w.writerow(["sequential", 1, per_seq, 1.0, ""])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method in sorted({r[0] for r in rows}):
        pts = [(r[1], r[2] * 1e3) for r in rows if r[0] == method]
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"sweep ({method})")
    ax.axhline(per_seq * 1e3, color="k", ls="--", label="sequential, compiled")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("runs in the sweep")
    ax.set_ylabel("median time per run (ms)")
    ax.set_title("adder, Adam: time per run")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path_png, dpi=150)
    plt.close(fig)


def run(quick: bool = False) -> list[dict]:
    """Rows for ``python -m benchmarks``: the adder and digits sweeps vs sequential runs, and
    the scaling of time per run (figure saved under ``results/``)."""
    repeats = 2 if quick else 3
    adder = problems.get("adder", n=1428)  # 1,000 training rows
    steps = 500 if quick else 2000
    lrs = [float(v) for v in np.logspace(-3, -1, 8)]
    a = run_case("adder", adder, "adam", lrs, list(range(8)), steps, repeats,
                 {"auto": {}, "vmap (plain)": {"method": "vmap"}}, 0)  # fmt: skip
    digits = problems.get("digits-mlp")
    dsteps = (5 if quick else 20) * (digits.data.train.x.shape[0] // 128)
    d = run_case("digits", digits, "adam", [3e-4, 1e-3, 3e-3, 1e-2], [0, 1, 2, 3], dsteps,
                 repeats, {"auto": {}}, 0)  # fmt: skip
    rows = []
    for r, case in [
        (a[0], f"adder 2-3-1, Adam, {steps} steps, 64 runs"),
        (a[1], f"adder 2-3-1, Adam, {steps} steps, 64 runs, plain vmap"),
        (d[0], f"digits 64-128-10, minibatch 128, {dsteps} steps, 16 runs"),
    ]:
        t_seq = r[4] * r[7]
        rows.append({
            "benchmark": "sweep", "case": case, "optlab_s": r[4],
            "baseline": "same runs one after another (compiled)", "baseline_s": t_seq,
            "ratio": r[7], "compile_s": r[6],
            "notes": f"{r[2]} engine"
            + (f", each seed's batches drawn once for its {r[11] // r[12]} runs" if r[12] else "")
            + (f", {r[13]} groups side by side" if r[13] > 1 else "")
            + f"; {r[10]}/{r[11]} final losses within 1e-4 of sequential",
        })  # fmt: skip
    runs_list = [1, 4, 16, 64] if quick else [1, 4, 16, 64, 256]
    per_seq, srows = scaling(adder, "adam", 500, runs_list, repeats)
    save_scaling(per_seq, srows, ROOT / "results" / "sweep_scaling.png",
                 ROOT / "results" / "sweep_scaling.csv")  # fmt: skip
    for method, n, t, speedup, comp in srows:
        if method == _scaling_methods()[0]:
            rows.append({
                "benchmark": "sweep scaling", "case": f"adder, 500 steps, {n} runs (per run)",
                "optlab_s": t, "baseline": "one compiled run", "baseline_s": t * speedup,
                "ratio": speedup, "compile_s": comp, "notes": f"{method} engine; time per run",
            })  # fmt: skip
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and runs")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-scaling", action="store_true")
    args = ap.parse_args(argv)
    print(machine())
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; load average {os.getloadavg()}")

    # 1,000 training rows: the adder splits n rows 70/15/15.
    adder = problems.get("adder", n=1428)
    assert adder.data.train.x.shape[0] == 1000, adder.data.train.x.shape
    steps = 500 if args.quick else 2000
    lrs = [float(v) for v in np.logspace(-3, -1, 8)]
    methods = {
        "auto": {},
        "lanes, no XLA opt.": {"method": "lanes", "_xla": {}},
        "vmap (plain)": {"method": "vmap"},
    }
    rows = run_case("adder", adder, "adam", lrs, list(range(8)), steps, args.repeats, methods, 8)
    t_torch = torch_adder(adder, lrs, list(range(8)), steps)
    if t_torch is None:
        print("PyTorch not importable: the PyTorch comparison is skipped")
    else:
        lanes = rows[0][4]
        print(f"PyTorch loop, same 64 adder runs: {t_torch:.3f} s (sweep x{t_torch / lanes:.2f})")

    digits = problems.get("digits-mlp")
    n_train = digits.data.train.x.shape[0]
    epochs = 5 if args.quick else 20
    dsteps = epochs * (n_train // 128)
    dl = [3e-4, 1e-3, 3e-3, 1e-2]
    dmethods = {"auto": {}}
    for b in (1, 2, 4, 8):
        dmethods[f"map, chunk {b}"] = {"method": "map", "batch_size_runs": b}
    rows += run_case("digits", digits, "adam", dl, [0, 1, 2, 3], dsteps, args.repeats,
                     dmethods, 4)  # fmt: skip

    print("\n| case | sweep | engine | chunk | run s (min) | median | compile s | speedup "
          "(min/min) | speedup (median of paired) | final loss vs seq.: median rel. diff | "
          "runs within 1e-4 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.2f} | "
              f"{r[7]:.2f}x | {r[8]:.2f}x | {r[9]:.1e} | {r[10]}/{r[11]} |")  # fmt: skip

    if not args.skip_scaling:
        runs_list = [1, 4, 16, 64] if args.quick else [1, 4, 16, 64, 256]
        per_seq, srows = scaling(adder, "adam", 500, runs_list, max(3, args.repeats))
        save_scaling(per_seq, srows, ROOT / "results" / "sweep_scaling.png",
                     ROOT / "results" / "sweep_scaling.csv")  # fmt: skip
        print(f"saved {ROOT / 'results' / 'sweep_scaling.png'}")
    print(f"load average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
