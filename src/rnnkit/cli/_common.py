"""What every subcommand shares: the error type for bad input and argument types."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


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
