r"""Streaming: stateful inference one time step at a time, through the fused kernels.

A :class:`Stream` wraps a trained recurrent network and feeds it one input vector per call,
keeping the state in between, as a real-time system sees its input:

.. math::
    (y_t, s_t) = R(x_t, s_{t-1}),\qquad \text{one call of } \texttt{step} \text{ per } t

The outputs are those of the whole-sequence forward pass on the inputs seen so far (tested to
1e-5 in float32). Each step of a built-in cell runs through the C++ kernel (no autograd, the
transposed weights cached between steps); other cells run their ``step``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import _checks
from ._state import State
from .kernels._step import CellStepper
from .layers import RNN, Bidirectional, Readout, Stack
from .recurrent import Recurrent


class Stream:
    r"""Run a forward-in-time network one step at a time, keeping its state.

    Args:
        module: a :class:`~rnnkit.Recurrent` (not reversed), a :class:`~rnnkit.Stack` of them,
            or an :class:`~rnnkit.RNN` built without ``bidirectional`` (its readout is applied
            to every step). Dropout is not applied (inference). A reversed or bidirectional
            layer needs the whole sequence, so it raises ValueError.
        state: the initial state in the module's structure (a state per layer for a stack or
            RNN); None means zeros.

    Shapes:
        ``step(x)``: x (I,) for one sequence or (B, I) for B sequences in lockstep; returns y
        (O,) or (B, O). ``state``: the current state, per layer for a stack, batch-shaped.

    Example:
        >>> import torch, rnnkit
        >>> net = rnnkit.RNN(3, 8, cell="gru", num_layers=2, output_size=1)
        >>> x = torch.randn(1, 6, 3)
        >>> ys, _ = net(x)
        >>> stream = Stream(net)
        >>> steps = torch.stack([stream.step(x[0, t]) for t in range(6)])  # (6, 1)
        >>> bool(torch.allclose(steps, ys[0], atol=1e-5))
        True
        >>> stream.reset()  # back to the zero state
    """

    def __init__(self, module: nn.Module, state: State | None = None) -> None:
        layers, readout = _layers_of(module)
        self.module = module
        self.layers = layers
        self.readout = readout
        self._steppers = [CellStepper(layer.cell) for layer in layers]
        # a parameter keeps its object through .to()/.double(), so its dtype is the module's
        self._first_param = next(layers[0].cell.parameters())
        self._states: tuple[State, ...] | None = None
        self.reset(state)

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    def reset(self, state: State | None = None) -> None:
        """Forget the past: the next step starts from ``state`` (None: zeros)."""
        self._checked_batch: int | None = None
        if state is None:
            self._states = None
            return
        states = state if self._is_stack() else (state,)
        if not isinstance(states, tuple) or len(states) != len(self.layers):
            raise TypeError(
                f"state must be a tuple of {len(self.layers)} layer states, got "
                f"{type(state).__name__}"
            )
        self._states = states

    @property
    def state(self) -> State | None:
        """The current state in the module's structure (a tuple per layer for a stack or RNN);
        None before the first step."""
        if self._states is None or self._is_stack():
            return self._states
        return self._states[0]

    def _is_stack(self) -> bool:
        return isinstance(self.module, (Stack, RNN))

    @torch.no_grad()
    def step(self, x: Tensor) -> Tensor:
        """Feed one time step ``x`` (I,) or (B, I); return the output of this step."""
        x = _checks.tensor("x", x)
        size = self.input_size
        single = x.dim() == 1
        if not (x.dim() in (1, 2) and x.shape[-1] == size):
            got = _checks.shape_text(tuple(x.shape))
            raise ValueError(f"x must be ({size},) or (batch, {size}), got {got}")
        if single:
            x = x.unsqueeze(0)  # (1, I)
        _checks.same_dtype("x", x, self._first_param.dtype)
        B = x.shape[0]
        if self._states is None:
            states = tuple(
                layer.cell.init_state(B, device=x.device, dtype=x.dtype) for layer in self.layers
            )
        elif self._checked_batch != B:  # a given state, or a new batch size: check it once
            try:
                states = tuple(
                    layer.cell.check_state(s, B) for layer, s in zip(self.layers, self._states)
                )
            except ValueError as err:
                if self._checked_batch is None:  # a state given to reset(): its own message
                    raise
                raise ValueError(
                    f"x must have the batch size of the stream's state, {self._checked_batch}, "
                    f"got {B}; call reset() to start a stream of another batch size ({err})"
                ) from None
        else:
            states = self._states
        new_states = []
        for stepper, s in zip(self._steppers, states):
            x, s = stepper(x, s)
            new_states.append(s)
        self._states = tuple(new_states)
        self._checked_batch = B
        if self.readout is not None:
            x = self.readout(x)
        return x[0] if single else x


def _layers_of(module: nn.Module) -> tuple[list[Recurrent], Readout | None]:
    readout = None
    if isinstance(module, RNN):
        readout = module.readout
        module = module.stack
    layers = list(module.layers) if isinstance(module, Stack) else [module]
    recurrent: list[Recurrent] = []
    for layer in layers:
        if isinstance(layer, Bidirectional) or getattr(layer, "reverse", False):
            raise ValueError(
                "module must run forward in time to stream, got a reversed or bidirectional "
                "layer (it needs the whole sequence)"
            )
        if not isinstance(layer, Recurrent):
            raise TypeError(
                "module must be a Recurrent, a Stack of Recurrent layers or an RNN, got "
                f"{type(layer).__name__}"
            )
        recurrent.append(layer)
    return recurrent, readout


__all__ = ["Stream"]
