"""Long short-term memory, with peepholes and the identity cell output as options."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _activations
from .._state import StateShapes
from ._base import RecurrentCell, finite_float

#: The values of ``cell_activation`` (φ).
CELL_ACTIVATIONS = ("tanh", "identity")


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

    weight_ch: Tensor | None

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
        super().__init__(
            input_size,
            hidden_size,
            num_chunks=4,
            bias=bias,
            recurrent_init=recurrent_init,
            device=device,
            dtype=dtype,
        )
        if not isinstance(peephole, bool):
            raise TypeError(f"peephole must be a bool, got {type(peephole).__name__}")
        self._phi = _activations.get(
            cell_activation, argument="cell_activation", allowed=CELL_ACTIVATIONS
        )
        self.cell_activation = cell_activation
        self.forget_bias = finite_float("forget_bias", forget_bias)
        self.add_weight("weight_ch", (3 * hidden_size,), present=peephole)
        self.reset_parameters()

    @property
    def peephole(self) -> bool:
        return self.weight_ch is not None

    def state_shapes(self, batch_size: int) -> StateShapes:
        shape = (batch_size, self.hidden_size)
        return LSTMState._make((shape, shape))  # the state's structure, shapes at the leaves

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias_ih is not None:
            H = self.hidden_size
            with torch.no_grad():
                self.bias_ih[H : 2 * H] += self.forget_bias

    def step(
        self, x: Tensor, state: LSTMState, *, record: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, LSTMState]:
        h, c = state
        gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(
            h, self.weight_hh, self.bias_hh
        )
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        if self.weight_ch is not None:
            p_i, p_f, p_o = self.weight_ch.chunk(3)
            i = i + p_i * c
            f = f + p_f * c
        i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
        c_new = f * c + i * g
        if self.weight_ch is not None:
            o = o + p_o * c_new
        o = torch.sigmoid(o)
        h_new = o * self._phi(c_new)
        if record is not None:
            record.update(i=i, f=f, g=g, o=o)
        return h_new, LSTMState(h_new, c_new)

    def step_with_gates(
        self, x: Tensor, state: LSTMState
    ) -> tuple[Tensor, LSTMState, dict[str, Tensor]]:
        """:meth:`step` and its gates after activation: ``i, f, g, o``, each (B, H)."""
        gates: dict[str, Tensor] = {}
        y, new_state = self.step(x, state, record=gates)
        return y, new_state, gates

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, peephole={self.peephole}, "
            f"cell_activation={self.cell_activation!r}"
        )
