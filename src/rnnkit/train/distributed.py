r"""Data-parallel training over several processes: ``torchrun`` + ``torch.distributed`` (DDP).

One model, ``N`` processes (ranks), each holding a full copy. ``--batch-size B`` stays the
*global* number of streams: rank ``r`` takes the contiguous block of streams
``[r B/N, (r + 1) B/N)`` of every batch, carries (and detaches) the state of those streams
itself, and :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, so that

.. math::
    \nabla \mathcal{L} = \frac1N \sum_r \nabla \mathcal{L}_r,\qquad
    \mathcal{L}_r = -\frac{N}{BT} \sum_{b \in \text{block}(r),\,t} \ln p(y_{b,t} \mid x_{b,\le t})

is the gradient of the one-process loss: the same step up to float32 summation order.

Decisions that must agree on every rank are made from shared numbers: the loss reported (and
its NaN check) is the all-reduced mean, the clock of ``--minutes`` is rank 0's (sent with the
same all-reduce), held-out evaluation sums the (nats, characters) of every rank's block of
held-out streams. Dropout draws the mask of the *global* batch on every rank and keeps the
rank's rows (:class:`ShardedDropout`): the masks are those of one process, and every rank's RNG
stays identical, so a checkpoint (written by rank 0, with the carried state of all streams
gathered) does not depend on ``N`` and resumes with any ``N`` dividing ``B``. The price is
drawing ``N`` times the mask's random numbers, ``O(BTH)`` per rank against the step's
``O(BTH^2/N)``: small while ``N`` is far below ``H``.

Collectives have a timeout (:data:`TIMEOUT_SECONDS`), so a rank killed mid-step makes the
others fail instead of waiting forever; torchrun then stops the job.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .._state import State, leaves

TIMEOUT_SECONDS = 120.0
"""How long a collective waits for the other ranks before the job fails (evaluation and
checkpoints on rank 0 must fit in it)."""


def is_launched() -> bool:
    """True in a process started by torchrun (``WORLD_SIZE`` and ``RANK`` are set)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def active() -> bool:
    """True when a process group is up (this process is one rank of several)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def setup(timeout: float = TIMEOUT_SECONDS) -> None:
    """Join the process group torchrun describes in the environment: gloo on CPU, nccl on CUDA."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))


def teardown(*, barrier: bool = True) -> None:
    """Leave the process group, after a barrier (so no rank exits while rank 0 still writes)
    unless the job failed."""
    if active():
        try:
            if barrier:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def threads_per_rank(cpus: int | None = None, local_world: int | None = None) -> int:
    """CPU threads for one rank so that the ranks of this machine together use its cores.

    torchrun sets ``OMP_NUM_THREADS=1`` in every process; rnnkit replaces it by
    ``cpus // local_world`` (``LOCAL_WORLD_SIZE``), at least 1.

    Example:
        >>> threads_per_rank(cpus=8, local_world=2), threads_per_rank(cpus=2, local_world=4)
        (4, 1)
    """
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not on every platform
            cpus = os.cpu_count() or 1
    if local_world is None:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cpus // max(1, local_world))


def stream_block(batch_size: int, rank: int, world: int) -> slice:
    """The rows (streams) of a global batch of ``batch_size`` that rank ``rank`` trains on.

    Example:
        >>> stream_block(8, 1, 2), stream_block(8, 0, 1)
        (slice(4, 8, None), slice(0, 8, None))
        >>> stream_block(6, 0, 4)
        Traceback (most recent call last):
        ValueError: --batch-size (6 streams) must be divisible by the number of processes (4)
    """
    if batch_size % world:
        raise ValueError(
            f"--batch-size ({batch_size} streams) must be divisible by the number of "
            f"processes ({world})"
        )
    local = batch_size // world
    return slice(rank * local, (rank + 1) * local)


def even_block(count: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous share of ``count`` items split as evenly as possible.

    Example:
        >>> [even_block(5, r, 2) for r in range(2)]
        [slice(0, 3, None), slice(3, 5, None)]
    """
    base, extra = divmod(count, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def reduce_step(loss: float, clock: float) -> tuple[float, float]:
    """``(mean of every rank's loss, rank 0's clock)`` in one all-reduce (float64)."""
    if not active():
        return loss, clock
    both = torch.tensor([loss, clock if rank() == 0 else 0.0], dtype=torch.float64)
    dist.all_reduce(both)
    return float(both[0]) / world_size(), float(both[1])


def reduce_sums(*values: float) -> list[float]:
    """Every rank's ``values`` summed (float64), e.g. held-out (nats, characters)."""
    if not active():
        return list(values)
    sums = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(sums)
    return sums.tolist()


def gather_carry(carry: State | None, like: State) -> list[Tensor] | None:
    """The carried state of every stream: each leaf's rank blocks concatenated (rank 0 order).

    ``like`` is a local state of the right structure. Collective: every rank must call it.
    """
    if not active():
        return None if carry is None else [t.detach().contiguous() for t in leaves(carry)]
    # A rank at an epoch start carries nothing; all ranks are at the same step, so all agree.
    if carry is None:
        return None
    out = []
    for leaf in leaves(carry):
        parts = [torch.empty_like(leaf) for _ in range(world_size())]
        dist.all_gather(parts, leaf.detach().contiguous())
        out.append(torch.cat(parts, dim=0))
    return out


def check_same_rng() -> None:
    """Refuse to checkpoint if the ranks' RNG states differ (they are drawn identically)."""
    if not active():
        return
    state = torch.get_rng_state()
    parts = [torch.empty_like(state) for _ in range(world_size())]
    dist.all_gather(parts, state)
    if any(not torch.equal(p, state) for p in parts):
        raise RuntimeError("the ranks' RNG states differ: the checkpoint would not resume exactly")


class ShardedDropout(nn.Module):
    """Dropout on rank ``rank``'s rows of a global batch: draw the global mask, keep the block.

    ``x`` is (b, ...) with b = B / world rows; the mask is drawn for (B, ...) from the global RNG,
    exactly as ``nn.Dropout`` draws it for the whole batch in one process (in the memory order
    of ``x``'s layout), then sliced.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> whole = nn.Dropout(0.5)(torch.ones(4, 3))
        >>> _ = torch.manual_seed(0)
        >>> bool(torch.equal(ShardedDropout(0.5, 1, 2)(torch.ones(2, 3)), whole[2:]))
        True
    """

    def __init__(self, p: float, rank: int, world: int) -> None:
        super().__init__()
        self.p, self.rank, self.world = p, rank, world

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        b = x.shape[0]
        # nn.Dropout fills a mask laid out like x in memory order (x may be time-major): same
        # here, for the global shape. Among equal strides (size-1 dims) the larger dim is outer.
        strides = x.stride()
        order = sorted(range(x.dim()), key=lambda d: (-strides[d], -x.shape[d], d))
        shape = (b * self.world, *x.shape[1:])
        mask = torch.empty([shape[d] for d in order], dtype=x.dtype, device=x.device)
        mask.bernoulli_(1.0 - self.p).div_(1.0 - self.p)
        mask = mask.permute([order.index(d) for d in range(x.dim())])
        return x * mask[self.rank * b : (self.rank + 1) * b]


def shard_dropout(model: nn.Module, rank: int, world: int) -> None:
    """Replace every ``nn.Dropout`` of ``model`` (batch-first inputs) by :class:`ShardedDropout`."""
    for name, child in list(model.named_children()):
        if type(child) is nn.Dropout:
            setattr(model, name, ShardedDropout(child.p, rank, world))
        else:
            shard_dropout(child, rank, world)


def broadcast_text(text: str | None) -> str | None:
    """Rank 0's ``text`` on every rank (a run directory name, or an error message)."""
    if not active():
        return text
    box: list[str | None] = [text if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in DistributedDataParallel (gradients averaged in the backward pass)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def torchrun_command(
    argv: Sequence[str],
    nproc: int,
    *,
    nnodes: str | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "rnnkit",
) -> list[str]:
    """The torchrun command that runs ``python -m rnnkit *argv`` in ``nproc`` processes here.

    One machine: ``--standalone``; several: torchrun's ``--nnodes`` and c10d rendezvous at
    ``--rdzv-endpoint`` (the same command on every machine).

    Example:
        >>> torchrun_command(["train", "--steps", "5"], 2)[2:]
        ['torch.distributed.run', '--standalone', '--nproc-per-node', '2', '-m', 'rnnkit', \
'train', '--steps', '5']
    """
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run"]
    if nnodes is None and rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        if nnodes is not None:
            cmd += ["--nnodes", nnodes]
        if rdzv_endpoint is not None:
            cmd += ["--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint]
            cmd += ["--rdzv-id", rdzv_id]
    return [*cmd, "--nproc-per-node", str(nproc), "-m", "rnnkit", *argv]


__all__ = [
    "TIMEOUT_SECONDS",
    "ShardedDropout",
    "active",
    "broadcast_text",
    "check_same_rng",
    "even_block",
    "gather_carry",
    "is_launched",
    "rank",
    "reduce_step",
    "reduce_sums",
    "setup",
    "shard_dropout",
    "stream_block",
    "teardown",
    "threads_per_rank",
    "torchrun_command",
    "world_size",
]
