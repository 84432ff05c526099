"""The gated recurrent unit, with the reset gate after (torch, cuDNN) or before (Cho et al.)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks
from ._base import RecurrentCell, StepMasks
from .lstm import _ln

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

    With ``layer_norm=True`` (this library's definition; eps 1e-5, gains ``ln_*_weight`` start at
    1, biases ``ln_*_bias`` at 0, each 3H), LN before the biases: the input part over its whole
    3H vector, the recurrent part in two groups, r|z (2H) and n (H), because with
    reset="before" the n block multiplies ``r ⊙ h``, which needs r first:

    .. math::
        a &= LN(W x; \gamma_{ih}, \beta_{ih}) + b_{ih} \\
        [r, z] &= \sigma(a_{rz} + LN(U_{rz} h; \gamma_{hh,rz}, \beta_{hh,rz}) + b_{h,rz}) \\
        n &= \tanh(a_n + r \odot (LN(U_n h; \gamma_{hh,n}, \beta_{hh,n}) + b_{hn}))
             \quad\text{reset="after"} \\
        n &= \tanh(a_n + LN(U_n (r \odot h); \gamma_{hh,n}, \beta_{hh,n}) + b_{hn})
             \quad\text{reset="before"}

    and h' as above. Dropout masks and zoneout as in :class:`~rnnkit.cells.RecurrentCell`
    (``m_h`` multiplies h inside the recurrent products only, not in ``z ⊙ h``).

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
        layer_norm: the layer-normalised GRU above.
        input_dropout, recurrent_dropout, weight_drop, zoneout: the dropout family, see
            :class:`~rnnkit.cells.RecurrentCell` (in training only; zoneout's expectation in
            evaluation).

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

    ln_ih_weight: Tensor
    ln_ih_bias: Tensor
    ln_hh_weight: Tensor
    ln_hh_bias: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        reset: str = "after",
        *,
        bias: bool = True,
        recurrent_init: str = "uniform",
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        layer_norm: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_chunks=3,
            bias=bias,
            recurrent_init=recurrent_init,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            device=device,
            dtype=dtype,
        )
        self.reset = _checks.choice("reset", reset, RESETS)
        if not isinstance(layer_norm, bool):
            raise TypeError(f"layer_norm must be a bool, got {type(layer_norm).__name__}")
        self.layer_norm = layer_norm
        if layer_norm:
            for name in ("ln_ih", "ln_hh"):
                self.add_weight(f"{name}_weight", (3 * hidden_size,))
                self.add_weight(f"{name}_bias", (3 * hidden_size,))
        self._candidate = _candidate_after if reset == "after" else _candidate_before
        self.reset_parameters()

    def step(
        self,
        x: Tensor,
        state: Tensor,
        *,
        masks: StepMasks | None = None,
        record: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        x, h_in, w_hh = self.masked_inputs(x, state, masks)
        b_hh = self.bias_hh
        b_hrz = None if b_hh is None else b_hh[: 2 * H]
        b_hn = None if b_hh is None else b_hh[2 * H :]
        w_hn = w_hh[2 * H :]
        if self.layer_norm:
            gi = _plus(
                _ln(F.linear(x, self.weight_ih), self.ln_ih_weight, self.ln_ih_bias), self.bias_ih
            )
            g, b = self.ln_hh_weight, self.ln_hh_bias
            gh_rz = _plus(_ln(F.linear(h_in, w_hh[: 2 * H]), g[: 2 * H], b[: 2 * H]), b_hrz)
            r, z = torch.sigmoid(gi[:, : 2 * H] + gh_rz).chunk(2, dim=1)
            source = h_in if self.reset == "after" else r * h_in
            gh_n = _plus(_ln(F.linear(source, w_hn), g[2 * H :], b[2 * H :]), b_hn)
            n = torch.tanh(gi[:, 2 * H :] + (r * gh_n if self.reset == "after" else gh_n))
        else:
            gi = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 3H)
            gh_rz = F.linear(h_in, w_hh[: 2 * H], b_hrz)
            r, z = torch.sigmoid(gi[:, : 2 * H] + gh_rz).chunk(2, dim=1)
            n = torch.tanh(gi[:, 2 * H :] + self._candidate(h_in, r, w_hn, b_hn))
        h = n + z * (state - n)  # = (1 - z) * n + z * h
        h = self.zone_state(h, state, masks)
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


def _plus(v: Tensor, bias: Tensor | None) -> Tensor:
    return v if bias is None else v + bias
