"""The path switch and the decision fused-or-reference, shared by layers and streams."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType

import torch
from torch import Tensor

from .._checks import choice
from ..cells import ElmanCell, GRUCell, JordanCell, LSTMCell, RecurrentCell
from . import _ext

MODES = ("auto", "fused", "reference")
_mode = "auto"
_FUSED_CELLS = (ElmanCell, GRUCell, JordanCell, LSTMCell)
_DTYPES = (torch.float32, torch.float64)


def set_mode(value: str) -> None:
    """Choose the path of every :class:`~rnnkit.Recurrent`: ``"auto"``, ``"fused"`` or
    ``"reference"`` (see the module docstring)."""
    global _mode
    _mode = choice("mode", value, MODES)


def get_mode() -> str:
    """The current path choice: ``"auto"``, ``"fused"`` or ``"reference"``."""
    return _mode


@contextlib.contextmanager
def mode(value: str) -> Iterator[None]:
    """Use path ``value`` inside a ``with`` block, then restore the previous choice.

    Example:
        >>> from rnnkit import kernels
        >>> with kernels.mode("reference"):
        ...     kernels.get_mode()
        'reference'
    """
    previous = _mode
    set_mode(value)
    try:
        yield
    finally:
        set_mode(previous)


def available() -> bool:
    """Whether the C++ extension is built and loaded (builds it on the first call)."""
    return _ext.load() is not None


def unsupported_reason(cell: RecurrentCell, x: Tensor) -> str | None:
    """Why ``cell`` on input ``x`` cannot take the fused path, or None if it can."""
    if type(cell) not in _FUSED_CELLS:
        return f"the cell is a {type(cell).__name__}, not exactly one of the built-in cells"
    if x.device.type != "cpu":
        return f"x is on {x.device}, the kernels run on the CPU"
    if x.dtype not in _DTYPES:
        return f"x has dtype {x.dtype}, the kernels take float32 or float64"
    for name, p in cell.named_parameters(recurse=False):
        if p.device.type != "cpu" or p.dtype != x.dtype:
            return f"parameter {name} is {p.dtype} on {p.device}, x is {x.dtype} on {x.device}"
    return None


def extension_for(cell: RecurrentCell, x: Tensor) -> ModuleType | None:
    """The loaded extension if ``cell`` on ``x`` takes the fused path now, else None.

    In mode ``"fused"`` a path that cannot be fused raises RuntimeError saying why.
    """
    if _mode == "reference":
        return None
    reason = unsupported_reason(cell, x)
    ext = _ext.load() if reason is None else None
    if ext is None and _mode == "fused":
        reason = reason or f"the C++ extension is unavailable ({_ext.error()})"
        raise RuntimeError(f"rnnkit.kernels mode is 'fused' but {reason}")
    return ext
