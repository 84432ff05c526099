"""The Elman network: the simple recurrent layer whose state is its output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _activations
from ._base import RecurrentCell, StepMasks

#: The values of ``activation``.
ACTIVATIONS = ("tanh", "sigmoid", "relu")


class ElmanCell(RecurrentCell[Tensor]):
    r"""Elman's simple recurrent cell (``torch.nn.RNNCell`` with a sigmoid option).

    .. math::
        h_t = f(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),\qquad y_t = s_t = h_t

    With the dropout family in training: ``x_t -> m_x ⊙ x_t``, ``h_{t-1} -> m_h ⊙ h_{t-1}`` in
    the product, ``W_hh -> M ⊙ W_hh / (1 - p)``, and zoneout mixes ``h_t`` with ``h_{t-1}``.
    No ``layer_norm``: the issue defines it for the gated cells only (for Elman it would be a
    plain LN of the pre-activation, left for later).

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
        input_dropout, recurrent_dropout, weight_drop, zoneout: the dropout family, see
            :class:`~rnnkit.cells.RecurrentCell` (in training only; zoneout's expectation in
            evaluation).

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
            num_chunks=1,
            bias=bias,
            recurrent_init=recurrent_init,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            device=device,
            dtype=dtype,
        )
        self._f = _activations.get(activation, allowed=ACTIVATIONS)
        self.activation = activation
        self.reset_parameters()

    def step(
        self, x: Tensor, state: Tensor, *, masks: StepMasks | None = None
    ) -> tuple[Tensor, Tensor]:
        x, h_in, w_hh = self.masked_inputs(x, state, masks)
        h = self._f(F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h_in, w_hh, self.bias_hh))
        h = self.zone_state(h, state, masks)
        return h, h

    def step_with_gates(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """:meth:`step` and its gates: none (an empty dict), for the same call as gated cells."""
        y, new_state = self.step(x, state)
        return y, new_state, {}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}"
