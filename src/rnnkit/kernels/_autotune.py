"""Fused kernels or torch's own op: measured once per situation, remembered on disk.

Mode ``"auto"`` asks :func:`choose` for a cell torch also has natively. The answer depends on
the CPU, the threads and the shape, so it is measured, not guessed: both paths run on an input
of the caller's shape class (time capped at 128 steps) with copies of the cell, interleaved,
best of three after a warm-up, with a backward pass when gradients are being recorded. The
faster one is written to ``$RNNKIT_CACHE_DIR/dispatch.json`` (default ``~/.cache/rnnkit``,
written atomically, merged with what other processes wrote) under a key made of the cell's
configuration, the shape class (B, T, I, H each rounded up to a power of two, and whether
lengths are given), dtype, threads, the build's ISA level and build key, torch's version and
whether gradients are recorded. Later calls, in this process or the next, read it. A choice
measured while other processes kept the CPUs busy can be the wrong one and is kept all the
same: delete the file to measure again.

Example:
    >>> shape_class(32, 100, 65, 384, lengths=False)
    'B32-T128-I128-H512'
"""

from __future__ import annotations

import copy
import functools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from .._io import atomic_write_json
from .._state import State
from ..cells import RecurrentCell
from . import _cpu, _native

CHOICES = ("fused", "native")
MEASURE_STEPS = 128  # time steps of the measuring runs: enough to amortise per-call costs
_lock = threading.Lock()
_memory: dict[str, dict[str, str]] = {}  # cache file -> its decisions, as read or written


def cache_path() -> Path:
    """The decisions file: ``$RNNKIT_CACHE_DIR/dispatch.json``, default ``~/.cache/rnnkit``."""
    return _cache_path(os.environ.get("RNNKIT_CACHE_DIR"))


@functools.cache
def _cache_path(root: str | None) -> Path:
    return Path(root or Path.home() / ".cache" / "rnnkit") / "dispatch.json"


def _bucket(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def shape_class(batch: int, steps: int, inputs: int, hidden: int, *, lengths: bool) -> str:
    """The shape bucket of a call: each size rounded up to a power of two."""
    dims = zip("BTIH", (batch, steps, inputs, hidden))
    return "-".join(f"{a}{_bucket(n)}" for a, n in dims) + ("-lengths" if lengths else "")


def decision_key(cell: RecurrentCell, x: Tensor, lengths: Tensor | None, build: str) -> str:
    """Everything the faster path depends on, as one string."""
    batch, steps, inputs = x.shape
    grad = torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in cell._parameters.values() if p is not None)
    )
    return "|".join(
        [
            _native.config_name(cell),
            shape_class(batch, steps, inputs, cell.hidden_size, lengths=lengths is not None),
            str(x.dtype).removeprefix("torch."),
            f"threads{torch.get_num_threads()}",
            _cpu.build_isa(),
            build,
            f"torch{torch.__version__}",
            "train" if grad else "inference",
        ]
    )


def read(path: Path | None = None) -> dict[str, str]:
    """The decisions stored in ``path`` (empty if the file is missing or unreadable)."""
    path = path or cache_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    entries = data.get("decisions", {}) if isinstance(data, dict) else {}
    return {k: v for k, v in entries.items() if v in CHOICES}


def remember(key: str, choice: str, path: Path | None = None) -> None:
    """Store ``choice`` for ``key``, keeping what other processes stored meanwhile."""
    path = path or cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = read(path)
    entries[key] = choice
    atomic_write_json(path, {"version": 1, "decisions": dict(sorted(entries.items()))})
    _memory[str(path)] = entries


def lookup(key: str) -> str | None:
    """The stored choice for ``key``, read from disk once per process and cache file."""
    path = cache_path()
    if str(path) not in _memory:
        _memory[str(path)] = read(path)
    return _memory[str(path)].get(key)


Runner = Callable[[RecurrentCell, Tensor, State, "Tensor | None"], "tuple[Tensor, State]"]


def choose(
    cell: RecurrentCell, x: Tensor, lengths: Tensor | None, fused: Runner, build: str
) -> str:
    """``"fused"`` or ``"native"`` for this call: stored, or measured now and stored."""
    key = decision_key(cell, x, lengths, build)
    found = lookup(key)
    if found is not None:
        return found
    with _lock:  # one measurement at a time; another thread may have just made this one
        found = lookup(key)
        if found is None:
            times = measure(cell, x, lengths, {"fused": fused, "native": _native.unroll_native})
            found = min(times, key=times.__getitem__)
            remember(key, found)
    return found


def measure(
    cell: RecurrentCell, x: Tensor, lengths: Tensor | None, runners: dict[str, Runner]
) -> dict[str, float]:
    """Best-of-3 seconds of each runner on a random input of ``x``'s shape class (time capped
    at :data:`MEASURE_STEPS`), interleaved, after one warm-up each."""
    B, T, n_in = x.shape
    T = min(T, MEASURE_STEPS)
    gen = torch.Generator(device=x.device).manual_seed(0)  # leaves torch's global RNG alone
    probe = copy.deepcopy(cell)
    grad = torch.is_grad_enabled() and any(p.requires_grad for p in cell.parameters())
    xs = torch.randn(B, T, n_in, generator=gen, dtype=x.dtype, device=x.device)
    lens = None
    if lengths is not None:  # a spread of lengths from T down to T/2
        lens = torch.linspace(T, max(1, T // 2), B).round().long().to(lengths.device)
    state = probe.init_state(B, device=x.device, dtype=x.dtype)
    best = {name: float("inf") for name in runners}
    for repeat in range(4):
        for name, run in runners.items():
            seconds = _time(functools.partial(_call, run, probe, xs, state, lens, grad))
            if repeat > 0:  # the first round is the warm-up
                best[name] = min(best[name], seconds)
    return best


def _call(run: Runner, cell, xs, state, lengths, grad: bool) -> None:
    ys, _ = run(cell, xs, state, lengths)
    if grad:
        ys.sum().backward()


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
