"""The series layout of the echo state network: user data in, checked, as time-major arrays.

Users pass NumPy arrays or tensors ``(time, features)`` or ``(batch, time, features)``; the
reservoir engine wants ``(time, features, batch)``, so that one step of the batch is a contiguous
``(features, batch)`` slice. :func:`time_major` checks and converts; :func:`batch_first` turns
results back into tensors in the user's layout.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .._checks import shape_text


def time_major(
    name: str,
    value: object,
    features: int,
    dtype: np.dtype,
    *,
    like: np.ndarray | None = None,
    batched: bool | None = None,
) -> tuple[np.ndarray, bool]:
    """``value`` as a contiguous (T, features, B) array of ``dtype``, and whether it had a batch.

    With ``like`` (T, F', B), ``value`` must have its T and B and the layout ``batched``.

    Example:
        >>> arr, batched = time_major("u", np.zeros((2, 5, 3)), 3, np.dtype(np.float64))
        >>> arr.shape, batched
        ((5, 3, 2), True)
        >>> time_major("u", np.zeros((5, 4)), 3, np.dtype(np.float64))
        Traceback (most recent call last):
        ValueError: u must be (time, 3) or (batch, time, 3), got (5, 4)
    """
    if isinstance(value, Tensor):
        arr = value.detach().cpu().numpy()
    elif isinstance(value, np.ndarray):
        arr = value
    else:
        raise TypeError(
            f"{name} must be a numpy array or a torch.Tensor, got {type(value).__name__}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    expected = f"(time, {features}) or (batch, time, {features})"
    if like is not None:
        steps, batch = like.shape[0], like.shape[2]
        expected = f"({batch}, {steps}, {features})" if batched else f"({steps}, {features})"
    ok = arr.ndim in (2, 3) and arr.shape[-1] == features and arr.shape[-2] >= 1
    if like is not None:
        ok = ok and (arr.ndim == 3) == batched and arr.shape[-2] == like.shape[0]
        ok = ok and (arr.ndim == 2 or arr.shape[0] == like.shape[2])
    if not ok or (arr.ndim == 3 and arr.shape[0] < 1):
        raise ValueError(f"{name} must be {expected}, got {shape_text(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got NaN or inf values")
    is_batched = arr.ndim == 3
    arr3 = arr[None] if not is_batched else arr  # (B, T, F)
    return np.ascontiguousarray(arr3.transpose(1, 2, 0), dtype=dtype), is_batched


def batch_first(arr: np.ndarray, batched: bool, dtype: torch.dtype) -> Tensor:
    """Time-major (T, F, B) -> a tensor of ``dtype``, (B, T, F) or, unbatched, (T, F)."""
    out = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).to(dtype)
    return out if batched else out[0]
