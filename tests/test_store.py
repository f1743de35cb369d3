"""optlab.store: content-addressed, atomic, verified run records."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from optlab import store


def test_run_id_is_sha256_of_canonical_json():
    cfg = {"problem": "adder", "optimizer": "adam", "hp": {"learning_rate": 0.001}, "seed": 3}
    text = '{"hp":{"learning_rate":0.001},"optimizer":"adam","problem":"adder","seed":3}'
    assert store.run_id(cfg) == hashlib.sha256(text.encode()).hexdigest()[:20]
    assert store.run_id({**cfg, "seed": np.int64(3)}) == store.run_id(cfg)
    assert store.run_id({**cfg, "seed": 4}) != store.run_id(cfg)


def test_roundtrip_and_skip(tmp_path):
    s = store.Store(tmp_path / "study").init({"name": "t"})
    curves = {"loss": np.linspace(1, 0, 7, dtype=np.float32), "steps": np.arange(7)}
    summary = {"final": 0.5, "t": float("inf"), "bad": float("nan")}
    rid = s.write_run({"seed": 0}, summary, curves)
    rec = s.load_run(rid)
    np.testing.assert_array_equal(rec.curves["loss"], curves["loss"])
    assert rec.curves["loss"].dtype == np.float32
    assert rec.summary["t"] == float("inf") and np.isnan(rec.summary["bad"])
    assert rec.config == {"seed": 0}
    mtime = os.stat(s.run_dir(rid) / "summary.json").st_mtime_ns
    assert s.write_run({"seed": 0}, {"final": 9.0}, curves) == rid  # finished: not rewritten
    assert os.stat(s.run_dir(rid) / "summary.json").st_mtime_ns == mtime
    assert s.run_ids() == [rid]
    m = json.loads((tmp_path / "study" / "manifest.json").read_text())
    assert m["config"] == {"name": "t"} and m["sessions"][0]["versions"]["numpy"] == np.__version__
    with pytest.raises(ValueError, match="different config"):
        store.Store(tmp_path / "study").init({"name": "other"})
    s2 = store.Store(tmp_path / "study").init({"name": "t"})  # resume: new session appended
    assert len(s2.manifest()["sessions"]) == 2
    path = s.write_csv("summary.csv", [{"a": 1, "b": 0.1}, {"a": 2, "c": [1, 2]}])
    assert path.read_text().splitlines() == ["a,b,c", "1,0.1,", '2,,"[1,2]"']


@pytest.mark.parametrize("damage", ["truncate_npz", "bad_json", "edit_config", "missing_npz"])
def test_corrupt_records_raise_naming_file(tmp_path, damage):
    s = store.Store(tmp_path).init({})
    rid = s.write_run({"seed": 1}, {"x": 1.0}, {"loss": np.arange(1000.0)})
    d = s.run_dir(rid)
    if damage == "truncate_npz":
        raw = (d / "curves.npz").read_bytes()
        (d / "curves.npz").write_bytes(raw[: len(raw) // 2])
        bad = "curves.npz"
    elif damage == "bad_json":
        (d / "summary.json").write_text('{"run_id": "')
        bad = "summary.json"
    elif damage == "edit_config":
        rec = json.loads((d / "summary.json").read_text())
        rec["config"]["seed"] = 2
        (d / "summary.json").write_text(json.dumps(rec))
        bad = "summary.json"
    else:
        (d / "curves.npz").unlink()
        bad = "curves.npz"
    with pytest.raises(store.CorruptRecordError) as err:
        s.load_run(rid)
    msg = str(err.value)
    assert str(d / bad) in msg and "delete the directory" in msg and "rerun" in msg


def test_stale_tmp_dirs_are_ignored_and_removed(tmp_path):
    s = store.Store(tmp_path).init({})
    stale = s.runs_dir / ".tmp-abc-999999999-x"
    stale.mkdir()
    (stale / "curves.npz").write_bytes(b"partial")
    assert s.run_ids() == []
    store.Store(tmp_path).init({})
    assert not stale.exists()


_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from optlab.store import Store
    s = Store(sys.argv[1]).init({"kind": "kill-test"})
    for i in range(40):
        cfg = {"i": i}
        if s.has_run(__import__("optlab.store").store.run_id(cfg)):
            continue
        big = np.full(200_000, float(i))  # large enough for a kill to land mid-write
        s.write_run(cfg, {"i": i}, {"x": big})
        time.sleep(0.02)
    """
)


def test_store_survives_sigkill_mid_write(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    root = tmp_path / "study"
    proc = subprocess.Popen([sys.executable, str(script), str(root)])
    deadline = time.time() + 60
    while time.time() < deadline:
        if root.joinpath("runs").is_dir() and len(store.Store(root).run_ids()) >= 5:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    s = store.Store(root)
    done = s.run_ids()
    assert 5 <= len(done) < 40
    for rid in done:  # everything visible is complete and verified
        rec = s.load_run(rid)
        assert np.all(rec.curves["x"] == rec.config["i"])
    subprocess.run([sys.executable, str(script), str(root)], check=True)
    recs = s.load_runs()
    assert sorted(r.config["i"] for r in recs) == list(range(40))
    assert not [p for p in s.runs_dir.iterdir() if p.name.startswith(".tmp-")]


def test_only_the_lead_process_writes(tmp_path, monkeypatch):
    """Multi-host: processes other than 0 compute but leave the disk alone."""
    import jax

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    s = store.Store(tmp_path / "study").init({"name": "x"})
    rid = s.write_run({"lr": 0.1}, {"final": 1.0}, {"loss": np.ones(3)})
    s.write_csv("summary.csv", [{"a": 1}])
    assert not (tmp_path / "study").exists()
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    s = store.Store(tmp_path / "study").init({"name": "x"})
    assert s.write_run({"lr": 0.1}, {"final": 1.0}, {"loss": np.ones(3)}) == rid
    assert s.load_run(rid).summary["final"] == 1.0


def _stored(tmp_path):
    s = store.Store(tmp_path / "study").init({})
    rid = s.write_run(
        {"seed": 1},
        {"test_loss": 0.0647, "diverged": False},
        {"loss": np.arange(5.0)},
        files={"params.npz": b"PARAMS"},
    )
    return s, rid


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r["summary"].__setitem__("test_loss", 1e-9),  # the edit
        lambda r: r["summary"].__setitem__("diverged", True),
        lambda r: r.__setitem__("curve_keys", []),
        lambda r: r["files_sha256"].pop("params.npz"),
    ],
)
def test_every_stored_value_is_covered_by_the_checksum(tmp_path, edit):
    s, rid = _stored(tmp_path)
    sj = s.run_dir(rid) / "summary.json"
    rec = json.loads(sj.read_text())
    edit(rec)
    sj.write_text(json.dumps(rec, indent=1))
    with pytest.raises(store.CorruptRecordError, match="summary.json|params.npz") as err:
        s.load_run(rid)
    assert str(s.run_dir(rid)) in str(err.value)


def test_every_file_of_a_run_is_checksummed(tmp_path):
    s, rid = _stored(tmp_path)
    d = s.run_dir(rid)
    assert s.run_file(rid, "params.npz") == b"PARAMS"
    assert s.load_run(rid).summary["test_loss"] == 0.0647
    (d / "params.npz").write_bytes(b"PARAMs")
    with pytest.raises(store.CorruptRecordError, match=r"params\.npz.*checksum mismatch"):
        s.load_run(rid)
    (d / "params.npz").write_bytes(b"PARAMS")
    (d / "extra.txt").write_text("added later")  # a file no checksum covers
    with pytest.raises(store.CorruptRecordError, match=r"extra\.txt.*not covered"):
        s.load_run(rid)
    (d / "extra.txt").unlink()
    (d / "params.npz").unlink()
    with pytest.raises(store.CorruptRecordError, match=r"params\.npz: file missing"):
        s.load_run(rid)
    with pytest.raises(ValueError, match="bad run file name"):
        s.write_run({"seed": 2}, {}, {}, files={"curves.npz": b""})


def test_format_1_records_are_refused(tmp_path):
    s, rid = _stored(tmp_path)
    sj = s.run_dir(rid) / "summary.json"
    rec = json.loads(sj.read_text())
    rec["format"] = 1
    del rec["record_sha256"]
    sj.write_text(json.dumps(rec))
    with pytest.raises(store.CorruptRecordError, match="record format 1"):
        s.load_run(rid)


def test_stale_temporary_files_are_removed_on_resume(tmp_path):
    s = store.Store(tmp_path).init({})
    old = time.time() - 3600
    stale = [
        tmp_path / ".tmp-manifest.json-abc",
        tmp_path / ".tmp-summary.csv-def",
        tmp_path / "tables" / ".tmp-results.md-1",
        tmp_path / "figures" / ".tmp-curves.png-2",
    ]
    fresh = tmp_path / "tables" / ".tmp-ranks.md-3"  # a live writer's: left alone
    for p in [*stale, fresh]:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"partial")
    for p in stale:
        os.utime(p, (old, old))
    store.Store(tmp_path).init({})
    assert not any(p.exists() for p in stale) and fresh.exists()
    assert s.manifest()["config"] == {}


def test_landscape_files_that_are_damaged_are_named(tmp_path):
    from optlab import landscape

    stem = tmp_path / "slice"
    s = landscape.Slice(
        alphas=np.linspace(-1, 1, 3), betas=np.linspace(-1, 1, 4), values=np.ones((3, 4))
    )
    landscape.save_slice(stem, s)
    loaded, _ = landscape.load_slice(stem)
    np.testing.assert_array_equal(loaded.values, s.values)
    raw = (tmp_path / "slice.npz").read_bytes()
    (tmp_path / "slice.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"slice\.npz is damaged"):
        landscape.load_slice(stem)
    (tmp_path / "slice.json").write_text('{"format": ')
    with pytest.raises(ValueError, match=r"slice\.json is damaged"):
        landscape.load_slice(stem)
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "a.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"a\.npz is damaged"):
        landscape.load_analysis(tmp_path / "a")
