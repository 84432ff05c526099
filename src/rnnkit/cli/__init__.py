"""The ``rnnkit`` command: one subcommand module per job, registered below.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser and
sets ``run=function(args) -> int``. A command reports bad input by raising
:class:`~rnnkit.cli._common.UsageError`: ``main`` prints its message, without a traceback, and
exits with code 2; argparse's own errors (an invalid choice, a bad number) are one line too.
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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsageError as err:
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["UsageError", "build_parser", "main"]
