"""``rnnkit generate`` and ``rnnkit evaluate``: use a trained character language model."""

from __future__ import annotations

import argparse

from ._common import UsageError, check_memory, positive_float, positive_int, seed_int
from ._text import corpus_of_run, load_corpus, load_run


def register(subparsers: argparse._SubParsersAction) -> None:
    generate = subparsers.add_parser(
        "generate",
        help="print text sampled from a trained model",
        description="Print text sampled character by character from a run of rnnkit train.",
    )
    generate.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by rnnkit train")
    generate.add_argument("--prompt", default="The ", help="text to start from (default: 'The ')")
    generate.add_argument(
        "--length",
        type=positive_int,
        default=500,
        metavar="N",
        help="characters to sample after the prompt (default: 500)",
    )
    generate.add_argument(
        "--temperature",
        type=positive_float,
        default=0.8,
        metavar="T",
        help="sampling temperature, lower is safer (default: 0.8)",
    )
    generate.add_argument(
        "--seed", type=seed_int, metavar="N", help="seed for a repeatable sample (default: random)"
    )
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
        "--text",
        metavar="PATH",
        help="score all of this file or folder (default: the run's held-out text)",
    )
    evaluate.set_defaults(run=run_evaluate)


def run_generate(args: argparse.Namespace) -> int:
    import torch

    check_memory("the sample", 8.0 * args.length, "--length")
    model, run = load_run(args.run_dir)
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
    from ..train import bits_per_char

    model, run = load_run(args.run_dir)
    if args.text is None:
        corpus = corpus_of_run(run)
        _, ids = split_ids(run.vocabulary.encode(corpus.text), run.train.val_fraction)
        what = f"the held-out {run.train.val_fraction:.0%} of {corpus.source}"
    else:
        corpus = load_corpus(args.text)
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


__all__ = ["register", "run_evaluate", "run_generate"]
