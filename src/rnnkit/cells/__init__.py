"""Cells: one step of a recurrent layer each, ``(y_t, s_t) = R(x_t, s_{t-1})``.

:mod:`rnnkit.cells._registry` (re-exported here) is the one table of the built-in cells: kinds,
options, torch equivalents, fused support and the named variants.
"""

from ._base import RecurrentCell
from ._registry import (
    ALIASES,
    CELLS,
    VARIANTS,
    CellOption,
    CellSpec,
    CellVariant,
    cell_names,
    get_spec,
    make_cell,
    spec_of,
)
from .elman import ElmanCell
from .gru import GRUCell
from .jordan import JordanCell
from .lstm import LSTMCell, LSTMState

__all__ = [
    "ALIASES",
    "CELLS",
    "VARIANTS",
    "CellOption",
    "CellSpec",
    "CellVariant",
    "ElmanCell",
    "GRUCell",
    "JordanCell",
    "LSTMCell",
    "LSTMState",
    "RecurrentCell",
    "cell_names",
    "get_spec",
    "make_cell",
    "spec_of",
]
