r"""Learning-rate schedules: a linear warm-up, then a cosine from the peak down to a floor.

.. math::
    \eta(s, p) = \min\Bigl(1, \frac{s + 1}{W}\Bigr)\,\Bigl(\eta_{low} + (\eta_{peak} - \eta_{low})
    \,\tfrac12\bigl(1 + \cos(\pi \min(p, 1))\bigr)\Bigr)

with ``s`` the 0-based step, ``W`` the warm-up steps (no warm-up when 0), ``p`` in [0, 1] the
part of the run done (its steps or its time budget) and ``η_low = final_ratio · η_peak``.
"""

from __future__ import annotations

import math

from .config import TrainConfig


def warmup_cosine(
    peak: float, step: int, progress: float, *, warmup_steps: int, final_ratio: float
) -> float:
    """The learning rate of ``step`` when ``progress`` of the run is done (formula above).

    Example:
        >>> warmup_cosine(1.0, 4, 0.0, warmup_steps=10, final_ratio=0.0)
        0.5
        >>> warmup_cosine(1.0, 50, 0.5, warmup_steps=10, final_ratio=0.0)
        0.5
    """
    low = final_ratio * peak
    cosine = low + (peak - low) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return cosine * warm


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """The learning rate of ``step`` under ``config``'s ``lr``, ``warmup_steps`` and
    ``final_lr_ratio``, when ``progress`` in [0, 1] of the run is done.

    Example:
        >>> c = TrainConfig(lr=1.0, final_lr_ratio=0.0, warmup_steps=10, steps=100)
        >>> learning_rate(c, 4, 0.0), learning_rate(c, 50, 0.5), learning_rate(c, 99, 1.0)
        (0.5, 0.5, 0.0)
    """
    return warmup_cosine(
        config.lr,
        step,
        progress,
        warmup_steps=config.warmup_steps,
        final_ratio=config.final_lr_ratio,
    )


__all__ = ["learning_rate", "warmup_cosine"]
