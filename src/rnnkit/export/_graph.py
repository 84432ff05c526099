"""A small builder of ONNX graphs: unique names, constants, nodes and Scan bodies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Graph:
    """Nodes and initializers of one ONNX graph; ``body()`` opens a subgraph (a Scan body) that
    shares this graph's names and constants (subgraphs may read the outer scope)."""

    def __init__(self, parent: Graph | None = None) -> None:
        self._root: Graph = self if parent is None else parent._root
        self._count = 0
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []

    def name(self, hint: str) -> str:
        self._root._count += 1
        return f"{hint}__{self._root._count}"

    def const(self, value: object, hint: str = "const", dtype: type | None = None) -> str:
        array = np.asarray(value, dtype=dtype)
        if array.dtype == np.float64:
            array = array.astype(np.float32)  # every float of the graph is float32
        name = self.name(hint)
        self._root.initializers.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, *values: int) -> str:
        """A 1-D int64 constant (axes, shapes, indices)."""
        return self.const(np.array(values, dtype=np.int64), "ints")

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, **attrs) -> str:
        """Add a node with one output; returns its name."""
        return self.op_n(op_type, inputs, 1, hint, **attrs)[0]

    def op_n(
        self, op_type: str, inputs: Sequence[str], n: int, hint: str | None = None, **attrs
    ) -> list[str]:
        """Add a node with ``n`` outputs; returns their names."""
        outputs = [self.name(hint or op_type.lower()) for _ in range(n)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), outputs, name=self.name(op_type), **attrs)
        )
        return outputs

    def rename(self, value: str, name: str) -> str:
        """Expose ``value`` under ``name`` (a graph output's fixed name)."""
        self.nodes.append(helper.make_node("Identity", [value], [name], name=self.name("out")))
        return name

    def add_input(self, name: str, elem_type: int, shape: Sequence[str | int]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def add_output(self, name: str, elem_type: int, shape: Sequence[str | int] | None) -> None:
        self.outputs.append(
            helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape))
        )

    def to_graph(self, name: str) -> onnx.GraphProto:
        own = self.initializers if self._root is self else []
        return helper.make_graph(self.nodes, name, self.inputs, self.outputs, own)

    def body(self) -> Graph:
        return Graph(parent=self)


FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
BOOL = TensorProto.BOOL
