"""Echo state network pictures: a free-running prediction against the truth, and its error."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no screen is needed

import matplotlib.pyplot as plt
import numpy as np

from .._io import save_figure


def plot_esn_prediction(
    path: str | os.PathLike,
    truth: np.ndarray,
    prediction: np.ndarray,
    *,
    start: int = 0,
    context: np.ndarray | None = None,
    title: str = "",
    mark: int | None = None,
) -> Path:
    r"""Save two panels: the series and the prediction on top, :math:`|y - \hat y|` (log) below.

    The top panel draws ``context`` (the end of the training data, grey) before ``start`` and
    then ``truth`` and ``prediction`` from ``start`` (a prediction that leaves the data's range
    by more than half of it is clipped to the view); the bottom one the absolute error on a
    log scale, where the exponential growth of a chaotic free run is a straight line.

    Args:
        path: the PNG to write; written to a temporary name and renamed, so a file is replaced
            whole or not at all (callers that must not overwrite check first).
        truth: (T,) the true continuation.
        prediction: (T,) the network's prediction of it.
        start: time index of ``truth[0]``.
        context: (C,) values before ``start``, drawn for orientation.
        title: the figure's title.
        mark: a step of the prediction (1-based, like "the 84th step") marked on both panels.

    Returns:
        the path written.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "esn.png"
        >>> truth = np.sin(0.1 * np.arange(100.0))
        >>> path = plot_esn_prediction(out, truth, truth + 1e-4 * np.arange(100.0), mark=84)
        >>> path.stat().st_size > 1000
        True
    """
    truth = np.asarray(truth, dtype=np.float64).reshape(-1)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
    if prediction.shape != truth.shape:
        raise ValueError(
            f"prediction must have {truth.size} values like truth, got {prediction.size}"
        )
    if truth.size < 1:
        raise ValueError("truth must have at least 1 value, got 0")
    path = Path(path)
    steps = np.arange(start, start + truth.size)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    try:
        if context is not None:
            context = np.asarray(context, dtype=np.float64).reshape(-1)
            before = np.arange(start - context.size, start)
            top.plot(before, context, color="grey", linewidth=1.0, label="training data")
        top.plot(steps, truth, color="black", linewidth=1.2, label="truth")
        top.plot(steps, prediction, color="tab:red", linewidth=1.0, linestyle="--", label="ESN")
        top.axvline(start - 0.5, color="grey", linewidth=0.8, linestyle=":")
        # A diverged free run would squash the truth to a line: keep the axis on the data.
        shown = truth if context is None else np.concatenate([context, truth])
        lo, hi = float(shown.min()), float(shown.max())
        pad = 0.5 * (hi - lo) or 1.0
        finite = prediction[np.isfinite(prediction)]
        if finite.size < prediction.size or (
            finite.size and (finite.min() < lo - pad or finite.max() > hi + pad)
        ):
            top.set_ylim(lo - pad, hi + pad)
        top.set_ylabel("value")
        top.legend(loc="upper right")
        if title:
            top.set_title(title)
        error = np.abs(prediction - truth)
        bottom.semilogy(steps, np.maximum(error, 1e-16), color="tab:red", linewidth=1.0)
        bottom.set_ylabel("|error|")
        bottom.set_xlabel("time step")
        if mark is not None and 1 <= mark <= truth.size:
            for ax in (top, bottom):
                ax.axvline(start + mark - 1, color="tab:blue", linewidth=0.8, linestyle=":")
            bottom.annotate(
                f"step {mark}: {error[mark - 1]:.1e}",
                (start + mark - 1, max(error[mark - 1], 1e-16)),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=8,
            )
        fig.tight_layout()
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


__all__ = ["plot_esn_prediction"]
