"""optlab against its peers in other libraries, back to back in one process.

1. Sweep: 64 adder runs (8 learning rates x 8 seeds, Adam, full batch) as one optlab sweep vs
   an idiomatic PyTorch eager loop over the same runs (``benchmarks.sweep.torch_adder``).
2. Slice: a 51x51 slice of a 64-128-128-10 ReLU MLP with softmax cross-entropy over 2,048
   samples: ``optlab.landscape.slice_2d`` with an ordinary ``loss_fn`` closure (default
   arguments, the path users get) vs ``loss_landscapes.random_plane`` (PyTorch) on the same
   network and data, plus the share of the float32 matmul peak, measured in the same rounds
   (best of several rounds, interleaved with the workloads).

Needs the ``bench`` extra (``pip install -e .[bench]``: CPU ``torch`` and ``loss-landscapes``);
without it the rows say so and the script still exits 0.

Run: ``python -m benchmarks.peers`` (or ``python -m benchmarks --only peers``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import executed_flops_per_point, format_table, machine
from optlab import landscape as ls
from optlab import problems, sweep
from optlab.landscape.slices import plan, point_cost


def _have_peers() -> str | None:
    missing = [m for m in ("torch", "loss_landscapes") if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)} (pip install -e .[bench])" if missing else None


def _versions() -> str:
    from importlib.metadata import version

    import torch

    return f"torch {torch.__version__}, loss-landscapes {version('loss-landscapes')}"


def _sweep_case(quick):
    adder = problems.get("adder", n=1428)  # 1,000 training rows
    steps = 300 if quick else 2000
    lrs = [float(v) for v in np.logspace(-3, -1, 2 if quick else 8)]
    seeds = list(range(2 if quick else 8))
    return adder, steps, lrs, seeds


def _in_child(what: str, quick: bool, rounds: int) -> dict:
    """Run the PyTorch side in a fresh process right after ours: in the same process, JAX's
    worker threads (still spinning after our work) slowed PyTorch down several-fold."""
    import json
    import subprocess

    code = (
        "import json, sys; from benchmarks import peers; "
        f"print(json.dumps(peers._peer_{what}({quick!r}, {rounds})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {what} peer failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peer_sweep(quick: bool, rounds: int) -> dict:
    from benchmarks.sweep import torch_adder

    adder, steps, lrs, seeds = _sweep_case(quick)
    return {"seconds": torch_adder(adder, lrs, seeds, steps)}


def sweep_row(quick: bool, rounds: int) -> dict:
    adder, steps, lrs, seeds = _sweep_case(quick)

    def go():
        r = sweep.sweep(adder, "adam", seeds=seeds, steps=steps,
                        grid={"learning_rate": lrs})  # fmt: skip
        jax.block_until_ready(
            jax.tree_util.tree_leaves(r.final_params if hasattr(r, "final_params") else r)
        )
        return r

    go()
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        go()
        best = min(best, time.perf_counter() - t0)
    best_t = _in_child("sweep", quick, 1)["seconds"]  # one round: ~1 min on a quiet CPU
    return {
        "benchmark": "peer: sweep",
        "case": f"adder 2-3-1, Adam, {steps} steps, {len(lrs) * len(seeds)} runs",
        "optlab_s": best, "baseline": "PyTorch eager loop over the runs", "baseline_s": best_t,
        "ratio": best_t / best, "notes": f"optlab best of {rounds} (compile excluded); "
        "PyTorch one round",
    }  # fmt: skip


def _torch_mlp(params, x, y):
    import torch

    layers = []
    for i, layer in enumerate(params):
        w = np.asarray(layer["w"])
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w.T))
            lin.bias.copy_(torch.tensor(np.asarray(layer["b"])))
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    return model, torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y)).long()


def _slice_case(quick):
    from benchmarks.landscape import _mlp_setup

    n_samples, res = (2048, 11) if quick else (2048, 51)
    loss_fn, params, _, _ = _mlp_setup(n_samples)
    # nonzero biases: loss-landscapes' filter normalization divides by each bias's norm
    keys = jax.random.split(jax.random.key(2), len(params))
    params = [{"w": p["w"], "b": 0.01 * jax.random.normal(k, p["b"].shape)}
              for p, k in zip(params, keys, strict=True)]  # fmt: skip
    d1, d2 = ls.random_directions(jax.random.key(1), params, "filter")
    return n_samples, res, loss_fn, params, d1, d2


def _peer_slice(quick: bool, rounds: int) -> dict:
    import torch
    from loss_landscapes import random_plane
    from loss_landscapes.metrics import Loss

    torch.set_num_threads(os.cpu_count() or 1)
    n_samples, res, _, params, _, _ = _slice_case(quick)
    rng = np.random.default_rng(0)  # the same data as benchmarks.landscape._mlp_setup
    x = rng.normal(size=(n_samples, 64)).astype(np.float32)
    y = rng.integers(0, 10, n_samples)
    model, tx, ty = _torch_mlp(params, x, y)
    # on a GPU machine (JAX on the GPU) the peer runs on the GPU too
    device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
    # loss-landscapes draws its random directions with torch.rand(...) and no device
    torch.set_default_device(device)
    model, tx, ty = model.to(device), tx.to(device), ty.to(device)
    metric = Loss(torch.nn.functional.cross_entropy, tx, ty)

    def peer():
        return random_plane(model, metric, distance=1.0, steps=res, normalization="filter",
                            deepcopy_model=True)  # fmt: skip

    vals = peer()
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        peer()
        best = min(best, time.perf_counter() - t0)
    with torch.no_grad():
        centre = float(torch.nn.functional.cross_entropy(model(tx), ty))
    return {"seconds": best, "centre": centre, "shape": list(np.shape(vals)), "device": device}


def slice_rows(quick: bool, rounds: int) -> list[dict]:
    n_samples, res, loss_fn, params, d1, d2 = _slice_case(quick)
    alphas = np.linspace(-1, 1, res)
    npts = res * res
    flops = point_cost(loss_fn, params)["flops"]
    pl = plan(loss_fn, params, (d1, d2), npts)
    executed = executed_flops_per_point(loss_fn, params, (d1, d2), pl, npts)
    n_mm = 2048
    a_mm = jax.random.normal(jax.random.key(0), (n_mm, n_mm), jnp.float32)
    mm = jax.jit(jnp.matmul)
    mm(a_mm, a_mm).block_until_ready()

    def ours():
        return ls.slice_2d(loss_fn, params, d1, d2, alphas, alphas)

    ours()
    best = {"mm": np.inf, "ours": np.inf}
    for _ in range(rounds):
        for name, fn in (("mm", lambda: mm(a_mm, a_mm).block_until_ready()), ("ours", ours)):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    peer = _in_child("slice", quick, rounds)
    peak = 2.0 * n_mm**3 / best["mm"]
    share = npts * executed / best["ours"] / peak
    effective = npts * flops / best["ours"] / peak
    centre_ours = float(loss_fn(params))  # the same network: both libraries' loss agree
    return [{
        "benchmark": "peer: slice",
        "case": f"MLP 64-128-128-10, {n_samples} samples, {res}x{res}, ordinary loss_fn closure "
        f"(path {pl.path}, chunk {pl.batch_size})",
        "optlab_s": best["ours"], "baseline": "loss-landscapes random_plane (PyTorch)",
        "baseline_s": peer["seconds"], "ratio": peer["seconds"] / best["ours"],
        "peak_share": share, "effective_peak_share": effective,
        "matmul_peak_gflops": peak / 1e9,
        "notes": f"{npts / best['ours']:,.0f} vs {npts / peer['seconds']:,.0f} pts/s; "
        f"{100 * share:.0f}% of the float32 matmul peak ({peak / 1e9:.0f} GFLOP/s, 2048^3, best "
        f"of {rounds} rounds interleaved with the slice) counting the flops the slice executes "
        f"({executed / 1e6:.1f}M per point, XLA's cost analysis; the first layer once per "
        f"grid), {100 * effective:.0f}% counting the loss's own {flops / 1e6:.1f}M per point; "
        f"loss at the centre {centre_ours:.6f} vs "
        f"{peer['centre']:.6f}; peer grid {peer['shape']} on {peer['device']}; each side best "
        f"of {rounds}",
    }]  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    why = _have_peers()
    if why:
        nan = float("nan")
        return [{"benchmark": "peers", "case": "-", "optlab_s": nan, "baseline": why,
                 "baseline_s": nan, "ratio": nan, "notes": "skipped"}]  # fmt: skip
    rounds = 2 if quick else 5
    rows = slice_rows(quick, rounds) + [sweep_row(quick, 2 if quick else 3)]
    for r in rows:
        r["notes"] += f"; {_versions()}"
    return rows


if __name__ == "__main__":
    rows = run(quick="--quick" in sys.argv)
    info = machine()
    print(f"machine: {info['cpu']} ({info['cores']} cores), JAX {info['jax']} on {info['backend']}")
    print(format_table(rows, ["benchmark", "case", "optlab_s", "baseline_s", "ratio", "notes"]))
