"""Long short-term memory, with peepholes and the identity cell output as options."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _activations, _checks
from .._state import StateShapes
from ._base import RecurrentCell, orthogonal_blocks, uniform_init


class LSTMState(NamedTuple):
    """The carry of an LSTM: hidden state ``h`` (B, H) and cell state ``c`` (B, H)."""

    h: Tensor
    c: Tensor


class LSTMCell(RecurrentCell[LSTMState]):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber 1997; peepholes: Gers et al. 2002).

    .. math::
        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi} [+ p_i \odot c]) \\
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf} [+ p_f \odot c]) \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        c' &= f \odot c + i \odot g \\
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho} [+ p_o \odot c']) \\
        h' &= o \odot \phi(c')

    with :math:`\phi = \tanh`, or the identity for ``cell_activation="identity"`` (the peephole
    paper's variant). ``weight_ih`` (4H, I) holds the input weights W and ``weight_hh`` (4H, H)
    the recurrent weights U, rows ordered i|f|g|o as in ``torch.nn.LSTMCell``, whose state dict
    loads unchanged. With ``peephole=True`` there is also ``weight_ch`` (3H) = p_i|p_f|p_o.

    Args:
        input_size: I.
        hidden_size: H.
        peephole: add the peephole connections p.
        cell_activation: φ, ``"tanh"`` or ``"identity"``.
        forget_bias: added to the forget gate's ``bias_ih`` at initialisation (only; without
            biases there is nothing to add it to).
        bias: learn ``bias_ih`` and ``bias_hh``.
        recurrent_init: ``"uniform"`` (torch's default) or ``"orthogonal"`` (each gate's block
            of ``weight_hh``).

    Shapes:
        x: (B, I); state: ``LSTMState(h, c)``, each (B, H); returns ``(h', LSTMState(h', c'))``.

    Example:
        >>> cell = LSTMCell(3, 4, peephole=True)
        >>> y, state = cell(torch.randn(2, 3))
        >>> type(state).__name__, state.c.shape, bool(torch.equal(y, state.h))
        ('LSTMState', torch.Size([2, 4]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        peephole: bool = False,
        cell_activation: str = "tanh",
        forget_bias: float = 1.0,
        *,
        bias: bool = True,
        recurrent_init: str = "uniform",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
        if not isinstance(peephole, bool):
            raise TypeError(f"peephole must be a bool, got {type(peephole).__name__}")
        self.cell_activation = cell_activation
        self._phi = _activations.get(
            cell_activation, argument="cell_activation", allowed=("tanh", "identity")
        )
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            raise TypeError(f"forget_bias must be a number, got {type(forget_bias).__name__}")
        self.forget_bias = float(forget_bias)
        self.recurrent_init = _checks.choice(
            "recurrent_init", recurrent_init, ("uniform", "orthogonal")
        )
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        if peephole:
            self.weight_ch = nn.Parameter(torch.empty(3 * hidden_size, **factory))
        else:
            self.register_parameter("weight_ch", None)
        self.reset_parameters()

    @property
    def peephole(self) -> bool:
        return self.weight_ch is not None

    def state_shapes(self, batch_size: int) -> StateShapes:
        shape = (batch_size, self.hidden_size)
        return LSTMState._make((shape, shape))  # the state's structure, shapes at the leaves

    def reset_parameters(self) -> None:
        uniform_init(self, self.hidden_size)
        H = self.hidden_size
        with torch.no_grad():
            if self.recurrent_init == "orthogonal":
                orthogonal_blocks(self.weight_hh, 4)
            if self.bias_ih is not None:
                self.bias_ih[H : 2 * H] += self.forget_bias

    def step(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(
            h, self.weight_hh, self.bias_hh
        )
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        if self.weight_ch is not None:
            p_i, p_f, p_o = self.weight_ch.chunk(3)
            i = i + p_i * c
            f = f + p_f * c
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.weight_ch is not None:
            o = o + p_o * c_new
        h_new = torch.sigmoid(o) * self._phi(c_new)
        return h_new, LSTMState(h_new, c_new)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, peephole={self.peephole}, "
            f"cell_activation={self.cell_activation!r}"
        )
