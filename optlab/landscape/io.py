"""Saving and loading slices and analyses as plain files (JSON + ``.npz``, no pickle).

``save_slice(path, s)`` writes ``path.json`` (metadata) and ``path.npz`` (``alphas``,
``betas``, ``values`` and any extra arrays such as projected trajectories), each written
atomically and fsynced by ``optlab._io`` (JSON with non-finite floats as ``"nan"``/``"inf"``/
``"-inf"``). ``load_slice(path)`` reads them back with ``np.load(..., allow_pickle=False)``,
so a figure can be re-plotted without recomputing. A damaged or truncated file raises
``ValueError`` naming it (and a missing one ``FileNotFoundError``, also naming it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from optlab import _io
from optlab.landscape.analysis import SliceAnalysis
from optlab.landscape.slices import Slice


def _stem(path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".npz") else p


def _read_json(path: Path) -> Any:
    """The parsed JSON file (special floats left as strings); ValueError naming a bad file."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is damaged (not valid JSON: {err}); delete it and recompute it"
        ) from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickle); ValueError naming a truncated or damaged file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001  (zipfile.BadZipFile, EOFError, ValueError, ...)
        raise ValueError(
            f"{path} is damaged ({type(err).__name__}: {err}); delete it and recompute it"
        ) from None


def write_json(path, obj: Any) -> Path:
    """Write ``obj`` (numpy values converted; non-finite floats as strings) atomically."""
    return _io.write_json(path, obj)


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    return _io.atomic_write(path, lambda fh: np.savez(fh, **arrays))


def _path_and_object(path, obj, kind: type, name: str):
    """``(path, obj)`` from either argument order; a clear ``TypeError`` otherwise."""
    if isinstance(path, kind) and isinstance(obj, (str, Path)):
        path, obj = obj, path
    if not isinstance(path, (str, Path)) or not isinstance(obj, kind):
        raise TypeError(
            f"save_{name}(path, {name}) takes a file path (str or Path) and a "
            f"{kind.__name__}, got {type(path).__name__} and {type(obj).__name__}"
        )
    return path, obj


def save_slice(path, s: Slice, arrays: Mapping[str, np.ndarray] | None = None) -> Path:
    """Save a :class:`~optlab.landscape.Slice` as ``<stem>.json`` + ``<stem>.npz``.

    ``save_slice(path, slice)``; ``save_slice(slice, path)`` is accepted too.

    Args:
      path: the stem (a ``.json``/``.npz`` suffix is stripped).
      s: the slice.
      arrays: extra numeric arrays to store (e.g. ``{"traj_adam": coords}``); names must not
        clash with ``alphas``, ``betas``, ``values``.

    Returns:
      The stem path.
    """
    path, s = _path_and_object(path, s, Slice, "slice")
    stem = _stem(path)
    extra = {k: np.asarray(v) for k, v in (arrays or {}).items()}
    for k, v in extra.items():
        if k in ("alphas", "betas", "values"):
            raise ValueError(f"arrays may not use the reserved name {k!r}")
        if v.dtype == object:
            raise ValueError(f"arrays[{k!r}] is not numeric (object arrays need pickle)")
    payload = {"alphas": s.alphas, "betas": s.betas, "values": s.values, **extra}
    _write_npz(stem.with_suffix(".npz"), payload)
    meta = {"format": "optlab.landscape.slice/1", "arrays": sorted(payload), **dict(s.metadata)}
    write_json(stem.with_suffix(".json"), meta)
    return stem


def load_slice(path) -> tuple[Slice, dict[str, np.ndarray]]:
    """Load what :func:`save_slice` wrote: ``(slice, extra_arrays)``."""
    stem = _stem(path)
    meta = _read_json(stem.with_suffix(".json"))
    arrays = _read_npz(stem.with_suffix(".npz"))
    missing = sorted({"alphas", "betas", "values"} - set(arrays))
    if missing:
        raise ValueError(f"{stem.with_suffix('.npz')} has no array(s) {missing}; not a slice")
    s = Slice(
        alphas=arrays.pop("alphas"),
        betas=arrays.pop("betas"),
        values=arrays.pop("values"),
        metadata=meta,
    )
    return s, arrays


def save_analysis(path, analysis) -> Path:
    """Save a :class:`~optlab.landscape.SliceAnalysis`: summary JSON + grids (``basins``).

    ``save_analysis(path, analysis)``; ``save_analysis(analysis, path)`` is accepted too.
    """
    path, analysis = _path_and_object(path, analysis, SliceAnalysis, "analysis")
    stem = _stem(path)
    write_json(stem.with_suffix(".json"), analysis.to_dict())
    arrays = {
        "alphas": analysis.alphas,
        "betas": analysis.betas,
        "values": analysis.values,
        "basins": analysis.basins,
    }
    _write_npz(stem.with_suffix(".npz"), arrays)
    return stem


def load_analysis(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(summary_dict, arrays)`` as written by :func:`save_analysis` (for plotting)."""
    stem = _stem(path)
    return _read_json(stem.with_suffix(".json")), _read_npz(stem.with_suffix(".npz"))
