"""``rnnkit train``: train a character language model and keep its run directory.

With no options: an LSTM on the built-in corpus (Python's documentation topics) for 3 minutes;
every default is the field of :class:`~rnnkit.models.language_model.ModelConfig` or
:class:`~rnnkit.train.config.TrainConfig`. ``--resume DIR`` continues a run exactly.

Several processes (DDP, :mod:`rnnkit.train.distributed`): ``rnnkit train --nproc N ...`` on one
machine starts ``torchrun --standalone --nproc-per-node N -m rnnkit train ...`` itself; on several
machines run ``rnnkit train --nproc N --nnodes M --rdzv-endpoint HOST:PORT ...`` on each (or
torchrun directly, with its own options); the run directory must then be on a shared disk.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _ranks
from ._common import (
    UsageError,
    add_option,
    add_out_option,
    add_threads_option,
    apply_threads,
    cell_names,
    check_memory,
    default_of,
    new_run_dir,
    positive_float,
    positive_int,
    probability,
    rnn_bytes,
    seed_int,
    show,
)
from ._text import corpus_of_run, load_corpus

MODEL_FIELDS = ("cell", "hidden_size", "num_layers", "embed_size", "dropout", "tie_weights")
# Options of every cell, saved in config.json as the model's cell_options.
CELL_FIELDS = ("input_dropout", "recurrent_dropout", "weight_drop", "zoneout", "layer_norm")
TRAIN_FIELDS = (
    *("batch_size", "seq_len", "lr", "seed", "checkpoint_every", "eval_every"),
    *("log_every", "steps", "minutes"),
)
# What a resumed run may change; the rest defines the run (corpus, model, data order, seed).
CHANGE_ON_RESUME = ("steps", "minutes", "checkpoint_every", "eval_every", "log_every")
FLAGS: dict[str, str] = {}  # dest -> --flag, for messages


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..models.language_model import ModelConfig
    from ..train.config import DEFAULT_MINUTES, TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="train a character language model",
        description=(
            "Train a character-level language model with truncated BPTT; by default an LSTM on "
            "the built-in corpus (Python's documentation topics) for 3 minutes. The run "
            "directory (--out) gets config.json, model.safetensors, metrics.jsonl, loss.png and "
            "checkpoints/; --resume DIR continues it with the losses it would have had. "
            "Progress goes to stderr: a bar on a terminal, a plain line every 10 s otherwise."
        ),
    )

    def option(group, flag, source, text, dest, **kwargs):
        FLAGS[dest] = flag
        add_option(group, flag, source, text, field=dest, dest=dest, given_only=True, **kwargs)

    data = parser.add_argument_group("data")
    data.add_argument(
        "--text", metavar="PATH", help="UTF-8 text file or folder (default: the built-in corpus)"
    )
    FLAGS["text"] = "--text"
    ints = {"type": positive_int, "metavar": "N"}
    model = parser.add_argument_group("model")
    option(model, "--cell", ModelConfig, "recurrent cell", "cell", choices=cell_names())
    option(model, "--hidden", ModelConfig, "units per layer", "hidden_size", **ints)
    option(model, "--layers", ModelConfig, "recurrent layers", "num_layers", **ints)
    option(model, "--embed", ModelConfig, "embedding size", "embed_size", **ints)
    option(
        model, "--dropout", ModelConfig, "dropout rate", "dropout", type=probability, metavar="P"
    )
    option(
        model,
        "--tie-weights",
        ModelConfig,
        "the readout reuses the embedding (sets --embed to --hidden)",
        "tie_weights",
        action="store_true",
    )
    for flag, text in (
        ("--input-dropout", "variational dropout on each layer's input, one mask per sequence"),
        ("--recurrent-dropout", "variational dropout on h where it enters W_hh h"),
        ("--weight-drop", "DropConnect on the recurrent weights, one mask per batch"),
    ):
        dest = flag[2:].replace("-", "_")
        FLAGS[dest] = flag
        model.add_argument(
            flag, dest=dest, type=probability, metavar="P", help=f"{text} (default: 0, off)"
        )
    FLAGS.update(zoneout="--zoneout", layer_norm="--layer-norm")
    model.add_argument(
        "--zoneout",
        type=float,
        metavar="Z",
        help="zoneout: keep each state unit with probability Z per step (default: 0, off)",
    )
    model.add_argument(
        "--layer-norm",
        action="store_true",
        default=None,
        help="layer-normalised LSTM/GRU cells (default: off)",
    )
    run = parser.add_argument_group("training")
    length = run.add_mutually_exclusive_group()
    FLAGS.update(minutes="--minutes", steps="--steps")
    length.add_argument(
        "--minutes",
        type=positive_float,
        metavar="M",
        help=f"train for M minutes (default: {show(DEFAULT_MINUTES)} unless --steps is given)",
    )
    length.add_argument(
        "--steps",
        type=positive_int,
        metavar="N",
        help="train for N steps instead (default: none, the time budget)",
    )
    option(run, "--batch-size", TrainConfig, "parallel streams", "batch_size", **ints)
    option(run, "--seq-len", TrainConfig, "characters per BPTT chunk", "seq_len", **ints)
    option(run, "--lr", TrainConfig, "peak AdamW learning rate", "lr", type=positive_float)
    option(run, "--seed", TrainConfig, "random seed", "seed", type=seed_int, metavar="N")
    every = "steps between"
    option(
        run,
        "--checkpoint-every",
        TrainConfig,
        f"{every} checkpoints",
        "checkpoint_every",
        **ints,
    )
    option(run, "--eval-every", TrainConfig, f"{every} held-out evaluations", "eval_every", **ints)
    option(run, "--log-every", TrainConfig, f"{every} lines of metrics.jsonl", "log_every", **ints)
    add_threads_option(run)
    where = parser.add_argument_group("run directory")
    add_out_option(where, "train", "the new run")
    where.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (default: none, a new run)"
    )
    FLAGS["out"] = "--out"
    _ranks.add_process_options(parser)
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ..train import distributed

    if distributed.is_launched():  # one rank of torchrun's job (data parallel)
        return _ranks.run_as_rank(args, _train)
    if _ranks.wants_launch(args):
        _ranks.launch(args, _batch_size(args), FLAGS)
    return _train(args)


def _batch_size(args: argparse.Namespace) -> int:
    """The global batch of this command line: given, of the resumed run, or the default."""
    from ..train.config import TrainConfig

    if args.resume is None:
        return int(args.batch_size or default_of(TrainConfig, "batch_size"))
    from ..train import CheckpointError, read_run_config

    try:
        return read_run_config(args.resume).train.batch_size
    except CheckpointError as err:
        raise UsageError(str(err)) from None


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _fresh_configs(args: argparse.Namespace):
    """``(model options, TrainConfig)`` of a new run: the options given, dataclass defaults."""
    from ..cells import make_cell
    from ..models.language_model import ModelConfig
    from ..train.config import TrainConfig

    model = _given(args, MODEL_FIELDS)
    cell_options = _given(args, CELL_FIELDS)
    if cell_options:
        model["cell_options"] = cell_options
    if model.get("tie_weights"):
        hidden = model.get("hidden_size", default_of(ModelConfig, "hidden_size"))
        if model.setdefault("embed_size", hidden) != hidden:
            raise UsageError(f"--embed must equal --hidden ({hidden}) with --tie-weights")
    try:
        config = ModelConfig(vocab_size=1, **model)  # check the options before reading any text
        make_cell(model.get("cell", default_of(ModelConfig, "cell")), 1, 1, **cell_options)
        train = TrainConfig(**_given(args, TRAIN_FIELDS))
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from None
    size = rnn_bytes(
        hidden=config.hidden_size,
        layers=config.num_layers,
        inputs=config.embed_size,
        outputs=256,  # a typical vocabulary; the text is not read yet
        batch=train.batch_size,
        steps=train.seq_len,
    )
    check_memory("training this model", size, "--hidden/--layers/--embed/--batch-size/--seq-len")
    return model, train


def _resumed_config(args: argparse.Namespace, train):
    """The train config of a resumed run, with the options that may change applied."""
    import dataclasses

    names = ("text", "out", *MODEL_FIELDS, *CELL_FIELDS, *TRAIN_FIELDS)
    fixed = [n for n in names if n not in CHANGE_ON_RESUME]
    given = [FLAGS[name] for name in fixed if getattr(args, name) is not None]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be given with --resume: a resumed run keeps its corpus, "
            "model and seed (only --steps, --minutes, --checkpoint-every, --eval-every, "
            "--log-every change)"
        )
    changes = _given(args, CHANGE_ON_RESUME)
    if "steps" in changes:
        changes["minutes"] = None
    elif "minutes" in changes:
        changes["steps"] = None
    return dataclasses.replace(train, **changes)


def _open_run(args: argparse.Namespace):
    """``(run_dir, RunFiles, corpus)``: a new run from the options, or the one to resume."""
    from ..data.text import Vocabulary
    from ..models.language_model import ModelConfig
    from ..train import CheckpointError, RunFiles, distributed, read_run_config
    from ..train.lock import lock_run_dir

    if args.resume is not None:
        try:
            # one writer at a time (rank 0 of a data-parallel job); held until the process ends
            if Path(args.resume).is_dir() and distributed.rank() == 0:
                args.lock = lock_run_dir(args.resume)
            run = read_run_config(args.resume)
        except (CheckpointError, OSError) as err:
            raise UsageError(f"--resume: {err}") from None
        run.train = _resumed_config(args, run.train)
        return args.resume, run, corpus_of_run(run)
    model_options, train_config = _fresh_configs(args)
    hint = f", or continue the run with --resume {args.out}"
    run_dir = new_run_dir(args.out, "train", hint if args.out else "")
    corpus = load_corpus(args.text)
    vocab = Vocabulary.from_text(corpus.text)
    model_config = ModelConfig(vocab_size=len(vocab), **model_options)
    return (
        run_dir,
        RunFiles(model_config, train_config, vocab, corpus.source, corpus.sha256),
        corpus,
    )


def _resume(trainer, run_dir) -> None:
    """Load the last checkpoint into ``trainer`` (a run killed before its first starts over)."""
    from ..train import CheckpointError, metrics
    from ..train import checkpoint as ckpt

    try:
        found = ckpt.find_checkpoint(run_dir)
        if found is not None:
            trainer.resume()
        elif (run_dir / ckpt.POINTER).exists() or any(run_dir.glob("checkpoints/step-*")):
            raise CheckpointError(
                f"the checkpoints of {run_dir} are missing or incomplete (the pointer "
                f"{ckpt.POINTER} names none that is whole); nothing was changed"
            )
        else:  # killed before its first checkpoint: the same seed starts it again identically
            metrics.check_metrics(run_dir / metrics.METRICS)
            metrics.truncate_metrics(run_dir / metrics.METRICS, 0)
    except CheckpointError as err:
        raise UsageError(f"--resume: {err}") from None
    if trainer.done():
        raise UsageError(
            f"run {run_dir} already finished at step {trainer.step}; give a larger --steps "
            "or --minutes to train it further"
        )


def _claim_new_run_dir(args: argparse.Namespace, run_dir: Path) -> None:
    """Create and lock the new run directory; refuse it if another run got there first."""
    from ..train import CheckpointError
    from ..train.lock import LOCK, lock_run_dir

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        args.lock = lock_run_dir(run_dir)  # held until the process ends
    except (CheckpointError, OSError) as err:
        raise UsageError(f"--out: {err}") from None
    if any(p.name != LOCK for p in run_dir.iterdir()):
        raise UsageError(
            f"--out {run_dir} was filled by another run meanwhile; choose a new directory"
        )


def _progress_hooks(trainer, bar) -> None:
    """Set the trainer's callbacks: move ``bar``, print evaluations and checkpoints."""

    def on_step(trainer) -> None:
        bar.goto(trainer.step if trainer.config.steps else int(trainer.elapsed))
        if trainer.last.get("step") == trainer.step:
            r = trainer.last
            bar.note(
                f"step {trainer.step}, {r['train_bits_per_char']:.3f} bits/char, "
                f"{r['chars_per_second']:,.0f} chars/s"
            )

    def on_eval(record: dict) -> None:
        bar.write(
            f"step {record['step']:>6}  train {record['train_bits_per_char']:.3f} bits/char  "
            f"held-out {record['val_bits_per_char']:.3f} bits/char  "
            f"{record['chars_per_second']:,.0f} chars/s  {record['elapsed_seconds']:.0f} s"
        )

    def on_save(step: int) -> None:
        bar.write(f"checkpoint at step {step} saved in {trainer.run_dir}")

    trainer.on_step, trainer.on_eval, trainer.on_save = on_step, on_eval, on_save


def _train(args: argparse.Namespace) -> int:
    import torch

    from .._progress import Progress
    from ..data.text import compression_bits
    from ..models.language_model import CharLanguageModel
    from ..train import Trainer, TrainingDiverged, distributed, prepare_corpus, write_run_config

    lead = distributed.rank() == 0  # data parallel: rank 0 prints and writes
    run_dir, run, corpus = _ranks.open_run_ranks(args, _open_run)
    run_dir = Path(run_dir)
    try:
        train_ids, val_ids = prepare_corpus(corpus, run.vocabulary, run.train)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if distributed.active() and args.threads is None:
        args.threads = distributed.threads_per_rank()  # torchrun's OMP_NUM_THREADS=1 otherwise
    threads = apply_threads(args)
    torch.manual_seed(run.train.seed)
    model = CharLanguageModel(run.model)
    try:
        trainer = Trainer(model, run.train, train_ids, val_ids, run_dir)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.resume is not None:  # checked in full before anything is printed or changed
        _resume(trainer, run_dir)
    elif lead:
        _claim_new_run_dir(args, run_dir)
    if lead:
        print(
            f"preparing on {threads} thread{'s' if threads > 1 else ''}: the model (the first "
            "run on a machine compiles the fused kernels, about a minute) and zlib/lzma "
            "yardsticks"
            + (f", {distributed.world_size()} processes" if distributed.active() else ""),
            file=sys.stderr,
            flush=True,
        )
    with torch.no_grad():  # builds the fused kernels (once per machine) before the clock starts
        model.eval()(torch.zeros(1, 1, dtype=torch.long))  # eval: no dropout, the RNG is untouched
        model.train()
    # Compressors' ratios on the whole text as yardsticks; lzma is slow on very large texts.
    small = len(corpus.text) <= 4_000_000
    trainer.reference = compression_bits(corpus.text) if small and lead else {}
    trainer.restart_clock()  # the preparation is not training time
    if args.resume is not None and lead:
        print(f"resuming {run_dir} at step {trainer.step}", file=sys.stderr)
    if not lead:
        try:
            trainer.run()
        except TrainingDiverged:
            return 1  # rank 0 says why
        return 0
    write_run_config(run_dir, run)  # a resumed run records its new --steps/--minutes/...
    print(
        f"training a {run.model.num_layers}-layer {run.model.cell} ({run.model.hidden_size} "
        f"units, {sum(p.numel() for p in model.parameters()):,} weights) on {corpus.source}: "
        f"{len(train_ids):,} training / {len(val_ids):,} held-out characters, "
        f"{len(run.vocabulary)} distinct; run directory {run_dir}",
        file=sys.stderr,
    )
    steps, minutes = run.train.steps, run.train.minutes
    bar = Progress(
        steps or int(60 * minutes),
        desc="train",
        unit="step" if steps else "s",
        initial=trainer.step if steps else int(trainer.elapsed),
    )
    _progress_hooks(trainer, bar)
    try:
        with bar:
            summary = trainer.run()
    except TrainingDiverged as err:  # main prints it like every command's divergence
        raise TrainingDiverged(
            f"{err}; the last checkpoint in {run_dir} is kept; try a smaller --lr"
        ) from None
    yardsticks = ", ".join(f"{name} {bits:.3f}" for name, bits in trainer.reference.items())
    print(
        f"done: step {summary['step']}, held-out {summary['val_bits_per_char']:.3f} bits/char "
        f"after {summary['elapsed_seconds']:.0f} s"
        + (f" ({yardsticks} on the whole text)" if yardsticks else "")
        + f". Sample it: rnnkit generate {run_dir}"
    )
    return 0


__all__ = ["register", "run_train"]
