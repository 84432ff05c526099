"""Training, one room per job.

- :mod:`~rnnkit.train.trainer`: the language-model loop (truncated BPTT, held-out bits/char);
- :mod:`~rnnkit.train.supervised`: :func:`fit`, the loop over independent batches;
- :mod:`~rnnkit.train.step`: the one optimizer step both loops take (NaN stop, clipping);
- :mod:`~rnnkit.train.schedule`: warm-up and cosine learning rates;
- :mod:`~rnnkit.train.config`: :class:`TrainConfig`;
- the files of a run: :mod:`~rnnkit.train.run_dir` (config.json, the trained model),
  :mod:`~rnnkit.train.checkpoint` (weights and checkpoints), :mod:`~rnnkit.train.metrics`
  (metrics.jsonl);
- :mod:`~rnnkit.train.corpus`: a corpus encoded and split for training.
"""

from .checkpoint import CheckpointError
from .config import TrainConfig
from .corpus import prepare_corpus
from .run_dir import RunFiles, load_model, read_run_config, write_run_config
from .schedule import learning_rate, warmup_cosine
from .step import TrainingDiverged, optimizer_step
from .supervised import FitConfig, FitResult, fit
from .trainer import Trainer, bits_per_char

__all__ = [
    "CheckpointError",
    "FitConfig",
    "FitResult",
    "RunFiles",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "bits_per_char",
    "fit",
    "learning_rate",
    "load_model",
    "optimizer_step",
    "prepare_corpus",
    "read_run_config",
    "warmup_cosine",
    "write_run_config",
]
