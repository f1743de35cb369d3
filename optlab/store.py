"""A results store for studies: plain files, atomic writes, content-addressed runs.

Layout of a study directory::

    DIR/
      manifest.json              study config + provenance (versions, git commit, machine,
                                 device, dates of every session that wrote to it)
      runs/<run_id>/summary.json the run's config, scalar results, a sha256 of every other
                                 file of the run and a sha256 of the record itself
      runs/<run_id>/curves.npz   the run's arrays (loaded with allow_pickle=False)
      runs/<run_id>/params.npz   final (evaluation) runs only: the final parameters, leaves
                                 named ``leaf_0000``, ``leaf_0001``... in
                                 ``jax.tree_util.tree_flatten`` order (no pickle; rebuilt
                                 with :meth:`Store.load_params` given a ``like`` pytree)
      runs/<run_id>/<name>       further files given to ``write_run(files=...)`` (e.g. params)
      summary.csv                one row per run (regenerated from runs/ at any time)
      figures/, tables/          written by ``optlab report`` (regenerated from runs/)

``run_id`` is the first 20 hex digits of the sha256 of the run's config written as canonical
JSON (sorted keys, no whitespace), so the same config always maps to the same directory.

**Crash safety.** A run directory is written completely under ``runs/.tmp-<run_id>-<pid>-*``
(files fsynced) and then renamed to ``runs/<run_id>`` in one ``os.rename``: a run directory
either exists with both files or does not exist. Other files are written to a temporary file
in the same directory, fsynced, and ``os.replace``-d. A study killed at any moment (even
``kill -9``) therefore leaves only finished runs plus, at worst, a leftover ``.tmp-*``
directory, which is ignored and removed by the next session.

**Corruption is loud.** :meth:`Store.load_run` checks that the JSON parses, that the record's
sha256 (``record_sha256``, over the canonical JSON of every other entry: config, scalar
results, file checksums) matches, so no stored value can be edited unnoticed; that the run id
equals both the directory name and the hash of the stored config; that the run directory holds
exactly the recorded files, each with its recorded sha256; and that ``curves.npz`` loads
without pickle. Any failure raises :class:`CorruptRecordError` naming the file and saying how
to recompute it (delete the run directory and rerun the study; finished runs are kept).
Records of format 1 (whose checksum covered ``curves.npz`` only) are refused the same way.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# One JSON convention and one atomic writer for every file optlab writes (re-exported here:
# ``store.canonical_json``, ``store.atomic_write_text``... are public names of the store).
from optlab._io import (
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    fsync_dir,
    jsonable,
    remove_stale_temporaries,
    unjson,
)

__all__ = [
    "CorruptRecordError",
    "record_checksum",
    "RunRecord",
    "Store",
    "canonical_json",
    "run_id",
    "provenance",
    "atomic_write_bytes",
    "atomic_write_text",
]

FORMAT_VERSION = 2
#: Files every run directory holds; others are given to ``Store.write_run(files=...)``.
_RECORD, _CURVES = "summary.json", "curves.npz"
_ID_LEN = 20
#: A ``.tmp-*`` file older than this (seconds) was left by a killed writer: a live writer
#: renames its temporary file within moments of creating it.
_STALE_SECONDS = 60.0


class CorruptRecordError(ValueError):
    """A stored record is unreadable or inconsistent; the message says how to recompute it."""


def run_id(config: Mapping[str, Any]) -> str:
    """Stable id of a run: sha256 of :func:`canonical_json` of its full config (20 hex digits).

    Example:
      >>> run_id({"a": 1, "b": 2.0}) == run_id({"b": 2.0, "a": 1})
      True
    """
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:_ID_LEN]


def record_checksum(record: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``record`` without its ``record_sha256`` entry."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _git_commit() -> dict[str, Any] | None:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict[str, Any]:
    """Versions (python, optlab, jax, jaxlib, optax, numpy), git commit, machine and devices."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for pkg in ("optlab", "jax", "jaxlib", "optax", "numpy", "matplotlib"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    try:
        import jax

        devices = [f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()]
        backend = jax.default_backend()
    except Exception as err:  # noqa: BLE001  (provenance must never stop a study)
        devices, backend = [f"unavailable ({err})"], None
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        "git": _git_commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:8],
        },
        "device": {"backend": backend, "devices": devices},
    }


@dataclass(frozen=True)
class RunRecord:
    """One stored run: its id, config, scalar summary and curves (numpy arrays)."""

    run_id: str
    config: dict[str, Any]
    summary: dict[str, Any]
    curves: dict[str, np.ndarray]


def _is_writer() -> bool:
    """Only the lead process of a multi-host run writes (``optlab.distributed``)."""
    from optlab.distributed import is_lead_process

    return is_lead_process()


def differing_fields(old: Any, new: Any, *, limit: int = 4) -> str:
    """``"steps: 300 -> 400, optimizers: [...] -> [...]"``: the top-level fields of two
    configs that differ (at most ``limit`` listed), for messages."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return "the stored config is not a table"
    keys = sorted(
        k for k in set(old) | set(new) if canonical_json(old.get(k)) != canonical_json(new.get(k))
    )
    parts = [f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"and {len(keys) - limit} more")
    return "differs in " + ", ".join(parts) if parts else "differs"


def _short(v: Any, n: int = 60) -> str:
    text = json.dumps(jsonable(v), sort_keys=True)
    return text if len(text) <= n else text[: n - 3] + "..."


class Store:
    """A study directory (see the module docstring for the layout and guarantees).

    In a multi-host run every process computes, but only the lead process (process 0) writes:
    on the others :meth:`init`, :meth:`write_run`, :meth:`update_info` and :meth:`write_csv`
    validate their input and return without touching the disk.

    Args:
      root: the study directory (created by :meth:`init`).

    Example:
      >>> import tempfile
      >>> s = Store(tempfile.mkdtemp()).init({"name": "demo"})
      >>> rid = s.write_run({"lr": 0.1}, {"final": 1.0}, {"loss": np.ones(3)})
      >>> s.load_run(rid).curves["loss"].tolist()
      [1.0, 1.0, 1.0]
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # ------------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def init(
        self,
        config: Mapping[str, Any],
        *,
        info: Mapping[str, Any] | None = None,
        check: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> Store:
        """Create the study directory, or reopen it (resume, or extend with ``check``).

        A new session's provenance is appended to ``manifest["sessions"]``. Temporary files a
        killed writer left (``runs/.tmp-*`` and ``.tmp-*`` files in the study directory and
        its ``tables``, ``figures`` and ``landscapes`` folders) are removed.

        Args:
          config: the study config (JSON-able).
          info: merged into ``manifest["info"]``.
          check: ``check(stored_config, config)`` raises ``ValueError`` (naming the field) when
            ``config`` may not replace the stored one; when it returns, the manifest records
            ``config``. Without it, the configs must be equal.

        Raises:
          ValueError: the directory holds a study with a different config.
        """
        config = unjson(json.loads(canonical_json(config)))
        if not _is_writer():
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        self._remove_stale_tmp()
        for folder in (self.root, *(self.root / d for d in ("tables", "figures", "landscapes"))):
            remove_stale_temporaries(folder, older_than=_STALE_SECONDS)
        session = provenance()
        if self.exists():
            manifest = self.manifest()
            stored = manifest.get("config")
            if canonical_json(stored) != canonical_json(config):
                if check is None:
                    diff = differing_fields(stored, config)
                    raise ValueError(
                        f"{self.root} already holds a study with a different config ({diff}; "
                        f"see {self.manifest_path}); choose another output directory or delete "
                        "this one to start over"
                    )
                check(stored, config)
                manifest["config"] = config
            manifest.setdefault("sessions", []).append(session)
        else:
            manifest = {
                "format": FORMAT_VERSION,
                "created": session["date"],
                "config": config,
                "sessions": [session],
            }
        if info:
            manifest.setdefault("info", {}).update(jsonable(info))
        atomic_write_text(self.manifest_path, json.dumps(jsonable(manifest), indent=2) + "\n")
        return self

    def manifest(self) -> dict[str, Any]:
        """The parsed manifest; :class:`CorruptRecordError` if unreadable."""
        if not self.manifest_path.is_file():
            raise FileNotFoundError(
                f"{self.root} is not a study directory (no manifest.json); run a study with "
                "`optlab compare --out DIR` first"
            )
        try:
            m = json.loads(self.manifest_path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CorruptRecordError(
                f"corrupt manifest {self.manifest_path}: {err}. The study config cannot be "
                "recovered from it: rerun the study into a new directory"
            ) from None
        if not isinstance(m, dict) or "config" not in m:
            raise CorruptRecordError(f"corrupt manifest {self.manifest_path}: no 'config' entry")
        return unjson(m)

    def update_info(self, info: Mapping[str, Any]) -> None:
        """Merge ``info`` into ``manifest["info"]`` (atomic rewrite)."""
        if not _is_writer():
            return
        m = self.manifest()
        m.setdefault("info", {}).update(jsonable(info))
        atomic_write_text(self.manifest_path, json.dumps(jsonable(m), indent=2) + "\n")

    # ------------------------------------------------------------------ runs
    def run_dir(self, rid: str) -> Path:
        return self.runs_dir / rid

    def has_run(self, rid: str) -> bool:
        """Whether run ``rid`` is finished (its directory exists; it is renamed in complete)."""
        return self.run_dir(rid).is_dir()

    def run_ids(self) -> list[str]:
        """Sorted ids of all finished runs."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir() and p.name[0] != ".")

    def write_run(
        self,
        config: Mapping[str, Any],
        summary: Mapping[str, Any],
        curves: Mapping[str, np.ndarray],
        *,
        files: Mapping[str, bytes] | None = None,
    ) -> str:
        """Store one finished run atomically; a run already stored is left as it is.

        Every file of the run directory is checksummed in ``summary.json``, and the record
        itself too (see the module docstring): :meth:`load_run` notices any change.

        Args:
          config: the run's full config (JSON-able); its hash is the run id.
          summary: scalar results (JSON-able; inf/nan allowed).
          curves: named numeric arrays (no object arrays), stored as ``curves.npz``.
          files: further files of the run, ``{file name: content}`` (e.g. ``params.npz``);
            plain names, not ``summary.json``/``curves.npz``, not starting with ``.``.

        Returns:
          The run id.
        """
        extra = dict(files or {})
        for name, data in extra.items():
            if (
                not isinstance(name, str)
                or not name
                or name in (_RECORD, _CURVES)
                or name.startswith(".")
                or "/" in name
                or os.sep in name
            ):
                raise ValueError(
                    f"files: bad run file name {name!r}; give a plain file name other than "
                    f"{_RECORD!r} and {_CURVES!r} that does not start with '.'"
                )
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"files[{name!r}] must be bytes, got {type(data).__name__}")
        rid = run_id(config)
        final = self.run_dir(rid)
        if final.is_dir() or not _is_writer():
            return rid
        buf = io.BytesIO()
        arrays = {}
        for k, v in curves.items():
            a = np.asarray(v)
            if a.dtype == object:
                raise TypeError(f"curve {k!r} is an object array; store numeric arrays only")
            arrays[k] = a
        np.savez(buf, **arrays)
        contents = {_CURVES: buf.getvalue(), **{k: bytes(v) for k, v in extra.items()}}
        record = {
            "format": FORMAT_VERSION,
            "run_id": rid,
            "config": jsonable(config),
            "summary": jsonable(summary),
            "curve_keys": sorted(arrays),
            "files_sha256": {k: hashlib.sha256(v).hexdigest() for k, v in sorted(contents.items())},
        }
        record["record_sha256"] = record_checksum(record)
        contents[_RECORD] = (json.dumps(record, indent=1) + "\n").encode()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.runs_dir, prefix=f".tmp-{rid}-{os.getpid()}-"))
        try:
            for name, data in contents.items():
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            fsync_dir(tmp)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another writer finished it first
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(self.runs_dir)
        return rid

    def _corrupt(self, path: Path, reason: str) -> CorruptRecordError:
        return CorruptRecordError(
            f"corrupt run record {path}: {reason}. To recompute it, delete the directory "
            f"{path.parent} and rerun the study into {self.root} (finished runs are kept and "
            "only the missing ones are trained)"
        )

    def _verified(self, rid: str) -> tuple[dict[str, Any], dict[str, bytes]]:
        """``(record, {file name: content})`` of run ``rid``, every checksum verified."""
        d = self.run_dir(rid)
        sj = d / _RECORD
        if not d.is_dir():
            raise FileNotFoundError(f"no run {rid} in {self.runs_dir}")
        try:
            record = json.loads(sj.read_text("utf-8"))
        except FileNotFoundError:
            raise self._corrupt(sj, "file missing") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise self._corrupt(sj, f"not valid JSON ({err})") from None
        if not isinstance(record, dict) or not {"run_id", "config", "summary"} <= set(record):
            raise self._corrupt(sj, "missing run_id/config/summary entries")
        if record.get("format") != FORMAT_VERSION or "record_sha256" not in record:
            raise self._corrupt(
                sj,
                f"record format {record.get('format')!r} (this optlab writes format "
                f"{FORMAT_VERSION}, whose checksum covers every stored value)",
            )
        try:
            ok = record_checksum(record) == record["record_sha256"]
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise self._corrupt(sj, "checksum mismatch: a stored value was modified")
        if record["run_id"] != rid:
            raise self._corrupt(sj, f"run_id {record['run_id']!r} != directory name {rid!r}")
        if run_id(unjson(record["config"])) != rid:
            raise self._corrupt(sj, "the stored config does not hash to the run id (edited?)")
        want = record.get("files_sha256")
        if not isinstance(want, dict) or _CURVES not in want:
            raise self._corrupt(sj, "no files_sha256 entry for curves.npz")
        present = {p.name for p in d.iterdir()} - {_RECORD}
        unlisted = sorted(present - set(want))
        if unlisted:
            raise self._corrupt(
                d / unlisted[0], "file not covered by the record's checksums (added later?)"
            )
        contents = {}
        for name, digest in sorted(want.items()):
            path = d / name
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                raise self._corrupt(path, "file missing") from None
            except OSError as err:
                raise self._corrupt(path, f"unreadable ({err})") from None
            if hashlib.sha256(raw).hexdigest() != digest:
                raise self._corrupt(path, "checksum mismatch (truncated or modified)")
            contents[name] = raw
        return record, contents

    def load_run(self, rid: str) -> RunRecord:
        """Load and verify run ``rid``; :class:`CorruptRecordError` if anything is off."""
        record, contents = self._verified(rid)
        cz = self.run_dir(rid) / _CURVES
        try:
            with np.load(io.BytesIO(contents[_CURVES]), allow_pickle=False) as z:
                curves = {k: z[k] for k in z.files}
        except Exception as err:  # noqa: BLE001
            raise self._corrupt(cz, f"cannot be loaded ({err})") from None
        return RunRecord(rid, unjson(record["config"]), unjson(record["summary"]), curves)

    def run_file(self, rid: str, name: str) -> bytes:
        """The content of file ``name`` of run ``rid`` (given to ``write_run(files=...)``).

        The whole record is verified first (:class:`CorruptRecordError` on any mismatch).

        Raises:
          KeyError: the run has no file ``name`` (names the files it has).
        """
        _, contents = self._verified(rid)
        if name not in contents:
            raise KeyError(f"run {rid} has no file {name!r}; it has {sorted(contents)}")
        return contents[name]

    def has_params(self, rid: str) -> bool:
        """Whether run ``rid`` stored its final params (final runs of a study do)."""
        return (self.run_dir(rid) / "params.npz").is_file()

    def load_params(self, rid: str, like: Any):
        """The final params stored with run ``rid``, rebuilt in the structure of ``like``.

        Args:
          rid: the run id.
          like: a pytree with the params' structure (e.g. ``problem.init(key)``); its leaves'
            shapes are checked against the stored arrays.

        Returns:
          A pytree like ``like`` with numpy leaves (the stored dtypes).

        Raises:
          FileNotFoundError: the run stored no params (only final runs do).
          CorruptRecordError: the file is damaged or does not match ``like``.
        """
        import jax  # the store imports no jax at module level (reading results needs none)

        path = self.run_dir(rid) / "params.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"run {rid} stored no params ({path} missing); only the final (evaluation) "
                "runs of a study store them"
            )
        raw = self.run_file(rid, "params.npz")  # the whole record verified first
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            stored = {k: z[k] for k in z.files}
        leaves, treedef = jax.tree_util.tree_flatten(like)
        names = [f"leaf_{i:04d}" for i in range(len(leaves))]
        if sorted(stored) != names:
            raise self._corrupt(
                path, f"holds {len(stored)} arrays but `like` has {len(leaves)} leaves"
            )
        out = []
        for name, leaf in zip(names, leaves, strict=True):
            if stored[name].shape != np.shape(leaf):
                raise self._corrupt(
                    path,
                    f"{name} has shape {stored[name].shape}, `like` has {np.shape(leaf)}",
                )
            out.append(stored[name])
        return jax.tree_util.tree_unflatten(treedef, out)

    def load_runs(self, ids: Iterable[str] | None = None) -> list[RunRecord]:
        """Load (and verify) the given runs, or all finished runs."""
        return [self.load_run(r) for r in (self.run_ids() if ids is None else ids)]

    def _remove_stale_tmp(self) -> None:
        """Delete ``runs/.tmp-*`` left by killed writers (whose process no longer exists)."""
        if not self.runs_dir.is_dir():
            return
        for p in self.runs_dir.iterdir():
            if not p.name.startswith(".tmp-"):
                continue
            parts = p.name.split("-")
            try:
                pid = int(parts[2])
            except (IndexError, ValueError):
                pid = -1
            if pid > 0 and pid != os.getpid() and _alive(pid):
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()

    # ------------------------------------------------------------------ tables
    def write_csv(self, relpath: str, rows: list[Mapping[str, Any]]) -> Path:
        """Write ``rows`` (dicts) as CSV at ``root/relpath`` atomically; union of keys as header."""
        header: list[str] = []
        for r in rows:
            header += [k for k in r if k not in header]
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_value(r.get(k, "")) for k in header})
        path = self.root / relpath
        if _is_writer():
            atomic_write_text(path, out.getvalue())
        return path


def params_npz(params: Any) -> bytes:
    """``params`` (a pytree, or the list of its leaves) as npz bytes, leaves ``leaf_0000``..."""
    if isinstance(params, (list, tuple)) and all(isinstance(x, np.ndarray) for x in params):
        leaves = list(params)
    else:
        import jax

        leaves = jax.tree_util.tree_leaves(params)
    arrays = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
    for k, a in arrays.items():
        if a.dtype == object:
            raise TypeError(f"params {k} is an object array; store numeric arrays only")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return canonical_json(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
