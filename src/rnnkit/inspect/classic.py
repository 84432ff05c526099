r"""Inside the classic networks: Hopfield energy during recall, echo state reservoirs."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .. import _checks
from ..classic import EchoStateNetwork, HopfieldNetwork
from ..classic.esn import ridge_regression


def energy_during_recall(
    net: HopfieldNetwork,
    probe: Tensor | np.ndarray,
    *,
    sweeps: int = 5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Asynchronous recall from one ``probe``, recording :math:`E(s)` after every unit update.

    Each sweep updates every unit once in a fresh random order (as ``recall(mode="async")``),
    with :meth:`~rnnkit.classic.HopfieldNetwork.update_unit`; with symmetric weights and a
    non-negative diagonal the energy never rises.

    Args:
        net: a Hopfield network with stored patterns (or weights).
        probe: (N,) ±1 starting state.
        sweeps: sweeps over all units.
        generator: for the orders.

    Returns:
        ``(energy, states)``: energy (sweeps·N + 1,) from the probe on, and the states
        (sweeps·N + 1, N).

    Example:
        >>> net = HopfieldNetwork(6)
        >>> _ = net.store(torch.tensor([[1, 1, 1, -1, -1, -1]]))
        >>> e, s = energy_during_recall(net, torch.tensor([1, -1, 1, -1, -1, 1]), sweeps=2)
        >>> e.shape, bool((e[1:] <= e[:-1] + 1e-6).all()), s[-1].tolist()
        (torch.Size([13]), True, [1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    """
    _checks.positive_int("sweeps", sweeps)
    s = torch.as_tensor(probe, dtype=net.weight.dtype)
    if s.shape != (net.n_units,):
        raise ValueError(f"probe must be one state ({net.n_units},), got {tuple(s.shape)}")
    states = [s]
    for _ in range(sweeps):
        for unit in torch.randperm(net.n_units, generator=generator).tolist():
            s = net.update_unit(s, unit)
            states.append(s)
    stacked = torch.stack(states)
    return net.energy(stacked), stacked


def reservoir_trajectories(esn: EchoStateNetwork, u: object) -> Tensor:
    """The reservoir states x(n) driven by ``u`` (T, I): (T, N), the echo of the input."""
    return esn.states(u)


def memory_capacity(
    esn: EchoStateNetwork,
    *,
    max_delay: int | None = None,
    steps: int = 3000,
    washout: int = 200,
    ridge: float = 1e-8,
    seed: int = 0,
) -> Tensor:
    r"""Jaeger's (2001) short-term memory capacity curve of a one-input reservoir.

    Drive the reservoir with i.i.d. u(n) uniform in [-0.8, 0.8]; for each delay k fit a linear
    readout (ridge regression on ``[1; x(n)]``, on the first half after the washout) to
    reconstruct u(n - k), and on the second half take

    .. math::
        MC_k = \operatorname{corr}^2\big(u(n-k),\ \hat u_k(n)\big),\qquad MC = \sum_k MC_k

    which is at most N for N linear units.

    Args:
        esn: an :class:`~rnnkit.classic.EchoStateNetwork` with one input (without output
            feedback; its own readout is not used).
        max_delay: the largest k (default 2N).
        steps: length of the input.
        washout: first steps dropped.
        ridge: the ridge penalty of the reconstruction.
        seed: of the input.

    Returns:
        (max_delay,) float64 tensor: MC_k for k = 1..max_delay; its sum is MC.

    Example:
        >>> esn = EchoStateNetwork(1, 20, 1, spectral_radius=0.9, input_scaling=0.1, seed=0)
        >>> mc = memory_capacity(esn, steps=1500)
        >>> mc.shape, bool(mc[0] > 0.9), bool(3 < float(mc.sum()) <= 20)
        (torch.Size([40]), True, True)
    """
    if esn.input_size != 1:
        raise ValueError(f"esn must have one input for the memory capacity, got {esn.input_size}")
    n = esn.reservoir_size
    max_delay = 2 * n if max_delay is None else _checks.positive_int("max_delay", max_delay)
    _checks.positive_int("steps", steps)
    if not 0 <= washout or steps - washout - max_delay < 20:
        raise ValueError(
            f"steps must exceed washout + max_delay by at least 20, got steps={steps}, "
            f"washout={washout}, max_delay={max_delay}"
        )
    rng = np.random.default_rng(seed)
    u = rng.uniform(-0.8, 0.8, size=(steps, 1))
    x = esn.states(u).double().numpy()  # (T, N)
    start = washout + max_delay  # every delayed target exists from here on
    z = np.concatenate([np.ones((steps - start, 1)), x[start:]], axis=1)
    half = z.shape[0] // 2
    mc = np.zeros(max_delay)
    for k in range(1, max_delay + 1):
        target = u[start - k : steps - k]  # u(n - k) for n = start..steps-1
        w = ridge_regression(z[:half], target[:half], ridge, unpenalised=1)  # (1, N+1)
        pred = z[half:] @ w.T
        c = np.corrcoef(pred[:, 0], target[half:, 0])[0, 1]
        mc[k - 1] = 0.0 if not np.isfinite(c) else c * c
    return torch.from_numpy(mc)
