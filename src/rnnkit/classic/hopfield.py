"""The discrete Hopfield network (Hopfield 1982): ±1 units, symmetric weights, an energy that
async updates never raise, three storage rules, and Glauber (stochastic) units at a temperature.

The storage rules are in :mod:`rnnkit.classic.storage` (shared with the continuous network),
the capacity experiment in :mod:`rnnkit.classic.capacity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from ._inputs import as_tensor, batch_of_vectors, check_plus_minus_one, checked_weights
from .storage import RULES, learn_weights

MODES: tuple[str, ...] = ("async", "sync")


class HopfieldNetwork(nn.Module):
    r"""Hopfield's network of N binary units ``s_i ∈ {-1, +1}`` with symmetric weights.

    .. math::
        h_i = \sum_j w_{ij} s_j + b_i, \qquad s_i \leftarrow \operatorname{sgn}(h_i),
        \qquad E(s) = -\tfrac12 \sum_{ij} w_{ij} s_i s_j - \sum_i b_i s_i

    Tie rule: a unit whose field is exactly 0 keeps its state, so that stored patterns stay
    fixed points and async updates never raise E (a flip changes E by ``-2 s_i' h_i`` when
    ``w_ii >= 0``). The storage rules, on patterns ξ^1..ξ^P (rows of a (P, N) matrix X):

    - ``"hebbian"``: :math:`w_{ij} = \frac1N \sum_\mu \xi^\mu_i \xi^\mu_j`, :math:`w_{ii} = 0`.
      Capacity about 0.138 N for random patterns (Amit, Gutfreund & Sompolinsky 1985).
    - ``"storkey"`` (Storkey 1997), one pattern at a time:
      :math:`w_{ij} \mathrel{+}= \frac1N(\xi_i\xi_j - \xi_i h_{ji} - h_{ij}\xi_j)` with
      :math:`h_{ij} = \sum_{k \ne i,j} w_{ik} \xi_k`; :math:`w_{ii} = 0`. Incremental, local,
      and holds more random patterns than Hebb.
    - ``"pseudoinverse"`` (projection rule, Personnaz et al. 1986): :math:`W = X^+ X`, the
      projection onto the span of the patterns, with the diagonal then set to 0 (Kanter &
      Sompolinsky 1987: larger basins). Every stored pattern is a fixed point, even for
      correlated patterns and P close to N, as long as they are linearly independent.

    Dynamics (:meth:`recall`): ``"async"`` updates one unit at a time, in a fresh random order
    per sweep (the same order for every probe of the batch); ``"sync"`` updates all units at
    once (it can end in a 2-cycle instead of a fixed point). With ``temperature`` T > 0 the units
    are Glauber's stochastic units, :math:`P(s_i = +1) = \sigma(2 h_i / T)`, which become the
    deterministic units as T -> 0.

    The weights are learned in float64 and kept in the module's dtype (float32 unless given).

    Args:
        n_units: N, the number of units.
        rule: ``"hebbian"``, ``"storkey"`` or ``"pseudoinverse"``.

    Shapes:
        patterns, probes, states: (P, N), (B, N) or one vector (N,); energy: (B,) or a scalar.

    Example:
        >>> net = HopfieldNetwork(6, rule="hebbian")
        >>> _ = net.store(torch.tensor([[1, 1, 1, -1, -1, -1], [1, -1, 1, -1, 1, -1]]))
        >>> net.recall(torch.tensor([1, 1, 1, -1, -1, 1]), mode="sync")  # last bit flipped
        tensor([ 1.,  1.,  1., -1., -1., -1.])
        >>> net.energy(torch.tensor([1, 1, 1, -1, -1, -1]))
        tensor(-2.3333)
    """

    weight: Tensor
    bias: Tensor
    patterns: Tensor

    def __init__(
        self,
        n_units: int,
        rule: str = "hebbian",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.n_units = _checks.positive_int("n_units", n_units)
        self.rule = _checks.choice("rule", rule, RULES)
        factory: dict[str, Any] = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("weight", torch.zeros(n_units, n_units, **factory))
        self.register_buffer("bias", torch.zeros(n_units, **factory))
        self.register_buffer("patterns", torch.zeros(0, n_units, **factory))

    def extra_repr(self) -> str:
        return f"n_units={self.n_units}, rule={self.rule!r}, stored={self.patterns.shape[0]}"

    def _input(
        self, name: str, value: object, *, plus_minus_one: bool = True
    ) -> tuple[Tensor, bool]:
        t = as_tensor(name, value, dtype=self.weight.dtype, device=self.weight.device)
        t, single = batch_of_vectors(name, t, self.n_units, "n_units")
        if plus_minus_one:
            check_plus_minus_one(name, t)
        return t, single

    def store(self, patterns: Tensor | np.ndarray) -> HopfieldNetwork:
        """Add ±1 ``patterns`` (P, N) or (N,) to those stored and relearn the weights.

        The weights are the rule's on all stored patterns in the order they were given (for
        Hebb and the pseudo-inverse the order does not matter; Storkey's rule is incremental).
        Returns the network, so that ``HopfieldNetwork(64).store(x)`` reads naturally.
        """
        new, _ = self._input("patterns", patterns)
        self.patterns = torch.cat([self.patterns, new], dim=0)
        weight = learn_weights(self.rule, self.patterns.to(torch.float64))
        self.weight = weight.to(self.weight.dtype)
        self.bias = torch.zeros_like(self.bias)
        return self

    def clear(self) -> HopfieldNetwork:
        """Forget every stored pattern: zero weights and thresholds."""
        self.patterns = self.patterns[:0]
        self.weight = torch.zeros_like(self.weight)
        self.bias = torch.zeros_like(self.bias)
        return self

    def set_weights(
        self, weight: Tensor | np.ndarray, bias: Tensor | np.ndarray | None = None
    ) -> HopfieldNetwork:
        """Use a given symmetric ``weight`` (N, N) with ``w_ii >= 0`` and thresholds ``bias``
        (N,); forgets the stored patterns (a later :meth:`store` relearns from the new ones).
        """
        self.weight, self.bias = checked_weights(self.weight, self.bias, weight, bias)
        self.patterns = self.patterns[:0]
        return self

    def field(self, states: Tensor | np.ndarray) -> Tensor:
        """The local fields ``h = W s + b`` of ±1 ``states`` (B, N) or (N,): same shape."""
        s, single = self._input("states", states)
        h = s @ self.weight + self.bias  # (B, N); W is symmetric
        return h[0] if single else h

    def energy(self, states: Tensor | np.ndarray) -> Tensor:
        """``E(s) = -½ sᵀ W s - bᵀ s`` of ±1 ``states``: (B, N) -> (B,), (N,) -> scalar."""
        s, single = self._input("states", states)
        e = -0.5 * ((s @ self.weight) * s).sum(-1) - s @ self.bias  # (B,)
        return e[0] if single else e

    def is_fixed_point(self, states: Tensor | np.ndarray) -> Tensor:
        """Whether no deterministic update changes ``states``: (B, N) -> bool (B,)."""
        s, single = self._input("states", states)
        h = s @ self.weight + self.bias  # (B, N)
        fixed = ((h * s) >= 0).all(-1)  # h_i = 0 keeps s_i (the tie rule)
        return fixed[0] if single else fixed

    def recall(
        self,
        probes: Tensor | np.ndarray,
        mode: str = "async",
        max_steps: int = 100,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Run the dynamics from ±1 ``probes`` (B, N) or (N,) and return the final states.

        Args:
            probes: the starting states.
            mode: ``"async"`` (one unit at a time in a random order per sweep; stops after the
                first sweep that changes nothing, which is then a fixed point for every probe)
                or ``"sync"`` (``s <- sgn(W s + b)`` for all units; stops at a fixed point).
            max_steps: at most this many sweeps (async) or steps (sync).
            temperature: T >= 0; T > 0 draws each update from ``P(+1) = σ(2h/T)`` (Glauber),
                and the run stops, as at T = 0, after a sweep or step that changes nothing.
            generator: the torch.Generator for the order and the Glauber draws (default: the
                global one). The same random numbers are drawn whatever T is, so a run at a
                tiny T makes the same choices as the deterministic run with the same seed.

        Returns:
            the states, same shape as ``probes``, in the module's dtype.
        """
        _checks.choice("mode", mode, MODES)
        _checks.positive_int("max_steps", max_steps)
        temperature = _checks.non_negative_float("temperature", temperature)
        s, single = self._input("probes", probes)
        s = s.clone()
        with torch.no_grad():
            if mode == "sync":
                s = self._run_sync(s, max_steps, temperature, generator)
            else:
                s = self._run_async(s, max_steps, temperature, generator)
        return s[0] if single else s

    def update_unit(
        self,
        states: Tensor | np.ndarray,
        unit: int,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One asynchronous update of unit ``unit`` in every state of the batch.

        ``s_unit <- sgn(h_unit)`` (kept when ``h_unit = 0``), or a Glauber draw at T > 0.
        Returns new states, same shape as ``states`` (the input is not modified); :meth:`recall`
        with ``mode="async"`` is a sequence of these.

        Example:
            >>> w = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
            >>> net = HopfieldNetwork(3).set_weights(w)
            >>> net.update_unit(torch.tensor([1.0, 1.0, -1.0]), 2)
            tensor([1., 1., 1.])
        """
        s, single = self._input("states", states)
        if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < self.n_units:
            raise ValueError(f"unit must be an int in [0, {self.n_units - 1}], got {unit!r}")
        temperature = _checks.non_negative_float("temperature", temperature)
        s = s.clone()
        u = torch.rand(s.shape[0], generator=generator, dtype=s.dtype).to(s.device)  # (B,)
        h = s @ self.weight[unit] + self.bias[unit]  # (B,)
        s[:, unit] = self._update(h, s[:, unit], u, temperature)
        return s[0] if single else s

    def forward(self, probes: Tensor, **options: Any) -> Tensor:
        """Same as :meth:`recall`."""
        return self.recall(probes, **options)

    @staticmethod
    def _update(h: Tensor, s: Tensor, u: Tensor, temperature: float) -> Tensor:
        if temperature > 0.0:
            p_up = torch.sigmoid(2.0 * h / temperature)
            return torch.where(u < p_up, 1.0, -1.0).to(s.dtype)
        return torch.where(h == 0, s, torch.sign(h))

    def _uniforms(self, s: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.rand(s.shape, generator=generator, dtype=s.dtype).to(s.device)

    def _run_sync(
        self, s: Tensor, max_steps: int, temperature: float, generator: torch.Generator | None
    ) -> Tensor:
        for _ in range(max_steps):
            u = self._uniforms(s, generator)  # (B, N)
            new = self._update(s @ self.weight + self.bias, s, u, temperature)
            if torch.equal(new, s):
                break
            s = new
        return s

    def _run_async(
        self, s: Tensor, max_steps: int, temperature: float, generator: torch.Generator | None
    ) -> Tensor:
        weight, bias = self.weight, self.bias
        for _ in range(max_steps):
            order = torch.randperm(self.n_units, generator=generator).tolist()
            u = self._uniforms(s, generator)  # (B, N)
            before = s.clone()
            for i in order:
                h = s @ weight[i] + bias[i]  # (B,) the field of unit i, row i = column i
                s[:, i] = self._update(h, s[:, i], u[:, i], temperature)
            if torch.equal(before, s):
                break
        return s


__all__ = ["MODES", "RULES", "HopfieldNetwork"]
