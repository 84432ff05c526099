"""One step of a built-in cell through the fused kernels, for stateful inference (streaming)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from torch import Tensor

from .._state import State
from ..cells import ElmanCell, GRUCell, JordanCell, LSTMCell, LSTMState, RecurrentCell
from . import _dispatch
from ._functions import ACTIVATION_CODES


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
            call = self._call = _bind(self._ext, self.cell)
            self._key = key
        return call(x, state)


def _t(w: Tensor) -> Tensor:
    return w.detach().t().contiguous()


def _bind(ext: Any, cell: RecurrentCell) -> Callable[[Tensor, State], tuple[Tensor, State]]:
    """The kernel call of one step (x (B, I)) for ``cell``'s current parameters: a dedicated
    step kernel for the LSTM, the sequence kernel at T = 1 for the others."""
    p: dict[str, Any] = {
        k: (None if v is None else v.detach()) for k, v in cell._parameters.items()
    }
    if type(cell) is LSTMCell:
        bias = None if p["bias_ih"] is None else p["bias_ih"] + p["bias_hh"]
        args: tuple[object, ...] = (_t(p["weight_ih"]), _t(p["weight_hh"]), bias, p["weight_ch"],
                cell.cell_activation == "identity")  # fmt: skip

        def lstm(x, state):
            h, c = ext.lstm_step(x, state.h, state.c, *args)
            return h, LSTMState(h, c)

        return lstm
    if type(cell) is GRUCell:
        args = (p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], None,
                cell.reset == "after", _t(p["weight_hh"]), _t(p["weight_ih"]))  # fmt: skip

        def gru(x, state):
            ys, h, *_ = ext.gru_forward(x.unsqueeze(1), state, *args)  # x (B, 1, I)
            return ys[0], h

        return gru
    if type(cell) is ElmanCell:
        code = ACTIVATION_CODES[cell.activation]
        args = (p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], None,
                code, _t(p["weight_hh"]), _t(p["weight_ih"]))  # fmt: skip

        def elman(x, state):
            ys, h, *_ = ext.elman_forward(x.unsqueeze(1), state, *args)
            return ys[0], h

        return elman
    assert type(cell) is JordanCell
    if p["bias_ih"] is None:  # the Jordan kernel takes bias tensors: zeros are no bias
        p["bias_ih"] = p["weight_ih"].new_zeros(cell.hidden_size)
        p["bias_hy"] = p["weight_hy"].new_zeros(cell.output_size)
    args = (p["weight_ih"], p["bias_ih"], p["weight_yh"], p["weight_hy"], p["bias_hy"], None,
            ACTIVATION_CODES[cell.activation], ACTIVATION_CODES[cell.output_activation],
            _t(p["weight_yh"]), _t(p["weight_hy"]), _t(p["weight_ih"]))  # fmt: skip

    def jordan(x, state):
        ys, y, *_ = ext.jordan_forward(x.unsqueeze(1), state, *args)
        return ys[0], y

    return jordan
