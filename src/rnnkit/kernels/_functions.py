"""autograd Functions around the C++ kernels: one per cell family, whole sequences at once.

Each Function takes the batch-first input (B, T, I), the initial state, the cell's parameters
and the lengths, and returns the batch-first outputs and the final state; its backward calls the
fused backward kernel. They are first-order only (``once_differentiable``): double backward
through a fused layer raises, while the reference path supports it.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

ACTIVATION_CODES = {"identity": 0, "tanh": 1, "sigmoid": 2, "relu": 3}


class LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch, lengths, identity):
        ys, h, c, hs, cs, gates, tc, xt = ext.lstm_forward(
            x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch, lengths, identity, None, None
        )
        ctx.ext, ctx.identity, ctx.has_bias = ext, identity, b_ih is not None
        ctx.save_for_backward(xt, hs, cs, gates, tc, w_ih, w_hh, w_ch, lengths)
        return ys.transpose(0, 1), h, c

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_h: Tensor, g_c: Tensor):
        xt, hs, cs, gates, tc, w_ih, w_hh, w_ch, lengths = ctx.saved_tensors
        dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_ch = ctx.ext.lstm_backward(
            g_ys, g_h, g_c, xt, hs, cs, gates, tc, w_ih, w_hh, ctx.has_bias, w_ch, lengths,
            ctx.identity,
        )  # fmt: skip
        return None, dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_ch, None, None


class GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after):
        ys, h, hs, acts, extra, xt = ext.gru_forward(
            x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reset_after, None, None
        )
        ctx.ext, ctx.reset_after, ctx.has_bias = ext, reset_after, b_ih is not None
        ctx.save_for_backward(xt, hs, acts, extra, w_ih, w_hh, lengths)
        return ys.transpose(0, 1), h

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_h: Tensor):
        xt, hs, acts, extra, w_ih, w_hh, lengths = ctx.saved_tensors
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = ctx.ext.gru_backward(
            g_ys, g_h, xt, hs, acts, extra, w_ih, w_hh, ctx.has_bias, lengths, ctx.reset_after
        )
        return None, dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None


class ElmanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, activation):
        ys, h, hs, xt = ext.elman_forward(
            x, h0, w_ih, w_hh, b_ih, b_hh, lengths, activation, None, None
        )
        ctx.ext, ctx.activation, ctx.has_bias = ext, activation, b_ih is not None
        ctx.save_for_backward(xt, hs, w_ih, w_hh, lengths)
        return ys.transpose(0, 1), h

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_h: Tensor):
        xt, hs, w_ih, w_hh, lengths = ctx.saved_tensors
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = ctx.ext.elman_backward(
            g_ys, g_h, xt, hs, w_ih, w_hh, ctx.has_bias, lengths, ctx.activation
        )
        return None, dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None


class JordanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext: ModuleType, x, y0, w_ih, b_ih, w_yh, w_hy, b_hy, lengths, f, g):
        ctx.has_bias = b_ih is not None
        if not ctx.has_bias:  # the Jordan kernel takes bias tensors: zeros are no bias
            b_ih, b_hy = w_ih.new_zeros(w_ih.shape[0]), w_hy.new_zeros(w_hy.shape[0])
        ys, y, ss, hid, xt = ext.jordan_forward(
            x, y0, w_ih, b_ih, w_yh, w_hy, b_hy, lengths, f, g, None, None, None
        )
        ctx.ext, ctx.f, ctx.g = ext, f, g
        ctx.save_for_backward(xt, ss, hid, w_ih, w_yh, w_hy, lengths)
        return ys.transpose(0, 1), y

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ys: Tensor, g_y: Tensor):
        xt, ss, hid, w_ih, w_yh, w_hy, lengths = ctx.saved_tensors
        dx, dy, dw_ih, db_ih, dw_yh, dw_hy, db_hy = ctx.ext.jordan_backward(
            g_ys, g_y, xt, ss, hid, w_ih, w_yh, w_hy, lengths, ctx.f, ctx.g
        )
        if not ctx.has_bias:
            db_ih = db_hy = None
        return None, dx, dy, dw_ih, db_ih, dw_yh, dw_hy, db_hy, None, None, None
