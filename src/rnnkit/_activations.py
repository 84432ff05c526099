"""Named elementwise activations, so that configs and checkpoints can refer to them by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import _checks


def _identity(x: Tensor) -> Tensor:
    return x


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": _identity,
}


def get(name: str, *, argument: str = "activation", allowed: tuple[str, ...] | None = None):
    """The activation function called ``name``; ``argument`` names the option in errors."""
    _checks.choice(argument, name, allowed or tuple(ACTIVATIONS))
    return ACTIVATIONS[name]
