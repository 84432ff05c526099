"""Data: corpora, time series and synthetic tasks as tensors ready for recurrent layers."""

from .mackey_glass import mackey_glass

__all__ = ["mackey_glass"]
