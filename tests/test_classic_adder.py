"""The hand-set adding network and the adder experiment script."""

import importlib.util
import json
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from optlab import classic, mlp

ROOT = Path(__file__).parents[1]


def test_hand_set_network_matches_numpy_and_adds():
    w = classic.ADDER_WEIGHTS
    x = np.array([[2.0, 2.0], [1.0, 3.0], [7.0, 8.0]])
    c = np.maximum(0, w["w_ac"] * x[:, 0] + w["w_bc"] * x[:, 1] + w["b_c"])
    d = np.maximum(0, w["w_ad"] * x[:, 0] + w["w_bd"] * x[:, 1] + w["b_d"])
    e = np.maximum(0, w["w_ae"] * x[:, 0] + w["w_be"] * x[:, 1] + w["b_e"])
    f = w["w_cf"] * c + w["w_df"] * d + w["w_ef"] * e + w["b_f"]
    out = np.asarray(mlp.apply(classic.adder_params(), jnp.asarray(x, jnp.float32)))[:, 0]
    np.testing.assert_allclose(out, f, rtol=1e-6)
    np.testing.assert_allclose(out, x.sum(1), rtol=0.01)  # it adds, to within 1%
    named = classic.named_weights(classic.adder_params())
    np.testing.assert_allclose([named[k] for k in w], list(w.values()), rtol=1e-6)


def test_adder_experiment_runs_and_finds_solutions(tmp_path):
    spec = importlib.util.spec_from_file_location("adder_exp", ROOT / "experiments" / "adder.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    cfg = mod.Config(optimizers=(("adam", 3e-2),), seeds=2, steps=1000, out=str(tmp_path))
    record = mod.main(cfg)
    np.testing.assert_allclose(record["hand_set"]["answers"][0], 4.0, atol=0.02)
    best = min(abs(s["answers"][0] - 4.0) for s in record["solutions"])
    assert best < 0.05
    for name in (
        "solutions.md",
        "solutions.csv",
        "runs.json",
        "loss_curves.png",
        "loss_curves.pdf",
    ):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "runs.json").read_text())
    assert saved["config"]["seeds"] == 2 and "provenance" in saved
