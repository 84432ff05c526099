"""Recurrent networks not trained by backpropagation: Hopfield networks and echo state networks."""

from .capacity import CapacityConfig, CapacityResult, capacity_curve
from .continuous_hopfield import ContinuousHopfieldNetwork
from .esn import EchoStateNetwork, ESNConfig
from .hopfield import HopfieldNetwork
from .modern_hopfield import ModernHopfieldNetwork

__all__: list[str] = [
    "CapacityConfig",
    "CapacityResult",
    "ContinuousHopfieldNetwork",
    "ESNConfig",
    "EchoStateNetwork",
    "HopfieldNetwork",
    "ModernHopfieldNetwork",
    "capacity_curve",
]
