"""The one figure saver and figure factory of ``optlab.plot`` (matplotlib only, no pyplot).

Figures are built on ``matplotlib.figure.Figure`` directly (no global pyplot state, any
backend) and written with :func:`save`: each format atomically (temporary file + rename, so a
killed run never leaves half a PNG), PDFs without a creation date so that the same figure gives
the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from optlab._io import atomic_write_bytes

__all__ = ["new_figure", "save"]


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize, layout: str | None = "constrained",
               **subplot_kw):  # fmt: skip
    """``(fig, axes)`` without pyplot: ``Figure(figsize, layout).subplots(nrows, ncols)``."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **subplot_kw)


def save(fig, stem, formats: Sequence[str] = ("pdf", "png"), **savefig_kw) -> list[Path]:
    """Write ``<stem>.<fmt>`` for each format, atomically; parent folders are created.

    Extra keywords go to ``fig.savefig`` (e.g. ``bbox_inches="tight"``). Returns the paths.
    """
    stem = Path(stem)
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        buf = io.BytesIO()
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(buf, format=fmt, metadata=metadata, **savefig_kw)
        out.append(atomic_write_bytes(path, buf.getvalue()))
    return out
