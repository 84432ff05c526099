"""rnnkit: recurrent neural networks as recursive functions ``(y_t, s_t) = R(x_t, s_{t-1})``.

Cells are one step of R; :class:`Recurrent` unrolls a cell over time; :class:`Stack`,
:class:`Bidirectional` and :class:`Readout` compose layers; :class:`RNN` is the common network
in one line; :func:`from_torch` and :func:`to_torch` convert to and from ``torch.nn``.
"""

from . import kernels  # registers the fused path with Recurrent
from .cells import ElmanCell, GRUCell, JordanCell, LSTMCell, LSTMState, RecurrentCell
from .interop import from_torch, to_torch
from .layers import RNN, Bidirectional, Readout, Stack, make_cell
from .recurrent import Recurrent
from .streaming import Stream

__version__ = "0.1.0"

__all__ = [
    "RNN",
    "Bidirectional",
    "ElmanCell",
    "GRUCell",
    "JordanCell",
    "LSTMCell",
    "LSTMState",
    "Readout",
    "Recurrent",
    "RecurrentCell",
    "Stack",
    "Stream",
    "from_torch",
    "kernels",
    "make_cell",
    "to_torch",
]
