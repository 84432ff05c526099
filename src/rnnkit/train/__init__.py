"""Training: truncated BPTT, checkpoints, metrics."""

from .checkpoint import CheckpointError
from .trainer import TrainConfig, Trainer, bits_per_char, learning_rate, load_model

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "Trainer",
    "bits_per_char",
    "learning_rate",
    "load_model",
]
