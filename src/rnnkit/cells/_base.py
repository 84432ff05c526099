"""What every cell shares: validation of one step and the zero state."""

from __future__ import annotations

import math
from typing import Any, Generic, TypeVar, cast

import torch
from torch import Tensor, nn

from .. import _checks
from .._state import State, StateShapes, leaves, map_state

S = TypeVar("S", bound=State)  # the state type of one cell: Tensor, LSTMState, ...


class RecurrentCell(nn.Module, Generic[S]):
    """One step of a recurrent layer, ``(y_t, s_t) = R(x_t, s_{t-1})``.

    Subclasses define :meth:`step` (the math, unchecked) and :meth:`state_shapes`; ``forward``
    validates its arguments once and calls ``step``. A time loop never lives in a cell: use
    :class:`rnnkit.Recurrent` to unroll one. ``S`` is the cell's state type (``Tensor``,
    ``LSTMState``); ``state_shapes`` gives the same structure with a shape at each leaf.

    Attributes:
        input_size: features of ``x_t``.
        hidden_size: units of the layer.
        output_size: features of ``y_t`` (``hidden_size`` except for Jordan cells).
    """

    input_size: int
    hidden_size: int

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def state_shapes(self, batch_size: int) -> StateShapes:
        """The shape of every leaf of the state, in the state's structure."""
        return (batch_size, self.hidden_size)

    def init_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> S:
        """Zeros in the structure of the state; device and dtype default to the parameters'."""
        _checks.positive_int("batch_size", batch_size)
        ref = next(self.parameters())
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        return cast(S, _zeros_like_shapes(self.state_shapes(batch_size), device, dtype))

    def step(self, x: Tensor, state: S) -> tuple[Tensor, S]:
        """The math of one step, without argument checks. ``x``: (B, I)."""
        raise NotImplementedError

    def check_input(self, x: object, name: str = "x") -> Tensor:
        x = _checks.tensor(name, x)
        _checks.shape(name, x, ("batch", self.input_size))
        _checks.same_dtype(name, x, self.dtype)
        return x

    def check_state(self, state: object, batch_size: int, name: str = "state") -> S:
        expected = self.state_shapes(batch_size)
        try:
            if not _same_structure(state, expected):
                raise TypeError(name)
            pairs = list(zip(leaves(cast(State, state)), _shape_leaves(expected), strict=True))
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be {_describe(expected)} for this {type(self).__name__}, "
                f"got {_describe_value(state)}"
            ) from None
        for leaf, shape in pairs:
            _checks.tensor(name, leaf)
            _checks.shape(name, leaf, shape)
            _checks.same_dtype(name, leaf, self.dtype)
        return cast(S, _as_structure(state, expected))  # e.g. a plain (h, c) tuple -> LSTMState

    def forward(self, x: Tensor, state: S | None = None) -> tuple[Tensor, S]:
        """One checked step: ``x`` (B, I) and ``state`` (or None for zeros) -> ``(y, state)``."""
        x = self.check_input(x)
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        else:
            state = self.check_state(state, x.shape[0])
        return self.step(x, state)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def uniform_init(module: nn.Module, hidden_size: int) -> None:
    """torch.nn's default for recurrent cells: every parameter U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.uniform_(-bound, bound)


def orthogonal_blocks(weight: Tensor, blocks: int) -> None:
    """Make each of ``blocks`` row blocks of ``weight`` (one per gate) an orthogonal matrix."""
    with torch.no_grad():
        for part in weight.chunk(blocks, dim=0):
            nn.init.orthogonal_(part)


def _zeros_like_shapes(
    shapes: StateShapes, device: torch.device | str, dtype: torch.dtype
) -> State:
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return torch.zeros(shapes, device=device, dtype=dtype)
    items = [_zeros_like_shapes(s, device, dtype) for s in shapes]
    return type(shapes)(*items) if hasattr(shapes, "_fields") else tuple(items)


def _same_structure(value: object, shapes: StateShapes) -> bool:
    """Whether ``value`` nests like ``shapes``: a Tensor where a Tensor is expected, etc."""
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return isinstance(value, Tensor)
    return (
        isinstance(value, (tuple, list))
        and len(value) == len(shapes)
        and all(_same_structure(v, s) for v, s in zip(value, shapes))
    )


def _as_structure(value: Any, shapes: StateShapes) -> State:
    """``value`` (checked by :func:`_same_structure`) rebuilt with the types of ``shapes``."""
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return value
    items = [_as_structure(v, s) for v, s in zip(value, shapes)]
    return type(shapes)(*items) if hasattr(shapes, "_fields") else tuple(items)


def _shape_leaves(shapes: StateShapes) -> list[tuple[int, ...]]:
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return [shapes]
    return [leaf for s in shapes for leaf in _shape_leaves(s)]


def _describe(shapes: StateShapes) -> str:
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return "a Tensor " + _checks.shape_text(shapes)
    inner = ", ".join(_describe(s) for s in shapes)
    return f"{type(shapes).__name__}({inner})"


def _describe_value(value: object) -> str:
    if isinstance(value, Tensor):
        return "a Tensor " + _checks.shape_text(tuple(value.shape))
    if isinstance(value, tuple):
        return f"{type(value).__name__}({', '.join(_describe_value(v) for v in value)})"
    return type(value).__name__


__all__ = ["RecurrentCell", "map_state"]
