"""Plot a forecast against the truth, with matplotlib's Agg backend (no screen needed)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no screen is needed

import matplotlib.pyplot as plt
import numpy as np


def plot_forecast(
    path: str | os.PathLike,
    truth: Sequence[float] | np.ndarray,
    predictions: dict[str, Sequence[float] | np.ndarray],
    *,
    start: int = 0,
    title: str = "",
    ylabel: str = "value",
    split: int | None = None,
) -> Path:
    """Save a line plot of ``truth`` and one or more predictions of it.

    Args:
        path: the image file to write (PNG by its suffix); written to a temporary name in the
            same folder and then renamed, so an existing file is replaced whole or not at all.
        truth: the series, (N,), drawn at x = ``start .. start + N - 1``.
        predictions: label -> (N,) predicted values aligned with ``truth`` (NaN where there is
            no prediction).
        start: the time index of ``truth[0]``.
        title: the plot's title.
        ylabel: the y axis label.
        split: draw a vertical line at this time index (e.g. where closed-loop prediction starts).

    Returns:
        the path written.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "f.png"
        >>> t = np.linspace(0, 6, 50)
        >>> plot_forecast(out, np.sin(t), {"model": np.sin(t) + 0.1}).stat().st_size > 1000
        True
    """
    truth = np.asarray(truth, dtype=np.float64).reshape(-1)
    path = Path(path)
    steps = np.arange(start, start + truth.size)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        ax.plot(steps, truth, color="black", linewidth=1.2, label="truth")
        for label, values in predictions.items():
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            if values.size != truth.size:
                raise ValueError(
                    f"predictions[{label!r}] must have {truth.size} values like truth, "
                    f"got {values.size}"
                )
            ax.plot(steps, values, linewidth=1.0, linestyle="--", label=label)
        if split is not None:
            ax.axvline(split, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("time step")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # off the data
        fig.tight_layout()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        try:
            fig.savefig(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        plt.close(fig)
    return path


__all__ = ["plot_forecast"]
