"""The torch-native route: a cell torch has natively, run through torch's own fused RNN op.

``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh`` and ``torch.rnn_relu`` are the operations
behind ``torch.nn.LSTM``/``GRU``/``RNN`` (oneDNN on the CPU, cuDNN on CUDA). They are called with
the rnnkit cell's own parameters (same names, shapes and gate orders as torch's), so gradients
flow to the cell. The cells torch has: :class:`~rnnkit.LSTMCell` without peepholes and with
``tanh`` cell output, :class:`~rnnkit.GRUCell` with ``reset="after"``, :class:`~rnnkit.ElmanCell`
with ``tanh`` or ``relu``; with or without biases.

Lengths use torch's packed sequences, whose semantics are the contract's: outputs past a length
are zero and the final state is the state after the last real step. Like the fused kernels this
runs forward in time; :class:`~rnnkit.Recurrent` reverses each sequence within its length first.

Example:
    >>> import torch
    >>> from rnnkit import GRUCell
    >>> from rnnkit.recurrent import unroll
    >>> cell = GRUCell(3, 5, dtype=torch.float64)
    >>> x, lengths = torch.randn(2, 4, 3, dtype=torch.float64), torch.tensor([4, 2])
    >>> ys, h = unroll_native(cell, x, cell.init_state(2, dtype=torch.float64), lengths)
    >>> ys_ref, h_ref = unroll(cell, x, cell.init_state(2, dtype=torch.float64), lengths)
    >>> bool(torch.allclose(ys, ys_ref)), bool(torch.allclose(h, h_ref))
    (True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .._state import State
from ..cells import ElmanCell, GRUCell, LSTMCell, LSTMState, RecurrentCell, spec_of

# torch's op per (kind, activation); which configurations torch has is the registry's to say
_OPS = {
    ("lstm", None): torch.lstm,
    ("gru", None): torch.gru,
    ("elman", "tanh"): torch.rnn_tanh,
    ("elman", "relu"): torch.rnn_relu,
}


def native_op(cell: RecurrentCell):
    """Torch's fused op for ``cell``'s configuration, or None if torch has no equivalent."""
    spec = spec_of(cell)
    if spec is None:
        return None
    options = {name: getattr(cell, name) for name in spec.torch_when}
    if spec.torch_equivalent(**options) is None:
        return None
    return _OPS.get((spec.name, options.get("activation")))


def config_name(cell: RecurrentCell) -> str:
    """A short name of the cell's configuration for the dispatch cache, e.g. ``lstm-tanh+bias``."""
    kind = type(cell)
    if kind is LSTMCell:
        name = f"lstm-{cell.cell_activation}" + ("-peephole" if cell.peephole else "")
    elif kind is GRUCell:
        name = f"gru-{cell.reset}"
    elif kind is ElmanCell:
        name = f"elman-{cell.activation}"
    else:
        name = kind.__name__
    return name + ("+bias" if getattr(cell, "bias_ih", None) is not None else "")


def unroll_native(
    cell: RecurrentCell, x: Tensor, state: State, lengths: Tensor | None
) -> tuple[Tensor, State]:
    """Run ``cell`` over ``x`` (B, T, I) from ``state`` with torch's op (forward in time).

    The same contract as :func:`rnnkit.recurrent.unroll`; ``cell`` must have a native op.
    """
    op = native_op(cell)
    if op is None:
        raise ValueError(f"cell must be one torch has natively, got {cell!r}")
    has_bias = cell.bias_ih is not None
    params = [cell.weight_ih, cell.weight_hh] + ([cell.bias_ih, cell.bias_hh] if has_bias else [])
    lstm = op is torch.lstm
    hx: Tensor | tuple[Tensor, Tensor]
    if isinstance(state, LSTMState):
        hx = (state.h.unsqueeze(0), state.c.unsqueeze(0))
    elif isinstance(state, Tensor):
        hx = state.unsqueeze(0)
    else:
        raise TypeError(f"state must be a Tensor or an LSTMState, got {type(state).__name__}")
    if lengths is None or bool((lengths == x.shape[1]).all()):
        out = op(x, hx, params, has_bias, 1, 0.0, False, False, True)
        ys, final = out[0], out[1:]
    else:
        ys, final = _packed(op, x, hx, params, has_bias, lengths, lstm)
    if lstm:
        return ys, LSTMState(final[0].squeeze(0), final[1].squeeze(0))
    return ys, final[0].squeeze(0)


def _packed(op, x, hx, params, has_bias, lengths, lstm):
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, back = packed.sorted_indices, packed.unsorted_indices
    if lstm:
        hx = (hx[0].index_select(1, order), hx[1].index_select(1, order))
    else:
        hx = hx.index_select(1, order)
    out = op(packed.data, packed.batch_sizes, hx, params, has_bias, 1, 0.0, False, False)
    data = PackedSequence(out[0], packed.batch_sizes, order, back)
    ys, _ = pad_packed_sequence(data, batch_first=True, total_length=x.shape[1])
    return ys, tuple(h.index_select(1, back) for h in out[1:])
