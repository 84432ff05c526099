"""What ``rnnkit forecast`` and ``rnnkit task`` share: the recipe dataclass their defaults come
from, its options, and :func:`~rnnkit.train.fit` with progress on stderr."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from ..train.supervised import FitConfig
from ._common import (
    add_option,
    add_threads_option,
    cell_names,
    check_memory,
    positive_float,
    positive_int,
    rnn_bytes,
    seed_int,
)

INITS = ("uniform", "orthogonal")


@dataclass(frozen=True)
class Recipe:
    """The defaults of a command that trains a recurrent network with :func:`~rnnkit.train.fit`.

    Attributes:
        cell: the recurrent cell.
        hidden: units per layer.
        layers: recurrent layers.
        init: initialisation of the recurrent weights, ``uniform`` (torch's) or ``orthogonal``.
        batch_size: examples per step.
        fit: steps, learning rate, clipping, evaluation interval.
        seed: weights and batches.
    """

    cell: str = "lstm"
    hidden: int = 32
    layers: int = 1
    init: str = "uniform"
    batch_size: int = 32
    fit: FitConfig = field(default_factory=FitConfig)
    seed: int = 0


def add_recipe_options(parser: argparse.ArgumentParser, recipe: Recipe) -> None:
    """The model and training options, each defaulting to ``recipe``'s field."""
    model = parser.add_argument_group("model")
    add_option(model, "--cell", recipe, "recurrent cell", choices=cell_names())
    add_option(model, "--hidden", recipe, "units per layer", type=positive_int, metavar="N")
    add_option(model, "--layers", recipe, "recurrent layers", type=positive_int, metavar="N")
    add_option(model, "--init", recipe, "recurrent weight initialisation", choices=INITS)
    run = parser.add_argument_group("training")
    fit = recipe.fit
    add_option(run, "--steps", fit, "optimizer steps", type=positive_int, metavar="N")
    run.add_argument(
        "--minutes",
        type=positive_float,
        metavar="M",
        help="stop after M minutes at the latest (default: no time limit)",
    )
    add_option(run, "--batch-size", recipe, "examples per step", type=positive_int, metavar="B")
    add_option(run, "--lr", fit, "AdamW learning rate", type=positive_float, metavar="LR")
    add_option(
        run,
        "--clip",
        fit,
        "largest gradient norm",
        field="clip_norm",
        type=positive_float,
        metavar="C",
    )
    add_option(
        run,
        "--eval-every",
        fit,
        "steps between held-out evaluations",
        type=positive_int,
        metavar="N",
    )
    add_option(run, "--seed", recipe, "random seed", type=seed_int, metavar="N")
    add_threads_option(run)


def cell_options(args: argparse.Namespace) -> dict[str, Any]:
    """The cell options of ``--init``."""
    return {"recurrent_init": args.init} if args.init != "uniform" else {}


def fit_config(args: argparse.Namespace) -> FitConfig:
    return FitConfig(
        steps=args.steps,
        lr=args.lr,
        clip_norm=args.clip,
        eval_every=args.eval_every,
        max_seconds=None if args.minutes is None else 60.0 * args.minutes,
    )


def check_fit_memory(args: argparse.Namespace, inputs: int, outputs: int, steps: int, flag: str):
    """Refuse a model and batch (``--hidden``, ``--layers``, ``--batch-size`` and the sequence
    length ``steps`` from ``flag``) that need more memory than the machine has."""
    size = rnn_bytes(
        hidden=args.hidden,
        layers=args.layers,
        inputs=inputs,
        outputs=outputs,
        batch=max(args.batch_size, 1000),  # the held-out sets are up to 1000 sequences
        steps=steps,
    )
    check_memory("training this model", size, f"--hidden/--layers/--batch-size/{flag}")


def train_with_progress(model, batches, loss_fn, config: FitConfig, evaluate, desc: str):
    """:func:`~rnnkit.train.fit` with progress on stderr; divergence is bad input (lr too high)."""
    from .._progress import Progress
    from ..train import TrainingDiverged, fit

    last_eval: list[float] = []
    with Progress(config.steps, desc=desc, unit="step") as bar:

        def on_step(step: int, loss: float, evaluated: float | None) -> None:
            if evaluated is not None:
                last_eval.append(evaluated)
            bar.update()
            held = f", held-out {last_eval[-1]:.4g}" if last_eval else ""
            bar.note(f"loss {loss:.4g}{held}")

        try:
            return fit(model, batches, loss_fn, config, evaluate=evaluate, callback=on_step)
        except TrainingDiverged as err:
            raise TrainingDiverged(f"{err}; try a smaller --lr or --clip") from None
