"""The run directory's ``config.json``: what a run is (configs, vocabulary, corpus) and loading
its trained model. The other files of a run directory are described in
:mod:`rnnkit.train.checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.text import Vocabulary
from ..models.language_model import CharLanguageModel, ModelConfig
from . import checkpoint as ckpt
from .config import TrainConfig


@dataclass
class RunFiles:
    """What ``config.json`` of a run holds: configs, vocabulary and the corpus it was trained on."""

    model: ModelConfig
    train: TrainConfig
    vocabulary: Vocabulary
    corpus_source: str
    corpus_sha256: str


def write_run_config(run_dir: str | Path, run: RunFiles) -> None:
    """Write ``RUN/config.json`` atomically.

    Example:
        >>> import tempfile
        >>> run = RunFiles(ModelConfig(vocab_size=2), TrainConfig(steps=5), Vocabulary("ab"),
        ...                "a.txt", "0" * 64)
        >>> folder = tempfile.mkdtemp()
        >>> write_run_config(folder, run)
        >>> back = read_run_config(folder)
        >>> back.model == run.model, back.train == run.train, back.vocabulary.chars
        (True, True, 'ab')
    """
    ckpt.atomic_write_json(
        Path(run_dir) / ckpt.CONFIG,
        {
            "format": ckpt.FORMAT,
            "model": run.model.to_dict(),
            "train": run.train.to_dict(),
            "vocabulary": list(run.vocabulary.chars),
            "corpus": {"source": run.corpus_source, "sha256": run.corpus_sha256},
        },
    )


def read_run_config(run_dir: str | Path) -> RunFiles:
    """Read ``RUN/config.json``.

    Raises:
        CheckpointError: not a run directory, or a config.json that cannot be used.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ckpt.CheckpointError(f"run directory {run_dir} does not exist")
    if not (run_dir / ckpt.CONFIG).exists():
        raise ckpt.CheckpointError(f"{run_dir} is not an rnnkit run (it has no {ckpt.CONFIG})")
    raw = ckpt.read_json(run_dir / ckpt.CONFIG, "run config")
    if raw.get("format") != ckpt.FORMAT:
        raise ckpt.CheckpointError(
            f"run config {run_dir / ckpt.CONFIG} must have format {ckpt.FORMAT!r}, "
            f"got {raw.get('format')!r}"
        )
    try:
        model = ModelConfig.from_dict(raw["model"])
        train = TrainConfig.from_dict(raw["train"])
        vocab = Vocabulary(raw["vocabulary"])
        corpus = raw["corpus"]
        run = RunFiles(model, train, vocab, str(corpus["source"]), str(corpus["sha256"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ckpt.CheckpointError(
            f"run config {run_dir / ckpt.CONFIG} is corrupted ({err})"
        ) from None
    if len(vocab) != model.vocab_size:
        raise ckpt.CheckpointError(
            f"run config {run_dir / ckpt.CONFIG} is corrupted: vocabulary has {len(vocab)} "
            f"characters, model.vocab_size is {model.vocab_size}"
        )
    return run


def load_model(run_dir: str | Path) -> tuple[CharLanguageModel, RunFiles]:
    """The trained model of a run (weights of ``RUN/model.safetensors``) and its config.

    Raises:
        CheckpointError: not a run, or weights that are missing, corrupted or do not fit.
    """
    run = read_run_config(run_dir)
    model = CharLanguageModel(run.model)
    ckpt.load_weights(model, Path(run_dir) / ckpt.WEIGHTS)
    model.eval()
    return model, run


__all__ = ["RunFiles", "load_model", "read_run_config", "write_run_config"]
