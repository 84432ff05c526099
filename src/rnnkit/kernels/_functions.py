"""The fused cells: one :class:`FusedSpec` per built-in cell, registered in :data:`SPECS`.

A spec holds everything rnnkit knows about a cell's kernels: its autograd Function (the whole
sequence forward and the fused backward), its ``unroll`` (the cell's parameters and state into
the Function and back) and its ``bind_step`` (one streaming step through the step kernel, with
the parameters prepared once). The Functions take the batch-first input (B, T, I), the initial
state, the parameters, the lengths and ``reverse`` (run each sequence from its last real step to
its first, inside the kernel) and return the batch-first outputs in time order and the final
state. They are first-order only (``once_differentiable``): double backward through a fused
layer raises, while the reference path supports it. The activation codes come from the
extension (``ext.ACTIVATION_CODES``), defined once in ``csrc/common.h``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .._state import State
from ..cells import ElmanCell, GRUCell, JordanCell, LSTMCell, LSTMState, RecurrentCell

StepFn = Callable[[Tensor, State], tuple[Tensor, State]]


@dataclass(frozen=True)
class FusedSpec:
    """The kernels of one cell class: its autograd Function, its unroll
    ``(ext, cell, x, state, lengths, reverse, w_rec=None) -> (ys, state)`` (``w_rec``: a
    recurrent weight to use instead of the cell's, e.g. weight-dropped) and its step binding
    ``(ext, cell) -> step``, where ``step(x (B, I), state) -> (y, state)`` runs without autograd
    on the cell's current parameters."""

    function: type[torch.autograd.Function]
    unroll: Callable[..., tuple[Tensor, State]]
    bind_step: Callable[..., StepFn]


def _t(w: Tensor) -> Tensor:
    return w.detach().t().contiguous()


def _detached(cell: RecurrentCell) -> dict[str, Tensor | None]:
    return {name: (None if v is None else v.detach()) for name, v in cell._parameters.items()}


def _sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return None if a is None or b is None else a + b


# ------------------------------------------------------------------------------------------ LSTM


class LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, ext: ModuleType, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch, lengths, reverse, identity
    ):
        ys, h, c, hs, cs, gates, tc, xt = ext.lstm_forward(
            x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch, lengths, reverse, identity
        )
        ctx.ext, ctx.identity, ctx.has_bias, ctx.reverse = ext, identity, b_ih is not None, reverse
        ctx.save_for_backward(xt, hs, cs, gates, tc, w_ih, w_hh, w_ch, lengths)
        return ys, h, c

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_h: Tensor, g_c: Tensor):
        xt, hs, cs, gates, tc, w_ih, w_hh, w_ch, lengths = ctx.saved_tensors
        dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_ch = ctx.ext.lstm_backward(
            g_ys, g_h, g_c, xt, hs, cs, gates, tc, w_ih, w_hh, ctx.has_bias, w_ch, lengths,
            ctx.reverse, ctx.identity,
        )  # fmt: skip
        return None, dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_ch, None, None, None


def _lstm_unroll(ext, cell: LSTMCell, x, state, lengths, reverse, w_rec=None):
    w_hh = cell.weight_hh if w_rec is None else w_rec
    ys, h, c = LSTMFunction.apply(
        ext, x, state.h, state.c, cell.weight_ih, w_hh, cell.bias_ih, cell.bias_hh,
        cell.weight_ch, lengths, reverse, cell.cell_activation == "identity",
    )  # fmt: skip
    return ys, LSTMState(h, c)


def _lstm_step(ext, cell: LSTMCell) -> StepFn:
    p = _detached(cell)
    args = (_t(cell.weight_ih), _t(cell.weight_hh), _sum(p["bias_ih"], p["bias_hh"]),
            p["weight_ch"], cell.cell_activation == "identity")  # fmt: skip

    def step(x, state):
        h, c = ext.lstm_step(x, state.h, state.c, *args)
        return h, LSTMState(h, c)

    return step


# ------------------------------------------------------------------------------------------- GRU


class GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, after):
        ys, h, hs, acts, extra, xt = ext.gru_forward(
            x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, after
        )
        ctx.ext, ctx.after, ctx.has_bias, ctx.reverse = ext, after, b_ih is not None, reverse
        ctx.save_for_backward(xt, hs, acts, extra, w_ih, w_hh, lengths)
        return ys, h

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_h: Tensor):
        xt, hs, acts, extra, w_ih, w_hh, lengths = ctx.saved_tensors
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = ctx.ext.gru_backward(
            g_ys, g_h, xt, hs, acts, extra, w_ih, w_hh, ctx.has_bias, lengths, ctx.reverse,
            ctx.after,
        )  # fmt: skip
        return None, dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def _gru_unroll(ext, cell: GRUCell, x, state, lengths, reverse, w_rec=None):
    w_hh = cell.weight_hh if w_rec is None else w_rec
    return GRUFunction.apply(
        ext, x, state, cell.weight_ih, w_hh, cell.bias_ih, cell.bias_hh, lengths,
        reverse, cell.reset == "after",
    )  # fmt: skip


def _gru_step(ext, cell: GRUCell) -> StepFn:
    p = _detached(cell)
    args = (_t(cell.weight_ih), _t(cell.weight_hh), p["bias_ih"], p["bias_hh"],
            cell.reset == "after")  # fmt: skip

    def step(x, state):
        h = ext.gru_step(x, state, *args)
        return h, h

    return step


# ----------------------------------------------------------------------------------------- Elman


class ElmanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, act):
        ys, h, hs, xt = ext.elman_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, act)
        ctx.ext, ctx.act, ctx.has_bias, ctx.reverse = ext, act, b_ih is not None, reverse
        ctx.save_for_backward(xt, hs, w_ih, w_hh, lengths)
        return ys, h

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_h: Tensor):
        xt, hs, w_ih, w_hh, lengths = ctx.saved_tensors
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = ctx.ext.elman_backward(
            g_ys, g_h, xt, hs, w_ih, w_hh, ctx.has_bias, lengths, ctx.reverse, ctx.act
        )
        return None, dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def _elman_unroll(ext, cell: ElmanCell, x, state, lengths, reverse, w_rec=None):
    w_hh = cell.weight_hh if w_rec is None else w_rec
    return ElmanFunction.apply(
        ext, x, state, cell.weight_ih, w_hh, cell.bias_ih, cell.bias_hh, lengths,
        reverse, ext.ACTIVATION_CODES[cell.activation],
    )  # fmt: skip


def _elman_step(ext, cell: ElmanCell) -> StepFn:
    p = _detached(cell)
    args = (_t(cell.weight_ih), _t(cell.weight_hh), _sum(p["bias_ih"], p["bias_hh"]),
            ext.ACTIVATION_CODES[cell.activation])  # fmt: skip

    def step(x, state):
        h = ext.elman_step(x, state, *args)
        return h, h

    return step


# ---------------------------------------------------------------------------------------- Jordan


class JordanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, y0, w_ih, b_ih, w_yh, w_hy, b_hy, lengths, reverse, f, g):
        ctx.has_bias = b_ih is not None
        if not ctx.has_bias:  # the Jordan kernel takes bias tensors: zeros are no bias
            b_ih, b_hy = w_ih.new_zeros(w_ih.shape[0]), w_hy.new_zeros(w_hy.shape[0])
        ys, y, ss, hid, xt = ext.jordan_forward(
            x, y0, w_ih, b_ih, w_yh, w_hy, b_hy, lengths, reverse, f, g
        )
        ctx.ext, ctx.f, ctx.g, ctx.reverse = ext, f, g, reverse
        ctx.save_for_backward(xt, ss, hid, w_ih, w_yh, w_hy, lengths)
        return ys, y

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_y: Tensor):
        xt, ss, hid, w_ih, w_yh, w_hy, lengths = ctx.saved_tensors
        dx, dy, dw_ih, db_ih, dw_yh, dw_hy, db_hy = ctx.ext.jordan_backward(
            g_ys, g_y, xt, ss, hid, w_ih, w_yh, w_hy, lengths, ctx.reverse, ctx.f, ctx.g
        )
        if not ctx.has_bias:
            db_ih = db_hy = None
        return None, dx, dy, dw_ih, db_ih, dw_yh, dw_hy, db_hy, None, None, None, None


def _jordan_unroll(ext, cell: JordanCell, x, state, lengths, reverse, w_rec=None):
    codes = ext.ACTIVATION_CODES
    w_yh = cell.weight_yh if w_rec is None else w_rec
    return JordanFunction.apply(
        ext, x, state, cell.weight_ih, cell.bias_ih, w_yh, cell.weight_hy,
        cell.bias_hy, lengths, reverse, codes[cell.activation], codes[cell.output_activation],
    )  # fmt: skip


def _jordan_step(ext, cell: JordanCell) -> StepFn:
    p, codes = _detached(cell), ext.ACTIVATION_CODES
    b_ih, b_hy = p["bias_ih"], p["bias_hy"]
    if b_ih is None or b_hy is None:  # the Jordan kernel takes bias tensors: zeros are no bias
        b_ih = cell.weight_ih.new_zeros(cell.hidden_size)
        b_hy = cell.weight_hy.new_zeros(cell.output_size)
    args = (_t(cell.weight_ih), b_ih, _t(cell.weight_yh), _t(cell.weight_hy), b_hy,
            codes[cell.activation], codes[cell.output_activation])  # fmt: skip

    def step(x, state):
        y = ext.jordan_step(x, state, *args)
        return y, y

    return step


SPECS: dict[type, FusedSpec] = {
    LSTMCell: FusedSpec(LSTMFunction, _lstm_unroll, _lstm_step),
    GRUCell: FusedSpec(GRUFunction, _gru_unroll, _gru_step),
    ElmanCell: FusedSpec(ElmanFunction, _elman_unroll, _elman_step),
    JordanCell: FusedSpec(JordanFunction, _jordan_unroll, _jordan_step),
}
