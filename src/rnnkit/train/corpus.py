"""A corpus made ready for training: encoded, split into training and held-out characters, and
checked to be long enough for one batch of a :class:`~rnnkit.train.config.TrainConfig`."""

from __future__ import annotations

from torch import Tensor

from ..data.text import Corpus, Vocabulary, split_ids
from .config import TrainConfig


def prepare_corpus(
    corpus: Corpus, vocabulary: Vocabulary, config: TrainConfig
) -> tuple[Tensor, Tensor]:
    """Encode ``corpus`` and split it into training and held-out indices, checked for size.

    Example:
        >>> from rnnkit.data.text import read_text
        >>> corpus = read_text(None)
        >>> vocab = Vocabulary.from_text(corpus.text)
        >>> train, val = prepare_corpus(corpus, vocab, TrainConfig())
        >>> len(vocab) > 90, round(len(val) / (len(train) + len(val)), 2)
        (True, 0.1)
    """
    ids = vocabulary.encode(corpus.text)
    train, val = split_ids(ids, config.val_fraction)
    needed = config.batch_size * config.seq_len + config.seq_len
    if len(train) < needed:
        raise ValueError(
            f"corpus must have at least {needed} characters for training (batch_size × seq_len "
            f"+ seq_len) after holding out {config.val_fraction:.0%}, got {len(train)} of "
            f"{len(ids)}; use a longer text or smaller --batch-size/--seq-len"
        )
    if len(val) < 2:
        raise ValueError(
            f"corpus must leave at least 2 held-out characters (val_fraction "
            f"{config.val_fraction}), got {len(val)}"
        )
    return train, val


__all__ = ["prepare_corpus"]
