"""``to_onnx``: rnnkit modules as ONNX graphs, the recurrent layers as native operators."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import helper
from torch import Tensor, nn

from ..layers import RNN, Bidirectional, Readout, Stack
from ..models import CharLanguageModel, Forecaster, SequenceClassifier
from ..recurrent import Recurrent
from ._cells import Unit, check_cell, emit_layer
from ._graph import FLOAT, INT64, Graph

#: The opset written unless told otherwise, and the oldest one accepted (Reshape's ``allowzero``
#: and the ``axes`` inputs of Squeeze/Unsqueeze need 13-14).
DEFAULT_OPSET = 17
MIN_OPSET = 14

EXPORTABLE = (
    "Recurrent, Bidirectional, Stack, RNN, Readout, CharLanguageModel, Forecaster, "
    "SequenceClassifier"
)


@dataclass(frozen=True)
class Plan:
    """The structure of a module as the exporter sees it."""

    layers: list[list[Unit]]  # per layer, one unit or a forward and a backward one
    stacked: bool  # the module's state is a tuple per layer
    head: str  # "none", "readout", "lm", "forecaster", "classifier"
    readout: Readout | None
    batch_first: bool
    takes_lengths: bool
    returns_state: bool


def _layer_units(layer: nn.Module, k: int, where: str) -> list[Unit]:
    if type(layer) is Recurrent:
        check_cell(layer.cell, f"{where}.cell")
        return [Unit(layer.cell, layer.reverse, f"l{k}")]
    if type(layer) is Bidirectional:
        units = []
        for side, sub in (("fwd", layer.forward_layer), ("bwd", layer.backward_layer)):
            if type(sub) is not Recurrent:
                raise TypeError(
                    f"{where}.{side} must be a Recurrent layer to export to ONNX, got "
                    f"{type(sub).__name__}"
                )
            check_cell(sub.cell, f"{where}.{side}.cell")
            units.append(Unit(sub.cell, sub.reverse, f"l{k}_{side}"))
        return units
    raise TypeError(
        f"{where} must be a Recurrent or Bidirectional layer to export to ONNX, got "
        f"{type(layer).__name__}"
    )


def _stack_layers(stack: Stack, where: str) -> list[list[Unit]]:
    return [_layer_units(layer, k, f"{where}[{k}]") for k, layer in enumerate(stack.layers)]


def plan(module: nn.Module) -> Plan:
    """How ``module`` is exported; TypeError/ValueError for what cannot be."""
    kind = type(module)
    if kind in (Recurrent, Bidirectional):
        return Plan([_layer_units(module, 0, "module")], False, "none", None, True, True, True)
    if kind is Stack:
        assert isinstance(module, Stack)
        return Plan(_stack_layers(module, "module.layers"), True, "none", None, True, True, True)
    if kind is RNN:
        assert isinstance(module, RNN)
        layers = _stack_layers(module.stack, "module.stack.layers")
        head = "none" if module.readout is None else "readout"
        return Plan(layers, True, head, module.readout, module.batch_first, True, True)
    if kind is Readout:
        assert isinstance(module, Readout)
        return Plan([], False, "readout", module, True, False, False)
    if kind in (CharLanguageModel, Forecaster, SequenceClassifier):
        assert isinstance(module, (CharLanguageModel, Forecaster, SequenceClassifier))
        layers = _stack_layers(module.rnn.stack, "module.rnn.stack.layers")
        heads = {
            CharLanguageModel: "lm",
            Forecaster: "forecaster",
            SequenceClassifier: "classifier",
        }
        lm = kind is CharLanguageModel
        return Plan(layers, True, heads[kind], module.readout, True, not lm, lm)
    raise TypeError(f"module must be one of {EXPORTABLE} to export to ONNX, got {kind.__name__}")


def _check_params(module: nn.Module) -> None:
    for name, param in module.named_parameters():
        if param.dtype != torch.float32:
            raise ValueError(
                f"module must hold float32 parameters to export to ONNX, got {param.dtype} for "
                f"{name}: call module.float()"
            )


def to_onnx(
    module: nn.Module,
    path: str | os.PathLike,
    example_x: Tensor,
    *,
    lengths: bool = False,
    opset: int | None = None,
    step: bool = False,
) -> onnx.ModelProto:
    r"""Write ``module`` to ``path`` as an ONNX model; return the model.

    Recurrent layers become ONNX's own ``RNN``/``GRU``/``LSTM`` nodes (the same function, see
    :mod:`rnnkit.export`), a Jordan layer a ``Scan`` over its step; a bidirectional layer of
    two matching cells is one node with ``direction="bidirectional"``. Batch and time are
    dynamic axes. Inference only: dropout is not applied.

    Graph inputs: ``x`` (B, T, I) (``batch_first=False`` RNNs: (T, B, I); language models: int64
    ids (B, T)) and with ``lengths=True`` ``lengths`` int64 (B,). Outputs: ``y``, then, for the
    modules that return a state, the final state tensors ``h_l0``, ``c_l0``, ... (``{leaf}_l{k}``
    per layer k, ``_fwd``/``_bwd`` for the directions of a bidirectional layer; the leaf is
    ``h`` and ``c`` for an LSTM, ``h`` for Elman and GRU, ``y`` for Jordan), zeros the initial
    state.

    With ``step=True`` the graph is one step of a forward-in-time network, for streaming:
    inputs ``x_t`` (B, I) (ids (B,) for a language model) and the state tensors (named as
    above), outputs ``y_t`` (the module's output for that step: the readout of the step's
    output for the task models) and the next state, ``{leaf}_l{k}_next``.

    Args:
        module: a ``Recurrent``, ``Bidirectional``, ``Stack``, ``RNN``, ``Readout``,
            ``CharLanguageModel``, ``Forecaster`` or ``SequenceClassifier`` of built-in cells,
            float32.
        path: the file to write.
        example_x: an input the module takes (what its forward takes, also with ``step=True``);
            the module is run on it once to check it.
        lengths: add the ``lengths`` input (modules whose forward takes lengths).
        opset: the ONNX opset, 14 or later (default 17).
        step: write the single-step graph instead.

    Example:
        >>> import tempfile, os, torch, rnnkit
        >>> net = rnnkit.RNN(3, 8, cell="gru", reset="before", output_size=2)
        >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
        >>> model = to_onnx(net, path, torch.randn(2, 5, 3))
        >>> [n.op_type for n in model.graph.node if n.op_type in ("GRU", "Scan")]
        ['GRU']
        >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
        (['x'], ['y', 'h_l0'])
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    p = plan(module)
    _check_params(module)
    for name, value in (("lengths", lengths), ("step", step)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    if opset is None:
        opset = DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an int in [{MIN_OPSET}, {newest}], got {opset!r}")
    if lengths and (step or not p.takes_lengths):
        what = "a single step" if step else f"a {type(module).__name__} (its forward has none)"
        raise ValueError(f"lengths must be False for {what}, got True")
    if step:
        for units in p.layers:
            if len(units) > 1 or units[0].reverse:
                raise ValueError(
                    "step=True needs a module that runs forward in time, got a reversed or "
                    "bidirectional layer (it needs the whole sequence)"
                )
    _check_example(module, p, example_x)
    g = Graph()
    build = _build_step if step else _build_sequence
    build(g, module, p, example_x, lengths)
    graph = g.to_graph(f"rnnkit_{type(module).__name__}{'_step' if step else ''}")
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="rnnkit",
        doc_string=f"rnnkit {type(module).__name__}",
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.fspath(path))
    return model


def _check_example(module: nn.Module, p: Plan, example_x: Tensor) -> None:
    if not isinstance(example_x, Tensor):
        raise TypeError(f"example_x must be a Tensor, got {type(example_x).__name__}")
    if p.head == "lm":
        if example_x.dtype != torch.long or example_x.dim() != 2:
            raise ValueError(
                f"example_x must be int64 ids (batch, time) for a language model, got "
                f"{example_x.dtype} of shape {tuple(example_x.shape)}"
            )
    elif example_x.dtype != torch.float32:
        raise ValueError(f"example_x must be float32, got {example_x.dtype}")
    try:
        with torch.no_grad():
            module(example_x)
    except (ValueError, TypeError) as err:
        raise ValueError(f"example_x does not fit the module: {err}") from None


def _x_features(p: Plan) -> int:
    """I, the features of x (not for a language model, whose x is ids)."""
    if p.layers:
        return p.layers[0][0].cell.input_size
    assert p.readout is not None
    return p.readout.in_features


def _run_stack(
    g: Graph, p: Plan, x: str, lengths: str | None, states: list[list[str]] | None
) -> tuple[str, list[list[str]]]:
    finals: list[list[str]] = []
    k = 0
    for units in p.layers:
        given = None if states is None else states[k : k + len(units)]
        x, out = emit_layer(g, units, x, lengths, given)
        finals += out
        k += len(units)
    return x, finals


def _readout(g: Graph, readout: Readout, x: str) -> str:
    from ._cells import _activation, _linear

    return _activation(g, readout.activation, _linear(g, x, readout.weight, readout.bias))


def _units(p: Plan) -> list[Unit]:
    return [u for units in p.layers for u in units]


def _build_sequence(
    g: Graph, module: nn.Module, p: Plan, example_x: Tensor, with_lengths: bool
) -> None:
    if p.head == "readout" and not p.layers:
        dims = ["batch", "time", "features"][: example_x.dim() - 1]
        x = g.add_input("x", FLOAT, [*dims, _x_features(p)])
        assert p.readout is not None
        g.rename(_readout(g, p.readout, x), "y")
        g.add_output("y", FLOAT, [*dims, p.readout.out_features])
        return
    lm = p.head == "lm"
    if lm:
        ids = g.add_input("x", INT64, ["batch", "time"])
        assert isinstance(module, CharLanguageModel)
        table = g.const(module.embedding.weight.detach().numpy(), "embedding")
        x = g.op("Gather", [table, g.op("Transpose", [ids], perm=[1, 0])], axis=0)
    elif p.batch_first:
        x = g.op(
            "Transpose",
            [g.add_input("x", FLOAT, ["batch", "time", _x_features(p)])],
            perm=[1, 0, 2],
        )
    else:
        x = g.add_input("x", FLOAT, ["time", "batch", _x_features(p)])
    lengths = g.add_input("lengths", INT64, ["batch"]) if with_lengths else None
    ys, finals = _run_stack(g, p, x, lengths, None)  # (T, B, F)
    if p.head in ("none", "readout", "lm"):
        if p.readout is not None:
            ys = _readout(g, p.readout, ys)
        out_shape = ["batch", "time", "y_features"]
        if p.batch_first:
            ys = g.op("Transpose", [ys], perm=[1, 0, 2])
        else:
            out_shape = ["time", "batch", "y_features"]
        g.rename(ys, "y")
        g.add_output("y", FLOAT, out_shape)
    else:
        assert p.readout is not None
        if p.head == "classifier" and len(p.layers[-1]) == 2:
            split = p.layers[-1][0].cell.output_size
            fwd = g.op("Slice", [ys, g.ints(0), g.ints(split), g.ints(2)])
            bwd = g.op("Slice", [ys, g.ints(split), g.ints(2**62), g.ints(2)])
            first = g.op("Gather", [bwd, g.const(np.array(0, dtype=np.int64))], axis=0)
            summary = g.op("Concat", [_last_step(g, fwd, lengths), first], axis=1)
        else:
            summary = _last_step(g, ys, lengths)
        y = _readout(g, p.readout, summary)
        if p.head == "forecaster":
            assert isinstance(module, Forecaster)
            c = module.config
            y = g.op("Reshape", [y, g.ints(0, c.horizon, c.input_size)])
            g.add_output("y", FLOAT, ["batch", c.horizon, c.input_size])
        else:
            g.add_output("y", FLOAT, ["batch", p.readout.out_features])
        g.rename(y, "y")
    if p.returns_state:
        for unit, final in zip(_units(p), finals):
            for leaf, value in zip(unit.leaves, final):
                name = f"{leaf}_{unit.name}"
                g.rename(value, name)
                g.add_output(name, FLOAT, ["batch", unit.state_size])


def _last_step(g: Graph, ys: str, lengths: str | None) -> str:
    """ys (T, B, F) at each sequence's last real step -> (B, F)."""
    if lengths is None:
        return g.op("Gather", [ys, g.const(np.array(-1, dtype=np.int64))], axis=0)
    last = g.op("Sub", [lengths, g.const(np.array(1, dtype=np.int64))])  # (B,)
    index = g.op("Unsqueeze", [last, g.ints(0, 2)])  # (1, B, 1)
    shape = g.op(
        "Concat", [g.ints(1), g.op("Slice", [g.op("Shape", [ys]), g.ints(1), g.ints(3)])], axis=0
    )
    picked = g.op("GatherElements", [ys, g.op("Expand", [index, shape])], axis=0)  # (1, B, F)
    return g.op("Squeeze", [picked, g.ints(0)])


def _build_step(g: Graph, module: nn.Module, p: Plan, example_x: Tensor, _: bool) -> None:
    if p.head == "readout" and not p.layers:
        assert p.readout is not None
        x = g.add_input("x_t", FLOAT, ["batch", p.readout.in_features])
        g.rename(_readout(g, p.readout, x), "y_t")
        g.add_output("y_t", FLOAT, ["batch", p.readout.out_features])
        return
    if p.head == "lm":
        assert isinstance(module, CharLanguageModel)
        ids = g.add_input("x_t", INT64, ["batch"])
        table = g.const(module.embedding.weight.detach().numpy(), "embedding")
        x = g.op("Gather", [table, g.op("Unsqueeze", [ids, g.ints(0)])], axis=0)  # (1, B, E)
    else:
        x_t = g.add_input("x_t", FLOAT, ["batch", _x_features(p)])
        x = g.op("Unsqueeze", [x_t, g.ints(0)])  # (1, B, I)
    states = []
    for unit in _units(p):
        states.append(
            [
                g.add_input(f"{leaf}_{unit.name}", FLOAT, ["batch", unit.state_size])
                for leaf in unit.leaves
            ]
        )
    ys, finals = _run_stack(g, p, x, None, states)
    y = g.op("Squeeze", [ys, g.ints(0)])  # (B, F)
    if p.readout is not None:
        y = _readout(g, p.readout, y)
    if p.head == "forecaster":
        assert isinstance(module, Forecaster)
        c = module.config
        y = g.op("Reshape", [y, g.ints(0, c.horizon, c.input_size)])
        g.add_output("y_t", FLOAT, ["batch", c.horizon, c.input_size])
    else:
        g.add_output("y_t", FLOAT, ["batch", "y_features"])
    g.rename(y, "y_t")
    for unit, final in zip(_units(p), finals):
        for leaf, value in zip(unit.leaves, final):
            name = f"{leaf}_{unit.name}_next"
            g.rename(value, name)
            g.add_output(name, FLOAT, ["batch", unit.state_size])
