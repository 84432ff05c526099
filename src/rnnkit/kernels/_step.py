"""One step of a built-in cell through the fused kernels, for stateful inference (streaming)."""

from __future__ import annotations

from torch import Tensor

from .._state import State
from ..cells import ElmanCell, GRUCell, JordanCell, LSTMCell, LSTMState, RecurrentCell
from . import _dispatch
from ._functions import ACTIVATION_CODES


class CellStepper:
    """``(y, state) = stepper(x, state)`` for one cell, without autograd, fused when possible.

    The transposed recurrent weights the kernels read are cached between steps and rebuilt when
    a parameter changes (its version counter or storage), so a stream follows training updates.
    The caller checks shapes; ``x`` is (B, I) and ``state`` a full state of the cell.
    """

    def __init__(self, cell: RecurrentCell) -> None:
        self.cell = cell
        self._key: tuple | None = None
        self._wt: tuple[Tensor, ...] = ()
        self._route: tuple | None = None  # (mode, dtype, device) -> extension or None
        self._ext = None

    def _transposed(self, *weights: Tensor) -> tuple[Tensor, ...]:
        key = tuple((w.data_ptr(), w._version) for w in weights)
        if key != self._key:
            self._wt = tuple(w.detach().t().contiguous() for w in weights)
            self._key = key
        return self._wt

    def __call__(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        route = (_dispatch.get_mode(), x.dtype, x.device)
        if route != self._route:  # decide once per mode and input kind, not every step
            self._ext = _dispatch.extension_for(self.cell, x)
            self._route = route
        ext = self._ext
        if ext is None:
            return self.cell.step(x, state)
        cell, x3 = self.cell, x.unsqueeze(1)  # (B, 1, I)
        if type(cell) is LSTMCell:
            (wt,) = self._transposed(cell.weight_hh)
            ys, h, c, *_ = ext.lstm_forward(
                x3, state.h, state.c, cell.weight_ih, cell.weight_hh, cell.bias_ih,
                cell.bias_hh, cell.weight_ch, None, cell.cell_activation == "identity", wt,
            )  # fmt: skip
            return ys[0], LSTMState(h, c)
        if type(cell) is GRUCell:
            (wt,) = self._transposed(cell.weight_hh)
            ys, h, *_ = ext.gru_forward(
                x3, state, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, None,
                cell.reset == "after", wt,
            )  # fmt: skip
            return ys[0], h
        if type(cell) is ElmanCell:
            (wt,) = self._transposed(cell.weight_hh)
            ys, h, *_ = ext.elman_forward(
                x3, state, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, None,
                ACTIVATION_CODES[cell.activation], wt,
            )  # fmt: skip
            return ys[0], h
        assert type(cell) is JordanCell
        wt_yh, wt_hy = self._transposed(cell.weight_yh, cell.weight_hy)
        ys, y, *_ = ext.jordan_forward(
            x3, state, cell.weight_ih, cell.bias_ih, cell.weight_yh, cell.weight_hy,
            cell.bias_hy, None, ACTIVATION_CODES[cell.activation],
            ACTIVATION_CODES[cell.output_activation], wt_yh, wt_hy,
        )  # fmt: skip
        return ys[0], y
