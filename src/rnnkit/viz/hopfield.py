"""Pictures of Hopfield networks: recall against load, and probe / recalled / original grids."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no screen is needed

import matplotlib.pyplot as plt
import numpy as np
import torch

from .._io import save_figure
from ..classic.capacity import CapacityResult

HEBBIAN_CAPACITY = 0.138  # Amit, Gutfreund & Sompolinsky 1985, N -> infinity


def plot_capacity(path: str | os.PathLike, result: CapacityResult, *, title: str = "") -> Path:
    """Save two panels against the load P/N, one line per rule: the fraction of probes
    recalled exactly, and the mean final overlap ``m = ξ·s / N``; a dashed line marks 0.138.

    Example:
        >>> import tempfile, pathlib
        >>> from rnnkit.classic import CapacityConfig, capacity_curve
        >>> r = capacity_curve(CapacityConfig(n_units=16, loads=(0.1, 0.3), trials=1))
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "c.png"
        >>> plot_capacity(out, r).stat().st_size > 1000
        True
    """
    path = Path(path)
    loads = np.asarray(result.config.loads)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    try:
        panels = (("exact", "fraction recalled exactly"), ("overlap", "mean final overlap m"))
        for ax, (key, label) in zip(axes, panels):
            values = getattr(result, key)
            for rule in result.config.rules:
                ax.plot(loads, values[rule], marker="o", markersize=3, label=rule)
            ax.axvline(HEBBIAN_CAPACITY, color="grey", linestyle="--", linewidth=0.8)
            ax.text(HEBBIAN_CAPACITY, 0.02, " 0.138", color="grey", fontsize=8)
            ax.set_xlabel("load P / N")
            ax.set_ylabel(label)
            ax.set_ylim(0.0 if key == "exact" else min(0.0, ax.get_ylim()[0]), 1.02)
            ax.grid(alpha=0.3)
        axes[1].legend(loc="lower left")
        cfg = result.config
        fig.suptitle(
            title
            or (
                f"Hopfield recall against load: N = {cfg.n_units}, "
                f"{cfg.flip_fraction:.0%} of bits flipped, {cfg.trials} trials, {cfg.mode}"
            )
        )
        fig.tight_layout()
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def plot_recall_grid(
    path: str | os.PathLike,
    rows: dict[str, np.ndarray | torch.Tensor],
    image_shape: tuple[int, int],
    *,
    column_titles: list[str] | None = None,
    title: str = "",
) -> Path:
    """Save a grid of ±1 images: one row per entry of ``rows`` (e.g. probe, recalled,
    original), one column per pattern; +1 is drawn black, -1 white.

    Args:
        path: the PNG to write.
        rows: row label -> (K, H*W) states; every row has the same K.
        image_shape: (H, W).
        column_titles: K titles above the first row.
        title: the figure's title.

    Example:
        >>> import tempfile, pathlib
        >>> x = np.sign(np.random.default_rng(0).standard_normal((3, 16)))
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "g.png"
        >>> plot_recall_grid(out, {"probe": -x, "original": x}, (4, 4)).stat().st_size > 500
        True
    """
    path = Path(path)
    height, width = image_shape
    arrays = {
        label: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
        for label, v in rows.items()
    }
    if not arrays:
        raise ValueError("rows must hold at least one row, got none")
    k = next(iter(arrays.values())).shape[0]
    for label, a in arrays.items():
        if a.shape != (k, height * width):
            raise ValueError(f"rows[{label!r}] must be ({k}, {height * width}), got {a.shape}")
    if column_titles is not None and len(column_titles) != k:
        raise ValueError(f"column_titles must have {k} titles, got {len(column_titles)}")
    fig, axes = plt.subplots(
        len(arrays), k, figsize=(1.0 * k + 1.2, 1.1 * len(arrays) + 0.6), dpi=100, squeeze=False
    )
    try:
        for r, (label, a) in enumerate(arrays.items()):
            for c in range(k):
                ax = axes[r, c]
                ax.imshow(a[c].reshape(height, width), cmap="gray_r", vmin=-1, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(label, fontsize=9)
                if r == 0 and column_titles is not None:
                    ax.set_title(column_titles[c], fontsize=9)
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return save_figure(fig, path)
    finally:
        plt.close(fig)


__all__ = ["plot_capacity", "plot_recall_grid"]
