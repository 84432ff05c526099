r"""Training a character language model with truncated BPTT, and the run directory around it.

One step of truncated BPTT takes the next ``(B, T)`` chunk of the ``B`` streams
(:class:`~rnnkit.data.text.TextBatches`), starts from the state the previous chunk ended in
(detached, so gradients flow back at most ``T`` steps), and minimises the mean cross-entropy

.. math::
    \mathcal{L} = -\frac{1}{BT} \sum_{b,t} \ln p(y_{b,t} \mid x_{b,\le t}),\qquad
    \text{bits/char} = \mathcal{L} / \ln 2

with AdamW, the gradient norm clipped to ``clip_norm``, and a learning rate that warms up
linearly over ``warmup_steps`` and then follows a cosine from ``lr`` down to
``final_lr_ratio · lr`` over the run (its steps, or its time budget with ``minutes``).

Training is deterministic for a given seed with ``steps``: weights are initialised from the
seed, the batch of a step is a function of the step, and a checkpoint holds everything that
changes (weights, optimizer moments, RNG, carried state), so a resumed run computes the same
losses as one that was never interrupted. With ``minutes`` the schedule follows the clock and
is only as repeatable as the clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks
from .._state import State, map_state
from ..data.text import Corpus, TextBatches, Vocabulary, split_ids
from ..models.language_model import CharLanguageModel, ModelConfig
from . import checkpoint as ckpt

LN2 = math.log(2.0)
MIN_STREAM = 200


@dataclass
class TrainConfig:
    """How to train (saved as JSON with the run).

    Attributes:
        batch_size: B parallel streams.
        seq_len: T, characters per chunk (the truncation length of BPTT).
        lr: peak learning rate of AdamW.
        final_lr_ratio: the cosine ends at ``final_lr_ratio · lr``.
        warmup_steps: linear warm-up steps.
        weight_decay: AdamW's decoupled weight decay.
        clip_norm: the gradient's global L2 norm is clipped to this.
        steps: train this many steps (exclusive with ``minutes``).
        minutes: train for this wall-clock time, schedule included (exclusive with ``steps``);
            3 when neither is given.
        val_fraction: the held-out last fraction of the corpus.
        eval_every: steps between held-out evaluations (and one at the end).
        log_every: steps between lines of metrics.jsonl.
        checkpoint_every: steps between checkpoints (and one at the end).
        seed: initial weights, dropout and the epochs' offsets.
    """

    batch_size: int = 32
    seq_len: int = 64
    lr: float = 3e-3
    final_lr_ratio: float = 0.05
    warmup_steps: int = 30
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    steps: int | None = None
    minutes: float | None = None
    val_fraction: float = 0.1
    eval_every: int = 200
    log_every: int = 20
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "eval_every", "log_every", "checkpoint_every"):
            _checks.positive_int(name, getattr(self, name))
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise TypeError(f"warmup_steps must be an int, got {self.warmup_steps!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.steps is None and self.minutes is None:
            self.minutes = 3.0
        if self.steps is not None and self.minutes is not None:
            raise ValueError(
                f"exactly one of steps and minutes must be set, got steps={self.steps}, "
                f"minutes={self.minutes}"
            )
        if self.steps is not None:
            _checks.positive_int("steps", self.steps)
        if self.minutes is not None and not 0 < self.minutes < math.inf:
            raise ValueError(f"minutes must be a positive number, got {self.minutes}")
        for name in ("lr", "clip_norm"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)}")
        _checks.non_negative_float("final_lr_ratio", self.final_lr_ratio, upper=1.0)
        _checks.non_negative_float("weight_decay", self.weight_decay)
        _checks.non_negative_float("val_fraction", self.val_fraction, upper=0.5)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {self.seed!r}")


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """The learning rate of ``step`` when ``progress`` in [0, 1] of the run is done.

    Example:
        >>> c = TrainConfig(lr=1.0, final_lr_ratio=0.0, warmup_steps=10, steps=100)
        >>> learning_rate(c, 4, 0.0), learning_rate(c, 50, 0.5), learning_rate(c, 99, 1.0)
        (0.5, 0.5, 0.0)
    """
    low = config.final_lr_ratio * config.lr
    cosine = low + (config.lr - low) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    return cosine * warm


@torch.no_grad()
def bits_per_char(
    model: CharLanguageModel, ids: Tensor, *, streams: int = 16, seq_len: int = 256
) -> float:
    r"""Mean bits per character of ``ids`` (N,) under ``model``, the held-out score.

    .. math::
        \text{bits/char} = -\frac{1}{|P|} \sum_{i \in P} \log_2 p(c_{i} \mid c_{<i})

    The text is cut into ``streams`` contiguous streams (fewer if they would be shorter than
    200 characters) read in parallel ``seq_len`` characters at a time with the state carried
    over, so every character but the first of each stream (and fewer than ``streams`` at the
    very end) is predicted from its whole stream so far: ``P``.

    Example:
        >>> model = CharLanguageModel(ModelConfig(vocab_size=4, hidden_size=8, embed_size=4))
        >>> ids = torch.randint(0, 4, (100,))
        >>> abs(bits_per_char(model, ids, streams=1, seq_len=7)
        ...     - bits_per_char(model, ids, streams=1, seq_len=99)) < 1e-5
        True
    """
    _checks.positive_int("streams", streams)
    _checks.positive_int("seq_len", seq_len)
    # A stream's first characters are predicted with little context: keep streams long.
    streams = max(1, min(streams, (len(ids) - 1) // MIN_STREAM))
    length = (len(ids) - 1) // streams  # predicted characters per stream
    if length < 1:
        raise ValueError(f"ids must hold at least 2 characters to score, got {len(ids)}")
    starts = torch.arange(streams) * length
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        for t0 in range(0, length, seq_len):
            t1 = min(t0 + seq_len, length)
            index = starts.unsqueeze(1) + torch.arange(t0, t1 + 1)  # (S, t1 - t0 + 1)
            window = ids[index]
            logits, state = model(window[:, :-1], state)
            nll = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).double(),
                window[:, 1:].reshape(-1),
                reduction="sum",
            )
            total += float(nll)
            count += window[:, 1:].numel()
    finally:
        model.train(was_training)
    return total / count / LN2


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN or infinite: training stops, checkpoints stay."""


@dataclass
class RunFiles:
    """What ``config.json`` of a run holds: configs, vocabulary and the corpus it was trained on."""

    model: ModelConfig
    train: TrainConfig
    vocabulary: Vocabulary
    corpus_source: str
    corpus_sha256: str


def write_run_config(run_dir: Path, run: RunFiles) -> None:
    ckpt.atomic_write_json(
        run_dir / ckpt.CONFIG,
        {
            "format": ckpt.FORMAT,
            "model": asdict(run.model),
            "train": asdict(run.train),
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
        model = _dataclass_from(ModelConfig, raw["model"])
        train = _dataclass_from(TrainConfig, raw["train"])
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


def _dataclass_from(cls, values: object):
    if not isinstance(values, dict):
        raise TypeError(f"{cls.__name__} must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(values.keys() - known)
    if unknown:
        raise ValueError(f"{cls.__name__} has unknown fields {unknown}")
    return cls(**values)


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


class Trainer:
    """Truncated BPTT over a corpus, with held-out evaluation, metrics and checkpoints.

    Args:
        model: the language model to train (its weights as initialised, or to be resumed).
        config: a :class:`TrainConfig`.
        train_ids, val_ids: the training and held-out characters (N,) as indices.
        run_dir: an existing folder with the run's config.json; metrics.jsonl, loss.png,
            model.safetensors and checkpoints are written there.
        on_step: called after every step with the trainer (a progress bar).
        on_eval: called after every evaluation with the metrics record.
        reference: horizontal lines for loss.png, name -> bits/char (e.g. zlib's ratio).

    Example:
        >>> import tempfile
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = CharLanguageModel(ModelConfig(vocab_size=3, hidden_size=8, embed_size=4))
        >>> ids = torch.tensor([0, 1, 2] * 40)
        >>> config = TrainConfig(batch_size=2, seq_len=6, steps=30, lr=0.1, warmup_steps=0)
        >>> trainer = Trainer(model, config, ids[:90], ids[90:], tempfile.mkdtemp())
        >>> summary = trainer.run(plot=False)
        >>> summary["step"], summary["val_bits_per_char"] < 0.5   # log2(3) = 1.58 at chance
        (30, True)
    """

    def __init__(
        self,
        model: CharLanguageModel,
        config: TrainConfig,
        train_ids: Tensor,
        val_ids: Tensor,
        run_dir: str | Path,
        *,
        on_step: Callable[[Trainer], None] | None = None,
        on_eval: Callable[[dict], None] | None = None,
        reference: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.batches = TextBatches(train_ids, config.batch_size, config.seq_len, seed=config.seed)
        if len(val_ids) < 2:
            raise ValueError(
                f"held-out text must have at least 2 characters, got {len(val_ids)} "
                f"(val_fraction={config.val_fraction})"
            )
        self.val_ids = val_ids
        self.run_dir = Path(run_dir)
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.on_step = on_step
        self.on_eval = on_eval
        self.reference = reference
        self.step = 0
        self.carry: State | None = None
        self.elapsed_before = 0.0  # seconds of earlier sessions of this run
        self._t0 = time.perf_counter()
        self.last: dict = {}
        self._reset_window()

    # -- state -------------------------------------------------------------------------------

    def resume(self) -> int:
        """Continue from the last checkpoint; drop metrics logged after it. Returns its step."""
        like = self.model.init_state(self.config.batch_size)
        step, carry, info = ckpt.load_checkpoint(
            self.run_dir, model=self.model, optimizer=self.optimizer, carry_like=like
        )
        self.step, self.carry = step, carry
        self.elapsed_before = float(info.get("elapsed_seconds", 0.0))
        self._t0 = time.perf_counter()
        ckpt.truncate_metrics(self.run_dir / ckpt.METRICS, step)
        for stale in self.run_dir.glob(".*.tmp"):  # temporaries of a killed writer
            stale.unlink(missing_ok=True)
        return step

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._t0

    def progress(self) -> float:
        c = self.config
        if c.steps is not None:
            return self.step / c.steps
        assert c.minutes is not None  # TrainConfig holds steps or minutes
        return self.elapsed / (60.0 * c.minutes)

    def done(self) -> bool:
        return self.progress() >= 1.0

    def save(self) -> None:
        ckpt.save_checkpoint(
            self.run_dir,
            step=self.step,
            model=self.model,
            optimizer=self.optimizer,
            carry=self.carry,
            info={"elapsed_seconds": self.elapsed},
        )

    # -- training ----------------------------------------------------------------------------

    def _reset_window(self) -> None:
        self._sum_bits, self._n_steps, self._train_seconds = 0.0, 0, 0.0

    def train_step(self) -> float:
        """One step of truncated BPTT; returns the batch's bits/char."""
        c = self.config
        t0 = time.perf_counter()
        x, y, fresh = self.batches.batch(self.step)
        state = None if fresh else self.carry
        self.model.train()
        logits, final = self.model(x, state)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training stopped at step {self.step + 1}: the loss is {loss}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip_norm)
        if not torch.isfinite(norm):
            raise TrainingDiverged(
                f"training stopped at step {self.step + 1}: the gradient norm is {norm}"
            )
        lr = learning_rate(c, self.step, self.progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.carry = map_state(Tensor.detach, final)
        self.step += 1
        bits = float(loss.detach()) / LN2
        self._sum_bits += bits
        self._n_steps += 1
        self._train_seconds += time.perf_counter() - t0
        self.lr = lr
        return bits

    def evaluate(self) -> float:
        return bits_per_char(self.model, self.val_ids, streams=16, seq_len=256)

    def run(self, *, plot: bool = True) -> dict:
        """Train until ``steps`` or ``minutes`` are used up; return the last metrics record.

        Raises:
            TrainingDiverged: on a NaN/Inf loss or gradient (the last checkpoint is kept).
        """
        c = self.config
        metrics_path = self.run_dir / ckpt.METRICS
        records = ckpt.read_metrics(metrics_path)
        while not self.done():
            self.train_step()
            final = self.done()
            record = None
            if self.step % c.log_every == 0 or self.step % c.eval_every == 0 or final:
                record = {
                    "step": self.step,
                    "train_bits_per_char": self._sum_bits / self._n_steps,
                    "chars_per_second": self._n_steps
                    * c.batch_size
                    * c.seq_len
                    / max(self._train_seconds, 1e-9),
                    "lr": self.lr,
                    "elapsed_seconds": round(self.elapsed, 3),
                }
                if self.step % c.eval_every == 0 or final:
                    record["val_bits_per_char"] = self.evaluate()
                ckpt.append_metrics(metrics_path, record)
                records.append(record)
                self.last = record
                self._reset_window()
            if self.on_step is not None:
                self.on_step(self)
            if self.step % c.checkpoint_every == 0 or final:
                self.save()
            if record is not None and "val_bits_per_char" in record:
                if plot:
                    from ..viz.training import plot_training

                    plot_training(records, self.run_dir / "loss.png", reference=self.reference)
                if self.on_eval is not None:
                    self.on_eval(record)
        return self.last


def prepare_corpus(
    corpus: Corpus, vocabulary: Vocabulary, config: TrainConfig
) -> tuple[Tensor, Tensor]:
    """Encode ``corpus`` and split it into training and held-out indices, checked for size.

    Example:
        >>> from rnnkit.data.text import read_text
        >>> corpus = read_text(None)
        >>> vocab = Vocabulary.from_text(corpus.text)
        >>> train, val = prepare_corpus(corpus, vocab, TrainConfig())
        >>> len(vocab) > 90, round(len(val) / (len(train) + len(val)), 2)
        (True, 0.1)
    """
    ids = vocabulary.encode(corpus.text)
    train, val = split_ids(ids, config.val_fraction)
    needed = config.batch_size * config.seq_len + config.seq_len
    if len(train) < needed:
        raise ValueError(
            f"corpus must have at least {needed} characters for training (batch_size × seq_len "
            f"+ seq_len) after holding out {config.val_fraction:.0%}, got {len(train)} of "
            f"{len(ids)}; use a longer text or smaller --batch-size/--seq-len"
        )
    if len(val) < 2:
        raise ValueError(
            f"corpus must leave at least 2 held-out characters (val_fraction "
            f"{config.val_fraction}), got {len(val)}"
        )
    return train, val
