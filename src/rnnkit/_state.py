"""States as small trees: a Tensor, or a (named) tuple of states.

A cell's carry is a Tensor (Elman, GRU, Jordan) or a NamedTuple (``LSTMState(h, c)``); stacks and
bidirectional layers nest them in tuples. These helpers map over such trees without knowing
which cell made them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

State = Any  # Tensor | tuple[State, ...] | NamedTuple of Tensors


def map_state(fn: Callable[..., Tensor], first: State, *rest: State) -> State:
    """Apply ``fn`` leaf by leaf to states of the same structure."""
    if isinstance(first, Tensor):
        return fn(first, *rest)
    if isinstance(first, tuple):
        items = [map_state(fn, *parts) for parts in zip(first, *rest, strict=True)]
        return type(first)(*items) if hasattr(first, "_fields") else tuple(items)
    raise TypeError(f"state must be a Tensor or a tuple of Tensors, got {type(first).__name__}")


def leaves(state: State) -> list[Tensor]:
    """The tensors of a state, depth first."""
    if isinstance(state, Tensor):
        return [state]
    return [leaf for part in state for leaf in leaves(part)]
