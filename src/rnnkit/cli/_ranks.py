"""The data-parallel side of ``rnnkit train`` (:mod:`rnnkit.train.distributed` does the work).

``--nproc N`` replaces the process by torchrun running N ranks of the same command; each rank
then runs the ordinary training, rank 0 naming the run directory and writing it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import NoReturn, TypeVar

from ._common import UsageError, positive_int

T = TypeVar("T", bound=tuple)


def add_process_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "processes",
        "data-parallel training (DDP): --batch-size stays the global number of streams, split "
        "evenly over the processes. `torchrun ... -m rnnkit train` works the same way.",
    )
    group.add_argument(
        "--nproc",
        type=positive_int,
        metavar="N",
        help="train in N processes on this machine, started by torchrun (default: 1, no torchrun)",
    )
    group.add_argument(
        "--nnodes",
        metavar="N|MIN:MAX",
        help="machines taking part, as torchrun's --nnodes; run the same command on each "
        "(default: this machine alone)",
    )
    group.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="where the machines meet (torchrun's c10d rendezvous) with --nnodes "
        "(default: none, --standalone)",
    )


def rank_argv(args: argparse.Namespace, flags: Mapping[str, str]) -> list[str]:
    """The command line of one rank: the options given, without the process options."""
    argv = ["train"]
    for dest in dict.fromkeys(("threads", "resume", *flags)):
        value = getattr(args, dest, None)
        flag = flags.get(dest, "--" + dest)
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


def launch(args: argparse.Namespace, batch: int, flags: Mapping[str, str]) -> NoReturn:
    """``--nproc N``: replace this process by torchrun running N ranks of the same command."""
    import os

    from ..train import distributed

    nproc = args.nproc or 1
    if args.nnodes is None and batch % nproc:
        raise UsageError(
            f"--batch-size ({batch} streams) must be divisible by the number of processes ({nproc})"
        )
    cmd = distributed.torchrun_command(
        rank_argv(args, flags), nproc, nnodes=args.nnodes, rdzv_endpoint=args.rdzv_endpoint
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def wants_launch(args: argparse.Namespace) -> bool:
    """Whether this command line asks for torchrun (and is not already one of its ranks)."""
    return args.nproc not in (None, 1) or args.nnodes is not None or args.rdzv_endpoint is not None


def run_as_rank(args: argparse.Namespace, train: Callable[[argparse.Namespace], int]) -> int:
    """``train(args)`` as one rank of torchrun's job: the process group around it."""
    from ..train import distributed

    distributed.setup()
    finished = False
    try:
        code = train(args)
        finished = True
        return code
    except UsageError:
        if distributed.rank() != 0:  # rank 0 says it once
            return 2
        raise
    finally:
        distributed.teardown(barrier=finished)


def open_run_ranks(args: argparse.Namespace, open_run: Callable[[argparse.Namespace], T]) -> T:
    """``open_run(args)`` on every rank, the new run directory named by rank 0."""
    import torch.distributed as dist

    from ..train import distributed

    if not distributed.active():
        return open_run(args)
    if distributed.rank() == 0:
        try:
            opened = open_run(args)
        except UsageError as err:
            distributed.broadcast_text("error:" + str(err))
            raise
        distributed.broadcast_text("ok:" + str(opened[0]))
    else:
        said = distributed.broadcast_text(None) or ""
        if said.startswith("error:"):
            raise UsageError(said[len("error:") :])
        if args.resume is None:
            args.out = said[len("ok:") :]
        opened = open_run(args)
    dist.barrier()  # every rank checked the directory before rank 0 writes into it
    return opened
