"""Plain-file infrastructure shared by the store, landscapes and pipelines: JSON and atomic writes.

One JSON convention everywhere: numpy scalars and arrays become plain JSON types, tuples become
lists and non-finite floats are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``
(JSON has no such numbers); :func:`unjson` turns them back into floats.

One atomic writer everywhere: a temporary file in the destination folder, flushed and fsynced,
then ``os.replace``-d over the destination and the folder fsynced, so a reader (or a process
restarted after ``kill -9``) sees either the old file or the whole new one, never a part.
Temporary files are named ``.tmp-<name>-*``; :func:`remove_stale_temporaries` deletes the ones
a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "jsonable",
    "unjson",
    "canonical_json",
    "pretty_json",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "read_json",
    "fsync_dir",
    "TMP_PREFIX",
    "remove_stale_temporaries",
]

#: Prefix of the temporary files of :func:`atomic_write` (``.tmp-<final name>-<random>``).
TMP_PREFIX = ".tmp-"


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def jsonable(x: Any) -> Any:
    """``x`` with numpy values as plain JSON types (recursively); non-finite floats as strings."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        x = float(x)
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def unjson(x: Any) -> Any:
    """Inverse of :func:`jsonable` for the special floats: ``"nan"``/``"inf"``/``"-inf"``."""
    if isinstance(x, dict):
        return {k: unjson(v) for k, v in x.items()}
    if isinstance(x, list):
        return [unjson(v) for v in x]
    if isinstance(x, str) and x in _SPECIAL:
        return _SPECIAL[x]
    return x


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace (the form that is hashed); see :func:`jsonable`."""
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def pretty_json(obj: Any) -> str:
    """JSON for people: sorted keys, indented; see :func:`jsonable`."""
    return json.dumps(jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a folder so a rename inside it is durable (a no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a temporary file, then move it over ``path`` atomically.

    Parent folders are created. On any error the temporary file is removed and the old
    ``path`` (if any) is untouched. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.chmod(f.fileno(), _FILE_MODE)  # mkstemp creates 0600; results are for sharing
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as :func:`pretty_json` atomically."""
    return atomic_write_text(path, pretty_json(obj))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json`; special floats decoded.

    Raises:
      ValueError: naming the file, when it is not valid JSON (truncated or edited by hand).
    """
    path = Path(path)
    try:
        return unjson(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it to recompute it") from None


def remove_stale_temporaries(
    folder: str | os.PathLike, recursive: bool = False, *, older_than: float = 0.0
) -> list[Path]:
    """Delete the ``.tmp-*`` files a killed :func:`atomic_write` left in ``folder``.

    Args:
      folder: where to look (a missing folder is fine).
      recursive: also look in sub-folders.
      older_than: only delete files last modified at least this many seconds ago, so the
        temporary file of a writer still at work in another process is left alone (0: all;
        only then must no other process be writing).

    Returns:
      The removed paths.
    """
    import time

    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f"**/{TMP_PREFIX}*" if recursive else f"{TMP_PREFIX}*"
    now = time.time()
    removed = []
    for p in folder.glob(pattern):
        with contextlib.suppress(OSError):
            if p.is_file() and now - p.stat().st_mtime >= older_than:
                p.unlink()
                removed.append(p)
    return removed
