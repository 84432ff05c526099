"""Run an exported file in onnxruntime next to the module it came from."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

from .._state import State, leaves
from ..cells import LSTMCell, LSTMState
from ..layers import RNN, Readout
from ..models import CharLanguageModel, Forecaster, SequenceClassifier
from ._onnx import Plan, _units, plan


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def reference(module: nn.Module, x: Tensor, lengths: Tensor | None = None) -> list[Tensor]:
    """The module's outputs on ``x`` in the order of the whole-sequence graph's outputs."""
    with torch.no_grad():
        if isinstance(module, Readout):
            return [module(x)]
        if isinstance(module, CharLanguageModel):
            logits, state = module(x)
            return [logits, *leaves(state)]
        if isinstance(module, (Forecaster, SequenceClassifier)):
            return [module(x, lengths)]
        ys, state = module(x, lengths=lengths)
        return [ys, *leaves(state)]


def _structure(p: Plan, flat: list[Tensor]) -> State:
    """Flat state tensors (graph order) -> the module's state (step graphs: one unit a layer)."""
    states: list[State] = []
    k = 0
    for units in p.layers:
        cell = units[0].cell
        if isinstance(cell, LSTMCell):
            states.append(LSTMState(flat[k], flat[k + 1]))
            k += 2
        else:
            states.append(flat[k])
            k += 1
    return tuple(states) if p.stacked else states[0]


def reference_step(module: nn.Module, x_t: Tensor, state: list[Tensor]) -> list[Tensor]:
    """One step of the module from the flat ``state``, in the order of the step graph's
    outputs: ``y_t`` and the next state."""
    p = plan(module)
    with torch.no_grad():
        if isinstance(module, Readout):
            return [module(x_t)]
        s = _structure(p, state)
        x = x_t.unsqueeze(1)  # one time step
        if isinstance(module, CharLanguageModel):
            logits, new = module(x, s)
            return [logits[:, 0], *leaves(new)]
        if isinstance(module, (Forecaster, SequenceClassifier)):
            ys, new = module.rnn(x, s)
            y = module.readout(ys[:, 0])
            if isinstance(module, Forecaster):
                y = y.view(x.shape[0], module.config.horizon, module.config.input_size)
            return [y, *leaves(new)]
        time_first = isinstance(module, RNN) and not module.batch_first
        ys, new = module(x.transpose(0, 1) if time_first else x, s)
        return [ys[0] if time_first else ys[:, 0], *leaves(new)]


def step_example(module: nn.Module, example_x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """A step input and a state that is not zero: the module's state after all but the last
    step of ``example_x``, and that last step."""
    p = plan(module)
    time_axis = 0 if isinstance(module, RNN) and not module.batch_first else 1
    T = example_x.shape[time_axis]
    x_t = example_x.select(time_axis, T - 1)
    B = x_t.shape[0]
    zeros = [torch.zeros(B, u.state_size, dtype=torch.float32) for u in _units(p) for _ in u.leaves]
    if T == 1 or isinstance(module, Readout):
        return x_t, zeros
    state = zeros
    for t in range(T - 1):
        state = reference_step(module, example_x.select(time_axis, t), state)[1:]
    return x_t, state


def run(path: str | os.PathLike, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The outputs of the ONNX file at ``path`` in onnxruntime (CPU) on ``feeds``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def verify(
    module: nn.Module,
    path: str | os.PathLike,
    example_x: Tensor,
    *,
    lengths: Tensor | None = None,
    step: bool = False,
) -> float:
    """The largest absolute difference between the ONNX file at ``path`` run in onnxruntime and
    ``module`` on ``example_x`` (with ``step=True``: one step from the state after all but the
    last step of ``example_x``), over every output."""
    was_training = module.training
    module.eval()
    try:
        if step:
            x_t, state = step_example(module, example_x)
            expected = reference_step(module, x_t, state)
            names = [f"{leaf}_{u.name}" for u in _units(plan(module)) for leaf in u.leaves]
            feeds = {"x_t": _numpy(x_t), **{n: _numpy(s) for n, s in zip(names, state)}}
        else:
            expected = reference(module, example_x, lengths)
            feeds = {"x": _numpy(example_x)}
            if lengths is not None:
                feeds["lengths"] = _numpy(lengths.to(torch.int64))
    finally:
        module.train(was_training)
    got = run(path, feeds)
    if len(got) != len(expected):
        raise ValueError(f"{path} has {len(got)} outputs, the module {len(expected)}")
    worst = 0.0
    for a, b in zip(got, expected):
        b_np = _numpy(b)
        if a.shape != b_np.shape:
            raise ValueError(f"{path} gives an output of shape {a.shape}, the module {b_np.shape}")
        if a.size:
            worst = max(worst, float(np.nanmax(np.abs(a - b_np))))
    return worst
