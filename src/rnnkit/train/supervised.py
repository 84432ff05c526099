r"""A small supervised fit loop for forecasters, classifiers and the synthetic tasks.

Each step draws a batch, computes the loss and takes one
:func:`~rnnkit.train.step.optimizer_step` (backpropagation through time, gradient-norm clipping
to c, NaN stop) of AdamW (Loshchilov & Hutter 2019):

.. math::
    \theta \leftarrow \theta - \eta\,(\hat m / (\sqrt{\hat v} + \epsilon) + \lambda \theta)

A loss or gradient norm that is NaN or Inf stops training at once with
:class:`~rnnkit.train.step.TrainingDiverged`, before the bad step touches the weights.
Text models with carried state have their own trainer (truncated BPTT); this loop draws
independent batches.

Example:
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(1, 1)
    >>> def batch(step):
    ...     x = torch.randn(32, 1)
    ...     return x, 3 * x + 1
    >>> def loss(model, x, y):
    ...     return torch.nn.functional.mse_loss(model(x), y)
    >>> result = fit(model, batch, loss, FitConfig(steps=300, lr=0.05))
    >>> result.steps, result.train_loss[-1] < 1e-3
    (300, True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .. import _checks
from .._config import JSONConfig
from .step import TrainingDiverged, optimizer_step

BatchFn = Callable[[int], tuple[Tensor, Tensor]]
LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


@dataclass
class FitConfig(JSONConfig):
    """Settings of :func:`fit`, saved as JSON with a run.

    Attributes:
        steps: optimizer steps at most.
        lr: AdamW's learning rate η.
        weight_decay: AdamW's decoupled weight decay λ.
        clip_norm: the largest gradient 2-norm c (None: no clipping).
        eval_every: call ``evaluate`` every this many steps (and after the last one).
        max_seconds: stop after this much wall-clock time (None: no limit).
        target: stop as soon as an evaluation is at most this value (None: never).
    """

    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_norm: float | None = 1.0
    eval_every: int = 100
    max_seconds: float | None = None
    target: float | None = None

    def __post_init__(self) -> None:
        _checks.positive_int("steps", self.steps)
        _checks.positive_int("eval_every", self.eval_every)
        for name in ("lr", "clip_norm", "max_seconds"):
            value = getattr(self, name)
            if value is None and name != "lr":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
            if not 0.0 < value < math.inf:
                raise ValueError(f"{name} must be a positive finite number, got {value}")
        _checks.non_negative_float("weight_decay", self.weight_decay)


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        steps: optimizer steps taken.
        seconds: wall-clock time of the loop (evaluations included).
        train_loss: the loss of every step's batch, before that step's update.
        evals: ``(step, value)`` of every evaluation.
        reached_target: an evaluation reached ``config.target``.
    """

    steps: int = 0
    seconds: float = 0.0
    train_loss: list[float] = field(default_factory=list)
    evals: list[tuple[int, float]] = field(default_factory=list)
    reached_target: bool = False

    @property
    def final_eval(self) -> float | None:
        return self.evals[-1][1] if self.evals else None


def fit(
    model: nn.Module,
    batches: BatchFn,
    loss_fn: LossFn,
    config: FitConfig | None = None,
    *,
    evaluate: Callable[[nn.Module], float] | None = None,
    callback: Callable[[int, float, float | None], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> FitResult:
    """Train ``model`` with AdamW on freshly drawn batches.

    Args:
        model: any module; its parameters are optimised.
        batches: ``step -> (x, y)``, called once per step (step counts from 0).
        loss_fn: ``(model, x, y) -> scalar loss``.
        config: the settings (defaults: :class:`FitConfig`).
        evaluate: ``model -> float`` run in eval mode without gradients every
            ``config.eval_every`` steps and after the last one (e.g. a held-out loss).
        callback: ``(step, train_loss, eval_or_None)`` after every step (1-based step), for
            progress bars and logs.
        optimizer: an optimizer over ``model``'s parameters to continue with (e.g. one whose
            state was loaded to resume a run); None makes a fresh AdamW from ``config``.

    Returns:
        a :class:`FitResult`.

    Raises:
        TrainingDiverged: the loss or the gradient norm is not finite.
    """
    config = FitConfig() if config is None else config
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have trainable parameters, got none")
    if optimizer is None:
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    result = FitResult()
    start = time.monotonic()

    def run_eval(step: int) -> float | None:
        if evaluate is None:
            return None
        was_training = model.training
        model.eval()
        with torch.no_grad():
            value = float(evaluate(model))
        model.train(was_training)
        result.evals.append((step, value))
        if config.target is not None and value <= config.target:
            result.reached_target = True
        return value

    model.train()
    for step in range(config.steps):
        x, y = batches(step)
        loss = loss_fn(model, x, y)
        value, _ = optimizer_step(
            optimizer, params, loss, clip_norm=config.clip_norm, step=step + 1
        )
        result.steps = step + 1
        result.train_loss.append(value)
        done = step + 1 == config.steps or (
            config.max_seconds is not None and time.monotonic() - start >= config.max_seconds
        )
        evaluated = None
        if done or (step + 1) % config.eval_every == 0:
            evaluated = run_eval(step + 1)
        if callback is not None:
            callback(step + 1, value, evaluated)
        if done or result.reached_target:
            break
    result.seconds = time.monotonic() - start
    return result


__all__ = ["FitConfig", "FitResult", "TrainingDiverged", "fit"]
