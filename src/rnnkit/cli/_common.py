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
import os
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


SEED_MAX = 2**63 - 1  # torch.manual_seed takes any int64 and numpy's SeedSequence any int >= 0


def seed_int(text: str) -> int:
    """argparse type: a seed, an int in 0..2**63-1 (what torch's and numpy's generators take).

    Example:
        >>> seed_int("7")
        7
        >>> seed_int("-1")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: expected an integer in 0..9223372036854775807, got -1
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in 0..{SEED_MAX}, got {text!r}"
        ) from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..{SEED_MAX}, got {value}")
    return value


def max_threads() -> int:
    """The most ``--threads`` accepts: four per core (more only adds waiting, and torch's
    thread pool crashes when asked for tens of thousands)."""
    return 4 * (os.cpu_count() or 1)


def threads_count(text: str) -> int:
    """argparse type: a thread count in 1..:func:`max_threads`."""
    value = positive_int(text)
    if value > max_threads():
        raise argparse.ArgumentTypeError(
            f"expected at most {max_threads()} (4 per core of {os.cpu_count()}), got {value}"
        )
    return value


def check_memory(what: str, nbytes: float, flag: str) -> None:
    """Refuse (UsageError) a request whose estimate ``nbytes`` exceeds the machine's memory,
    before anything is allocated; ``flag`` names the options to make smaller."""
    total = _memory_bytes()
    if nbytes > total:
        raise UsageError(
            f"{flag}: {what} needs about {_size(nbytes)}, more than this machine's memory "
            f"({_size(total)}); choose smaller sizes"
        )


def rnn_bytes(
    *, hidden: int, layers: int, inputs: int, outputs: int, batch: int, steps: int
) -> float:
    """A generous estimate of the memory of training a gated recurrent network (float32): the
    weights with their gradients and two AdamW moments, and the activations BPTT keeps
    (four gates and two states per unit, step and example), logits included.

    Example:
        >>> rnn_bytes(hidden=10, layers=1, inputs=1, outputs=1, batch=1, steps=1) > 0
        True
    """
    weights = layers * 4 * hidden * (2 * hidden + 2) + inputs * 4 * hidden + hidden * outputs
    activations = batch * steps * (layers * 8 * hidden + 3 * outputs)
    return 4.0 * (4 * weights + 2 * activations)


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return float("inf")


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1024 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


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
        type=threads_count,
        metavar="N",
        help=(
            f"CPU threads for torch, at most {max_threads()} (default: the cores idle at the "
            "start, at least 1)"
        ),
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
    # A lone lock file is what a run killed before it wrote anything leaves.
    if run_dir.exists() and (
        not run_dir.is_dir() or any(p.name != ".lock" for p in run_dir.iterdir())
    ):
        raise UsageError(
            f"--out {run_dir} already exists and is not empty; choose a new directory{hint}"
        )
    check_writable_dir(run_dir, "--out")
    return run_dir


def check_writable_dir(path: Path, flag: str) -> None:
    """Refuse (UsageError) a directory that could not be created or written, before any work:
    a dangling symlink, a file on the way, a place without write permission.

    Example:
        >>> import tempfile
        >>> check_writable_dir(Path(tempfile.mkdtemp()) / "new" / "run", "--out")
        >>> a_file = tempfile.mkstemp()[1]
        >>> check_writable_dir(Path(a_file) / "run", "--out")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnkit.cli._common.UsageError: --out ... must be a directory ..., got a file ... on the way
    """
    expect = f"{flag} {path} must be a directory that can be created and written"
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{expect}, got a symlink to a missing {os.readlink(path)}")
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise UsageError(f"{expect}, got a dangling symlink {probe} on the way")
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{expect}, got a file {probe} on the way")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{expect}, got {probe} without write permission")


def check_writable_file(path: Path, flag: str) -> None:
    """Like :func:`check_writable_dir` for an output file: its folder must be writable and the
    file itself, if it exists, must not be a directory."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} must be a file that can be written, got a directory")
    if path.is_symlink() and not path.exists():
        raise UsageError(
            f"{flag} {path} must be a file that can be written, got a dangling symlink"
        )
    check_writable_dir(path.parent if str(path.parent) else Path("."), flag)


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
