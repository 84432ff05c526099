r"""The dropout family of the built-in cells: option checks, masks per sequence and per step.

A cell is one step, so it cannot know where a sequence starts. :class:`~rnnkit.Recurrent` asks
the cell for :meth:`RecurrentCell.draw_masks` once per call (one sequence batch) and hands each
step its :class:`StepMasks`; :meth:`RecurrentCell.forward` (one checked step) draws masks for a
sequence of one step. ``step(x, state)`` without masks computes the evaluation function.

Masks (drawn from torch's default generator, in this order, so a seed fixes them):

* ``input_dropout`` p: m_x (B, I) ~ Bernoulli(1 - p) / (1 - p), the same at every step;
* ``recurrent_dropout`` p: m_h (B, S) likewise, on the state where it enters the recurrent
  product (``W_hh (m_h ⊙ h_{t-1})``);
* ``weight_drop`` p: M (rows, cols) of the recurrent weight, one per call for all rows and steps;
* ``zoneout`` z: d (T, B, S) ~ Bernoulli(z) per state, unit and step (1 keeps the previous
  value); in evaluation the expectation ``z ⊙ s_{t-1} + (1 - z) ⊙ s̃_t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def dropout_p(name: str, value: object) -> float:
    """``value`` as a float if it is a dropout probability in [0, 1), else raise naming it."""
    p = _number(name, value)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return p


def zoneout_probs(value: object, states: tuple[str, ...], cell: str) -> tuple[float, ...]:
    """``zoneout`` as one probability per state leaf (z in [0, 1]); a pair only for two states."""
    if isinstance(value, (tuple, list)):
        if len(states) == 1:
            raise ValueError(
                f"zoneout must be one number z for a {cell}, whose state is only h; "
                f"(z_h, z_c) is for a cell with a cell state (LSTM), got {value!r}"
            )
        if len(value) != len(states):
            raise ValueError(
                f"zoneout must be z or a pair (z_{', z_'.join(states)}) for a {cell}, got {value!r}"
            )
        names = [f"zoneout (z_{leaf})" for leaf in states]
        items = list(value)
    else:
        names, items = ["zoneout"], [value]
    probs = []
    for item, name in zip(items, names, strict=True):
        z = _number(name, item)
        if not 0.0 <= z <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {item!r}")
        probs.append(z)
    return tuple(probs) if len(probs) == len(states) else tuple(probs) * len(states)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class StepMasks:
    """What one training step uses: scaled masks (None where the option is off).

    Attributes:
        input: m_x (B, I), multiplies x.
        recurrent: m_h (B, S), multiplies the state entering the recurrent product.
        weight: the dropped recurrent weight ``M ⊙ W / (1 - p)`` (shared by every step).
        zoneout: per state leaf, d (B, S) in {0, 1} (1 keeps the previous value), or None.
    """

    input: Tensor | None
    recurrent: Tensor | None
    weight: Tensor | None
    zoneout: tuple[Tensor | None, ...]


@dataclass(frozen=True)
class SequenceMasks:
    """The masks of one call over a sequence batch; :meth:`at` gives step ``t``'s."""

    input: Tensor | None
    recurrent: Tensor | None
    weight_mask: Tensor | None
    weight: Tensor | None
    zoneout: tuple[Tensor | None, ...]  # each (T, B, S) or None

    def at(self, t: int) -> StepMasks:
        zone = tuple(None if d is None else d[t] for d in self.zoneout)
        return StepMasks(self.input, self.recurrent, self.weight, zone)


def scaled_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """Bernoulli(1 - p) / (1 - p) of ``shape``, in ``like``'s dtype and device."""
    keep = torch.full(shape, 1.0 - p, dtype=like.dtype, device=like.device)
    return torch.bernoulli(keep) / (1.0 - p)


def keep_mask(shape: tuple[int, ...], z: float, like: Tensor) -> Tensor:
    """Bernoulli(z) of ``shape``: 1 where zoneout keeps the previous value."""
    return torch.bernoulli(torch.full(shape, z, dtype=like.dtype, device=like.device))


def zone(new: Tensor, old: Tensor, z: float, d: Tensor | None) -> Tensor:
    """Zoneout of one state leaf: ``d ⊙ old + (1 - d) ⊙ new`` with a mask, else the expectation."""
    if z == 0.0:
        return new
    if d is None:
        return z * old + (1.0 - z) * new
    return torch.where(d.bool(), old, new)  # exact: z = 1 never changes the state
