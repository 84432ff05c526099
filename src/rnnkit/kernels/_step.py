"""One step of a built-in cell through its step kernel, for stateful inference (streaming)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from torch import Tensor

from .._state import State
from ..cells import RecurrentCell
from . import _dispatch
from ._functions import SPECS


class CellStepper:
    """``(y, state) = stepper(x, state)`` for one cell, without autograd, fused when possible.

    The arguments of the kernel call (parameters, their transposes) are built once and rebuilt
    only when a parameter changes (its object, storage or version counter), so a stream follows
    training updates while a step costs one C++ call. The caller checks shapes and dtypes; ``x``
    is (B, I) and ``state`` a full state of the cell.
    """

    def __init__(self, cell: RecurrentCell) -> None:
        self.cell = cell
        self._route: tuple | None = None  # (mode, dtype, device) the extension was chosen for
        self._ext: ModuleType | None = None
        self._key: tuple | None = None
        self._call: Callable[[Tensor, State], tuple[Tensor, State]] | None = None

    def __call__(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        route = (_dispatch.get_mode(), x.dtype, x.device)
        if route != self._route:  # decide once per mode and input kind, not every step
            self._ext = _dispatch.extension_for(self.cell, x)
            self._route, self._key = route, None
        if self._ext is None:
            return self.cell.step(x, state)
        params = self.cell._parameters  # direct: no nn.Module attribute lookup per step
        key = tuple((id(p), p.data_ptr(), p._version) for p in params.values() if p is not None)
        call = self._call
        if key != self._key or call is None:
            call = self._call = SPECS[type(self.cell)].bind_step(self._ext, self.cell)
            self._key = key
        return call(x, state)
