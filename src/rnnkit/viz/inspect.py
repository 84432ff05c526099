"""Pictures of the inside of a network: a text coloured by one unit, gate heatmaps over time,
gradient flow through time, Hopfield energy during recall, reservoir states, memory capacity."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no screen is needed

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    import torch

from .._io import save_figure

#: what the plots take: a tensor (any device, detached here), an array or a sequence of numbers
Values = Union["torch.Tensor", np.ndarray, Sequence[float]]


def _np(values: Values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def plot_text_activation(
    path: str | os.PathLike,
    text: str,
    values: Values,
    *,
    title: str = "",
    width: int = 80,
) -> Path:
    """Save ``text`` with each character on a background coloured by ``values`` (one per char).

    Blue is negative, red positive, white zero (scaled to the largest ``|value|``); lines wrap
    at ``width`` characters and a line break starts a new row, as in Karpathy et al. (2015).

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "unit.png"
        >>> plot_text_activation(out, 'say "hi"', np.linspace(-1, 1, 8)).stat().st_size > 1000
        True
    """
    v = _np(values).reshape(-1)
    if v.size != len(text):
        raise ValueError(f"values must have one value per character ({len(text)}), got {v.size}")
    rows: list[list[tuple[str, float]]] = [[]]
    for ch, value in zip(text, v):
        if ch == "\n":
            rows[-1].append(("⏎", value))
            rows.append([])
            continue
        if len(rows[-1]) >= width:
            rows.append([])
        rows[-1].append((ch, value))
    scale = float(np.nanmax(np.abs(v))) or 1.0
    cmap = plt.get_cmap("coolwarm")
    fig = plt.figure(figsize=(width * 0.11 + 0.4, len(rows) * 0.2 + 0.6), dpi=100)
    try:
        ax = fig.add_axes((0, 0, 1, 1 - 0.4 / (len(rows) * 0.2 + 0.6)))
        ax.set_xlim(0, width)
        ax.set_ylim(len(rows), 0)
        ax.axis("off")
        for r, row in enumerate(rows):
            for c, (ch, value) in enumerate(row):
                colour = cmap(0.5 + 0.5 * value / scale) if np.isfinite(value) else (0.7,) * 3
                ax.add_patch(plt.Rectangle((c, r), 1, 1, color=colour, linewidth=0))
                ax.text(c + 0.5, r + 0.55, ch, ha="center", va="center", family="monospace")
        if title:
            fig.suptitle(title, fontsize=10)
        save_figure(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


def plot_heatmaps(
    path: str | os.PathLike,
    panels: Mapping[str, Values],
    *,
    labels: str | None = None,
    max_units: int = 64,
    title: str = "",
) -> Path:
    """Save one heatmap per entry of ``panels`` (name -> (T, units)), units down, time across.

    Gates lie in [0, 1] (sigmoid) or [-1, 1] (tanh); each panel has its own colour bar.
    ``labels``: one character per step, written under the last panel when T is small.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "gates.png"
        >>> plot_heatmaps(out, {"i": np.random.rand(20, 8)}, labels="a" * 20).exists()
        True
    """
    if not panels:
        raise ValueError("panels must hold at least one (T, units) array, got none")
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(12, 1.8 * len(panels) + 0.6), dpi=100, sharex=True, squeeze=False
    )
    try:
        for ax, (name, value) in zip(axes[:, 0], panels.items()):
            a = _np(value)
            if a.ndim != 2:
                raise ValueError(f"panels[{name!r}] must be (T, units), got shape {a.shape}")
            a = a[:, :max_units].T
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            if lo >= 0 and hi <= 1:  # a sigmoid gate: its own fixed scale
                cmap, vmin, vmax = "viridis", 0.0, 1.0
            else:
                m = max(abs(lo), abs(hi)) or 1.0
                cmap, vmin, vmax = "coolwarm", -m, m
            im = ax.imshow(a, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="none")
            ax.set_ylabel(f"{name}\nunit")
            fig.colorbar(im, ax=ax, pad=0.01)
        last = axes[-1, 0]
        if labels is not None and len(labels) <= 120:
            last.set_xticks(range(len(labels)))
            last.set_xticklabels([c if c != "\n" else "⏎" for c in labels], family="monospace")
            last.tick_params(axis="x", length=0, labelsize=7)
        else:
            last.set_xlabel("time step")
        if title:
            axes[0, 0].set_title(title)
        fig.tight_layout()
        save_figure(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


def plot_gradient_flow(path: str | os.PathLike, norms: Values, *, title: str = "") -> Path:
    """Save ‖∂L/∂h_t‖ against t on a log scale: a slope down towards t = 0 is a vanishing
    gradient, up an exploding one.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "grad.png"
        >>> plot_gradient_flow(out, 0.5 ** np.arange(30.0)[::-1]).exists()
        True
    """
    n = _np(norms).reshape(-1)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        ax.semilogy(np.arange(n.size), np.maximum(n, 1e-300), marker=".", color="tab:blue")
        ax.set_xlabel("time step t")
        ax.set_ylabel("‖∂L/∂h_t‖")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(title or "gradient flow through time")
        fig.tight_layout()
        save_figure(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


def plot_energy(path: str | os.PathLike, energy: Values, *, n_units: int | None = None) -> Path:
    """Save a Hopfield network's energy after each asynchronous unit update (sweeps marked)."""
    e = _np(energy).reshape(-1)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        ax.plot(np.arange(e.size), e, color="tab:purple", drawstyle="steps-post")
        if n_units:
            for k in range(n_units, e.size, n_units):
                ax.axvline(k, color="grey", linewidth=0.5, linestyle=":")
        ax.set_xlabel("unit updates")
        ax.set_ylabel("energy E(s)")
        ax.set_title("energy during asynchronous recall")
        fig.tight_layout()
        save_figure(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


def plot_reservoir(
    path: str | os.PathLike, states: Values, u: Values | None = None, *, n_units: int = 12
) -> Path:
    """Save the trajectories x_i(n) of the first ``n_units`` reservoir units (and the input)."""
    x = _np(states)
    fig, axes = plt.subplots(
        2 if u is not None else 1, 1, figsize=(10, 5), dpi=100, sharex=True, squeeze=False
    )
    try:
        ax = axes[-1, 0]
        ax.plot(x[:, :n_units], linewidth=0.8)
        ax.set_xlabel("time step n")
        ax.set_ylabel("x_i(n)")
        if u is not None:
            axes[0, 0].plot(_np(u).reshape(x.shape[0], -1), color="black", linewidth=0.8)
            axes[0, 0].set_ylabel("u(n)")
        axes[0, 0].set_title(f"reservoir states ({min(n_units, x.shape[1])} of {x.shape[1]} units)")
        fig.tight_layout()
        save_figure(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


def plot_memory_capacity(path: str | os.PathLike, mc: Values) -> Path:
    """Save Jaeger's forgetting curve MC_k against the delay k, with MC = Σ MC_k in the title."""
    m = _np(mc).reshape(-1)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        ax.plot(np.arange(1, m.size + 1), m, marker=".", color="tab:green")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("delay k")
        ax.set_ylabel("MC_k = corr²(u(n-k), û_k(n))")
        ax.set_title(f"memory capacity MC = {m.sum():.2f}")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        save_figure(fig, Path(path))
    finally:
        plt.close(fig)
    return Path(path)


__all__ = [
    "plot_energy",
    "plot_gradient_flow",
    "plot_heatmaps",
    "plot_memory_capacity",
    "plot_reservoir",
    "plot_text_activation",
]
