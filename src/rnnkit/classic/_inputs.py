"""Input checks and conversions shared by the discrete, continuous and modern Hopfield networks.

Each network takes NumPy arrays or tensors of real numbers, one vector ``(N,)`` or a batch
``(B, N)``; these helpers convert them to the network's dtype and device and word the errors.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .. import _checks
from .._checks import shape_text


def as_tensor(name: str, value: object, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``value`` (a torch tensor or a numpy array of real numbers) as a tensor of ``dtype``."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_ or not np.issubdtype(value.dtype, np.number):
            raise TypeError(f"{name} must be an array of real numbers, got dtype {value.dtype}")
        if np.iscomplexobj(value):
            raise TypeError(f"{name} must be an array of real numbers, got dtype {value.dtype}")
        value = torch.from_numpy(np.ascontiguousarray(value))
    elif not isinstance(value, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or a numpy array, got {type(value).__name__}"
        )
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    return value.detach().to(device=device, dtype=dtype)


def batch_of_vectors(name: str, value: Tensor, width: int, width_name: str) -> tuple[Tensor, bool]:
    """``value`` (width,) or (B, width) as (B, width); the flag says whether it was one vector."""
    if value.dim() == 1 and value.shape[0] == width:
        return value.unsqueeze(0), True
    if value.dim() == 2 and value.shape[1] == width:
        return value, False
    raise ValueError(
        f"{name} must be ({width_name}={width},) or (batch, {width_name}={width}), "
        f"got {shape_text(tuple(value.shape))}"
    )


def check_plus_minus_one(name: str, value: Tensor) -> None:
    """Raise naming ``name`` and the first offending entry unless every entry is -1 or +1."""
    bad = (value != 1) & (value != -1)
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} must contain only -1 and +1, got {float(value[where]):g} at index {where}"
        )


def check_finite(name: str, value: Tensor) -> None:
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got NaN or infinite entries")


def check_symmetric_weight(name: str, weight: Tensor) -> None:
    if not torch.allclose(weight, weight.T, rtol=1e-6, atol=1e-12):
        raise ValueError(f"{name} must be symmetric (w_ij = w_ji), got an asymmetric matrix")
    if bool((weight.diagonal() < 0).any()):
        raise ValueError(f"{name} must have a non-negative diagonal, got a negative w_ii")


def checked_weights(
    current_weight: Tensor,
    current_bias: Tensor,
    weight: Tensor | np.ndarray,
    bias: Tensor | np.ndarray | None,
) -> tuple[Tensor, Tensor]:
    """Validate a user's symmetric ``weight`` (N, N) and ``bias`` (N,) (None: zeros) and return
    copies in the dtype and device of the network's current ones."""
    n = current_weight.shape[0]
    w = as_tensor("weight", weight, dtype=current_weight.dtype, device=current_weight.device)
    _checks.shape("weight", w, (n, n))
    check_finite("weight", w)
    check_symmetric_weight("weight", w)
    b = torch.zeros_like(current_bias)
    if bias is not None:
        b = as_tensor("bias", bias, dtype=current_bias.dtype, device=current_bias.device)
        _checks.shape("bias", b, (n,))
        check_finite("bias", b)
    return w.clone(), b.clone()
