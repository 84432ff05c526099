"""The Jordan network: the previous output, not the hidden layer, is fed back."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _activations, _checks
from ._base import RecurrentCell, orthogonal_blocks, uniform_init


class JordanCell(RecurrentCell[Tensor]):
    r"""Jordan's recurrent cell: the state is the previous *output*.

    .. math::
        h_t = f(W_{ih} x_t + b_{ih} + W_{yh} y_{t-1}),\qquad
        y_t = g(W_{hy} h_t + b_{hy}),\qquad s_t = y_t

    ``weight_ih`` (H, I) is the input weight W, ``weight_yh`` (H, O) the recurrent weight U that
    feeds the previous output back, and ``weight_hy`` (O, H) with ``bias_hy`` (O) the output layer.

    Args:
        input_size: I.
        hidden_size: H, hidden units.
        output_size: O, output units (and the size of the state).
        activation: f, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        output_activation: g, ``"identity"``, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        recurrent_init: ``"uniform"`` (torch's default) or ``"orthogonal"`` (for ``weight_yh``).

    Shapes:
        x: (B, I); state: (B, O); returns ``(y, state)``, both (B, O).

    Example:
        >>> cell = JordanCell(3, 8, 2)
        >>> y, s = cell(torch.randn(4, 3))
        >>> y.shape, bool(torch.equal(y, s))
        (torch.Size([4, 2]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        activation: str = "tanh",
        output_activation: str = "identity",
        *,
        recurrent_init: str = "uniform",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
        self._output_size = _checks.positive_int("output_size", output_size)
        self.activation = activation
        self.output_activation = output_activation
        self._f = _activations.get(activation, allowed=("tanh", "sigmoid", "relu"))
        self._g = _activations.get(output_activation, argument="output_activation")
        _checks.choice("recurrent_init", recurrent_init, ("uniform", "orthogonal"))
        self.recurrent_init = recurrent_init
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory))
        self.weight_yh = nn.Parameter(torch.empty(hidden_size, output_size, **factory))
        self.weight_hy = nn.Parameter(torch.empty(output_size, hidden_size, **factory))
        self.bias_hy = nn.Parameter(torch.empty(output_size, **factory))
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self._output_size

    def state_shapes(self, batch_size: int) -> tuple[int, int]:
        return (batch_size, self._output_size)

    def reset_parameters(self) -> None:
        uniform_init(self, self.hidden_size)
        if self.recurrent_init == "orthogonal":
            orthogonal_blocks(self.weight_yh, 1)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self._f(F.linear(x, self.weight_ih, self.bias_ih) + F.linear(state, self.weight_yh))
        y = self._g(F.linear(h, self.weight_hy, self.bias_hy))
        return y, y

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, {self._output_size}, "
            f"activation={self.activation!r}, output_activation={self.output_activation!r}"
        )
