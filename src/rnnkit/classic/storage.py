r"""The storage rules of Hopfield networks: ±1 patterns (P, N) -> symmetric weights (N, N).

.. math::
    \text{hebbian:}\quad w_{ij} = \tfrac1N \textstyle\sum_\mu \xi^\mu_i \xi^\mu_j

    \text{storkey:}\quad w_{ij} \mathrel{+}= \tfrac1N(\xi_i\xi_j - \xi_i h_{ji} - h_{ij}\xi_j),
    \quad h_{ij} = \textstyle\sum_{k \ne i,j} w_{ik} \xi_k \quad\text{(one pattern at a time)}

    \text{pseudoinverse:}\quad W = X^+ X

always with :math:`w_{ii} = 0`. The rules compute in the dtype they are given (the networks pass
float64) and are shared by :class:`~rnnkit.classic.HopfieldNetwork` and
:class:`~rnnkit.classic.ContinuousHopfieldNetwork`, whose docstrings discuss them.

Example:
    >>> x = torch.tensor([[1.0, -1.0, 1.0]], dtype=torch.float64)
    >>> learn_weights("hebbian", x) * 3
    tensor([[ 0., -1.,  1.],
            [-1.,  0., -1.],
            [ 1., -1.,  0.]], dtype=torch.float64)
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _checks

RULES: tuple[str, ...] = ("hebbian", "storkey", "pseudoinverse")


def _hebbian(patterns: Tensor) -> Tensor:
    n = patterns.shape[1]
    weight = patterns.T @ patterns / n  # (N, N)
    weight.fill_diagonal_(0.0)
    return weight


def _storkey(patterns: Tensor) -> Tensor:
    n = patterns.shape[1]
    weight = patterns.new_zeros(n, n)
    for xi in patterns:  # the rule is incremental: one pattern at a time, in order
        h = weight @ xi  # (N,) h_i = sum_k w_ik xi_k, with w_ii = 0
        local = h[:, None] - weight * xi[None, :]  # (N, N) h_ij = sum_{k != i, j} w_ik xi_k
        weight += (torch.outer(xi, xi) - xi[:, None] * local.T - local * xi[None, :]) / n
        weight = (weight + weight.T) / 2  # symmetric in exact arithmetic; rounding is not
        weight.fill_diagonal_(0.0)
    return weight


def _pseudoinverse(patterns: Tensor) -> Tensor:
    weight = torch.linalg.pinv(patterns) @ patterns  # (N, N) projection onto the patterns' span
    weight = (weight + weight.T) / 2  # exact symmetry despite rounding
    weight.fill_diagonal_(0.0)
    return weight


_RULE_FUNCTIONS = {"hebbian": _hebbian, "storkey": _storkey, "pseudoinverse": _pseudoinverse}


def learn_weights(rule: str, patterns: Tensor) -> Tensor:
    """The weights (N, N) that ``rule`` gives for ±1 ``patterns`` (P, N), in their dtype."""
    return _RULE_FUNCTIONS[_checks.choice("rule", rule, RULES)](patterns)
