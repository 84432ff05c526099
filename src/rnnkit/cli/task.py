"""``rnnkit task``: train on a synthetic long-memory task, compared with its memoryless baseline.

The tasks are Arjovsky et al. (2016)'s protocols: adding (MSE; baseline 1/6 = 0.167) or copy
(cross-entropy; baseline 10 ln 8 / (T + 20) nats). Prints the held-out loss as a percentage
of the baseline, then a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..train.supervised import FitConfig
from ._common import UsageError, add_option, apply_threads, positive_int
from ._fit import (
    Recipe,
    add_recipe_options,
    cell_options,
    check_fit_memory,
    fit_config,
    train_with_progress,
)

TASKS = ("adding", "copy")


@dataclass(frozen=True)
class TaskRecipe(Recipe):
    """The defaults of ``rnnkit task`` (see :class:`~rnnkit.cli._fit.Recipe`).

    Attributes:
        length: sequence length (adding) or delay (copy).
    """

    hidden: int = 64
    batch_size: int = 64
    fit: FitConfig = field(default_factory=lambda: FitConfig(steps=2000, lr=3e-3))
    length: int = 100


RECIPE = TaskRecipe()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "task",
        help="train on the adding problem or the copy task and compare with the baseline",
        description=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("task", choices=TASKS, help="the task")
    add_option(
        parser,
        "--length",
        RECIPE,
        "sequence length (adding) or delay (copy)",
        type=positive_int,
        metavar="T",
    )
    add_recipe_options(parser, RECIPE)
    parser.set_defaults(run=run_task)


@dataclass
class Problem:
    """A synthetic task at one length: how to draw batches, the held-out set, the loss and the
    memoryless baseline."""

    task: str
    length: int
    inputs: int
    outputs: int
    baseline: float
    unit: str
    held_out: tuple[Any, Any]
    draw: Callable[[int, Any], tuple[Any, Any]]  # (batch size, generator) -> (x, y)

    def loss(self, model, x, y):
        import torch.nn.functional as F

        ys, _ = model(x)
        if self.task == "adding":
            return F.mse_loss(ys[:, -1], y)  # (B, 1): read at the last step
        return F.cross_entropy(ys.reshape(-1, self.outputs), y.reshape(-1))


def make_problem(task: str, length: int, seed: int) -> Problem:
    import torch

    from ..data import synthetic as syn

    held_out_gen = torch.Generator().manual_seed(
        (seed + 1_000_003) % 2**63
    )  # any accepted seed stays an int64
    if task == "adding":
        if length < 2:
            raise UsageError(f"--length must be at least 2 for the adding problem, got {length}")
        held_out = syn.adding_problem(1000, length, generator=held_out_gen)
        return Problem(
            task,
            length,
            2,
            1,
            syn.ADDING_BASELINE_MSE,
            "MSE",
            held_out,
            lambda batch, gen: syn.adding_problem(batch, length, generator=gen),
        )

    def draw(batch: int, gen):
        seq, target = syn.copy_task(batch, length, generator=gen)
        return syn.copy_one_hot(seq), target

    return Problem(
        task,
        length,
        syn.COPY_INPUT_CATEGORIES,
        syn.COPY_OUTPUT_CATEGORIES,
        syn.copy_baseline(length),
        "cross-entropy (nats)",
        draw(500, held_out_gen),
        draw,
    )


def run_task(args: argparse.Namespace) -> int:
    import torch

    from ..layers import RNN

    check_fit_memory(args, inputs=10, outputs=10, steps=args.length + 20, flag="--length")
    problem = make_problem(args.task, args.length, args.seed)
    apply_threads(args)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    net = RNN(
        problem.inputs,
        args.hidden,
        cell=args.cell,
        num_layers=args.layers,
        output_size=problem.outputs,
        **cell_options(args),
    )
    x_val, y_val = problem.held_out
    name = f"{args.task} T={args.length}"
    print(
        f"{name}: {args.cell.upper()} {args.hidden}x{args.layers}; baseline {problem.unit} "
        f"{problem.baseline:.4g}",
        file=sys.stderr,
    )
    result = train_with_progress(
        net,
        lambda step: problem.draw(args.batch_size, gen),
        problem.loss,
        fit_config(args),
        lambda model: float(problem.loss(model, x_val, y_val)),
        args.task,
    )
    final = result.final_eval
    summary = {
        "task": args.task,
        "length": args.length,
        "cell": args.cell,
        "hidden": args.hidden,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "held_out": final,
        "baseline": problem.baseline,
        "ratio": final / problem.baseline,
    }
    extra = ""
    if args.task == "copy":
        summary["copied_symbol_accuracy"] = accuracy = _copied_right(net, x_val, y_val)
        extra = f"; copied symbols right: {100 * accuracy:.1f}% (chance 12.5%)"
    print(
        f"{name}: held-out {problem.unit} {final:.4g} after {result.steps} steps "
        f"({result.seconds:.0f} s); memoryless baseline {problem.baseline:.4g}; "
        f"{100 * final / problem.baseline:.2f}% of baseline{extra}"
    )
    print(json.dumps(summary))
    return 0


def _copied_right(net, x, y) -> float:
    """The fraction of the copy task's 10 recalled symbols predicted right."""
    import torch

    from ..data.synthetic import COPY_LENGTH

    with torch.no_grad():
        predicted = net(x)[0][:, -COPY_LENGTH:].argmax(dim=2)
    return float((predicted == y[:, -COPY_LENGTH:]).float().mean())


__all__ = ["Problem", "make_problem", "register", "run_task"]
