"""Data: corpora, time series and synthetic tasks as tensors ready for recurrent layers."""

from .mackey_glass import mackey_glass
from .series import Scaler, read_csv_column, sliding_windows
from .synthetic import adding_problem, copy_baseline, copy_one_hot, copy_task
from .text import Corpus, TextBatches, Vocabulary, default_corpus, read_text, split_ids

__all__ = [
    "Corpus",
    "Scaler",
    "TextBatches",
    "Vocabulary",
    "adding_problem",
    "copy_baseline",
    "copy_one_hot",
    "copy_task",
    "default_corpus",
    "mackey_glass",
    "read_csv_column",
    "read_text",
    "sliding_windows",
    "split_ids",
]
