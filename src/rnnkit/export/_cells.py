"""Recurrent layers as ONNX nodes: native ``RNN``/``GRU``/``LSTM`` nodes, or a ``Scan`` loop.

Every tensor here is time-first, (T, B, F), as ONNX's recurrent operators take it; the
boundary transposes live in :mod:`rnnkit.export._onnx`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..cells import CELLS, ElmanCell, GRUCell, JordanCell, LSTMCell, RecurrentCell, spec_of
from ._graph import BOOL, FLOAT, Graph

# Torch's gate blocks in ONNX's order: LSTM i|f|g|o -> i|o|f|c, GRU r|z|n -> z|r|h; the
# peepholes p_i|p_f|p_o -> ONNX's P order i|o|f.
_LSTM_GATES = (0, 3, 1, 2)
_GRU_GATES = (1, 0, 2)
_PEEPHOLES = (0, 2, 1)
_ONNX_ACTIVATION = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


@dataclass(frozen=True)
class Unit:
    """One direction of one layer: a cell, its direction and its name in the graph."""

    cell: RecurrentCell
    reverse: bool
    name: str

    @property
    def leaves(self) -> tuple[str, ...]:
        """Names of the state's tensors, in the order of the cell's state tuple."""
        return state_leaves(self.cell)

    @property
    def state_size(self) -> int:
        return self.cell.output_size


def state_leaves(cell: RecurrentCell) -> tuple[str, ...]:
    if isinstance(cell, LSTMCell):
        return ("h", "c")
    return ("y",) if isinstance(cell, JordanCell) else ("h",)


def check_cell(cell: RecurrentCell, where: str) -> None:
    """Raise TypeError/ValueError for a cell the exporter cannot write exactly."""
    if spec_of(cell) is None:
        raise TypeError(
            f"{where} must be one of rnnkit's built-in cells ({', '.join(CELLS)}) to export to "
            f"ONNX, got {type(cell).__name__} (a subclass or user-defined cell: its step is "
            "Python code the exporter cannot translate)"
        )
    for name, param in cell.named_parameters():
        if param.dtype != torch.float32:
            raise ValueError(
                f"{where} must hold float32 parameters to export to ONNX (the exporter writes "
                f"float32 graphs only), got {param.dtype} for {name}: call module.float()"
            )


def _array(t: torch.Tensor | None, shape: tuple[int, ...]) -> np.ndarray:
    if t is None:
        return np.zeros(shape, dtype=np.float32)
    return t.detach().cpu().numpy().astype(np.float32)


def _blocks(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([np.split(a, len(order))[k] for k in order])


@dataclass(frozen=True)
class _Native:
    op: str
    W: np.ndarray  # (G*H, I)
    R: np.ndarray  # (G*H, H)
    B: np.ndarray  # (2*G*H,) = input bias | recurrent bias
    P: np.ndarray | None  # (3H,) LSTM peepholes
    activations: tuple[str, ...]
    attrs: tuple[tuple[str, object], ...]

    @property
    def signature(self) -> tuple:
        """What must match for two directions to share one node."""
        return (self.op, self.R.shape, self.activations, self.attrs, self.P is None)


def _native(cell: RecurrentCell) -> _Native | None:
    if isinstance(cell, JordanCell):
        return None
    H, n_in = cell.hidden_size, cell.input_size
    gates = {LSTMCell: 4, GRUCell: 3, ElmanCell: 1}[type(cell)]
    W = _array(cell.weight_ih, (gates * H, n_in))
    R = _array(cell.weight_hh, (gates * H, H))
    b_ih, b_hh = _array(cell.bias_ih, (gates * H,)), _array(cell.bias_hh, (gates * H,))
    P = None
    attrs: tuple[tuple[str, object], ...] = ()
    order: tuple[int, ...]
    if isinstance(cell, LSTMCell):
        order = _LSTM_GATES
        output = "Affine" if cell.cell_activation == "identity" else "Tanh"
        activations: tuple[str, ...] = ("Sigmoid", "Tanh", output)
        if cell.weight_ch is not None:
            P = _blocks(_array(cell.weight_ch, (3 * H,)), _PEEPHOLES)
    elif isinstance(cell, GRUCell):
        order = _GRU_GATES
        activations = ("Sigmoid", "Tanh")
        attrs = (("linear_before_reset", 1 if cell.reset == "after" else 0),)
    else:
        assert isinstance(cell, ElmanCell)
        order = (0,)
        activations = (_ONNX_ACTIVATION[cell.activation],)
    W, R = _blocks(W, order), _blocks(R, order)
    B = np.concatenate([_blocks(b_ih, order), _blocks(b_hh, order)])
    return _Native(
        {LSTMCell: "LSTM", GRUCell: "GRU", ElmanCell: "RNN"}[type(cell)],
        W,
        R,
        B,
        P,
        activations,
        attrs,
    )


def emit_layer(
    g: Graph,
    units: list[Unit],
    x: str,
    lengths: str | None,
    states: list[list[str]] | None,
) -> tuple[str, list[list[str]]]:
    """One layer (one unit, or a forward and a backward one) over x (T, B, I).

    ``lengths`` is an int64 (B,) value or None, ``states`` the initial state tensors per unit
    (each (B, size)) or None for zeros. Returns y (T, B, sum of sizes) and the final states.
    """
    natives = [_native(u.cell) for u in units]
    shared = (
        len(units) == 2
        and natives[0] is not None
        and natives[1] is not None
        and natives[0].signature == natives[1].signature
    )
    if len(units) == 1 or shared:
        ready = [n for n in natives if n is not None]
        if len(ready) == len(units):
            return _emit_native(g, units, ready, x, lengths, states)
        return _emit_scan(g, units[0], x, lengths, None if states is None else states[0])
    outs, finals = [], []
    for k, unit in enumerate(units):
        y, final = emit_layer(g, [unit], x, lengths, None if states is None else [states[k]])
        outs.append(y)
        finals += final
    return g.op("Concat", outs, "y", axis=2), finals


def _emit_native(
    g: Graph,
    units: list[Unit],
    natives: list[_Native],
    x: str,
    lengths: str | None,
    states: list[list[str]] | None,
) -> tuple[str, list[list[str]]]:
    first = natives[0]
    D = len(units)
    H = units[0].cell.hidden_size
    if D == 2:
        direction = "bidirectional"
    else:
        direction = "reverse" if units[0].reverse else "forward"
    inputs = [
        x,
        g.const(np.stack([n.W for n in natives]), "W"),
        g.const(np.stack([n.R for n in natives]), "R"),
        g.const(np.stack([n.B for n in natives]), "B"),
        "" if lengths is None else g.op("Cast", [lengths], "seq_lens", to=6),  # int32
    ]
    leaves = len(units[0].leaves)
    for leaf in range(leaves):
        if states is None:
            inputs.append("")
        else:
            parts = [g.op("Unsqueeze", [s[leaf], g.ints(0)]) for s in states]
            inputs.append(parts[0] if D == 1 else g.op("Concat", parts, axis=0))
    if first.P is not None:
        inputs.append(g.const(np.stack([n.P for n in natives if n.P is not None]), "P"))
    while inputs[-1] == "":
        inputs.pop()
    attrs: dict[str, object] = dict(first.attrs)
    activations = list(first.activations) * D
    if "Affine" in activations:
        # onnxruntime hands alpha/beta out in order to the activations that take them only.
        count = activations.count("Affine")
        attrs.update(activation_alpha=[1.0] * count, activation_beta=[0.0] * count)
    outs = g.op_n(
        first.op,
        inputs,
        1 + leaves,
        first.op.lower(),
        hidden_size=H,
        direction=direction,
        activations=activations,
        **attrs,
    )
    if D == 1:
        y = g.op("Squeeze", [outs[0], g.ints(1)], "y")  # (T, 1, B, H) -> (T, B, H)
    else:
        y = g.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # (T, B, 2, H)
        y = g.op("Reshape", [y, g.ints(0, 0, -1)], "y")  # (T, B, 2H) = forward | backward
    finals = [
        [g.op("Gather", [out, g.const(np.array(d, dtype=np.int64))], axis=0) for out in outs[1:]]
        for d in range(D)
    ]
    return y, finals


def _activation(g: Graph, name: str, x: str) -> str:
    return x if name == "identity" else g.op(_ONNX_ACTIVATION[name], [x])


def _linear(g: Graph, x: str, weight: torch.Tensor, bias: torch.Tensor | None) -> str:
    """x @ weight.T + bias."""
    y = g.op("MatMul", [x, g.const(_array(weight, ()).T, "weight")])
    return y if bias is None else g.op("Add", [y, g.const(_array(bias, ()), "bias")])


def _jordan_step(g: Graph, cell: JordanCell, x: str, s: str) -> str:
    a = g.op(
        "Add", [_linear(g, x, cell.weight_ih, cell.bias_ih), _linear(g, s, cell.weight_yh, None)]
    )
    h = _activation(g, cell.activation, a)
    return _activation(g, cell.output_activation, _linear(g, h, cell.weight_hy, cell.bias_hy))


def _emit_scan(
    g: Graph, unit: Unit, x: str, lengths: str | None, state: list[str] | None
) -> tuple[str, list[list[str]]]:
    """A cell without a native operator (Jordan): its step as the body of a Scan over time."""
    cell = unit.cell
    assert isinstance(cell, JordanCell)
    n_out, n_in = cell.output_size, cell.input_size
    shape = g.op("Shape", [x])  # (T, B, I)
    if state is None:
        batch = g.op("Slice", [shape, g.ints(1), g.ints(2)])
        zeros_shape = g.op("Concat", [batch, g.ints(n_out)], axis=0)
        s0 = g.op(
            "ConstantOfShape",
            [zeros_shape],
            "s0",
            value=_tensor_attr(np.zeros(1, dtype=np.float32)),
        )
    else:
        s0 = state[0]
    body = g.body()
    s_in = body.add_input(body.name("s_in"), FLOAT, ["batch", n_out])
    x_in = body.add_input(body.name("x_in"), FLOAT, ["batch", n_in])
    y = _jordan_step(body, cell, x_in, s_in)
    scan_inputs = [x]
    index = None
    if lengths is None:
        s_out, y_out = y, body.op("Identity", [y])
        directions = [1 if unit.reverse else 0]
    else:
        directions = [0]
        steps = g.op("Squeeze", [g.op("Slice", [shape, g.ints(0), g.ints(1)]), g.ints(0)])
        zero, one = g.const(np.array(0, dtype=np.int64)), g.const(np.array(1, dtype=np.int64))
        t = g.op("Range", [zero, steps, one])
        t = g.op("Unsqueeze", [t, g.ints(1)], "t")  # (T, 1)
        lens = g.op("Unsqueeze", [lengths, g.ints(0)])  # (1, B)
        alive = g.op("Unsqueeze", [g.op("Less", [t, lens]), g.ints(2)], "alive")  # (T, B, 1)
        if unit.reverse:
            # each sequence reversed within its length, padding in place (reverse_padded)
            last = g.op("Sub", [lens, one])
            flipped = g.op("Sub", [last, t])
            index = g.op("Where", [g.op("LessOrEqual", [t, last]), flipped, t])  # (T, B)
            index = g.op("Unsqueeze", [index, g.ints(2)])
            x = g.op("GatherElements", [x, g.op("Expand", [index, shape])], axis=0)
            scan_inputs = [x]
        scan_inputs.append(alive)
        m_in = body.add_input(body.name("m_in"), BOOL, ["batch", 1])
        s_out = body.op("Where", [m_in, y, s_in])
        y_out = body.op("Where", [m_in, y, body.const(np.zeros((), dtype=np.float32))])
    body.add_output(s_out, FLOAT, ["batch", n_out])
    body.add_output(y_out, FLOAT, ["batch", n_out])
    final, ys = g.op_n(
        "Scan",
        [s0, *scan_inputs],
        2,
        "jordan",
        body=body.to_graph(g.name("jordan_step")),
        num_scan_inputs=len(scan_inputs),
        scan_input_directions=directions * len(scan_inputs),
        scan_output_directions=directions,
    )
    if index is not None:
        ys = g.op("GatherElements", [ys, g.op("Expand", [index, g.op("Shape", [ys])])], axis=0)
    return ys, [[final]]


def _tensor_attr(array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(array)
