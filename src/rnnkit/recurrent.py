"""Unrolling a cell over time: the reference loop of every recurrent layer."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from . import _checks
from ._state import State, map_state
from .cells._base import RecurrentCell
from .cells._regularise import SequenceMasks

# (cell, x, state, lengths, *, reverse) -> (ys, state) in time order, or None
FusedUnroll = Callable[..., "tuple[Tensor, State] | None"]

# rnnkit.kernels registers its fused whole-sequence path here (kernels sit above this module, so
# it cannot be imported from here). It returns None when the reference loop must run.
_fused_unroll: FusedUnroll | None = None


def set_fused_unroll(fn: FusedUnroll | None) -> None:
    """Install the fast path that :class:`Recurrent` tries before :func:`unroll` (or remove it)."""
    global _fused_unroll
    _fused_unroll = fn


class Recurrent(nn.Module):
    r"""Unroll a cell over a batch of sequences: the recurrent layer.

    .. math::
        (y_t, s_t) = R(x_t, s_{t-1}),\quad t = 1..T \quad(\text{or } T..1 \text{ with reverse})

    Training unrolls this loop and backpropagates through it (BPTT). With ``lengths``, the
    sequences of a padded batch end at their own lengths, as with torch's packed sequences:
    outputs past a length are zero, the final state of a sequence is its state after its last
    real step, and with ``reverse=True`` each sequence runs from its last real step back to its
    first.

    Built-in cells on the CPU run through a fused C++ kernel of the whole sequence
    (:mod:`rnnkit.kernels`), the same function as this loop; ``rnnkit.kernels.mode("reference")``
    forces the loop.

    Args:
        cell: any :class:`~rnnkit.cells.RecurrentCell`.
        reverse: run from the end of each sequence to its start.

    Shapes:
        x: (B, T, I); state: the cell's state for batch B (None means zeros); lengths: (B,) ints in
        [1, T]. Returns ``(ys, state)`` with ys (B, T, O) and the final state.

    Example:
        >>> from rnnkit import LSTMCell
        >>> layer = Recurrent(LSTMCell(3, 8))
        >>> ys, (h, c) = layer(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
        >>> ys.shape, bool(torch.equal(ys[1, 1], h[1])), bool((ys[1, 2:] == 0).all())
        (torch.Size([2, 5, 8]), True, True)
    """

    def __init__(self, cell: RecurrentCell, reverse: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, RecurrentCell):
            raise TypeError(f"cell must be an rnnkit RecurrentCell, got {type(cell).__name__}")
        if not isinstance(reverse, bool):
            raise TypeError(f"reverse must be a bool, got {type(reverse).__name__}")
        self.cell = cell
        self.reverse = reverse

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def init_state(self, batch_size: int, **kwargs) -> State:
        return self.cell.init_state(batch_size, **kwargs)

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        x = _checks.tensor("x", x)
        _checks.shape("x", x, ("batch", "time", self.cell.input_size))
        _checks.same_dtype("x", x, self.cell.dtype)
        B, T, _ = x.shape
        if T == 0:
            raise ValueError("x must have at least one time step, got (batch, 0, features)")
        if lengths is not None:
            lengths = _checks.lengths(lengths, B, T, x.device)
        if state is None:
            state = self.cell.init_state(B, device=x.device, dtype=x.dtype)
        else:
            state = self.cell.check_state(state, B)
        if _fused_unroll is not None:  # the fused path reverses inside its kernel
            fused = _fused_unroll(self.cell, x, state, lengths, reverse=self.reverse)
            if fused is not None:
                return fused
        if self.reverse:
            x = reverse_padded(x, lengths)
        masks = self.cell.draw_masks(B, T, x)  # once per sequence batch (None in evaluation)
        ys, state = unroll(self.cell, x, state, lengths, masks)
        if self.reverse:
            ys = reverse_padded(ys, lengths)
        return ys, state

    def extra_repr(self) -> str:
        return "reverse=True" if self.reverse else ""


def unroll(
    cell: RecurrentCell,
    x: Tensor,
    state: State,
    lengths: Tensor | None,
    masks: SequenceMasks | None = None,
) -> tuple[Tensor, State]:
    """The reference loop: ``cell.step`` once per time step, forward in time.

    ``x`` (B, T, I) is already checked; with ``lengths``, a sequence's state stops changing and
    its outputs are zero once it has ended. ``masks`` (from ``cell.draw_masks``) gives each step
    its dropout masks.
    """
    ys = []
    for t in range(x.shape[1]):
        if masks is None:
            y, new_state = cell.step(x[:, t], state)
        else:
            y, new_state = cell.step(x[:, t], state, masks=masks.at(t))  # type: ignore[call-arg]
        if lengths is None:
            state = new_state
        else:
            alive = (lengths > t).unsqueeze(1)  # (B, 1)
            state = map_state(lambda new, old, a=alive: torch.where(a, new, old), new_state, state)
            y = torch.where(alive, y, torch.zeros((), dtype=y.dtype, device=y.device))
        ys.append(y)
    return torch.stack(ys, dim=1), state  # (B, T, O)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (B, T, F) within its length; padding stays in place.

    Applying it twice gives ``x`` back, so it both prepares the input of a reversed layer and
    puts its outputs back in time order.
    """
    if lengths is None:
        return x.flip(1)
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    last = (lengths - 1).unsqueeze(1)  # (B, 1)
    index = torch.where(t <= last, last - t, t)  # (B, T)
    return x.gather(1, index.unsqueeze(2).expand_as(x))
