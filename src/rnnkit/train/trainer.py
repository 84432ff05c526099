r"""The language-model training loop: truncated BPTT over a corpus, with held-out evaluation.

One step of truncated BPTT takes the next ``(B, T)`` chunk of the ``B`` streams
(:class:`~rnnkit.data.text.TextBatches`), starts from the state the previous chunk ended in
(detached, so gradients flow back at most ``T`` steps), and minimises the mean cross-entropy

.. math::
    \mathcal{L} = -\frac{1}{BT} \sum_{b,t} \ln p(y_{b,t} \mid x_{b,\le t}),\qquad
    \text{bits/char} = \mathcal{L} / \ln 2

with AdamW, one :func:`~rnnkit.train.step.optimizer_step` (clipping to ``clip_norm``, NaN stop)
and the learning rate of :mod:`~rnnkit.train.schedule` (warm-up, then cosine over the run's
steps, or its time budget with ``minutes``).

Training is deterministic for a given seed with ``steps``: weights are initialised from the
seed, the batch of a step is a function of the step, and a checkpoint holds everything that
changes (weights, optimizer moments, RNG, carried state), so a resumed run computes the same
losses as one that was never interrupted. With ``minutes`` the schedule follows the clock and
is only as repeatable as the clock. The files a run writes: :mod:`~rnnkit.train.checkpoint`
and :mod:`~rnnkit.train.run_dir`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks
from .._state import State, map_state
from ..data.text import TextBatches
from ..models.language_model import CharLanguageModel
from . import checkpoint as ckpt
from . import distributed, metrics
from .config import TrainConfig
from .schedule import learning_rate
from .step import TrainingDiverged, optimizer_step

LN2 = math.log(2.0)
MIN_STREAM = 200


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
        >>> from rnnkit.models.language_model import ModelConfig
        >>> model = CharLanguageModel(ModelConfig(vocab_size=4, hidden_size=8, embed_size=4))
        >>> ids = torch.randint(0, 4, (100,))
        >>> abs(bits_per_char(model, ids, streams=1, seq_len=7)
        ...     - bits_per_char(model, ids, streams=1, seq_len=99)) < 1e-5
        True
    """
    total, count = held_out_nats(model, ids, streams=streams, seq_len=seq_len)
    return total / count / LN2


def eval_streams(ids: Tensor, streams: int) -> int:
    """The streams :func:`bits_per_char` cuts ``ids`` into (at most ``streams``)."""
    # A stream's first characters are predicted with little context: keep streams long.
    return max(1, min(streams, (len(ids) - 1) // MIN_STREAM))


@torch.no_grad()
def held_out_nats(
    model: CharLanguageModel,
    ids: Tensor,
    *,
    streams: int = 16,
    seq_len: int = 256,
    rows: slice | None = None,
) -> tuple[float, int]:
    """``(nats, characters predicted)`` of :func:`bits_per_char`, over the streams ``rows`` only
    (all by default): the share of one rank of a distributed evaluation."""
    _checks.positive_int("streams", streams)
    _checks.positive_int("seq_len", seq_len)
    streams = eval_streams(ids, streams)
    length = (len(ids) - 1) // streams  # predicted characters per stream
    if length < 1:
        raise ValueError(f"ids must hold at least 2 characters to score, got {len(ids)}")
    starts = (torch.arange(streams) * length)[rows if rows is not None else slice(None)]
    if len(starts) == 0:
        return 0.0, 0
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
    return total, count


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
        on_save: called with the step after every checkpoint is written.
        reference: horizontal lines for loss.png, name -> bits/char (e.g. zlib's ratio).

    Example:
        >>> import tempfile
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> from rnnkit.models.language_model import ModelConfig
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
        on_save: Callable[[int], None] | None = None,
        reference: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.config = config
        # -- data parallel (train/distributed.py): this rank's streams, DDP, rank 0's clock --
        self.rank, self.world = distributed.rank(), distributed.world_size()
        self.rows = distributed.stream_block(config.batch_size, self.rank, self.world)
        self.net: torch.nn.Module = model
        self._clock: float | None = None  # rank 0's elapsed seconds, shared by every rank
        if self.world > 1:
            distributed.shard_dropout(model, self.rank, self.world)
            self.net = distributed.wrap(model)
            self._clock = 0.0
        # -- end data parallel --
        self.batches = TextBatches(train_ids, config.batch_size, config.seq_len, seed=config.seed)
        if len(val_ids) < 2:
            raise ValueError(
                f"held-out text must have at least 2 characters, got {len(val_ids)} "
                f"(val_fraction={config.val_fraction})"
            )
        self.val_ids = val_ids
        self.run_dir = Path(run_dir)
        self.params = list(model.parameters())
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.lr, weight_decay=config.weight_decay
        )
        self.on_step = on_step
        self.on_eval = on_eval
        self.on_save = on_save
        self.reference = reference
        self.step = 0
        self.carry: State | None = None
        self.elapsed_before = 0.0  # seconds of earlier sessions of this run
        self._t0 = time.perf_counter()
        self.last: dict = {}
        self._reset_window()

    # -- state -------------------------------------------------------------------------------

    def resume(self) -> int:
        """Continue from the last checkpoint; drop metrics logged after it. Returns its step.

        Everything (checkpoint, metrics) is checked before a byte of the run changes."""
        metrics.check_metrics(self.run_dir / metrics.METRICS)
        like = self.model.init_state(self.config.batch_size)
        step, carry, info = ckpt.load_checkpoint(
            self.run_dir, model=self.model, optimizer=self.optimizer, carry_like=like
        )
        # A checkpoint holds every stream's state (any N); this rank carries its block.
        self.step = step
        self.carry = None if carry is None else map_state(lambda t: t[self.rows], carry)
        self.elapsed_before = float(info.get("elapsed_seconds", 0.0))
        self._t0 = time.perf_counter()
        if self._clock is not None:
            self._clock = self.elapsed_before
        if self.rank == 0:
            metrics.truncate_metrics(self.run_dir / metrics.METRICS, step)
            for stale in self.run_dir.glob(".*.tmp"):  # temporaries of a killed writer
                stale.unlink(missing_ok=True)
        return step

    def restart_clock(self) -> None:
        """Count training time from now (what came before, e.g. compiling, is not training)."""
        self._t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        if self._clock is not None:  # data parallel: rank 0's clock at the last step
            return self._clock
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
        """Write a checkpoint; with several ranks every rank calls this, rank 0 writes."""
        carry = self.carry
        if self.world > 1:  # every stream's state, gathered; every rank's RNG is the same
            gathered = distributed.gather_carry(self.carry, self.model.init_state(1))
            distributed.check_same_rng()
            like = self.model.init_state(self.config.batch_size)
            carry = None if gathered is None else ckpt._fill(like, iter(gathered))
        if self.rank != 0:
            return
        ckpt.save_checkpoint(
            self.run_dir,
            step=self.step,
            model=self.model,
            optimizer=self.optimizer,
            carry=carry,
            info={"elapsed_seconds": self.elapsed, "processes": self.world},
        )

    # -- training ----------------------------------------------------------------------------

    def _reset_window(self) -> None:
        self._sum_bits, self._n_steps, self._train_seconds = 0.0, 0, 0.0

    def train_step(self) -> float:
        """One step of truncated BPTT; returns the batch's bits/char."""
        c = self.config
        t0 = time.perf_counter()
        x, y, fresh = self.batches.batch(self.step)
        x, y = x[self.rows], y[self.rows]  # this rank's streams (all of them in one process)
        state = None if fresh else self.carry
        self.model.train()
        logits, final = self.net(x, state)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        if self.world > 1:  # the mean loss and rank 0's clock: the same decisions everywhere
            mean, self._clock = distributed.reduce_step(
                float(loss.detach()), self.elapsed_before + time.perf_counter() - self._t0
            )
            if not math.isfinite(mean):
                raise TrainingDiverged(
                    f"training stopped at step {self.step + 1}: the loss is {mean}"
                )
        lr = learning_rate(c, self.step, self.progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        value, _ = optimizer_step(
            self.optimizer, self.params, loss, clip_norm=c.clip_norm, step=self.step + 1
        )
        if self.world > 1:
            value = mean
        self.carry = map_state(Tensor.detach, final)
        self.step += 1
        bits = value / LN2
        self._sum_bits += bits
        self._n_steps += 1
        self._train_seconds += time.perf_counter() - t0
        self.lr = lr
        return bits

    def evaluate(self) -> float:
        """Held-out bits/char; with several ranks each scores its block of the streams."""
        if self.world == 1:
            return bits_per_char(self.model, self.val_ids, streams=16, seq_len=256)
        rows = distributed.even_block(eval_streams(self.val_ids, 16), self.rank, self.world)
        nats, count = held_out_nats(self.model, self.val_ids, streams=16, seq_len=256, rows=rows)
        nats_all, count_all = distributed.reduce_sums(nats, count)
        return nats_all / count_all / LN2

    def run(self, *, plot: bool = True) -> dict:
        """Train until ``steps`` or ``minutes`` are used up; return the last metrics record.

        Raises:
            TrainingDiverged: on a NaN/Inf loss or gradient (the last checkpoint is kept).
        """
        c = self.config
        metrics_path = self.run_dir / metrics.METRICS
        records = metrics.read_metrics(metrics_path)
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
                if self.rank == 0:
                    metrics.append_metrics(metrics_path, record)
                records.append(record)
                self.last = record
                self._reset_window()
            if self.on_step is not None:
                self.on_step(self)
            if self.step % c.checkpoint_every == 0 or final:
                self.save()
                if self.on_save is not None:
                    self.on_save(self.step)
            if record is not None and "val_bits_per_char" in record:
                if plot and self.rank == 0:
                    from ..viz.training import plot_training

                    plot_training(records, self.run_dir / "loss.png", reference=self.reference)
                if self.on_eval is not None:
                    self.on_eval(record)
        return self.last


__all__ = ["Trainer", "TrainingDiverged", "bits_per_char"]
