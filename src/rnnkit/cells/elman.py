"""The Elman network: the simple recurrent layer whose state is its output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _activations
from ._base import RecurrentCell

#: The values of ``activation``.
ACTIVATIONS = ("tanh", "sigmoid", "relu")


class ElmanCell(RecurrentCell[Tensor]):
    r"""Elman's simple recurrent cell (``torch.nn.RNNCell`` with a sigmoid option).

    .. math::
        h_t = f(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),\qquad y_t = s_t = h_t

    ``weight_ih`` is the input weight W of the recursive function, ``weight_hh`` the recurrent
    weight U. Parameter names and shapes are those of ``torch.nn.RNNCell``, so its state dict
    loads unchanged.

    Args:
        input_size: I, features of ``x_t``.
        hidden_size: H, units.
        activation: f, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        bias: learn ``bias_ih`` and ``bias_hh``.
        recurrent_init: ``"uniform"`` (torch's default, U(-1/sqrt(H), 1/sqrt(H)) for every
            parameter), ``"orthogonal"`` (orthogonal ``weight_hh``) or ``"identity"``
            (``weight_hh = I`` and zero biases: the IRNN of Le et al. 2015, meant for relu).

    Shapes:
        x: (B, I); state: (B, H); returns ``(y, state)``, both (B, H).

    Example:
        >>> cell = ElmanCell(3, 5, activation="relu", recurrent_init="identity")
        >>> y, h = cell(torch.randn(2, 3))
        >>> y.shape, bool(torch.equal(y, h))
        (torch.Size([2, 5]), True)
        >>> bool(torch.equal(cell.weight_hh, torch.eye(5)))
        True
    """

    recurrent_inits = ("uniform", "orthogonal", "identity")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        activation: str = "tanh",
        *,
        bias: bool = True,
        recurrent_init: str = "uniform",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_chunks=1,
            bias=bias,
            recurrent_init=recurrent_init,
            device=device,
            dtype=dtype,
        )
        self._f = _activations.get(activation, allowed=ACTIVATIONS)
        self.activation = activation
        self.reset_parameters()

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self._f(
            F.linear(x, self.weight_ih, self.bias_ih)
            + F.linear(state, self.weight_hh, self.bias_hh)
        )
        return h, h

    def step_with_gates(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """:meth:`step` and its gates: none (an empty dict), for the same call as gated cells."""
        y, new_state = self.step(x, state)
        return y, new_state, {}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}"
