r"""Composition: layers built from recurrent layers.

A fully recurrent network (every unit connected to every other, the outputs being some of
the units) is an Elman layer over all N units whose outputs are the first L of them:

.. math::
    x(n) = f(W x(n-1) + W^{in} u(n) + b),\qquad y(n) = (x_1(n), \ldots, x_L(n))

>>> import torch
>>> from rnnkit import ElmanCell, Recurrent
>>> net = Recurrent(ElmanCell(2, 10))        # N = 10 units, all connected: weight_hh (10, 10)
>>> units, state = net(torch.randn(4, 7, 2))  # (4, 7, 10)
>>> outputs = units[..., :3]                  # L = 3 output units
>>> outputs.shape
torch.Size([4, 7, 3])

The other classic forms are one line each: Elman ``RNN(I, H, cell="elman")``, Jordan
``Recurrent(JordanCell(I, H, O))``, and the reservoir form ``y(n) = f(W_out x(n))`` is
``Stack([Recurrent(ElmanCell(I, N))])`` followed by a :class:`Readout`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from . import _activations, _checks
from ._state import State
from .cells import RecurrentCell, get_spec, make_cell
from .recurrent import Recurrent


def _size(layer: nn.Module, which: str) -> int:
    """``layer.input_size`` or ``layer.output_size`` of a layer that passed :func:`_check_layer`."""
    return int(getattr(layer, which))


def _check_layer(name: str, layer: object) -> None:
    if isinstance(layer, RecurrentCell):
        raise TypeError(
            f"{name} must be a layer over sequences, got the cell {type(layer).__name__}: "
            "wrap it in Recurrent(cell)"
        )
    if not isinstance(layer, nn.Module) or not hasattr(layer, "input_size"):
        raise TypeError(f"{name} must be a recurrent layer, got {type(layer).__name__}")


class Bidirectional(nn.Module):
    r"""Run a forward and a backward recurrent layer on the same input; concatenate outputs.

    .. math::
        y_t = [\overrightarrow{y}_t ; \overleftarrow{y}_t]

    Args:
        forward_layer: a layer running forward in time (``Recurrent(cell)``).
        backward_layer: a layer running backward, ``Recurrent(cell, reverse=True)``.

    Shapes:
        x: (B, T, I); returns ys (B, T, O_f + O_b) and the final state ``(forward, backward)``.
        ``lengths`` are passed to both layers, so the backward layer starts at each sequence's
        last real step.

    Example:
        >>> from rnnkit import GRUCell, Recurrent
        >>> bi = Bidirectional(Recurrent(GRUCell(3, 4)), Recurrent(GRUCell(3, 5), reverse=True))
        >>> ys, (h_fwd, h_bwd) = bi(torch.randn(2, 6, 3))
        >>> ys.shape, h_bwd.shape
        (torch.Size([2, 6, 9]), torch.Size([2, 5]))
    """

    def __init__(self, forward_layer: nn.Module, backward_layer: nn.Module) -> None:
        super().__init__()
        for name, layer in (("forward_layer", forward_layer), ("backward_layer", backward_layer)):
            _check_layer(name, layer)
        if getattr(forward_layer, "reverse", False):
            raise ValueError("forward_layer must run forward in time, got a reverse=True layer")
        if not getattr(backward_layer, "reverse", False):
            raise ValueError(
                "backward_layer must run backward in time (Recurrent(cell, reverse=True)), "
                "got a forward layer"
            )
        if forward_layer.input_size != backward_layer.input_size:
            raise ValueError(
                f"backward_layer must take input_size {forward_layer.input_size} like "
                f"forward_layer, got {backward_layer.input_size}"
            )
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer

    @property
    def input_size(self) -> int:
        return _size(self.forward_layer, "input_size")

    @property
    def output_size(self) -> int:
        return _size(self.forward_layer, "output_size") + _size(self.backward_layer, "output_size")

    def forward(
        self,
        x: Tensor,
        state: tuple[State | None, State | None] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[State, State]]:
        if state is None:
            state = (None, None)
        elif not isinstance(state, tuple) or len(state) != 2:
            raise TypeError(
                f"state must be a (forward, backward) tuple or None, got {type(state).__name__}"
            )
        ys_f, s_f = self.forward_layer(x, state[0], lengths=lengths)
        ys_b, s_b = self.backward_layer(x, state[1], lengths=lengths)
        return torch.cat([ys_f, ys_b], dim=-1), (s_f, s_b)


class Stack(nn.Module):
    r"""Recurrent layers on top of each other: layer k's output sequence is layer k+1's input.

    .. math::
        (y^{(k)}_t, s^{(k)}_t) = R_k(y^{(k-1)}_t, s^{(k)}_{t-1}),\qquad y^{(0)}_t = x_t

    Args:
        layers: recurrent layers (``Recurrent``, ``Bidirectional``, ...), sizes chained.
        dropout: dropout probability on the outputs of every layer but the last (training only).

    Shapes:
        x: (B, T, I); state: a tuple with one state per layer (or None); returns ys (B, T, O_last)
        and a tuple of final states.

    Example:
        >>> from rnnkit import LSTMCell, Recurrent
        >>> stack = Stack([Recurrent(LSTMCell(3, 8)), Recurrent(LSTMCell(8, 4))], dropout=0.1)
        >>> ys, states = stack(torch.randn(2, 5, 3))
        >>> ys.shape, len(states)
        (torch.Size([2, 5, 4]), 2)
    """

    def __init__(self, layers: Sequence[nn.Module], dropout: float = 0.0) -> None:
        super().__init__()
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer, got none")
        for k, layer in enumerate(layers):
            _check_layer(f"layers[{k}]", layer)
        for k in range(1, len(layers)):
            if layers[k].input_size != layers[k - 1].output_size:
                raise ValueError(
                    f"layers[{k}] must take input_size {layers[k - 1].output_size} "
                    f"(layers[{k - 1}]'s output), got {layers[k].input_size}"
                )
        self.layers = nn.ModuleList(layers)
        self.dropout = _checks.non_negative_float("dropout", dropout, upper=1.0)
        self.drop = nn.Dropout(self.dropout)

    @property
    def input_size(self) -> int:
        return _size(self.layers[0], "input_size")

    @property
    def output_size(self) -> int:
        return _size(self.layers[-1], "output_size")

    def forward(
        self,
        x: Tensor,
        state: tuple[State | None, ...] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[State, ...]]:
        if state is None:
            state = (None,) * len(self.layers)
        elif not isinstance(state, tuple) or len(state) != len(self.layers):
            got = f"a tuple of {len(state)}" if isinstance(state, tuple) else type(state).__name__
            raise TypeError(
                f"state must be a tuple of {len(self.layers)} layer states or None, got {got}"
            )
        finals = []
        for k, layer in enumerate(self.layers):
            if k > 0:
                x = self.drop(x)
            x, s = layer(x, state[k], lengths=lengths)
            finals.append(s)
        return x, tuple(finals)


class Readout(nn.Module):
    r"""An output layer, ``y(n) = f(W_out x(n) + b)``, applied at every time step.

    Args:
        in_features: features of x.
        out_features: features of y.
        activation: f, ``"identity"``, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        bias: learn b.

    Shapes:
        x: (..., in_features) -> (..., out_features); ``weight`` is W_out (out, in).

    Example:
        >>> readout = Readout(8, 2, activation="sigmoid")
        >>> y = readout(torch.randn(4, 10, 8))
        >>> y.shape, bool(((y > 0) & (y < 1)).all())
        (torch.Size([4, 10, 2]), True)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "identity",
        *,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = _checks.positive_int("in_features", in_features)
        self.out_features = _checks.positive_int("out_features", out_features)
        self.activation = activation
        self._f = _activations.get(activation)
        self.linear = nn.Linear(in_features, out_features, bias=bias, device=device, dtype=dtype)

    @property
    def weight(self) -> Tensor:
        return self.linear.weight

    @property
    def bias(self) -> Tensor | None:
        return self.linear.bias

    def forward(self, x: Tensor) -> Tensor:
        x = _checks.tensor("x", x)
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must be (..., {self.in_features}), got {_checks.shape_text(tuple(x.shape))}"
            )
        _checks.same_dtype("x", x, self.linear.weight.dtype)
        return self._f(self.linear(x))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


CellFactory = Callable[[int], RecurrentCell]


class RNN(nn.Module):
    r"""The common recurrent network in one line: a stack of (bidirectional) layers and a readout.

    ``RNN(I, H, cell="lstm", num_layers=2)`` is ``Stack([Recurrent(LSTMCell(I, H)),
    Recurrent(LSTMCell(H, H))])``; with ``bidirectional=True`` each layer is a
    :class:`Bidirectional` pair and the next takes 2H features; with ``output_size`` a
    :class:`Readout` ``y = f(W_out h + b)`` follows the last layer.

    Args:
        input_size: I.
        hidden_size: H of every layer.
        cell: a kind of the cell registry (:data:`rnnkit.cells.CELLS`: ``"lstm"``, ``"gru"``,
            ``"elman"`` or its alias ``"rnn"``, ``"jordan"``), or a callable
            ``input_size -> cell`` building any :class:`~rnnkit.cells.RecurrentCell`.
        num_layers: layers in the stack.
        bidirectional: make every layer a forward/backward pair.
        output_size: add a readout to this many features.
        output_activation: the readout's f.
        dropout: dropout between layers (training only).
        batch_first: ``True`` for (B, T, I) sequences (rnnkit's convention); ``False`` takes and
            gives (T, B, ·) like a ``torch.nn`` module built with ``batch_first=False``.
        **cell_options: passed to every cell: the kind's options in the registry
            (``activation``, ``reset``, ``peephole``, ...), ``bias``, ``device``, ``dtype``.

    Shapes:
        x: (B, T, I); returns ys (B, T, D·H) or (B, T, output_size), and the final state: a tuple
        with one entry per layer (a ``(forward, backward)`` pair when bidirectional).

    Example:
        >>> net = RNN(3, 16, cell="gru", num_layers=2, bidirectional=True, output_size=1,
        ...           reset="before")
        >>> ys, states = net(torch.randn(4, 9, 3))
        >>> ys.shape, len(states), states[1][1].shape
        (torch.Size([4, 9, 1]), 2, torch.Size([4, 16]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        cell: str | CellFactory = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        output_size: int | None = None,
        output_activation: str = "identity",
        dropout: float = 0.0,
        batch_first: bool = True,
        **cell_options,
    ) -> None:
        super().__init__()
        _checks.positive_int("input_size", input_size)
        _checks.positive_int("hidden_size", hidden_size)
        _checks.positive_int("num_layers", num_layers)
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first must be a bool, got {type(batch_first).__name__}")
        build: Callable[[int], RecurrentCell]
        if isinstance(cell, str):
            kind = get_spec(cell).name

            def build_named(i: int) -> RecurrentCell:
                return make_cell(kind, i, hidden_size, **cell_options)

            build = build_named

        elif callable(cell):
            if cell_options:
                raise TypeError(
                    f"cell options {sorted(cell_options)} need a cell name, got a callable cell"
                )
            build = cell
        else:
            raise TypeError(f"cell must be a cell name or a callable, got {type(cell).__name__}")

        layers: list[nn.Module] = []
        size = input_size
        for _ in range(num_layers):
            if bidirectional:
                layer: nn.Module = Bidirectional(
                    Recurrent(build(size)), Recurrent(build(size), reverse=True)
                )
            else:
                layer = Recurrent(build(size))
            layers.append(layer)
            size = _size(layer, "output_size")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.batch_first = batch_first
        self.stack = Stack(layers, dropout=dropout)
        if output_size is not None:
            _checks.positive_int("output_size", output_size)
        ref = next(self.stack.parameters())  # the readout takes the cells' device and dtype
        self.readout = (
            None
            if output_size is None
            else Readout(
                size,
                output_size,
                activation=output_activation,
                device=ref.device,
                dtype=ref.dtype,
            )
        )

    @property
    def output_size(self) -> int:
        return self.stack.output_size if self.readout is None else self.readout.out_features

    def forward(
        self, x: Tensor, state: tuple[State, ...] | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[State, ...]]:
        x = _checks.tensor("x", x)
        if not self.batch_first:
            if x.dim() != 3 or x.shape[2] != self.input_size:
                raise ValueError(
                    f"x must be (time, batch, {self.input_size}) with batch_first=False, "
                    f"got {_checks.shape_text(tuple(x.shape))}"
                )
            x = x.transpose(0, 1)
        ys, state = self.stack(x, state, lengths=lengths)
        if self.readout is not None:
            ys = self.readout(ys)
        if not self.batch_first:
            ys = ys.transpose(0, 1)
        return ys, state
