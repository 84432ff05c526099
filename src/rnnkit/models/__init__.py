"""Task models built from rnnkit layers: language model, forecaster, sequence classifier."""

from .language_model import CharLanguageModel, ModelConfig

__all__ = [
    "CharLanguageModel",
    "ModelConfig",
]
