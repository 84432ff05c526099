"""``rnnkit task``: train on a synthetic long-memory task, compared with its memoryless baseline.

The tasks are Arjovsky et al. (2016)'s protocols: adding (MSE; baseline 1/6 = 0.167) or copy
(cross-entropy; baseline 10 ln 8 / (T + 20) nats). Prints the held-out loss as a percentage
of the baseline, then a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

from ..train.supervised import FitConfig
from ._common import UsageError, add_option, apply_threads, positive_int
from ._fit import Recipe, add_recipe_options, cell_options, fit_config, train_with_progress

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


def run_task(args: argparse.Namespace) -> int:
    import torch

    from ..data import synthetic as syn
    from ..layers import RNN

    T = args.length
    if args.task == "adding" and T < 2:
        raise UsageError(f"--length must be at least 2 for the adding problem, got {T}")
    apply_threads(args)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    held_out_gen = torch.Generator().manual_seed(args.seed + 1_000_003)
    adding = args.task == "adding"
    if adding:
        baseline, unit = syn.ADDING_BASELINE_MSE, "MSE"
        x_val, y_val = syn.adding_problem(1000, T, generator=held_out_gen)
        inputs, outputs = 2, 1
    else:
        baseline, unit = syn.copy_baseline(T), "cross-entropy (nats)"
        seq, y_val = syn.copy_task(500, T, generator=held_out_gen)
        x_val = syn.copy_one_hot(seq)
        inputs, outputs = syn.COPY_INPUT_CATEGORIES, syn.COPY_OUTPUT_CATEGORIES
    net = RNN(
        inputs,
        args.hidden,
        cell=args.cell,
        num_layers=args.layers,
        output_size=outputs,
        **cell_options(args),
    )

    def batches(step: int):
        if adding:
            return syn.adding_problem(args.batch_size, T, generator=gen)
        seq, target = syn.copy_task(args.batch_size, T, generator=gen)
        return syn.copy_one_hot(seq), target

    def loss_fn(model, x, y):
        ys, _ = model(x)
        if adding:
            return torch.nn.functional.mse_loss(ys[:, -1], y)  # (B, 1): read at the last step
        return torch.nn.functional.cross_entropy(ys.reshape(-1, outputs), y.reshape(-1))

    def evaluate(model) -> float:
        return float(loss_fn(model, x_val, y_val))

    print(
        f"{args.task} T={T}: {args.cell.upper()} {args.hidden}x{args.layers}; baseline {unit} "
        f"{baseline:.4g}",
        file=sys.stderr,
    )
    result = train_with_progress(net, batches, loss_fn, fit_config(args), evaluate, args.task)
    final = result.final_eval
    summary = {
        "task": args.task,
        "length": T,
        "cell": args.cell,
        "hidden": args.hidden,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "held_out": final,
        "baseline": baseline,
        "ratio": final / baseline,
    }
    extra = ""
    if not adding:
        with torch.no_grad():
            predicted = net(x_val)[0][:, -syn.COPY_LENGTH :].argmax(dim=2)
        accuracy = float((predicted == y_val[:, -syn.COPY_LENGTH :]).float().mean())
        summary["copied_symbol_accuracy"] = accuracy
        extra = f"; copied symbols right: {100 * accuracy:.1f}% (chance 12.5%)"
    print(
        f"{args.task} T={T}: held-out {unit} {final:.4g} after {result.steps} steps "
        f"({result.seconds:.0f} s); memoryless baseline {baseline:.4g}; "
        f"{100 * final / baseline:.2f}% of baseline{extra}"
    )
    print(json.dumps(summary))
    return 0


__all__ = ["register", "run_task"]
