"""rnnkit: recurrent neural networks as recursive functions ``(y_t, s_t) = R(x_t, s_{t-1})``.

Cells are one step of R; :class:`Recurrent` unrolls a cell over time; :class:`Stack`,
:class:`Bidirectional` and :class:`Readout` compose layers; :class:`RNN` is the common network
in one line; :data:`CELLS` (the registry of cell kinds, with :data:`VARIANTS` and
:func:`make_cell`) knows every built-in cell; :func:`from_torch` and :func:`to_torch` convert
to and from ``torch.nn``.
"""

from . import kernels  # registers the fused path with Recurrent
from .cells import (
    CELLS,
    VARIANTS,
    CellSpec,
    CellVariant,
    ElmanCell,
    GRUCell,
    JordanCell,
    LSTMCell,
    LSTMState,
    RecurrentCell,
    cell_names,
    get_spec,
    make_cell,
)
from .interop import from_torch, to_torch
from .layers import RNN, Bidirectional, Readout, Stack
from .recurrent import Recurrent
from .streaming import Stream

__version__ = "0.1.0"

__all__ = [
    "CELLS",
    "RNN",
    "VARIANTS",
    "Bidirectional",
    "CellSpec",
    "CellVariant",
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
    "cell_names",
    "from_torch",
    "get_spec",
    "kernels",
    "make_cell",
    "to_torch",
]
