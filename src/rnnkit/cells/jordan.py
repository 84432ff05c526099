"""The Jordan network: the previous output, not the hidden layer, is fed back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _activations, _checks
from ._base import RecurrentCell, StepMasks

#: The values of ``activation`` (f) and ``output_activation`` (g).
ACTIVATIONS = ("tanh", "sigmoid", "relu")
OUTPUT_ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")


class JordanCell(RecurrentCell[Tensor]):
    r"""Jordan's recurrent cell: the state is the previous *output*.

    .. math::
        h_t = f(W_{ih} x_t + b_{ih} + W_{yh} y_{t-1}),\qquad
        y_t = g(W_{hy} h_t + b_{hy}),\qquad s_t = y_t

    With the dropout family in training: ``x_t -> m_x ⊙ x_t``, ``y_{t-1} -> m_h ⊙ y_{t-1}`` in
    the recurrent product, ``W_yh -> M ⊙ W_yh / (1 - p)`` (``weight_drop``), and zoneout mixes
    ``y_t`` (the state) with ``y_{t-1}``. No ``layer_norm`` (defined for the gated cells only).

    ``weight_ih`` (H, I) is the input weight W, ``weight_yh`` (H, O) the recurrent weight U that
    feeds the previous output back, and ``weight_hy`` (O, H) with ``bias_hy`` (O) the output layer.

    Args:
        input_size: I.
        hidden_size: H, hidden units.
        output_size: O, output units (and the size of the state).
        activation: f, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        output_activation: g, ``"identity"``, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        bias: learn ``bias_ih`` and ``bias_hy`` (``bias=False`` drops both).
        recurrent_init: ``"uniform"`` (torch's default) or ``"orthogonal"`` (for ``weight_yh``).
        input_dropout, recurrent_dropout, weight_drop, zoneout: the dropout family, see
            :class:`~rnnkit.cells.RecurrentCell` (in training only; zoneout's expectation in
            evaluation).

    Shapes:
        x: (B, I); state: (B, O); returns ``(y, state)``, both (B, O).

    Example:
        >>> cell = JordanCell(3, 8, 2)
        >>> y, s = cell(torch.randn(4, 3))
        >>> y.shape, bool(torch.equal(y, s))
        (torch.Size([4, 2]), True)
    """

    recurrent_weight = "weight_yh"
    weight_yh: Tensor
    weight_hy: Tensor
    bias_hy: Tensor | None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        activation: str = "tanh",
        output_activation: str = "identity",
        *,
        bias: bool = True,
        recurrent_init: str = "uniform",
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_chunks=None,
            bias=bias,
            recurrent_init=recurrent_init,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            device=device,
            dtype=dtype,
        )
        self._output_size = _checks.positive_int("output_size", output_size)
        self._f = _activations.get(activation, allowed=ACTIVATIONS)
        self._g = _activations.get(
            output_activation, argument="output_activation", allowed=OUTPUT_ACTIVATIONS
        )
        self.activation = activation
        self.output_activation = output_activation
        self.add_weight("weight_ih", (hidden_size, input_size))
        self.add_weight("bias_ih", (hidden_size,), present=bias)
        self.add_weight("weight_yh", (hidden_size, output_size))
        self.add_weight("weight_hy", (output_size, hidden_size))
        self.add_weight("bias_hy", (output_size,), present=bias)
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self._output_size

    def state_shapes(self, batch_size: int) -> tuple[int, int]:
        return (batch_size, self._output_size)

    def step(
        self,
        x: Tensor,
        state: Tensor,
        *,
        masks: StepMasks | None = None,
        record: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        x, y_in, w_yh = self.masked_inputs(x, state, masks)
        h = self._f(F.linear(x, self.weight_ih, self.bias_ih) + F.linear(y_in, w_yh))
        y = self._g(F.linear(h, self.weight_hy, self.bias_hy))
        y = self.zone_state(y, state, masks)  # zoneout on the fed-back output, the state
        if record is not None:
            record["h"] = h
        return y, y

    def step_with_gates(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """:meth:`step` and its inner values: no gates, the hidden layer ``h`` (B, H)."""
        values: dict[str, Tensor] = {}
        y, new_state = self.step(x, state, record=values)
        return y, new_state, values

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, {self._output_size}, "
            f"activation={self.activation!r}, output_activation={self.output_activation!r}"
        )
