"""The gated recurrent unit, with the reset gate after (torch, cuDNN) or before (Cho et al.)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks
from ._base import RecurrentCell

#: The values of ``reset``: where the reset gate applies.
RESETS = ("after", "before")


class GRUCell(RecurrentCell[Tensor]):
    r"""Gated recurrent unit (Cho et al. 2014) in both reset placements.

    .. math::
        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))
             \quad\text{reset="after" (torch.nn.GRU, cuDNN)} \\
        n &= \tanh(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn})
             \quad\text{reset="before" (Cho et al., the seed)} \\
        h' &= (1 - z) \odot n + z \odot h

    The seed's update gate :math:`\Gamma_u` is :math:`1 - z`. ``weight_ih`` (3H, I) holds the
    input weights W and ``weight_hh`` (3H, H) the recurrent weights U, rows ordered r|z|n as in
    ``torch.nn.GRUCell``, whose state dict loads unchanged (with ``reset="after"`` it is the same
    function).

    Args:
        input_size: I.
        hidden_size: H.
        reset: ``"after"`` or ``"before"``, where the reset gate applies (see above).
        bias: learn ``bias_ih`` and ``bias_hh``.
        recurrent_init: ``"uniform"`` (torch's default) or ``"orthogonal"`` (each gate's block
            of ``weight_hh``).

    Shapes:
        x: (B, I); state: (B, H); returns ``(y, state)``, both (B, H).

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <...>
        >>> after, before = GRUCell(2, 4), GRUCell(2, 4, reset="before")
        >>> before.load_state_dict(after.state_dict())
        <All keys matched successfully>
        >>> x, h = torch.randn(3, 2), torch.randn(3, 4)
        >>> bool(torch.allclose(after(x, h)[0], before(x, h)[0]))
        False
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        reset: str = "after",
        *,
        bias: bool = True,
        recurrent_init: str = "uniform",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_chunks=3,
            bias=bias,
            recurrent_init=recurrent_init,
            device=device,
            dtype=dtype,
        )
        self.reset = _checks.choice("reset", reset, RESETS)
        self._candidate = _candidate_after if reset == "after" else _candidate_before
        self.reset_parameters()

    def step(
        self, x: Tensor, state: Tensor, *, record: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        gi = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 3H)
        b_hh = self.bias_hh
        gh_rz = F.linear(state, self.weight_hh[: 2 * H], None if b_hh is None else b_hh[: 2 * H])
        r, z = torch.sigmoid(gi[:, : 2 * H] + gh_rz).chunk(2, dim=1)
        w_hn = self.weight_hh[2 * H :]
        b_hn = None if b_hh is None else b_hh[2 * H :]
        n = torch.tanh(gi[:, 2 * H :] + self._candidate(state, r, w_hn, b_hn))
        h = n + z * (state - n)  # = (1 - z) * n + z * h
        if record is not None:
            record.update(r=r, z=z, n=n)
        return h, h

    def step_with_gates(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """:meth:`step` and its gates after activation: ``r, z, n``, each (B, H)."""
        gates: dict[str, Tensor] = {}
        y, new_state = self.step(x, state, record=gates)
        return y, new_state, gates

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset={self.reset!r}"


def _candidate_after(h: Tensor, r: Tensor, w_hn: Tensor, b_hn: Tensor | None) -> Tensor:
    return r * F.linear(h, w_hn, b_hn)


def _candidate_before(h: Tensor, r: Tensor, w_hn: Tensor, b_hn: Tensor | None) -> Tensor:
    return F.linear(r * h, w_hn, b_hn)
