"""The path switch and the routing decision (fused, torch-native or reference) for a call.

Modes (:func:`set_mode` for the process, :func:`mode` for a ``with`` block, or the environment
variable ``RNNKIT_KERNELS`` read at import):

* ``"auto"`` (default): on the CPU, a cell torch has natively (:mod:`._native`) takes the
  faster of the fused kernels and torch's op, measured once and remembered (:mod:`._autotune`);
  the other built-in cells take the fused kernels; without a build, torch's op where it has
  one, else the reference loop. On CUDA, torch's op (cuDNN) where it has one, else the loop.
* ``"fused"``: the fused kernels, and a RuntimeError saying why if they cannot run;
* ``"native"``: torch's op, and a RuntimeError if torch has no equivalent of the cell;
* ``"reference"``: always the reference loop.

A ``with mode(...)`` block holds in its own thread (and asyncio task) only: the override is a
:class:`contextvars.ContextVar`, so threads running models side by side do not see each
other's blocks. :func:`set_mode` changes the default of every thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from types import ModuleType

import torch
from torch import Tensor

from .._checks import choice
from ..cells import CELLS, RecurrentCell
from . import _autotune, _ext, _native

MODES = ("auto", "fused", "reference", "native")
_FUSED_CELLS = tuple(spec.cls for spec in CELLS.values() if spec.fused)
_DTYPES = (torch.float32, torch.float64)
#: Training options the fused path applies around its kernels (m_x ⊙ x, M ⊙ W_hh): exact.
FUSED_MASKS = ("input_dropout", "weight_drop")

_default = choice("RNNKIT_KERNELS", os.environ.get("RNNKIT_KERNELS", "auto"), MODES)
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rnnkit_kernels_mode", default=None
)


def set_mode(value: str) -> None:
    """Choose the path of every :class:`~rnnkit.Recurrent` in every thread: ``"auto"``,
    ``"fused"``, ``"native"`` or ``"reference"`` (see the module docstring). A ``with``
    :func:`mode` block still wins inside it."""
    global _default
    _default = choice("mode", value, MODES)


def get_mode() -> str:
    """The path choice in effect here: the innermost :func:`mode` block's, else the default."""
    value = _override.get()
    return _default if value is None else value


@contextlib.contextmanager
def mode(value: str) -> Iterator[None]:
    """Use path ``value`` inside a ``with`` block (this thread only), then restore the previous.

    Example:
        >>> from rnnkit import kernels
        >>> with kernels.mode("reference"):
        ...     kernels.get_mode()
        'reference'
    """
    token = _override.set(choice("mode", value, MODES))
    try:
        yield
    finally:
        _override.reset(token)


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
    reason = cell.regularisation_reason(FUSED_MASKS)
    if reason is not None:
        return reason
    return _params_reason(cell, x)


def native_reason(cell: RecurrentCell, x: Tensor) -> str | None:
    """Why ``cell`` on input ``x`` cannot take torch's own op, or None if it can."""
    if _native.native_op(cell) is None:
        return f"torch has no fused op equivalent to {_native.config_name(cell)}"
    if not x.dtype.is_floating_point:
        return f"x has dtype {x.dtype}, torch's op takes floating point"
    reason = cell.regularisation_reason()
    if reason is not None:
        return reason
    return _params_reason(cell, x)


def _params_reason(cell: RecurrentCell, x: Tensor) -> str | None:
    for name, p in cell._parameters.items():  # direct: named_parameters() is slow per call
        if p is not None and (p.device != x.device or p.dtype != x.dtype):
            return f"parameter {name} is {p.dtype} on {p.device}, x is {x.dtype} on {x.device}"
    return None


def extension_for(cell: RecurrentCell, x: Tensor) -> ModuleType | None:
    """The loaded extension if ``cell`` on ``x`` may take the fused kernels now, else None.

    Used by single steps (streaming), which have no torch-native route: None in modes
    ``"reference"`` and ``"native"``; in mode ``"fused"`` a path that cannot be fused raises
    RuntimeError saying why.
    """
    current = get_mode()
    if current in ("reference", "native"):
        return None
    reason = unsupported_reason(cell, x)
    ext = _ext.load() if reason is None else None
    if ext is None and current == "fused":
        reason = reason or f"the C++ extension is unavailable ({_ext.error()})"
        raise RuntimeError(f"rnnkit.kernels mode is 'fused' but {reason}")
    return ext


def _device_type(x: Tensor) -> str:
    return x.device.type


def route(
    cell: RecurrentCell, x: Tensor, lengths: Tensor | None, fused: Callable
) -> tuple[str, ModuleType | None]:
    """The path of a whole-sequence call: ``("fused", ext)``, ``("native", None)`` or
    ``("reference", None)``.

    ``fused(ext, cell, x, state, lengths)`` runs the fused kernels; mode ``"auto"`` times it
    against torch's op when both can run (see :mod:`._autotune`). Raises RuntimeError in modes
    ``"fused"``/``"native"`` when that path cannot run.
    """
    current = get_mode()
    if current == "reference":
        return "reference", None
    native_ok = native_reason(cell, x) is None
    if current == "native":
        if not native_ok:
            raise RuntimeError(f"rnnkit.kernels mode is 'native' but {native_reason(cell, x)}")
        return "native", None
    if _device_type(x) != "cpu":  # cuDNN where torch has the cell, else the loop
        if current == "fused":
            raise RuntimeError(f"rnnkit.kernels mode is 'fused' but x is on {x.device}")
        return ("native" if native_ok else "reference"), None
    ext = extension_for(cell, x)  # raises in mode "fused" when the kernels cannot run
    if ext is None:  # no build, or e.g. bfloat16: torch's op where it has one
        return ("native" if native_ok else "reference"), None
    if current == "fused" or not native_ok:
        return "fused", ext
    runner = lambda c, xs, s, lens: fused(ext, c, xs, s, lens)  # noqa: E731
    choice_ = _autotune.choose(cell, x, lengths, runner, _ext.loaded_key() or "")
    return choice_, ext if choice_ == "fused" else None
