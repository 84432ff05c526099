"""Conversion between rnnkit modules and torch.nn's recurrent modules, with identical outputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .cells import ElmanCell, GRUCell, LSTMCell, RecurrentCell, spec_of
from .layers import RNN, Bidirectional
from .recurrent import Recurrent

_CELL_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def from_torch(module: nn.Module) -> nn.Module:
    """The rnnkit equivalent of a ``torch.nn`` recurrent module, with its weights copied.

    ``nn.RNNCell`` becomes :class:`~rnnkit.ElmanCell`, ``nn.GRUCell`` a
    :class:`~rnnkit.GRUCell` (``reset="after"``), ``nn.LSTMCell`` an :class:`~rnnkit.LSTMCell`;
    ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (any ``num_layers``, ``bidirectional``, ``bias``,
    ``dropout``, ``batch_first``) become an :class:`~rnnkit.RNN` that takes the same input layout
    and gives the same output sequence. Its final state is rnnkit's: one entry per layer, a
    ``(forward, backward)`` pair per bidirectional layer, instead of torch's stacked ``h_n``.

    Example:
        >>> lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
        >>> net = from_torch(lstm)
        >>> x = torch.randn(7, 2, 3)  # (T, B, I): this lstm is not batch_first
        >>> bool(torch.allclose(net(x)[0], lstm(x)[0], atol=1e-6))
        True
    """
    if isinstance(module, nn.RNNCellBase):
        return _cell_from_torch(module)
    if isinstance(module, nn.RNNBase):
        return _rnn_from_torch(module)
    raise TypeError(
        "module must be torch.nn.RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell, "
        f"got {type(module).__name__}"
    )


def to_torch(module: nn.Module) -> nn.Module:
    """The ``torch.nn`` equivalent of an rnnkit module, where torch has one.

    Cells become ``nn.RNNCell``/``nn.GRUCell``/``nn.LSTMCell``; an :class:`~rnnkit.RNN` (no
    readout) or a forward :class:`~rnnkit.Recurrent` becomes ``nn.RNN``/``nn.GRU``/``nn.LSTM``.
    torch has no sigmoid Elman, Jordan, reset-before GRU, peephole or identity-output LSTM:
    those raise ``ValueError``.

    Example:
        >>> from rnnkit import RNN
        >>> net = RNN(3, 4, cell="gru", num_layers=2)
        >>> gru = to_torch(net)
        >>> x = torch.randn(2, 6, 3)
        >>> bool(torch.allclose(gru(x)[0], net(x)[0], atol=1e-6))
        True
    """
    if isinstance(module, RecurrentCell):
        return _cell_to_torch(module)
    layers: list[nn.Module]
    if isinstance(module, Recurrent):
        if module.reverse:
            raise ValueError("module must run forward in time for torch, got reverse=True")
        layers, bidirectional, dropout, batch_first = [module], False, 0.0, True
    elif isinstance(module, RNN):
        if module.readout is not None:
            raise ValueError("module must have no readout for torch, got output_size set")
        layers = list(module.stack.layers)
        bidirectional, dropout = module.bidirectional, module.stack.dropout
        batch_first = module.batch_first
    else:
        raise TypeError(
            f"module must be an rnnkit cell, Recurrent or RNN, got {type(module).__name__}"
        )
    cells = [_layer_cells(layer) for layer in layers]
    first = cells[0][0]
    kind, nonlinearity = _torch_kind(first)
    for k, pair in enumerate(cells):
        for cell in pair:
            if _torch_kind(cell) != (kind, nonlinearity) or cell.hidden_size != first.hidden_size:
                raise ValueError(
                    f"module must use one cell type and size in every layer, layer {k} differs"
                )
    has_bias = first.bias_ih is not None
    options = {"nonlinearity": nonlinearity} if kind is nn.RNN else {}
    ref = first.weight_ih
    out = kind(
        first.input_size,
        first.hidden_size,
        num_layers=len(layers),
        bias=has_bias,
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=bidirectional,
        device=ref.device,
        dtype=ref.dtype,
        **options,
    )
    with torch.no_grad():
        for k, pair in enumerate(cells):
            for cell, suffix in zip(pair, ("", "_reverse")):
                for name in _CELL_PARAMS if has_bias else _CELL_PARAMS[:2]:
                    getattr(out, f"{name}_l{k}{suffix}").copy_(getattr(cell, name))
    return out.train(module.training)


def _cell_from_torch(module: nn.RNNCellBase) -> RecurrentCell:
    ref = module.weight_ih
    factory: dict[str, Any] = {"bias": module.bias, "device": ref.device, "dtype": ref.dtype}
    if isinstance(module, nn.RNNCell):
        cell: RecurrentCell = ElmanCell(
            module.input_size, module.hidden_size, module.nonlinearity, **factory
        )
    elif isinstance(module, nn.GRUCell):
        cell = GRUCell(module.input_size, module.hidden_size, reset="after", **factory)
    elif isinstance(module, nn.LSTMCell):
        cell = LSTMCell(module.input_size, module.hidden_size, forget_bias=0.0, **factory)
    else:
        raise TypeError(
            f"module must be an RNNCell, GRUCell or LSTMCell, got {type(module).__name__}"
        )
    cell.load_state_dict(module.state_dict())
    return cell.train(module.training)


def _rnn_from_torch(module: nn.RNNBase) -> RNN:
    if getattr(module, "proj_size", 0):
        raise ValueError(
            f"module must have proj_size=0 (rnnkit has no projection), got {module.proj_size}"
        )
    ref = module.weight_ih_l0
    options: dict = {"bias": module.bias, "device": ref.device, "dtype": ref.dtype}
    if isinstance(module, nn.LSTM):
        kind = "lstm"
        options["forget_bias"] = 0.0
    elif isinstance(module, nn.GRU):
        kind = "gru"
    elif isinstance(module, nn.RNN):
        kind = "elman"
        options["activation"] = module.nonlinearity
    else:
        raise TypeError(f"module must be nn.RNN, GRU or LSTM, got {type(module).__name__}")
    net = RNN(
        module.input_size,
        module.hidden_size,
        cell=kind,
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        dropout=float(module.dropout),
        batch_first=module.batch_first,
        **options,
    )
    with torch.no_grad():
        for k, layer in enumerate(net.stack.layers):
            for cell, suffix in zip(_layer_cells(layer), ("", "_reverse")):
                for name in _CELL_PARAMS if module.bias else _CELL_PARAMS[:2]:
                    getattr(cell, name).copy_(getattr(module, f"{name}_l{k}{suffix}"))
    return net.train(module.training)


def _layer_cells(layer: nn.Module) -> list[RecurrentCell]:
    if isinstance(layer, Recurrent):
        return [layer.cell]
    if isinstance(layer, Bidirectional):
        return _layer_cells(layer.forward_layer) + _layer_cells(layer.backward_layer)
    raise ValueError(
        f"module must be made of Recurrent layers for torch, got {type(layer).__name__}"
    )


def _torch_kind(cell: RecurrentCell) -> tuple[type, str | None]:
    """The torch.nn layer class equal to ``cell`` (from the cell registry) and, for nn.RNN, its
    nonlinearity."""
    spec = spec_of(cell)
    options = {} if spec is None else {o.name: getattr(cell, o.name) for o in spec.options}
    layer = None if spec is None or spec.torch_equivalent(**options) is None else spec.torch_layer
    if layer is None:
        raise ValueError(f"torch.nn has no equivalent of {cell!r}")
    activation = options.get("activation")
    return layer, None if activation is None else str(activation)


def _cell_to_torch(cell: RecurrentCell) -> nn.Module:
    kind, nonlinearity = _torch_kind(cell)  # raises when torch has no equivalent
    spec = spec_of(cell)
    assert spec is not None and spec.torch_cell is not None
    cell_class = spec.torch_cell
    options = {"nonlinearity": nonlinearity} if kind is nn.RNN else {}
    ref = cell.weight_ih
    out = cell_class(
        cell.input_size,
        cell.hidden_size,
        bias=cell.bias_ih is not None,
        device=ref.device,
        dtype=ref.dtype,
        **options,
    )
    out.load_state_dict(cell.state_dict())
    return out.train(cell.training)
