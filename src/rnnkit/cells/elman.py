"""The Elman network: the simple recurrent layer whose state is its output."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _activations, _checks
from ._base import RecurrentCell, orthogonal_blocks, uniform_init


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
        super().__init__()
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
        self.activation = activation
        self._f = _activations.get(activation, allowed=("tanh", "sigmoid", "relu"))
        _checks.choice("recurrent_init", recurrent_init, ("uniform", "orthogonal", "identity"))
        self.recurrent_init = recurrent_init
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_init(self, self.hidden_size)
        with torch.no_grad():
            if self.recurrent_init == "orthogonal":
                orthogonal_blocks(self.weight_hh, 1)
            elif self.recurrent_init == "identity":
                self.weight_hh.copy_(torch.eye(self.hidden_size))
                if self.bias_ih is not None:
                    self.bias_ih.zero_()
                    self.bias_hh.zero_()

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self._f(
            F.linear(x, self.weight_ih, self.bias_ih)
            + F.linear(state, self.weight_hh, self.bias_hh)
        )
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}"
