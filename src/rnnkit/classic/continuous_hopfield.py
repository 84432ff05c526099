"""The continuous (graded-response) Hopfield network of Hopfield 1984: tanh units integrated
in time, with a Lyapunov energy that the dynamics never raise."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from ._inputs import (
    as_tensor,
    batch_of_vectors,
    check_finite,
    check_plus_minus_one,
    checked_weights,
)
from .storage import RULES, learn_weights


class ContinuousHopfieldNetwork(nn.Module):
    r"""Hopfield's graded-response network: potentials u, outputs V = tanh(λu), symmetric W.

    .. math::
        \tau \frac{du_i}{dt} = -u_i + \sum_j w_{ij} V_j + b_i,\qquad V_i = \tanh(\lambda u_i)

    .. math::
        E(V) = -\tfrac12 \sum_{ij} w_{ij} V_i V_j - \sum_i b_i V_i
               + \frac1\lambda \sum_i \int_0^{V_i} \operatorname{artanh}(v)\,dv,
        \qquad \int_0^{V} \operatorname{artanh} = \tfrac12[(1+V)\ln(1+V) + (1-V)\ln(1-V)]

    Since :math:`\partial E / \partial V_i = -\tau\, du_i/dt` and V is increasing in u,
    :math:`dE/dt = -\tau \sum_i \lambda (1 - V_i^2) (du_i/dt)^2 \le 0`: the energy never rises
    along a trajectory, which ends in a fixed point ``u = W V + b``. :meth:`integrate` uses
    Euler steps ``u <- u + (dt/τ)(-u + W V + b)``; with a step small against τ / (λ ||W||)
    (the default dt = 0.05 τ with λ = 4 and a Hebbian W) the discrete energy falls monotonically
    too. As λ grows the fixed points approach those of the discrete network (Hopfield 1984).

    The weights come from the discrete network's rules (``"hebbian"``, ``"storkey"``,
    ``"pseudoinverse"``, zero diagonal) on ±1 patterns, or from :meth:`set_weights`.

    Args:
        n_units: N.
        gain: λ > 0, the slope of tanh at 0 (λ > 1 is needed for non-zero fixed points with a
            Hebbian W).
        tau: τ > 0, the time constant.
        rule: the storage rule of :meth:`store`.

    Shapes:
        probes, potentials, outputs: (B, N) or (N,); trajectories (B, T+1, N) or (T+1, N);
        energy (B,) or a scalar.

    Example:
        >>> net = ContinuousHopfieldNetwork(6, gain=4.0)
        >>> _ = net.store(torch.tensor([[1, 1, 1, -1, -1, -1], [1, -1, 1, -1, 1, -1]]))
        >>> v = net.recall(torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, 0.2]))
        >>> v.sign()
        tensor([ 1.,  1.,  1., -1., -1., -1.])
        >>> e = net.energy(torch.tanh(4.0 * net.integrate(torch.full((6,), 0.3), n_steps=50)))
        >>> bool((e.diff() <= 0).all())
        True
    """

    weight: Tensor
    bias: Tensor
    patterns: Tensor

    def __init__(
        self,
        n_units: int,
        gain: float = 4.0,
        tau: float = 1.0,
        rule: str = "hebbian",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.n_units = _checks.positive_int("n_units", n_units)
        self.gain = _checks.positive_float("gain", gain)
        self.tau = _checks.positive_float("tau", tau)
        self.rule = _checks.choice("rule", rule, RULES)
        factory: dict[str, Any] = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("weight", torch.zeros(n_units, n_units, **factory))
        self.register_buffer("bias", torch.zeros(n_units, **factory))
        self.register_buffer("patterns", torch.zeros(0, n_units, **factory))

    def extra_repr(self) -> str:
        return (
            f"n_units={self.n_units}, gain={self.gain}, tau={self.tau}, rule={self.rule!r}, "
            f"stored={self.patterns.shape[0]}"
        )

    def _input(self, name: str, value: object) -> tuple[Tensor, bool]:
        t = as_tensor(name, value, dtype=self.weight.dtype, device=self.weight.device)
        t, single = batch_of_vectors(name, t, self.n_units, "n_units")
        check_finite(name, t)
        return t, single

    def store(self, patterns: Tensor | np.ndarray) -> ContinuousHopfieldNetwork:
        """Add ±1 ``patterns`` (P, N) or (N,) and relearn W by the network's rule."""
        new, _ = self._input("patterns", patterns)
        check_plus_minus_one("patterns", new)
        self.patterns = torch.cat([self.patterns, new], dim=0)
        weight = learn_weights(self.rule, self.patterns.to(torch.float64))
        self.weight = weight.to(self.weight.dtype)
        self.bias = torch.zeros_like(self.bias)
        return self

    def set_weights(
        self, weight: Tensor | np.ndarray, bias: Tensor | np.ndarray | None = None
    ) -> ContinuousHopfieldNetwork:
        """Use a symmetric ``weight`` (N, N) with ``w_ii >= 0`` and ``bias`` (N,)."""
        self.weight, self.bias = checked_weights(self.weight, self.bias, weight, bias)
        self.patterns = self.patterns[:0]
        return self

    def outputs(self, potentials: Tensor) -> Tensor:
        """``V = tanh(λ u)``, any shape."""
        return torch.tanh(self.gain * potentials)

    def derivative(self, potentials: Tensor | np.ndarray) -> Tensor:
        """``du/dt = (-u + W V + b) / τ`` at potentials (B, N) or (N,): same shape."""
        u, single = self._input("potentials", potentials)
        du = (-u + self.outputs(u) @ self.weight + self.bias) / self.tau  # (B, N)
        return du[0] if single else du

    def energy(self, outputs: Tensor | np.ndarray) -> Tensor:
        """The Lyapunov energy E(V) of outputs V in [-1, 1]: (B, N) -> (B,), (N,) -> scalar."""
        v, single = self._input("outputs", outputs)
        if bool((v.abs() > 1).any()):
            raise ValueError(f"outputs must be in [-1, 1], got max |V| = {float(v.abs().max()):g}")
        quadratic = -0.5 * ((v @ self.weight) * v).sum(-1) - v @ self.bias  # (B,)
        # ∫_0^V artanh written with xlogy so that V = ±1 gives ln 2 and not inf - inf.
        integral = 0.5 * (torch.special.xlogy(1 + v, 1 + v) + torch.special.xlogy(1 - v, 1 - v))
        e = quadratic + integral.sum(-1) / self.gain
        return e[0] if single else e

    def integrate(
        self, potentials: Tensor | np.ndarray, n_steps: int = 200, dt: float = 0.05
    ) -> Tensor:
        """Euler-integrate from potentials u(0) (B, N) or (N,) for ``n_steps`` steps of ``dt``.

        Returns the trajectory of potentials, (B, n_steps + 1, N) or (n_steps + 1, N), u(0)
        first. Outputs along it are :meth:`outputs` of it.
        """
        u, single = self._input("potentials", potentials)
        _checks.positive_int("n_steps", n_steps)
        dt = _checks.positive_float("dt", dt)
        rate = dt / self.tau
        path = [u]
        with torch.no_grad():
            for _ in range(n_steps):
                u = u + rate * (-u + self.outputs(u) @ self.weight + self.bias)  # (B, N)
                path.append(u)
        trajectory = torch.stack(path, dim=1)  # (B, T+1, N)
        return trajectory[0] if single else trajectory

    def recall(self, probes: Tensor | np.ndarray, n_steps: int = 200, dt: float = 0.05) -> Tensor:
        """Start from potentials u(0) = probe and return the outputs V after ``n_steps`` steps.

        A ±1 probe starts at outputs ``±tanh(λ)``; take ``.sign()`` of the result to compare
        with ±1 patterns. Shapes: (B, N) -> (B, N), (N,) -> (N,).
        """
        trajectory = self.integrate(probes, n_steps, dt)
        return self.outputs(trajectory[..., -1, :])

    def forward(self, probes: Tensor, **options: Any) -> Tensor:
        """Same as :meth:`recall`."""
        return self.recall(probes, **options)
