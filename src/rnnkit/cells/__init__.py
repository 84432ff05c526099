"""Cells: one step of a recurrent layer each, ``(y_t, s_t) = R(x_t, s_{t-1})``."""

from ._base import RecurrentCell
from .elman import ElmanCell
from .gru import GRUCell
from .jordan import JordanCell
from .lstm import LSTMCell, LSTMState

__all__ = ["ElmanCell", "GRUCell", "JordanCell", "LSTMCell", "LSTMState", "RecurrentCell"]
