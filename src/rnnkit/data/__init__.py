"""Data: corpora, time series and synthetic tasks as tensors ready for recurrent layers."""

from .mackey_glass import mackey_glass
from .text import Corpus, TextBatches, Vocabulary, default_corpus, read_text, split_ids

__all__ = [
    "Corpus",
    "TextBatches",
    "Vocabulary",
    "default_corpus",
    "mackey_glass",
    "read_text",
    "split_ids",
]
