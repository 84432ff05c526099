"""Task models built from rnnkit layers: language model, forecaster, sequence classifier."""

from .classifier import ClassifierConfig, SequenceClassifier
from .forecaster import Forecaster, ForecasterConfig
from .language_model import CharLanguageModel, ModelConfig

__all__ = [
    "CharLanguageModel",
    "ClassifierConfig",
    "Forecaster",
    "ForecasterConfig",
    "ModelConfig",
    "SequenceClassifier",
]
