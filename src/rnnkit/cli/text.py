"""``rnnkit train``, ``rnnkit generate``, ``rnnkit evaluate``: the character language model.

``rnnkit train`` with no options trains an LSTM on the built-in corpus (Python's documentation
topics) for 3 minutes and saves a run directory; ``rnnkit generate RUN`` prints a sample and
``rnnkit evaluate RUN`` prints held-out bits per character.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._common import UsageError, positive_float, positive_int

CELLS = ("lstm", "gru", "elman", "jordan")

# Defaults of a fresh run; None in argparse means "not given", so --resume can tell what changed.
MODEL_DEFAULTS = {"cell": "lstm", "hidden": 384, "layers": 1, "embed": 64, "dropout": 0.2}
# Options that define the run; a resumed run keeps them (changing them would change the run).
FIXED_ON_RESUME = (
    "text",
    "cell",
    "hidden",
    "layers",
    "embed",
    "dropout",
    "tie_weights",
    "seed",
    "batch_size",
    "seq_len",
    "lr",
    "out",
)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a character language model",
        description=(
            "Train a character-level language model with truncated BPTT. With no options: an "
            "LSTM (384 units, dropout 0.2) on the built-in corpus (Python's documentation "
            "topics) for 3 minutes. The run directory gets config.json, model.safetensors, "
            "metrics.jsonl, "
            "loss.png and checkpoints; --resume DIR continues it exactly."
        ),
    )
    data = train.add_argument_group("data")
    data.add_argument(
        "--text", metavar="PATH", help="UTF-8 text file or folder (default: built-in corpus)"
    )
    model = train.add_argument_group("model")
    model.add_argument("--cell", metavar="|".join(CELLS), help="recurrent cell (default: lstm)")
    model.add_argument(
        "--hidden", type=positive_int, metavar="N", help="units per layer (default: 384)"
    )
    model.add_argument("--layers", type=positive_int, metavar="N", help="layers (default: 1)")
    model.add_argument(
        "--embed", type=positive_int, metavar="N", help="embedding size (default: 64)"
    )
    model.add_argument("--dropout", type=_probability, metavar="P", help="dropout (default: 0.2)")
    model.add_argument(
        "--tie-weights",
        action="store_true",
        default=None,
        help="readout reuses the embedding (sets --embed to --hidden)",
    )
    run = train.add_argument_group("training")
    length = run.add_mutually_exclusive_group()
    length.add_argument(
        "--minutes", type=positive_float, metavar="M", help="train for M minutes (default: 3)"
    )
    length.add_argument("--steps", type=positive_int, metavar="N", help="train for N steps")
    run.add_argument("--batch-size", type=positive_int, metavar="B", help="streams (default: 32)")
    run.add_argument("--seq-len", type=positive_int, metavar="T", help="BPTT length (default: 64)")
    run.add_argument("--lr", type=positive_float, metavar="LR", help="peak AdamW lr (default 3e-3)")
    run.add_argument("--seed", type=int, metavar="N", help="random seed (default: 0)")
    run.add_argument(
        "--checkpoint-every", type=positive_int, metavar="N", help="steps (default: 500)"
    )
    run.add_argument("--eval-every", type=positive_int, metavar="N", help="steps (default: 200)")
    run.add_argument(
        "--log-every", type=positive_int, metavar="N", help="steps per metrics line (default: 20)"
    )
    run.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads (default: all cores, or 1 when the machine is already busy)",
    )
    where = train.add_argument_group("run directory")
    where.add_argument("--out", metavar="DIR", help="new run directory (default: runs/charlm-TIME)")
    where.add_argument("--resume", metavar="DIR", help="continue the run in DIR")
    train.set_defaults(run=run_train)

    generate = subparsers.add_parser(
        "generate",
        help="print text sampled from a trained model",
        description="Print text sampled character by character from a trained run.",
    )
    generate.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by rnnkit train")
    generate.add_argument("--prompt", default="The ", help="text to start from (default: 'The ')")
    generate.add_argument(
        "--length", type=positive_int, default=500, metavar="N", help="characters (default: 500)"
    )
    generate.add_argument(
        "--temperature",
        type=positive_float,
        default=0.8,
        metavar="T",
        help="sampling temperature, lower is safer (default: 0.8)",
    )
    generate.add_argument("--seed", type=int, metavar="N", help="seed for a repeatable sample")
    generate.set_defaults(run=run_generate)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="print held-out bits per character",
        description=(
            "Print bits per character of a trained run on its held-out text, or on --text."
        ),
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by rnnkit train")
    evaluate.add_argument(
        "--text", metavar="PATH", help="score this file or folder instead (all of it)"
    )
    evaluate.set_defaults(run=run_evaluate)


# -- shared ------------------------------------------------------------------------------------


def _load_corpus(path: str | None):
    from ..data.text import read_text

    try:
        return read_text(path)
    except (OSError, ValueError) as err:
        raise UsageError(str(err)) from None


def _corpus_of_run(run):
    """The corpus a run was trained on, checked against its digest."""
    from ..data.text import DEFAULT_CORPUS

    corpus = _load_corpus(None if run.corpus_source == DEFAULT_CORPUS else run.corpus_source)
    if corpus.sha256 != run.corpus_sha256:
        raise UsageError(
            f"the run's corpus {run.corpus_source} changed since it was trained "
            "(its SHA-256 differs); pass --text to score another text"
        )
    return corpus


def _load_model(run_dir: str):
    from ..train.checkpoint import CheckpointError
    from ..train.trainer import load_model

    try:
        return load_model(run_dir)
    except CheckpointError as err:
        raise UsageError(str(err)) from None


# -- train -------------------------------------------------------------------------------------


def _fresh_configs(args):
    from ..models.language_model import ModelConfig
    from ..train.trainer import TrainConfig

    cell = args.cell if args.cell is not None else MODEL_DEFAULTS["cell"]
    if cell not in CELLS:
        raise UsageError(f"--cell must be one of {', '.join(CELLS)}, got {cell!r}")
    hidden = args.hidden or MODEL_DEFAULTS["hidden"]
    tie = bool(args.tie_weights)
    if tie and args.embed is not None and args.embed != hidden:
        raise UsageError(f"--embed must equal --hidden ({hidden}) with --tie-weights")
    embed = hidden if tie else (args.embed or MODEL_DEFAULTS["embed"])
    dropout = args.dropout if args.dropout is not None else MODEL_DEFAULTS["dropout"]
    length = (
        {"steps": args.steps, "minutes": None}
        if args.steps is not None
        else {"minutes": args.minutes or 3.0}
    )
    train_options = {
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "lr": args.lr,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "eval_every": args.eval_every,
        "log_every": args.log_every,
    }
    try:
        train = TrainConfig(**length, **{k: v for k, v in train_options.items() if v is not None})
        model: dict[str, Any] = {
            "cell": cell,
            "hidden_size": hidden,
            "num_layers": args.layers or MODEL_DEFAULTS["layers"],
            "embed_size": embed,
            "dropout": dropout,
            "tie_weights": tie,
        }
        ModelConfig(vocab_size=1, **model)  # check the options before reading any text
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from None
    return model, train


def _updated_on_resume(args, train):
    """The train config of a resumed run, with the options that may change applied."""
    import dataclasses

    given = [name for name in FIXED_ON_RESUME if getattr(args, name) is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(
            f"{flags} cannot be given with --resume: a resumed run keeps its corpus, model and "
            "seed (only --steps, --minutes, --checkpoint-every, --eval-every, --log-every change)"
        )
    changes = {
        k: getattr(args, k)
        for k in ("checkpoint_every", "eval_every", "log_every")
        if getattr(args, k) is not None
    }
    if args.steps is not None:
        changes.update(steps=args.steps, minutes=None)
    elif args.minutes is not None:
        changes.update(minutes=args.minutes, steps=None)
    return dataclasses.replace(train, **changes)


def _auto_threads(default: int) -> int:
    """All cores on an idle machine; one when other processes already keep the cores busy.

    With more runnable threads than cores, torch's worker threads spend most of their time
    waiting for each other at every small operation of the time loop: measured on 2 cores
    with a load average of 5, one thread trained 4.6 times faster than two.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return default
    return 1 if load >= (os.cpu_count() or 1) else default


def run_train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..data.text import Vocabulary
    from ..models.language_model import CharLanguageModel, ModelConfig
    from ..train import checkpoint as ckpt
    from ..train.trainer import (
        RunFiles,
        Trainer,
        TrainingDiverged,
        prepare_corpus,
        read_run_config,
        write_run_config,
    )

    if args.resume is not None:
        run_dir = Path(args.resume)
        try:
            run = read_run_config(run_dir)
        except ckpt.CheckpointError as err:
            raise UsageError(str(err)) from None
        train_config = _updated_on_resume(args, run.train)
        corpus = _corpus_of_run(run)
        vocab = run.vocabulary
    else:
        model_options, train_config = _fresh_configs(args)
        run_dir = Path(args.out or time.strftime("runs/charlm-%Y%m%d-%H%M%S"))
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise UsageError(
                f"--out {run_dir} already exists and is not empty; choose a new directory, or "
                f"continue a run with --resume {run_dir}"
            )
        corpus = _load_corpus(args.text)
        vocab = Vocabulary.from_text(corpus.text)
        model_config = ModelConfig(vocab_size=len(vocab), **model_options)
        run = RunFiles(model_config, train_config, vocab, corpus.source, corpus.sha256)

    try:
        train_ids, val_ids = prepare_corpus(corpus, vocab, train_config)
    except ValueError as err:
        raise UsageError(str(err)) from None

    threads = args.threads or _auto_threads(torch.get_num_threads())
    torch.set_num_threads(threads)
    torch.manual_seed(train_config.seed)
    model = CharLanguageModel(run.model)
    with torch.no_grad():  # builds the fused kernels (once per machine) before the clock starts
        model.eval()(torch.zeros(1, 1, dtype=torch.long))  # eval: no dropout, the RNG is untouched
        model.train()
    if args.resume is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, run)

    def on_step(trainer: Trainer) -> None:
        done = trainer.step if train_config.steps else int(trainer.elapsed)
        if done > bar.n:
            bar.update(done - bar.n)
        if trainer.last.get("step") == trainer.step:
            r = trainer.last
            bar.set_postfix(
                step=trainer.step,
                loss=f"{r['train_bits_per_char'] * 0.6931:.3f}",
                bpc=f"{r['train_bits_per_char']:.3f}",
                chars_s=f"{r['chars_per_second']:,.0f}",
                refresh=False,
            )

    def on_eval(record: dict) -> None:
        tqdm.write(
            f"step {record['step']:>6}  train {record['train_bits_per_char']:.3f} bits/char  "
            f"held-out {record['val_bits_per_char']:.3f} bits/char  "
            f"{record['chars_per_second']:,.0f} chars/s  {record['elapsed_seconds']:.0f} s"
        )

    from ..data.text import compression_bits

    # Compressors' ratios on the whole text as yardsticks; lzma is slow on very large texts.
    reference = compression_bits(corpus.text) if len(corpus.text) <= 4_000_000 else {}
    try:
        trainer = Trainer(
            model,
            train_config,
            train_ids,
            val_ids,
            run_dir,
            on_step=on_step,
            on_eval=on_eval,
            reference=reference,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.resume is not None:
        if (run_dir / ckpt.POINTER).exists():
            try:
                trainer.resume()
            except ckpt.CheckpointError as err:
                raise UsageError(str(err)) from None
        else:  # killed before its first checkpoint: the same seed starts it again identically
            ckpt.truncate_metrics(run_dir / ckpt.METRICS, 0)
        if trainer.done():
            raise UsageError(
                f"run {run_dir} already finished at step {trainer.step}; give a larger --steps "
                "or --minutes to train it further"
            )
        run.train = train_config  # the new --steps/--minutes/... once the checkpoint loaded
        write_run_config(run_dir, run)
        print(f"resuming {run_dir} at step {trainer.step}", file=sys.stderr)
    print(
        f"training a {run.model.num_layers}-layer {run.model.cell} ({run.model.hidden_size} "
        f"units, {sum(p.numel() for p in model.parameters()):,} weights) on {corpus.source}: "
        f"{len(train_ids):,} training / {len(val_ids):,} held-out characters, "
        f"{len(vocab)} distinct; {threads} thread{'s' if threads > 1 else ''}; "
        f"run directory {run_dir}",
        file=sys.stderr,
    )
    bar = tqdm(
        total=train_config.steps or int(60 * train_config.minutes),
        initial=trainer.step if train_config.steps else int(trainer.elapsed),
        unit="step" if train_config.steps else "s",
        disable=None,  # no bar when stderr is not a terminal (logs, CI)
        dynamic_ncols=True,
        file=sys.stderr,
    )

    try:
        summary = trainer.run()
    except TrainingDiverged as err:
        bar.close()
        print(
            f"rnnkit train: {err}; the last checkpoint in {run_dir} is kept. Try a smaller --lr.",
            file=sys.stderr,
        )
        return 1
    bar.close()
    yardsticks = ", ".join(f"{name} {bits:.3f}" for name, bits in reference.items())
    print(
        f"done: step {summary['step']}, held-out {summary['val_bits_per_char']:.3f} bits/char "
        f"after {summary['elapsed_seconds']:.0f} s"
        + (f" ({yardsticks} on the whole text)" if yardsticks else "")
        + f". Sample it: rnnkit generate {run_dir}"
    )
    return 0


# -- generate / evaluate -----------------------------------------------------------------------


def run_generate(args: argparse.Namespace) -> int:
    import torch

    model, run = _load_model(args.run_dir)
    if not args.prompt:
        raise UsageError("--prompt must have at least one character, got ''")
    try:
        prompt = run.vocabulary.encode(args.prompt, name="--prompt")
    except ValueError as err:
        raise UsageError(str(err)) from None
    generator = torch.Generator()
    if args.seed is not None:
        generator.manual_seed(args.seed)
    else:
        generator.seed()
    ids = model.generate(prompt, args.length, temperature=args.temperature, generator=generator)
    print(args.prompt + run.vocabulary.decode(ids))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..data.text import split_ids
    from ..train.trainer import bits_per_char

    model, run = _load_model(args.run_dir)
    if args.text is None:
        corpus = _corpus_of_run(run)
        _, ids = split_ids(run.vocabulary.encode(corpus.text), run.train.val_fraction)
        what = f"the held-out {run.train.val_fraction:.0%} of {corpus.source}"
    else:
        corpus = _load_corpus(args.text)
        try:
            ids = run.vocabulary.encode(corpus.text, name="--text")
        except ValueError as err:
            raise UsageError(str(err)) from None
        what = corpus.source
    if len(ids) < 2:
        raise UsageError(f"the text to score must have at least 2 characters, got {len(ids)}")
    bpc = bits_per_char(model, ids)
    print(f"{bpc:.4f} bits/char on {what} ({len(ids):,} characters)")
    return 0
