"""The playground's own look inside one recurrent layer: gates, states and gradient flow.

This is the one place where the playground reads gates. It runs the cell's reference step once
per time step (so the states are exactly those the layer computes) and evaluates the gate
formulas of DESIGN.md on the same inputs. The two functions have the interface of
``rnnkit.inspect`` (issue 12), so that the session can switch to it in two lines:
``layer_trace(layer, x)`` returns what ``rnnkit.inspect.trace(layer, x).layers[0]`` holds
(``.gates`` and ``.states``: dicts of (B, T, H) tensors), and ``gradient_norms(layer, x,
loss_fn)`` what ``rnnkit.inspect.gradient_flow(layer, x, loss_fn)`` returns (a (T,) tensor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _activations
from ..cells import ElmanCell, GRUCell, JordanCell, LSTMCell
from ..recurrent import Recurrent


@dataclass
class LayerTrace:
    """Gates and states of one layer, each (B, T, H) after activation (Jordan's y: (B, T, O))."""

    gates: dict[str, Tensor]
    states: dict[str, Tensor]


def _lstm_gates(cell: LSTMCell, x: Tensor, state) -> dict[str, Tensor]:
    h, c = state
    pre = F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh)
    i, f, g, o = pre.chunk(4, dim=1)
    if cell.weight_ch is not None:
        p_i, p_f, p_o = cell.weight_ch.chunk(3)
        i, f = i + p_i * c, f + p_f * c
    i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
    c_new = f * c + i * g
    if cell.weight_ch is not None:
        o = o + p_o * c_new
    return {"i": i, "f": f, "g": g, "o": torch.sigmoid(o)}


def _gru_gates(cell: GRUCell, x: Tensor, h: Tensor) -> dict[str, Tensor]:
    H = cell.hidden_size
    gi = F.linear(x, cell.weight_ih, cell.bias_ih)
    b = cell.bias_hh
    w_r, w_z, w_n = cell.weight_hh.split(H)
    b_r, b_z, b_n = (None, None, None) if b is None else b.split(H)
    r = torch.sigmoid(gi[:, :H] + F.linear(h, w_r, b_r))
    z = torch.sigmoid(gi[:, H : 2 * H] + F.linear(h, w_z, b_z))
    if cell.reset == "after":
        n = torch.tanh(gi[:, 2 * H :] + r * F.linear(h, w_n, b_n))
    else:
        n = torch.tanh(gi[:, 2 * H :] + F.linear(r * h, w_n, b_n))
    return {"r": r, "z": z, "n": n}


def _jordan_hidden(cell: JordanCell, x: Tensor, y: Tensor) -> Tensor:
    f = _activations.get(cell.activation)
    return f(F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(y, cell.weight_yh))


@torch.no_grad()
def layer_trace(layer: Recurrent, x: Tensor) -> LayerTrace:
    """Trace ``layer`` (a forward :class:`~rnnkit.Recurrent` of a built-in cell) on x (B, T, I)."""
    cell = layer.cell
    if layer.reverse:
        raise ValueError("layer must run forward in time, got reverse=True")
    state = cell.init_state(x.shape[0], device=x.device, dtype=x.dtype)
    gates: dict[str, list[Tensor]] = {}
    states: dict[str, list[Tensor]] = {}
    for t in range(x.shape[1]):
        xt = x[:, t]
        if isinstance(cell, LSTMCell):
            step_gates = _lstm_gates(cell, xt, state)
        elif isinstance(cell, GRUCell):
            step_gates = _gru_gates(cell, xt, state)
        else:
            step_gates = {}
        hidden = _jordan_hidden(cell, xt, state) if isinstance(cell, JordanCell) else None
        _, state = cell.step(xt, state)
        if isinstance(cell, LSTMCell):
            step_states = {"h": state.h, "c": state.c}
        elif isinstance(cell, JordanCell):
            step_states = {"h": hidden, "y": state}
        elif isinstance(cell, (GRUCell, ElmanCell)):
            step_states = {"h": state}
        else:
            raise TypeError(f"layer must hold a built-in cell, got {type(cell).__name__}")
        for name, value in step_gates.items():
            gates.setdefault(name, []).append(value)
        for name, value in step_states.items():
            states.setdefault(name, []).append(value)
    stack = lambda d: {k: torch.stack(v, dim=1) for k, v in d.items()}  # noqa: E731
    return LayerTrace(stack(gates), stack(states))


def gradient_norms(layer: Recurrent, x: Tensor, loss_fn: Callable[[Tensor], Tensor]) -> Tensor:
    """‖∂L/∂s_t‖ for every step t: (T,), over the batch and the units of the fed-back state.

    ``loss_fn(ys)`` maps the layer's outputs (B, T, O) to the scalar L. The state fed back is
    h (Elman, GRU, LSTM's h) or y (Jordan), the step's output in every built-in cell.
    """
    cell = layer.cell
    state = cell.init_state(x.shape[0], device=x.device, dtype=x.dtype)
    ys = []
    for t in range(x.shape[1]):
        y, state = cell.step(x[:, t], state)
        y.retain_grad()
        ys.append(y)
    loss_fn(torch.stack(ys, dim=1)).backward()
    norms = [y.grad.norm() if y.grad is not None else y.new_zeros(()) for y in ys]
    return torch.stack(norms).detach()
