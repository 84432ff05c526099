"""What every subcommand shares: the error type for bad input, argument types, the cell names,
defaults taken from config dataclasses, ``--threads`` and the ``--out`` rule.

The ``--out`` rule: every command that writes files writes them into one run directory, ``--out
DIR`` (default ``runs/COMMAND-YYYYmmdd-HHMMSS``), which must be new or empty; nothing existing
is ever overwritten.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, no traceback."""


def positive_int(text: str) -> int:
    """argparse type: an int >= 1, with a message that says what was given."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def float_in(
    low: float, high: float, *, include_low: bool = True, include_high: bool = True
) -> Callable[[str], float]:
    """argparse type: a float in an interval, e.g. ``float_in(0, 1, include_low=False)``.

    Example:
        >>> float_in(0, 1, include_low=False)("0.5")
        0.5
        >>> float_in(0, 1, include_low=False)("0")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: expected a number in (0, 1], got 0.0
    """
    interval = (
        ("[" if include_low else "(")
        + f"{low:g}, "
        + ("inf)" if math.isinf(high) else f"{high:g}" + ("]" if include_high else ")"))
    )

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number in {interval}, got {text!r}"
            ) from None
        above = value >= low if include_low else value > low
        below = value <= high if include_high else value < high
        if not (above and below and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {value}")
        return value

    return parse


def csv_column(path: str, column: str):
    """The numeric ``column`` of the CSV file at ``path`` (``--csv``/``--column``), as a float64
    array; a missing file, an unknown column or bad values become one-line UsageErrors."""
    from ..data.series import read_csv_column

    try:
        return read_csv_column(path, column)
    except FileNotFoundError as err:
        raise UsageError(f"--csv: {err}") from None
    except ValueError as err:
        raise UsageError(f"--csv {path}: {err}") from None


def cell_names() -> tuple[str, ...]:
    """The recurrent cells a command can build, the ``choices`` of every ``--cell``: the kinds of
    the cell registry (:data:`rnnkit.cells.CELLS`).

    Example:
        >>> "lstm" in cell_names() and "gru" in cell_names()
        True
    """
    from ..cells import cell_names as registry_cell_names

    return registry_cell_names()


def default_threads() -> int:
    """The threads a heavy command uses when ``--threads`` is not given: the cores that are idle
    now (:func:`rnnkit.kernels.recommended_threads`), at least one.

    With more runnable threads than cores, torch's worker threads wait for each other at every
    small operation of the time loop, so on a busy machine fewer threads are faster.
    """
    from ..kernels import recommended_threads

    return recommended_threads()


def add_threads_option(parser: argparse.ArgumentParser | Any) -> None:
    """``--threads N``: CPU threads for torch (see :func:`default_threads`)."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads for torch (default: the cores idle at the start, at least 1)",
    )


def apply_threads(args: argparse.Namespace) -> int:
    """Set torch's thread count from ``--threads`` or :func:`default_threads`; return it."""
    import torch

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    return threads


def add_out_option(parser: argparse.ArgumentParser | Any, command: str, writes: str) -> None:
    """``--out DIR``, the same for every command that writes files (the rule above)."""
    parser.add_argument(
        "--out",
        metavar="DIR",
        help=f"new or empty directory for {writes} (default: runs/{command}-YYYYmmdd-HHMMSS)",
    )


def new_run_dir(out: str | None, command: str, hint: str = "") -> Path:
    """The run directory of ``--out`` (not created yet), refused if it holds anything; ``hint``
    ends the message (e.g. how to continue the run instead).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> new_run_dir(folder, "esn") == Path(folder)
        True
        >>> new_run_dir(None, "esn").parent
        PosixPath('runs')
    """
    run_dir = Path(out or time.strftime(f"runs/{command}-%Y%m%d-%H%M%S"))
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UsageError(
            f"--out {run_dir} already exists and is not empty; choose a new directory{hint}"
        )
    return run_dir


def default_of(source: Any, name: str) -> Any:
    """The default of field ``name`` of a dataclass (class or instance), the one place it is
    written.

    Example:
        >>> from rnnkit.train import TrainConfig
        >>> default_of(TrainConfig, "lr"), default_of(TrainConfig(lr=0.5), "lr")
        (0.003, 0.5)
    """
    if not isinstance(source, type):
        return getattr(source, name)
    for field in dataclasses.fields(source):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            raise ValueError(f"{source.__name__}.{name} has no default")
    raise ValueError(f"{source.__name__} has no field {name!r}")


def show(value: Any) -> str:
    """A default as the help text shows it: numbers in ``%g`` form, choices as given.

    Example:
        >>> show(3e-3), show(0.2), show(384), show(True), show((1, 2))
        ('0.003', '0.2', '384', 'on', '1,2')
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(show(v) for v in value)
    return str(value)


def with_default(help_text: str, source: Any, name: str) -> str:
    """``help_text`` and the default of ``source.name``: ``peak lr (default: 0.003)``."""
    return f"{help_text} (default: {show(default_of(source, name))})"


def add_option(
    parser: argparse.ArgumentParser | Any,
    flag: str,
    source: Any,
    help_text: str,
    *,
    field: str | None = None,
    given_only: bool = False,
    **kwargs: Any,
) -> None:
    """Add ``flag`` whose default is the dataclass field (``field`` or the flag's name) and whose
    help says so. ``given_only``: the parsed value is None unless given (the dataclass then
    fills it in), for commands that must know what was given (``--resume``).
    """
    name = field or flag.lstrip("-").replace("-", "_")
    default = None if given_only else default_of(source, name)
    parser.add_argument(flag, default=default, help=with_default(help_text, source, name), **kwargs)


def probability(text: str) -> float:
    """argparse type: a float in [0, 1) (a dropout rate)."""
    return float_in(0.0, 1.0, include_high=False)(text)


def fraction(text: str) -> float:
    """argparse type: a float in (0, 1) (a part of a series)."""
    return float_in(0.0, 1.0, include_low=False, include_high=False)(text)
