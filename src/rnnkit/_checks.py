"""Argument checks shared by every layer: one place that words the error messages.

Every message names the argument, what was expected and what was given, so that a user who
passes a wrong shape reads ``x must be (batch, time, 8), got (4, 8)`` and not a matmul error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def non_negative_float(name: str, value: object, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    # NaN fails the first test and infinity the second: no option here means anything there.
    if not value >= 0.0 or value == float("inf") or (upper is not None and value > upper):
        bound = f"in [0, {upper}]" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not 0.0 < float(value) < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def fraction(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a number in (0, 1], else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return float(value)


def choice(name: str, value: object, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def shape_text(dims: Sequence[object]) -> str:
    """``(4, 8)``; a one-dimensional shape keeps Python's comma: ``(4,)``."""
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(str(d) for d in dims) + ")"


def tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def shape(name: str, value: Tensor, expected: Sequence[int | str]) -> None:
    """Check ``value.shape`` against ``expected``; strings in ``expected`` match any size."""
    ok = value.dim() == len(expected) and all(
        isinstance(e, str) or e == s for e, s in zip(expected, value.shape)
    )
    if not ok:
        raise ValueError(
            f"{name} must be {shape_text(expected)}, got {shape_text(tuple(value.shape))}"
        )


def same_dtype(name: str, value: Tensor, dtype: torch.dtype) -> None:
    if value.dtype != dtype:
        raise TypeError(
            f"{name} must have dtype {dtype} like the module's parameters, got {value.dtype}"
        )


def lengths(value: object, batch: int, time: int, device: torch.device) -> Tensor:
    """Validate ``lengths`` of a padded batch: ``(batch,)`` ints in ``[1, time]``."""
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"lengths must be an integer tensor, got dtype {value.dtype}")
        t = value
    elif isinstance(value, Sequence) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        t = torch.tensor(list(value), dtype=torch.long)
    else:
        raise TypeError(f"lengths must be a tensor or a list of ints, got {type(value).__name__}")
    if t.dim() != 1 or t.shape[0] != batch:
        raise ValueError(f"lengths must be ({batch},), got {shape_text(tuple(t.shape))}")
    lo, hi = int(t.min()), int(t.max())
    if lo < 1 or hi > time:
        raise ValueError(f"lengths must be in [1, {time}] (the time axis), got min {lo}, max {hi}")
    return t.to(device=device, dtype=torch.long)
