"""States as small trees: a Tensor, or a (named) tuple of states.

A cell's carry is a Tensor (Elman, GRU, Jordan) or a NamedTuple of Tensors (``LSTMState(h, c)``);
a :class:`~rnnkit.Stack` nests one per layer in a tuple, a :class:`~rnnkit.Bidirectional` a
``(forward, backward)`` pair. These helpers map over such trees without knowing which cell made
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, Union

from torch import Tensor

if TYPE_CHECKING:
    from .cells.lstm import LSTMState

# A NamedTuple of Tensors (LSTMState) is a tuple of States too; it is named here for readers.
State: TypeAlias = Union[Tensor, "LSTMState", tuple["State", ...]]

# The structure of a state with a shape tuple, e.g. (batch, hidden), at each leaf: what
# ``RecurrentCell.state_shapes`` returns (an LSTMState of two shapes for an LSTM).
StateShapes: TypeAlias = tuple[Any, ...]


def map_state(fn: Callable[..., Tensor], first: State, *rest: State) -> State:
    """Apply ``fn`` leaf by leaf to states of the same structure.

    Example:
        >>> import torch
        >>> a, b = (torch.ones(2), (torch.zeros(1),)), (torch.ones(2), (torch.ones(1),))
        >>> map_state(torch.add, a, b)
        (tensor([2., 2.]), (tensor([1.]),))
    """
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
