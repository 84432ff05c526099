"""Training curves: train and held-out bits per character against the step."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def plot_training(
    records: Sequence[dict], path: str | os.PathLike, *, reference: dict | None = None
) -> Path:
    """Draw ``loss.png``: train bits/char (every logged step) and held-out bits/char.

    Args:
        records: metrics records with ``step``, ``train_bits_per_char`` and, where evaluated,
            ``val_bits_per_char`` (the lines of metrics.jsonl).
        path: the PNG to write; written to a temporary file and renamed, so a reader never sees
            half an image.
        reference: optional horizontal lines, name -> bits/char (e.g. ``{"zlib": 2.31}``).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "loss.png"
        >>> recs = [{"step": 10, "train_bits_per_char": 3.0},
        ...         {"step": 20, "train_bits_per_char": 2.5, "val_bits_per_char": 2.6}]
        >>> plot_training(recs, out).read_bytes()[:4]
        b'\\x89PNG'
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from .._io import save_figure

    train = [(r["step"], r["train_bits_per_char"]) for r in records if r.get("train_bits_per_char")]
    val = [(r["step"], r["val_bits_per_char"]) for r in records if r.get("val_bits_per_char")]
    fig = Figure(figsize=(7, 4.2), dpi=100)
    ax = fig.add_subplot()
    if train:
        ax.plot(*zip(*train), label="train", color="tab:blue", alpha=0.7)
    if val:
        ax.plot(*zip(*val), "o-", label="held-out", color="tab:orange")
    for name, value in (reference or {}).items():
        ax.axhline(value, linestyle="--", color="gray", linewidth=1)
        ax.annotate(name, (0, value), xycoords=("axes fraction", "data"), va="bottom")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.grid(True, alpha=0.3)
    if train or val:
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
