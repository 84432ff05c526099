"""Seeing inside recurrent networks: gate and state traces, gradient flow through time, units
that track features of a text, and the dynamics of the classic networks.

* :func:`trace` records every gate and state of every recurrent layer at every step.
* :func:`gradient_flow` gives the norm of dL/dh_t for every step t.
* :func:`text_features` and :func:`correlate_units` find the units that track quotes, brackets,
  the column and the indentation.
* :func:`energy_during_recall`, :func:`reservoir_trajectories` and :func:`memory_capacity` look
  into Hopfield and echo state networks.
"""

from ._gradient import gradient_flow
from ._trace import GATES, STATES, LayerTrace, Trace, trace
from .classic import energy_during_recall, memory_capacity, reservoir_trajectories
from .features import FEATURES, UnitFinding, correlate_units, text_features

__all__ = [
    "FEATURES",
    "GATES",
    "STATES",
    "LayerTrace",
    "Trace",
    "UnitFinding",
    "correlate_units",
    "energy_during_recall",
    "gradient_flow",
    "memory_capacity",
    "reservoir_trajectories",
    "text_features",
    "trace",
]
