"""Long short-term memory, with peepholes and the identity cell output as options."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _activations
from .._state import StateShapes
from ._base import RecurrentCell, StepMasks, finite_float

#: The epsilon of every layer norm of the cells.
LN_EPS = 1e-5
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

    With ``layer_norm=True`` (Ba, Kiros & Hinton 2016), each LN over its whole vector, eps 1e-5:

    .. math::
        [i, f, g, o]_{pre} &= LN(W x; \gamma_{ih}, \beta_{ih}) + LN(U h; \gamma_{hh}, \beta_{hh})
            + b_{ih} + b_{hh} \\
        c' &= f \odot c + i \odot g \quad\text{(carried unnormalised)} \\
        h' &= o \odot \phi(LN(c'; \gamma_c, \beta_c))

    with parameters ``ln_ih_weight``, ``ln_ih_bias``, ``ln_hh_weight``, ``ln_hh_bias`` (4H each),
    ``ln_c_weight``, ``ln_c_bias`` (H); gains start at 1, biases at 0. Zoneout
    ``(z_h, z_c)`` mixes each of h', c' with h, c (a single z applies to both).

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
        layer_norm: the layer-normalised LSTM above.
        input_dropout, recurrent_dropout, weight_drop, zoneout: the dropout family, see
            :class:`~rnnkit.cells.RecurrentCell` (in training only; zoneout's expectation in
            evaluation).

    Shapes:
        x: (B, I); state: ``LSTMState(h, c)``, each (B, H); returns ``(h', LSTMState(h', c'))``.

    Example:
        >>> cell = LSTMCell(3, 4, peephole=True)
        >>> y, state = cell(torch.randn(2, 3))
        >>> type(state).__name__, state.c.shape, bool(torch.equal(y, state.h))
        ('LSTMState', torch.Size([2, 4]), True)
    """

    weight_ch: Tensor | None
    ln_ih_weight: Tensor
    ln_ih_bias: Tensor
    ln_hh_weight: Tensor
    ln_hh_bias: Tensor
    ln_c_weight: Tensor
    ln_c_bias: Tensor
    zoneout_states = ("h", "c")

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
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        layer_norm: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_chunks=4,
            bias=bias,
            recurrent_init=recurrent_init,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
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
        if not isinstance(layer_norm, bool):
            raise TypeError(f"layer_norm must be a bool, got {type(layer_norm).__name__}")
        self.layer_norm = layer_norm
        if layer_norm:
            for name, size in (("ln_ih", 4 * hidden_size), ("ln_hh", 4 * hidden_size)):
                self.add_weight(f"{name}_weight", (size,))
                self.add_weight(f"{name}_bias", (size,))
            self.add_weight("ln_c_weight", (hidden_size,))
            self.add_weight("ln_c_bias", (hidden_size,))
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
        self,
        x: Tensor,
        state: LSTMState,
        *,
        masks: StepMasks | None = None,
        record: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, LSTMState]:
        h, c = state
        x, h_in, w_hh = self.masked_inputs(x, h, masks)
        if self.layer_norm:
            gates = _ln(F.linear(x, self.weight_ih), self.ln_ih_weight, self.ln_ih_bias) + _ln(
                F.linear(h_in, w_hh), self.ln_hh_weight, self.ln_hh_bias
            )
            if self.bias_ih is not None and self.bias_hh is not None:
                gates = gates + self.bias_ih + self.bias_hh
        else:
            gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h_in, w_hh, self.bias_hh)
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
        c_out = _ln(c_new, self.ln_c_weight, self.ln_c_bias) if self.layer_norm else c_new
        h_new = o * self._phi(c_out)
        if record is not None:
            record.update(i=i, f=f, g=g, o=o)
        new = self.zone_state(LSTMState(h_new, c_new), state, masks)
        return new.h, new

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


def _ln(v: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Layer norm over the last dimension with eps 1e-5 (Ba, Kiros & Hinton 2016)."""
    return F.layer_norm(v, (v.shape[-1],), weight, bias, eps=LN_EPS)
