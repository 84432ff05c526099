"""The modern (dense, continuous) Hopfield network of Ramsauer et al. 2020, "Hopfield Networks
is All You Need": softmax retrieval of continuous patterns, usually in one step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from ._inputs import as_tensor, batch_of_vectors, check_finite


class ModernHopfieldNetwork(nn.Module):
    r"""Continuous patterns x_1..x_P (rows of X, (P, d)) retrieved by the softmax update.

    .. math::
        \xi \leftarrow X^\top \operatorname{softmax}(\beta X \xi)

    .. math::
        E(\xi) = -\operatorname{lse}(\beta, X\xi) + \tfrac12 \xi^\top\xi + \beta^{-1}\ln P
                 + \tfrac12 M^2,\qquad
        \operatorname{lse}(\beta, z) = \beta^{-1} \ln \textstyle\sum_\mu e^{\beta z_\mu},
        \quad M = \max_\mu \lVert x_\mu \rVert

    The update is the concave-convex procedure on E, so E never rises (Ramsauer et al.,
    Theorem 1), and E >= 0. With a large β and well separated patterns one step lands
    exponentially close to the stored pattern nearest the query (their Theorem 4); with a small
    β it averages patterns (a metastable state). The update is attention with the stored
    patterns as keys and values.

    Args:
        pattern_size: d, the length of a pattern.
        beta: β > 0, the inverse temperature.

    Shapes:
        patterns (P, d); queries and states (B, d) or (d,); :meth:`probabilities` (B, P) or (P,);
        energy (B,) or a scalar.

    Example:
        >>> net = ModernHopfieldNetwork(4, beta=8.0)
        >>> x = torch.tensor([[1.0, 0.0, 2.0, -1.0], [0.0, -2.0, 1.0, 1.0]])
        >>> _ = net.store(x)
        >>> query = torch.tensor([0.8, 0.3, 1.5, -0.6])  # a noisy, shrunken x[0]
        >>> net.probabilities(query)
        tensor([1.0000e+00, 5.69...e-15])
        >>> bool(torch.allclose(net.retrieve(query), x[0]))  # one step
        True
    """

    patterns: Tensor

    def __init__(
        self,
        pattern_size: int,
        beta: float = 1.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.pattern_size = _checks.positive_int("pattern_size", pattern_size)
        self.beta = _checks.positive_float("beta", beta)
        factory: dict[str, Any] = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("patterns", torch.zeros(0, pattern_size, **factory))

    def extra_repr(self) -> str:
        return f"pattern_size={self.pattern_size}, beta={self.beta}, stored={len(self.patterns)}"

    def _input(self, name: str, value: object) -> tuple[Tensor, bool]:
        t = as_tensor(name, value, dtype=self.patterns.dtype, device=self.patterns.device)
        t, single = batch_of_vectors(name, t, self.pattern_size, "pattern_size")
        check_finite(name, t)
        return t, single

    def _stored(self) -> Tensor:
        if self.patterns.shape[0] == 0:
            raise ValueError("patterns must be stored first (call store(patterns)), got none")
        return self.patterns

    def store(self, patterns: Tensor | np.ndarray) -> ModernHopfieldNetwork:
        """Add continuous ``patterns`` (P, d) or (d,) to those stored."""
        new, _ = self._input("patterns", patterns)
        self.patterns = torch.cat([self.patterns, new], dim=0)
        return self

    def clear(self) -> ModernHopfieldNetwork:
        """Forget every stored pattern."""
        self.patterns = self.patterns[:0]
        return self

    def probabilities(self, queries: Tensor | np.ndarray) -> Tensor:
        """``softmax(β X ξ)``: how much each stored pattern enters the update, (B, P) or (P,)."""
        x = self._stored()
        q, single = self._input("queries", queries)
        p = torch.softmax(self.beta * (q @ x.T), dim=-1)  # (B, P)
        return p[0] if single else p

    def retrieve(self, queries: Tensor | np.ndarray, n_steps: int = 1) -> Tensor:
        """Apply ``ξ <- Xᵀ softmax(β X ξ)`` ``n_steps`` times to queries (B, d) or (d,)."""
        x = self._stored()
        q, single = self._input("queries", queries)
        _checks.positive_int("n_steps", n_steps)
        with torch.no_grad():
            for _ in range(n_steps):
                q = torch.softmax(self.beta * (q @ x.T), dim=-1) @ x  # (B, P) @ (P, d)
        return q[0] if single else q

    def energy(self, states: Tensor | np.ndarray) -> Tensor:
        """E(ξ) of states (B, d) -> (B,), (d,) -> scalar; see the class docstring."""
        x = self._stored()
        s, single = self._input("states", states)
        lse = torch.logsumexp(self.beta * (s @ x.T), dim=-1) / self.beta  # (B,)
        big_m = x.norm(dim=-1).max()
        e = -lse + 0.5 * (s * s).sum(-1) + math.log(x.shape[0]) / self.beta + 0.5 * big_m**2
        return e[0] if single else e

    def forward(self, queries: Tensor, n_steps: int = 1) -> Tensor:
        """Same as :meth:`retrieve`."""
        return self.retrieve(queries, n_steps)
