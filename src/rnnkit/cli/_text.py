"""What ``rnnkit train``, ``generate`` and ``evaluate`` share: reading a corpus and a run."""

from __future__ import annotations

import sys

from ._common import UsageError


def load_corpus(path: str | None):
    """The text of ``--text`` (None: the built-in corpus); bad files are one-line UsageErrors.

    The path is made absolute, so a run records where its corpus is from any working folder."""
    from pathlib import Path

    from ..data.text import read_text

    try:
        corpus = read_text(None if path is None else Path(path).absolute())
    except (OSError, ValueError) as err:
        raise UsageError(str(err)) from None
    if corpus.skipped:
        print(
            f"--text {path}: skipped {corpus.skipped} non-text files (binary, not UTF-8, "
            "special files or repeats through symlinks)",
            file=sys.stderr,
        )
    return corpus


def corpus_of_run(run):
    """The corpus a run was trained on, checked against its digest."""
    from ..data.text import DEFAULT_CORPUS

    corpus = load_corpus(None if run.corpus_source == DEFAULT_CORPUS else run.corpus_source)
    if corpus.sha256 != run.corpus_sha256:
        raise UsageError(
            f"the run's corpus {run.corpus_source} changed since it was trained "
            "(its SHA-256 differs); pass --text to score another text"
        )
    return corpus


def load_run(run_dir: str):
    """``(model, run)`` of a run directory; a missing or broken run is a UsageError."""
    from ..train import CheckpointError, load_model

    try:
        return load_model(run_dir)
    except CheckpointError as err:
        raise UsageError(str(err)) from None
