r"""Gradient flow through time: how much of a loss's gradient reaches each step's state."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..recurrent import reverse_padded
from ._trace import trace


def gradient_flow(
    module: nn.Module,
    x: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    *,
    layer: int = 0,
    lengths: Tensor | None = None,
) -> Tensor:
    r""":math:`\lVert \partial L / \partial h_t \rVert_2` for every step t of one layer.

    The loss is ``L = loss_fn(trace(module, x).output)`` (see :func:`trace` for what the output
    is: for a task model, that of its recurrent part). The derivative is the total one, through
    every later step, with respect to the layer's hidden state :math:`h_t` (for a Jordan layer
    its hidden layer h), and the norm is over the batch and the units. A curve that falls
    towards t = 0 by orders of magnitude is the vanishing gradient of Bengio et al. (1994); one
    that grows, the exploding gradient.

    Args:
        module: anything :func:`trace` takes, in its current mode.
        x: its input.
        loss_fn: output -> scalar tensor.
        layer: index into ``trace(module, x).layers`` (a bidirectional layer counts twice).
        lengths: as for :func:`trace`.

    Returns:
        (T,) float tensor of norms, time-aligned with ``x`` (also for a reversed layer).

    Example:
        >>> from rnnkit import ElmanCell, Recurrent
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <...>
        >>> net = Recurrent(ElmanCell(2, 8))
        >>> norms = gradient_flow(net, torch.randn(3, 20, 2), lambda ys: ys[:, -1].sum())
        >>> norms.shape, bool(norms[0] < norms[-1])
        (torch.Size([20]), True)
    """
    with torch.enable_grad():
        tr = trace(module, x, lengths=lengths)
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise TypeError(f"layer must be an int, got {type(layer).__name__} {layer!r}")
        if not -len(tr.layers) <= layer < len(tr.layers):
            raise ValueError(
                f"layer must be in [0, {len(tr.layers) - 1}] for this module, got {layer}"
            )
        chosen = tr.layers[layer]
        loss = loss_fn(tr.output)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {_what(loss)}")
        grads = torch.autograd.grad(loss, chosen.steps_h, allow_unused=True)
    per_step = [torch.zeros_like(h) if g is None else g for g, h in zip(grads, chosen.steps_h)]
    stacked = torch.stack(per_step, dim=1)  # (B, T, H) in the order the loop ran
    if chosen.reverse:
        stacked = reverse_padded(stacked, lengths)
    return stacked.detach().pow(2).sum(dim=(0, 2)).sqrt()


def _what(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
