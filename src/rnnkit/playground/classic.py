"""The playground's Hopfield and echo state tabs: requests checked, answers as JSON-ready dicts."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..classic import EchoStateNetwork, HopfieldNetwork
from ..classic.hopfield import RULES
from ..data import mackey_glass
from .tasks import TaskError

GRID = 10  # Hopfield patterns are GRID x GRID images
MAX_PATTERNS = 8
MAX_SWEEPS = 20

_SHAPES = {
    "T": [
        "##########",
        "##########",
        "....##....",
        "....##....",
        "....##....",
        "....##....",
        "....##....",
        "....##....",
        "....##....",
        "....##....",
    ],
    "X": [
        "##......##",
        "###....###",
        ".###..###.",
        "..######..",
        "...####...",
        "...####...",
        "..######..",
        ".###..###.",
        "###....###",
        "##......##",
    ],
    "O": [
        "..######..",
        ".########.",
        "###....###",
        "##......##",
        "##......##",
        "##......##",
        "##......##",
        "###....###",
        ".########.",
        "..######..",
    ],
    "L": [
        "##........",
        "##........",
        "##........",
        "##........",
        "##........",
        "##........",
        "##........",
        "##........",
        "##########",
        "##########",
    ],
    "plus": [
        "....##....",
        "....##....",
        "....##....",
        "....##....",
        "##########",
        "##########",
        "....##....",
        "....##....",
        "....##....",
        "....##....",
    ],
}


def preset_patterns() -> dict[str, list[int]]:
    """name -> a ±1 pattern of GRID·GRID units, row by row."""
    return {
        name: [1 if c == "#" else -1 for row in rows for c in row] for name, rows in _SHAPES.items()
    }


def _pm1(name: str, value: object) -> torch.Tensor:
    n = GRID * GRID
    if not isinstance(value, list) or len(value) != n or any(v not in (1, -1) for v in value):
        got = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
        raise TaskError(f"{name} must be a list of {n} values, each 1 or -1, got {got}")
    return torch.tensor(value, dtype=torch.float64)


def hopfield_recall(request: dict) -> dict:
    """Store ``patterns``, then update the units of ``probe`` one at a time (random order per
    sweep) until a sweep changes nothing; every update is reported with the energy after it."""
    patterns = request.get("patterns")
    if not isinstance(patterns, list) or not 1 <= len(patterns) <= MAX_PATTERNS:
        raise TaskError(
            f"patterns must be a list of 1 to {MAX_PATTERNS} patterns, got {patterns!r:.40}"
        )
    stored = torch.stack([_pm1(f"patterns[{k}]", p) for k, p in enumerate(patterns)])
    probe = _pm1("probe", request.get("probe"))
    rule = request.get("rule", "hebbian")
    if rule not in RULES:
        raise TaskError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    seed = request.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise TaskError(f"seed must be an int in [0, 2^31), got {seed!r}")
    net = HopfieldNetwork(GRID * GRID, rule=rule, dtype=torch.float64).store(stored)
    generator = torch.Generator().manual_seed(seed)
    state = probe.clone()
    energies = [float(net.energy(state))]
    flips: list[int] = []  # unit flipped at each update, or -1
    for _ in range(MAX_SWEEPS):
        changed = False
        for unit in torch.randperm(GRID * GRID, generator=generator).tolist():
            new = net.update_unit(state, unit)
            flipped = bool(new[unit] != state[unit])
            flips.append(unit if flipped else -1)
            changed |= flipped
            state = new
            energies.append(float(net.energy(state)))
        if not changed:
            break
    overlaps = (stored @ state / (GRID * GRID)).tolist()
    return {
        "energies": energies,
        "flips": flips,
        "final": state.int().tolist(),
        "fixed_point": bool(net.is_fixed_point(state)),
        "overlaps": overlaps,
    }


#: parameter -> (its type, lowest, highest, default).
_ESN_BOUNDS: dict[str, tuple[type[int] | type[float], float, float, float]] = {
    "reservoir_size": (int, 10, 500, 200),
    "spectral_radius": (float, 0.05, 1.5, 0.9),
    "leak_rate": (float, 0.01, 1.0, 0.3),
    "input_scaling": (float, 0.0, 5.0, 0.5),
    "ridge": (float, 0.0, 1.0, 1e-6),
    "train_length": (int, 200, 3000, 1500),
    "generate_length": (int, 10, 1000, 300),
    "seed": (int, 0, 2**31 - 1, 0),
}
ESN_SERIES = ("mackey_glass", "sine")


def esn_bounds() -> dict:
    return {k: [t.__name__, lo, hi, d] for k, (t, lo, hi, d) in _ESN_BOUNDS.items()}


def _param(request: dict, name: str):
    kind, low, high, default = _ESN_BOUNDS[name]
    value = request.get(name, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        raise TaskError(f"{name} must be a {kind.__name__} in [{low}, {high}], got {value!r}")
    if kind is float and not math.isfinite(value):
        raise TaskError(f"{name} must be finite, got {value!r}")
    return value


def esn_run(request: dict) -> dict:
    """Fit an echo state network one step ahead on a series, then let it run free."""
    p = {name: _param(request, name) for name in _ESN_BOUNDS}
    series_name = request.get("series", "mackey_glass")
    if series_name not in ESN_SERIES:
        raise TaskError(f"series must be one of {', '.join(ESN_SERIES)}, got {series_name!r}")
    total = p["train_length"] + p["generate_length"]
    if series_name == "mackey_glass":
        raw = mackey_glass(total, transient=200)
        series = np.tanh(raw - 1.0)  # Jaeger's squashing around the attractor's middle
    else:
        series = np.sin(0.2 * np.arange(total, dtype=np.float64))
    series = series[:, None]
    n_train, washout = p["train_length"], min(100, p["train_length"] // 4)
    esn = EchoStateNetwork(
        1,
        p["reservoir_size"],
        1,
        spectral_radius=p["spectral_radius"],
        leak_rate=p["leak_rate"],
        input_scaling=p["input_scaling"],
        ridge=p["ridge"],
        seed=p["seed"],
    )
    esn.fit(series[: n_train - 1], series[1:n_train], washout=washout)
    fitted = esn.predict(series[: n_train - 1])[:, 0].numpy()
    states = esn.states(series[: n_train - 1]).numpy()  # (T, N)
    free = esn.generate(p["generate_length"])[:, 0].numpy()
    truth = series[n_train:, 0]
    nrmse = float(np.sqrt(np.mean((free - truth) ** 2)) / (np.std(truth) or 1.0))
    fit_err = fitted[washout:] - series[washout + 1 : n_train, 0]
    return {
        "series": series[:, 0].tolist(),
        "train_length": n_train,
        "washout": washout,
        "fitted": fitted.tolist(),
        "generated": free.tolist(),
        "nrmse_free": nrmse,
        "nrmse_fit": float(np.sqrt(np.mean(fit_err**2)) / np.std(series[:n_train, 0])),
        "unit_states": states[-300:, :6].T.tolist(),
    }
