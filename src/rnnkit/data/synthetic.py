r"""Synthetic long-memory tasks with their published protocols: the adding problem, the copy task.

Both are the benchmarks of Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural Networks"
(ICML 2016), section 4; the adding problem goes back to Hochreiter & Schmidhuber (1997). Each
generator draws a fresh batch from a ``torch.Generator`` so that runs are reproducible, and each
task comes with the loss of the best strategy that has no memory: a network beats the baseline
only by remembering across the whole sequence.

**Adding problem** (``adding_problem``), length T. Input (B, T, 2): feature 0 holds values
drawn uniformly from [0, 1]; feature 1 is a marker that is 0 everywhere except at exactly two
steps, one drawn uniformly from the first half ``[0, T//2)`` and one from the second half
``[T//2, T)``. The target (B, 1) is the sum of the two marked values,

.. math::
    y = \sum_t x_{t,0}\, x_{t,1}.

Predicting the constant 1 (the mean of the sum) gives MSE = Var(u_1 + u_2) = 2/12 = 1/6 ≈ 0.167
(:data:`ADDING_BASELINE_MSE`).

**Copy task** (``copy_task``), delay T. Ten categories a_0..a_9: a_0 is the blank, a_1..a_8 the
symbols, a_9 the delimiter. An input sequence has T + 20 entries:

=================  ===========================  =============================
steps              input                        target
=================  ===========================  =============================
0 .. 9             10 symbols, uniform in 1..8  blank (0)
10 .. T+8          T - 1 blanks (0)             blank (0)
T+9                the delimiter (9)            blank (0)
T+10 .. T+19       10 blanks (0)                the 10 symbols, in order
=================  ===========================  =============================

so the target is T + 10 blanks followed by the first 10 inputs. The loss is the cross-entropy
of the category predicted at every step, averaged over all T + 20 steps (targets take the 9
values 0..8). A network without memory predicts the blank for the first T + 10 steps (loss 0)
and a uniform guess over the 8 symbols for the last 10 (ln 8 each), hence the memoryless
baseline

.. math::
    \mathcal{L}_0 = \frac{10 \ln 8}{T + 20}\ \text{nats}\quad(0.1733 \text{ at } T = 100).

Example:
    >>> import torch
    >>> x, y = adding_problem(4, 50, generator=torch.Generator().manual_seed(0))
    >>> x.shape, y.shape, x[..., 1].sum(dim=1).tolist()
    (torch.Size([4, 50, 2]), torch.Size([4, 1]), [2.0, 2.0, 2.0, 2.0])
    >>> seq, target = copy_task(2, 100, generator=torch.Generator().manual_seed(0))
    >>> seq.shape, bool(torch.equal(target[:, -10:], seq[:, :10])), round(copy_baseline(100), 4)
    (torch.Size([2, 120]), True, 0.1733)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _checks

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of always predicting 1, the mean of the sum of two U[0, 1] values."""

COPY_BLANK = 0
COPY_DELIMITER = 9
COPY_SYMBOLS = 8
COPY_LENGTH = 10
COPY_INPUT_CATEGORIES = 10
"""Input categories of the copy task: blank 0, symbols 1..8, delimiter 9."""
COPY_OUTPUT_CATEGORIES = 9
"""Target categories of the copy task: blank 0, symbols 1..8 (the delimiter is never a target)."""


def adding_problem(
    batch_size: int,
    length: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """A batch of the adding problem (see the module docstring for the protocol).

    Args:
        batch_size: B.
        length: T, at least 2 (one marker in each half).
        generator: the source of randomness (None: torch's global generator).
        dtype: of the returned tensors.

    Returns:
        ``(x, y)``: x (B, T, 2) with values in feature 0 and markers in feature 1; y (B, 1) the
        sum of the two marked values.

    Example:
        >>> x, y = adding_problem(3, 10, generator=torch.Generator().manual_seed(1))
        >>> bool(torch.allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(dim=1)))
        True
    """
    _checks.positive_int("batch_size", batch_size)
    _checks.positive_int("length", length)
    if length < 2:
        raise ValueError(f"length must be at least 2 (one marker in each half), got {length}")
    half = length // 2
    values = torch.rand(batch_size, length, generator=generator, dtype=torch.float64)
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, length, (batch_size,), generator=generator)
    marks = torch.zeros(batch_size, length, dtype=torch.float64)
    rows = torch.arange(batch_size)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=2)  # (B, T, 2)
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (B, 1)
    return x.to(dtype), y.to(dtype)


def copy_task(
    batch_size: int,
    length: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """A batch of the copy task with delay T = ``length`` (protocol in the module docstring).

    Args:
        batch_size: B.
        length: T, at least 1: the number of steps between the end of the symbols and the end of
            the delimiter (T - 1 blanks, then the delimiter).
        generator: the source of randomness (None: torch's global generator).

    Returns:
        ``(inputs, targets)``, both int64 (B, T + 20): input categories in 0..9 (feed them as
        ``copy_one_hot(inputs)``), target categories in 0..8.

    Example:
        >>> seq, target = copy_task(1, 3, generator=torch.Generator().manual_seed(2))
        >>> seq[0, 10:].tolist(), target[0, :13].tolist()
        ([0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    """
    _checks.positive_int("batch_size", batch_size)
    _checks.positive_int("length", length)
    total = length + 2 * COPY_LENGTH
    symbols = torch.randint(
        1, COPY_SYMBOLS + 1, (batch_size, COPY_LENGTH), generator=generator
    )  # (B, 10)
    inputs = torch.full((batch_size, total), COPY_BLANK, dtype=torch.long)
    inputs[:, :COPY_LENGTH] = symbols
    inputs[:, length + COPY_LENGTH - 1] = COPY_DELIMITER
    targets = torch.full((batch_size, total), COPY_BLANK, dtype=torch.long)
    targets[:, -COPY_LENGTH:] = symbols
    return inputs, targets


def copy_one_hot(inputs: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot encode copy-task inputs: int (B, L) in 0..9 -> (B, L, 10) of ``dtype``.

    Example:
        >>> copy_one_hot(torch.tensor([[9, 0]]))[0].argmax(dim=1).tolist()
        [9, 0]
    """
    if not isinstance(inputs, Tensor) or inputs.dtype != torch.long:
        got = inputs.dtype if isinstance(inputs, Tensor) else type(inputs).__name__
        raise TypeError(f"inputs must be an int64 tensor of copy-task categories, got {got}")
    if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= COPY_INPUT_CATEGORIES):
        raise ValueError(
            f"inputs must hold categories in 0..{COPY_INPUT_CATEGORIES - 1}, "
            f"got values in {int(inputs.min())}..{int(inputs.max())}"
        )
    return torch.nn.functional.one_hot(inputs, COPY_INPUT_CATEGORIES).to(dtype)


def copy_baseline(length: int) -> float:
    """The memoryless cross-entropy of the copy task, ``10 ln 8 / (T + 20)`` nats per step.

    Example:
        >>> round(copy_baseline(100), 5)
        0.17329
    """
    _checks.positive_int("length", length)
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (length + 2 * COPY_LENGTH)


__all__ = [
    "ADDING_BASELINE_MSE",
    "COPY_BLANK",
    "COPY_DELIMITER",
    "COPY_INPUT_CATEGORIES",
    "COPY_LENGTH",
    "COPY_OUTPUT_CATEGORIES",
    "COPY_SYMBOLS",
    "adding_problem",
    "copy_baseline",
    "copy_one_hot",
    "copy_task",
]
