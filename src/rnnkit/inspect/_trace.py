r"""Traces: every gate and state of every recurrent layer at every time step."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .. import _checks
from .._state import State, map_state
from ..cells import ElmanCell, GRUCell, JordanCell, LSTMCell, LSTMState, RecurrentCell, spec_of
from ..layers import RNN, Bidirectional, Stack
from ..models import CharLanguageModel, Forecaster, SequenceClassifier
from ..recurrent import Recurrent, reverse_padded

#: kind -> the names of its gates, in the order of the cell's weight rows.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
    "elman": (),
    "jordan": (),
}
#: kind -> the names of its per-step states.
STATES: dict[str, tuple[str, ...]] = {
    "lstm": ("h", "c"),
    "gru": ("h",),
    "elman": ("h",),
    "jordan": ("h", "y"),
}


@dataclass
class LayerTrace:
    """The gates and states of one recurrent layer (one direction of a bidirectional one).

    Attributes:
        name: where the layer sits in the traced module, e.g. ``"rnn.stack.layers.0.backward"``.
        kind: the cell kind in :data:`rnnkit.cells.CELLS` (``"lstm"``, ``"gru"``, ...).
        reverse: whether the layer runs backward in time.
        gates: gate name -> (B, T, H) after activation (LSTM ``i, f, g, o``; GRU ``r, z, n``;
            none for Elman and Jordan cells).
        states: state name -> (B, T, ·): LSTM ``h, c``; GRU and Elman ``h``; Jordan ``h``
            (B, T, H) and ``y`` (B, T, O).
        outputs: (B, T, O) the layer's output sequence, as the layer returns it.
        final_state: the layer's final state, as the layer returns it.

    Every tensor is time-aligned with the input (also for a reversed layer) and zero past a
    sequence's length.
    """

    name: str
    kind: str
    reverse: bool
    gates: dict[str, Tensor]
    states: dict[str, Tensor]
    outputs: Tensor
    final_state: State
    # The hidden state h of every step in the order the loop ran, for gradient_flow.
    steps_h: list[Tensor] = field(default_factory=list, repr=False)


@dataclass
class Trace:
    """What :func:`trace` returns.

    Attributes:
        layers: one :class:`LayerTrace` per recurrent layer, bottom to top; a bidirectional
            layer gives its forward then its backward direction.
        output: the output sequence of the traced recurrent module as its ``forward`` returns it
            (with an :class:`~rnnkit.RNN`'s readout); for a task model, the output of its
            recurrent part ``model.rnn`` (the model's own head is not applied).
        state: the final state, as the recurrent module returns it.
    """

    layers: list[LayerTrace]
    output: Tensor
    state: State


def trace(
    module: nn.Module,
    x: Tensor,
    state: State | None = None,
    lengths: Tensor | None = None,
) -> Trace:
    r"""Run ``module`` on ``x`` and record every gate and state of every recurrent layer.

    ``module`` is a :class:`~rnnkit.Recurrent`, :class:`~rnnkit.Bidirectional`,
    :class:`~rnnkit.Stack` or :class:`~rnnkit.RNN` of built-in cells, or a task model holding
    one: :class:`~rnnkit.models.CharLanguageModel` (``x`` is then the (B, T) int64 character ids
    and the embedding runs first), :class:`~rnnkit.models.Forecaster`,
    :class:`~rnnkit.models.SequenceClassifier` (their recurrent part ``model.rnn`` is traced).

    The trace runs the reference loop with each cell's ``step_with_gates`` (the code of its
    ``step``), so its values are those the layer computes: ``trace.output`` equals the module's
    output up to rounding. It runs in the module's current mode: in training mode the dropout
    between layers (and on a language model's embedding) is drawn afresh, so call
    ``module.eval()`` first to trace what inference computes. Gradients flow through the trace
    when grad mode is on (see :func:`gradient_flow`). Nothing is installed on the module:
    ordinary calls run as before.

    Args:
        module: the network to trace.
        x: (B, T, I) inputs (ids (B, T) for a language model); (T, B, I) for an
            :class:`~rnnkit.RNN` built with ``batch_first=False``.
        state: the initial state in the module's structure, or None for zeros.
        lengths: (B,) lengths of a padded batch, as the module takes them.

    Returns:
        a :class:`Trace`.

    Example:
        >>> from rnnkit import RNN
        >>> net = RNN(3, 5, cell="lstm", num_layers=2, bidirectional=True)
        >>> x = torch.randn(2, 7, 3)
        >>> t = trace(net, x)
        >>> [(layer.name, layer.reverse) for layer in t.layers][:2]
        [('stack.layers.0.forward', False), ('stack.layers.0.backward', True)]
        >>> sorted(t.layers[0].gates), t.layers[0].states["c"].shape
        (['f', 'g', 'i', 'o'], torch.Size([2, 7, 5]))
        >>> bool(torch.allclose(t.output, net(x)[0], atol=1e-6))
        True
    """
    layers: list[LayerTrace] = []
    if isinstance(module, CharLanguageModel):
        if lengths is not None:
            raise TypeError("lengths must be None for a CharLanguageModel, which takes none")
        if not isinstance(x, Tensor) or x.dtype != torch.long:
            raise TypeError(f"x must be int64 character ids (batch, time), got {_what(x)}")
        _checks.shape("x", x, ("batch", "time"))
        emb = module.drop(module.embedding(x))
        out, final = _trace_module(module.rnn, emb, state, None, "rnn", layers)
    elif isinstance(module, (Forecaster, SequenceClassifier)):
        if state is not None:
            raise TypeError(f"state must be None for a {type(module).__name__}, which takes none")
        out, final = _trace_module(module.rnn, x, None, lengths, "rnn", layers)
    else:
        out, final = _trace_module(module, x, state, lengths, "", layers)
    return Trace(layers, out, final)


def _what(x: object) -> str:
    return f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _trace_module(
    module: nn.Module,
    x: Tensor,
    state: State | None,
    lengths: Tensor | None,
    name: str,
    out: list[LayerTrace],
) -> tuple[Tensor, State]:
    if isinstance(module, Recurrent):
        layer = _trace_recurrent(module, x, state, lengths, name or "layer")
        out.append(layer)
        return layer.outputs, layer.final_state
    if isinstance(module, Bidirectional):
        pair: tuple[State | None, State | None]
        if state is None:
            pair = (None, None)
        elif isinstance(state, tuple) and len(state) == 2:
            pair = (state[0], state[1])
        else:
            raise TypeError(
                f"state must be a (forward, backward) tuple or None, got {type(state).__name__}"
            )
        ys_f, s_f = _trace_module(
            module.forward_layer, x, pair[0], lengths, _join(name, "forward"), out
        )
        ys_b, s_b = _trace_module(
            module.backward_layer, x, pair[1], lengths, _join(name, "backward"), out
        )
        return torch.cat([ys_f, ys_b], dim=-1), (s_f, s_b)
    if isinstance(module, Stack):
        n = len(module.layers)
        parts: tuple[State | None, ...]
        if state is None:
            parts = (None,) * n
        elif isinstance(state, tuple) and len(state) == n:
            parts = state
        else:
            raise TypeError(f"state must be a tuple of {n} layer states or None")
        finals: list[State] = []
        for k, sub in enumerate(module.layers):
            if k > 0:
                x = module.drop(x)  # as Stack.forward: active in training mode only
            x, s = _trace_module(sub, x, parts[k], lengths, _join(name, f"layers.{k}"), out)
            finals.append(s)
        return x, tuple(finals)
    if isinstance(module, RNN):
        x = _checks.tensor("x", x)
        if not module.batch_first:
            _checks.shape("x", x, ("time", "batch", module.input_size))
            x = x.transpose(0, 1)
        ys, final = _trace_module(module.stack, x, state, lengths, _join(name, "stack"), out)
        if module.readout is not None:
            ys = module.readout(ys)
        if not module.batch_first:
            ys = ys.transpose(0, 1)
        return ys, final
    raise TypeError(
        "module must be a Recurrent, Bidirectional, Stack, RNN or a model of rnnkit.models, "
        f"got {type(module).__name__}"
    )


def _trace_recurrent(
    layer: Recurrent, x: Tensor, state: State | None, lengths: Tensor | None, name: str
) -> LayerTrace:
    cell: RecurrentCell = layer.cell
    spec = spec_of(cell)
    if spec is None:
        raise TypeError(
            f"{name} must hold a built-in cell (rnnkit.cells.CELLS) to be traced, "
            f"got {type(cell).__name__}"
        )
    # The checks of Recurrent.forward, so that bad input fails the same way.
    x = _checks.tensor("x", x)
    _checks.shape("x", x, ("batch", "time", cell.input_size))
    _checks.same_dtype("x", x, cell.dtype)
    B, T, _ = x.shape
    if T == 0:
        raise ValueError("x must have at least one time step, got (batch, 0, features)")
    if lengths is not None:
        lengths = _checks.lengths(lengths, B, T, x.device)
    if state is None:
        state = cell.init_state(B, device=x.device, dtype=x.dtype)
    else:
        state = cell.check_state(state, B)
    if layer.reverse:
        x = reverse_padded(x, lengths)

    gate_names, state_names = GATES[spec.name], STATES[spec.name]
    ys: list[Tensor] = []
    steps_h: list[Tensor] = []
    recorded: dict[str, list[Tensor]] = {key: [] for key in gate_names + state_names}
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    for t in range(T):
        y, new_state, values = _step(cell, x[:, t], state)
        steps_h.append(values["h"])
        if lengths is None:
            state = new_state
        else:  # as the reference loop: ended sequences keep their state, output zeros
            alive = (lengths > t).unsqueeze(1)  # (B, 1)
            state = map_state(lambda new, old, a=alive: torch.where(a, new, old), new_state, state)
            y = torch.where(alive, y, zero)
            values = {key: torch.where(alive, v, zero) for key, v in values.items()}
        ys.append(y)
        for key in recorded:
            recorded[key].append(values[key])

    def aligned(seq: list[Tensor]) -> Tensor:
        stacked = torch.stack(seq, dim=1)
        return reverse_padded(stacked, lengths) if layer.reverse else stacked

    return LayerTrace(
        name=name,
        kind=spec.name,
        reverse=layer.reverse,
        gates={key: aligned(recorded[key]) for key in gate_names},
        states={key: aligned(recorded[key]) for key in state_names},
        outputs=aligned(ys),
        final_state=state,
        steps_h=steps_h,
    )


def _step(cell: RecurrentCell, x: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
    """One step of a built-in cell: its output, its new state and the values named in
    :data:`GATES` and :data:`STATES` for its kind."""
    if isinstance(cell, LSTMCell) and isinstance(state, LSTMState):
        y, lstm_state, values = cell.step_with_gates(x, state)
        values["h"], values["c"] = lstm_state
        return y, lstm_state, values
    if isinstance(cell, JordanCell) and isinstance(state, Tensor):
        y, new_state, values = cell.step_with_gates(x, state)  # values holds h already
        values["y"] = new_state
        return y, new_state, values
    if isinstance(cell, (GRUCell, ElmanCell)) and isinstance(state, Tensor):
        y, new_state, values = cell.step_with_gates(x, state)
        values["h"] = new_state
        return y, new_state, values
    raise TypeError(
        f"cannot trace a {type(cell).__name__} with a state of type {type(state).__name__}"
    )
