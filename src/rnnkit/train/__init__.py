"""Training: truncated BPTT, checkpoints, metrics."""

from .checkpoint import CheckpointError
from .supervised import FitConfig, FitResult, fit
from .trainer import (
    TrainConfig,
    Trainer,
    TrainingDiverged,
    bits_per_char,
    learning_rate,
    load_model,
)

__all__ = [
    "CheckpointError",
    "FitConfig",
    "FitResult",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "bits_per_char",
    "fit",
    "learning_rate",
    "load_model",
]
