"""How to train a language model: :class:`TrainConfig`, saved as JSON with the run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import _checks
from .._config import JSONConfig

DEFAULT_MINUTES = 3.0
"""The time budget of a run given neither ``steps`` nor ``minutes``."""


@dataclass
class TrainConfig(JSONConfig):
    """How to train (saved as JSON with the run); ``rnnkit train`` takes its defaults from here.

    Attributes:
        batch_size: B parallel streams.
        seq_len: T, characters per chunk (the truncation length of BPTT).
        lr: peak learning rate of AdamW.
        final_lr_ratio: the cosine ends at ``final_lr_ratio · lr``.
        warmup_steps: linear warm-up steps.
        weight_decay: AdamW's decoupled weight decay.
        clip_norm: the gradient's global L2 norm is clipped to this.
        steps: train this many steps (exclusive with ``minutes``).
        minutes: train for this wall-clock time, schedule included (exclusive with ``steps``);
            :data:`DEFAULT_MINUTES` when neither is given.
        val_fraction: the held-out last fraction of the corpus.
        eval_every: steps between held-out evaluations (and one at the end).
        log_every: steps between lines of metrics.jsonl.
        checkpoint_every: steps between checkpoints (and one at the end).
        seed: initial weights, dropout and the epochs' offsets.

    Example:
        >>> TrainConfig().minutes, TrainConfig(steps=10).minutes
        (3.0, None)
        >>> TrainConfig.from_dict({"steps": 10, "batch": 4})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: TrainConfig has unknown keys ['batch']; expected some of [...]
    """

    batch_size: int = 32
    seq_len: int = 64
    lr: float = 3e-3
    final_lr_ratio: float = 0.05
    warmup_steps: int = 30
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    steps: int | None = None
    minutes: float | None = None
    val_fraction: float = 0.1
    eval_every: int = 200
    log_every: int = 20
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "eval_every", "log_every", "checkpoint_every"):
            _checks.positive_int(name, getattr(self, name))
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise TypeError(f"warmup_steps must be an int, got {self.warmup_steps!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.steps is None and self.minutes is None:
            self.minutes = DEFAULT_MINUTES
        if self.steps is not None and self.minutes is not None:
            raise ValueError(
                f"exactly one of steps and minutes must be set, got steps={self.steps}, "
                f"minutes={self.minutes}"
            )
        if self.steps is not None:
            _checks.positive_int("steps", self.steps)
        if self.minutes is not None and not 0 < self.minutes < math.inf:
            raise ValueError(f"minutes must be a positive number, got {self.minutes}")
        for name in ("lr", "clip_norm"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)}")
        _checks.non_negative_float("final_lr_ratio", self.final_lr_ratio, upper=1.0)
        _checks.non_negative_float("weight_decay", self.weight_decay)
        _checks.non_negative_float("val_fraction", self.val_fraction, upper=0.5)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {self.seed!r}")
        if not 0 <= self.seed <= 2**63 - 1:  # what torch's generators take
            raise ValueError(f"seed must be in 0..2**63-1, got {self.seed}")


__all__ = ["DEFAULT_MINUTES", "TrainConfig"]
