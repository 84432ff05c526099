"""The ``rnnkit`` command: one subcommand module per job, registered below.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser and
sets ``run=function(args) -> int``. Every way a command ends badly is one line on stderr:

- bad input (:class:`~rnnkit.cli._common.UsageError`, argparse's own errors): exit code 2;
- a training run that diverged (:class:`~rnnkit.train.TrainingDiverged`): exit code 1;
- anything unexpected: exit code 1 and a hint to rerun with ``--debug``, which shows the
  traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._common import UsageError

COMMAND_MODULES: tuple[str, ...] = (
    "rnnkit.cli.train",
    "rnnkit.cli.sample",
    "rnnkit.cli.forecast",
    "rnnkit.cli.task",
    "rnnkit.cli.hopfield",
    "rnnkit.cli.esn",
    "rnnkit.cli.bench",
    "rnnkit.cli.inspect",
    "rnnkit.cli.playground",
    "rnnkit.cli.export",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnkit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnnkit",
        description=(
            "Train, evaluate and use recurrent neural networks. Commands that write files write "
            "them into one new run directory, --out DIR (default runs/COMMAND-TIME); progress "
            "goes to stderr, as a bar on a terminal and as plain lines otherwise."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    from ..train import TrainingDiverged

    parser = build_parser()
    args = parser.parse_args(argv)
    name = f"rnnkit {args.command}"
    try:
        return int(args.run(args) or 0)
    except UsageError as err:
        print(f"{name}: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:  # commands add what is kept and what to try to the message
        print(f"{name}: error: {_one_line(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if args.debug:
            raise
        print(f"{name}: error: out of memory; choose smaller sizes", file=sys.stderr)
        return 1
    except Exception as err:  # the one line the user sees; --debug shows where it came from
        if args.debug:
            raise
        print(
            f"{name}: error: {type(err).__name__}: {_one_line(str(err))} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        lock = getattr(args, "lock", None)  # a run directory's lock (rnnkit.train.lock)
        if lock is not None:
            lock.close()


__all__ = ["UsageError", "build_parser", "main"]
