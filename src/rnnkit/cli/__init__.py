"""The ``rnnkit`` command: one subcommand module per job, registered below.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parser and
sets ``run=function(args) -> int``. A command reports bad input by raising
:class:`~rnnkit.cli._common.UsageError`: ``main`` prints its message, without a traceback, and
exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._common import UsageError

COMMAND_MODULES: tuple[str, ...] = (
    "rnnkit.cli.text",
    "rnnkit.cli.series",
    "rnnkit.cli.hopfield",
    "rnnkit.cli.esn",
    "rnnkit.cli.bench",
    "rnnkit.cli.inspect",
    "rnnkit.cli.export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Train, evaluate and use recurrent neural networks.",
    )
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
