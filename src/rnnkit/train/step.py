r"""One optimizer step, the same for every trainer of the package: loss -> finite check ->
backpropagation -> gradient-norm clipping -> finite check -> update.

.. math::
    g \leftarrow g \cdot \min(1, c / \lVert g \rVert_2)

A loss or a gradient norm that is NaN or Inf raises :class:`TrainingDiverged` before the bad
step touches the weights, so the last checkpoint (or the caller's model) stays usable.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> loss = model(torch.ones(1, 2)).sum() * float("nan")
    >>> optimizer_step(opt, list(model.parameters()), loss, clip_norm=1.0, step=7)
    Traceback (most recent call last):
    rnnkit.train.step.TrainingDiverged: training stopped at step 7: the loss is nan
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN or infinite: training stops, checkpoints stay."""


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    params: Sequence[Tensor],
    loss: Tensor,
    *,
    clip_norm: float | None,
    step: int,
) -> tuple[float, float]:
    """Backpropagate ``loss``, clip the gradients of ``params`` and update them.

    Args:
        optimizer: the optimizer over ``params`` (its learning rate already set for this step).
        params: the parameters whose global gradient 2-norm is clipped.
        loss: a scalar tensor with a graph to ``params``.
        clip_norm: the largest gradient norm c; None: no clipping (the norm is still checked).
        step: the 1-based number of this step, for the error message.

    Returns:
        ``(loss, gradient norm before clipping)`` as floats.

    Raises:
        TrainingDiverged: the loss or the gradient norm is not finite (nothing was updated).
    """
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingDiverged(f"training stopped at step {step}: the loss is {value}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    # With no clipping, an infinite bound still returns the norm for the NaN check.
    bound = math.inf if clip_norm is None else clip_norm
    norm = float(torch.nn.utils.clip_grad_norm_(params, bound))
    if not math.isfinite(norm):
        raise TrainingDiverged(
            f"training stopped at step {step}: the gradient norm is {norm} (loss {value:.4g})"
        )
    optimizer.step()
    return value, norm


__all__ = ["TrainingDiverged", "optimizer_step"]
