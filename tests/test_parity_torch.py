"""Parity with torch.nn after copying weights, and the conversions from_torch / to_torch.

Weights are copied both with ``rnnkit.from_torch`` and with ``load_state_dict`` of the torch state
dict into rnnkit cells (the contract: torch's parameter names and gate orders). Tolerances:
float64 atol 1e-10, float32 atol 1e-5.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit import (
    RNN,
    VARIANTS,
    Bidirectional,
    ElmanCell,
    GRUCell,
    JordanCell,
    LSTMCell,
    LSTMState,
    Recurrent,
    from_torch,
    to_torch,
)

ATOL = {torch.float64: 1e-10, torch.float32: 1e-5}
I, H, B, T = 3, 4, 3, 5  # noqa: E741


def close(a, b, dtype):
    torch.testing.assert_close(a, b, rtol=0, atol=ATOL[dtype])


# --- cells ----------------------------------------------------------------------------------

TORCH_CELLS = {
    "rnn_tanh": (lambda **kw: nn.RNNCell(I, H, nonlinearity="tanh", **kw), ElmanCell),
    "rnn_relu": (lambda **kw: nn.RNNCell(I, H, nonlinearity="relu", **kw), ElmanCell),
    "gru": (lambda **kw: nn.GRUCell(I, H, **kw), GRUCell),
    "lstm": (lambda **kw: nn.LSTMCell(I, H, **kw), LSTMCell),
}


def torch_cell_loop(tcell, x, state):
    """Run a torch.nn cell over (B, T, I) by hand; state is h or (h, c)."""
    ys = []
    for t in range(x.shape[1]):
        state = tcell(x[:, t], state)
        ys.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(ys, 1), state


def rnnkit_equivalent(kind, tcell, bias):
    factory = {"bias": bias, "dtype": tcell.weight_ih.dtype}
    if kind.startswith("rnn"):
        return ElmanCell(I, H, tcell.nonlinearity, **factory)
    if kind == "gru":
        return GRUCell(I, H, reset="after", **factory)
    return LSTMCell(I, H, **factory)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(TORCH_CELLS))
@pytest.mark.parametrize("how", ["from_torch", "load_state_dict"])
def test_cell_parity(kind, bias, dtype, how, unroll_path):
    make_torch, rk_class = TORCH_CELLS[kind]
    torch.manual_seed(0)
    tcell = make_torch(bias=bias, dtype=dtype)
    if how == "from_torch":
        cell = from_torch(tcell)
    else:
        torch.manual_seed(99)  # different weights until the state dict is loaded
        cell = rnnkit_equivalent(kind, tcell, bias)
        cell.load_state_dict(tcell.state_dict())  # strict: same names and shapes
    assert type(cell) is rk_class
    if kind.startswith("rnn"):
        assert cell.activation == tcell.nonlinearity
    if kind == "gru":
        assert cell.reset == "after"
    assert (cell.bias_ih is None) == (not bias)

    x = torch.randn(B, T, I, dtype=dtype)
    h0 = torch.randn(B, H, dtype=dtype)
    if kind == "lstm":
        c0 = torch.randn(B, H, dtype=dtype)
        t_state, r_state = (h0, c0), LSTMState(h0, c0)
    else:
        t_state = r_state = h0

    # one step
    t_out = tcell(x[:, 0], t_state)
    y, s = cell(x[:, 0], r_state)
    if kind == "lstm":
        close(y, t_out[0], dtype)
        close(s.h, t_out[0], dtype)
        close(s.c, t_out[1], dtype)
    else:
        close(y, t_out, dtype)
        close(s, t_out, dtype)

    # unrolled, from a given state and from zeros
    for ts, rs in ((t_state, r_state), (None, None)):
        ys_t, final_t = torch_cell_loop(tcell, x, ts)
        ys, final = Recurrent(cell)(x, rs)
        close(ys, ys_t, dtype)
        if kind == "lstm":
            close(final.h, final_t[0], dtype)
            close(final.c, final_t[1], dtype)
        else:
            close(final, final_t, dtype)


def test_from_torch_cell_keeps_training_mode_and_does_not_share_storage():
    tcell = nn.LSTMCell(I, H).eval()
    cell = from_torch(tcell)
    assert not cell.training
    with torch.no_grad():
        cell.weight_ih.add_(1.0)
    assert not torch.allclose(cell.weight_ih, tcell.weight_ih)


# --- whole modules --------------------------------------------------------------------------

MODES = {
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "gru": lambda **kw: nn.GRU(**kw),
    "lstm": lambda **kw: nn.LSTM(**kw),
}


def make_torch_module(mode, num_layers, bidirectional, batch_first, bias, dtype):
    torch.manual_seed(0)
    return MODES[mode](
        input_size=I,
        hidden_size=H,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
        dtype=dtype,
    )


def layer_cells(net: RNN, k: int):
    """The (forward[, backward]) cells of layer k of an rnnkit RNN, through public attributes."""
    layer = net.stack.layers[k]
    if isinstance(layer, Bidirectional):
        return [layer.forward_layer.cell, layer.backward_layer.cell]
    return [layer.cell]


def rnnkit_by_state_dict(tmod, mode):
    """Build an rnnkit RNN and load torch's per-layer weights into its cells' state dicts."""
    dtype = tmod.weight_ih_l0.dtype
    kind = {"rnn_tanh": "elman", "rnn_relu": "elman", "gru": "gru", "lstm": "lstm"}[mode]
    options = {"activation": tmod.nonlinearity} if kind == "elman" else {}
    torch.manual_seed(99)
    net = RNN(
        I,
        H,
        cell=kind,
        num_layers=tmod.num_layers,
        bidirectional=tmod.bidirectional,
        batch_first=tmod.batch_first,
        bias=tmod.bias,
        dtype=dtype,
        **options,
    )
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if tmod.bias else [])
    torch_sd = tmod.state_dict()
    for k in range(tmod.num_layers):
        for cell, suffix in zip(layer_cells(net, k), ("", "_reverse")):
            cell.load_state_dict({n: torch_sd[f"{n}_l{k}{suffix}"] for n in names})
    return net


def torch_to_rnnkit_state(h_n, c_n, num_layers, bidirectional):
    """torch's (L*D, B, H) h_n (and c_n) -> rnnkit's per-layer tuple."""
    D = 2 if bidirectional else 1
    out = []
    for k in range(num_layers):
        dirs = []
        for d in range(D):
            h = h_n[k * D + d]
            dirs.append(h if c_n is None else LSTMState(h, c_n[k * D + d]))
        out.append(tuple(dirs) if bidirectional else dirs[0])
    return tuple(out)


def assert_final_states(states, h_n, c_n, num_layers, bidirectional, dtype):
    assert isinstance(states, tuple) and len(states) == num_layers
    D = 2 if bidirectional else 1
    for k in range(num_layers):
        per_dir = states[k] if bidirectional else (states[k],)
        assert len(per_dir) == D
        for d, s in enumerate(per_dir):
            if c_n is None:
                assert isinstance(s, torch.Tensor)
                close(s, h_n[k * D + d], dtype)
            else:
                assert isinstance(s, LSTMState)
                close(s.h, h_n[k * D + d], dtype)
                close(s.c, c_n[k * D + d], dtype)


def split_torch_out(mode, out):
    ys, hidden = out
    if mode == "lstm":
        return ys, hidden[0], hidden[1]
    return ys, hidden, None


GRID = list(
    itertools.product(MODES, [1, 2, 3], [False, True], [True, False], [True, False])
)  # mode, num_layers, bidirectional, batch_first, bias


@pytest.mark.parametrize(("mode", "num_layers", "bidirectional", "batch_first", "bias"), GRID)
@pytest.mark.parametrize("how", ["from_torch", "load_state_dict"])
def test_module_parity_float64(mode, num_layers, bidirectional, batch_first, bias, how):
    dtype = torch.float64
    tmod = make_torch_module(mode, num_layers, bidirectional, batch_first, bias, dtype)
    net = from_torch(tmod) if how == "from_torch" else rnnkit_by_state_dict(tmod, mode)
    assert isinstance(net, RNN)
    x = torch.randn(B, T, I, dtype=dtype)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    ys_t, h_n, c_n = split_torch_out(mode, tmod(x))
    ys, states = net(x)
    assert ys.shape == ys_t.shape
    close(ys, ys_t, dtype)
    assert_final_states(states, h_n, c_n, num_layers, bidirectional, dtype)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True), (3, False)])
def test_module_parity_float32(mode, num_layers, bidirectional):
    dtype = torch.float32
    tmod = make_torch_module(mode, num_layers, bidirectional, True, True, dtype)
    net = from_torch(tmod)
    x = torch.randn(B, T, I, dtype=dtype)
    ys_t, h_n, c_n = split_torch_out(mode, tmod(x))
    ys, states = net(x)
    close(ys, ys_t, dtype)
    assert_final_states(states, h_n, c_n, num_layers, bidirectional, dtype)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_module_parity_with_initial_state(mode, bidirectional):
    dtype, num_layers = torch.float64, 2
    tmod = make_torch_module(mode, num_layers, bidirectional, True, True, dtype)
    net = from_torch(tmod)
    D = 2 if bidirectional else 1
    h0 = torch.randn(num_layers * D, B, H, dtype=dtype)
    c0 = torch.randn(num_layers * D, B, H, dtype=dtype) if mode == "lstm" else None
    x = torch.randn(B, T, I, dtype=dtype)
    ys_t, h_n, c_n = split_torch_out(mode, tmod(x, (h0, c0) if mode == "lstm" else h0))
    ys, states = net(x, torch_to_rnnkit_state(h0, c0, num_layers, bidirectional))
    close(ys, ys_t, dtype)
    assert_final_states(states, h_n, c_n, num_layers, bidirectional, dtype)
    # the initial state really matters
    assert not torch.allclose(net(x)[0], ys)


PACKED = list(itertools.product(MODES, [1, 2], [False, True], [True, False]))


@pytest.mark.parametrize(("mode", "num_layers", "bidirectional", "batch_first"), PACKED)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_packed_sequence_parity(mode, num_layers, bidirectional, batch_first, dtype, unroll_path):
    """pack_padded_sequence(enforce_sorted=False) vs rnnkit ``lengths``, reverse included."""
    tmod = make_torch_module(mode, num_layers, bidirectional, batch_first, True, dtype)
    net = from_torch(tmod)
    Tlong, Bn = 6, 4
    lengths = torch.tensor([3, 6, 1, 4])  # unsorted, includes 1 and T
    x = torch.randn(Bn, Tlong, I, dtype=dtype)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out_packed, hidden = tmod(packed)
    ys_t, _ = pad_packed_sequence(out_packed, batch_first=batch_first, total_length=Tlong)
    h_n, c_n = hidden if mode == "lstm" else (hidden, None)
    ys, states = net(x, lengths=lengths)
    close(ys, ys_t, dtype)
    assert_final_states(states, h_n, c_n, num_layers, bidirectional, dtype)
    # padding outputs are exactly zero, as torch's pad_packed_sequence gives
    ys_b = ys if batch_first else ys.transpose(0, 1)
    for b, n in enumerate(lengths.tolist()):
        assert bool((ys_b[b, n:] == 0).all())


@pytest.mark.parametrize("mode", list(MODES))
def test_packed_backward_direction_starts_at_last_real_step(mode):
    """Bidirectional final backward state = the state after reading step 0 from step len-1."""
    dtype = torch.float64
    tmod = make_torch_module(mode, 1, True, True, True, dtype)
    net = from_torch(tmod)
    lengths = torch.tensor([2, 5, 3])
    x = torch.randn(3, 5, I, dtype=dtype)
    # garbage in the padding must not matter for either library
    for b, n in enumerate(lengths.tolist()):
        x[b, n:] = 100.0
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hidden = tmod(packed)
    ys_t, _ = pad_packed_sequence(out, batch_first=True, total_length=5)
    h_n = hidden[0] if mode == "lstm" else hidden
    ys, ((_, s_bwd),) = net(x, lengths=lengths)
    close(ys, ys_t, dtype)
    h_bwd = s_bwd.h if mode == "lstm" else s_bwd
    close(h_bwd, h_n[1], dtype)
    # the backward output at t=0 is the backward final state
    close(ys[:, 0, H:], h_bwd, dtype)


# --- to_torch -------------------------------------------------------------------------------

# The variants the registry says torch.nn has (elman_tanh, elman_relu, gru_after, lstm).
RK_CELLS = {
    name: (lambda v: lambda **kw: v.build(I, H, **kw))(variant)
    for name, variant in VARIANTS.items()
    if variant.torch_cell is not None
}


def test_the_registry_names_the_torch_equivalents():
    assert list(RK_CELLS) == ["elman_tanh", "elman_relu", "gru_after", "lstm"]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(RK_CELLS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_to_torch_cell_round_trip(kind, bias, dtype):
    torch.manual_seed(0)
    cell = RK_CELLS[kind](bias=bias, dtype=dtype)
    tcell = to_torch(cell)
    expected_type = {"elman": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}
    assert type(tcell) is expected_type[kind.split("_")[0]]
    assert tcell.weight_ih.dtype == dtype
    assert tcell.bias == bias
    x = torch.randn(B, T, I, dtype=dtype)
    ys_t, final_t = torch_cell_loop(tcell, x, None)
    ys, final = Recurrent(cell)(x)
    close(ys, ys_t, dtype)
    if kind == "lstm":
        close(final.c, final_t[1], dtype)
    # and back again
    back = from_torch(tcell)
    assert type(back) is type(cell)
    for name, p in cell.named_parameters():
        assert torch.equal(getattr(back, name), p), name
    close(Recurrent(back)(x)[0], ys, dtype)


@pytest.mark.parametrize("kind", list(RK_CELLS))
def test_to_torch_recurrent(kind):
    dtype = torch.float64
    torch.manual_seed(0)
    layer = Recurrent(RK_CELLS[kind](dtype=dtype))
    tmod = to_torch(layer)
    assert type(tmod) in (nn.RNN, nn.GRU, nn.LSTM)
    assert tmod.batch_first and tmod.num_layers == 1 and not tmod.bidirectional
    x = torch.randn(B, T, I, dtype=dtype)
    ys_t, h_n, c_n = split_torch_out("lstm" if kind == "lstm" else "x", tmod(x))
    ys, final = layer(x)
    close(ys, ys_t, dtype)
    assert_final_states((final,), h_n, c_n, 1, False, dtype)


@pytest.mark.parametrize(
    ("cell", "options"),
    [
        ("elman", {"activation": "tanh"}),
        ("elman", {"activation": "relu"}),
        ("gru", {}),
        ("lstm", {}),
        ("lstm", {"bias": False}),
    ],
)
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True), (3, False)])
@pytest.mark.parametrize("batch_first", [True, False])
def test_to_torch_rnn_round_trip(cell, options, num_layers, bidirectional, batch_first):
    dtype = torch.float64
    torch.manual_seed(0)
    net = RNN(
        I,
        H,
        cell=cell,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        dtype=dtype,
        **options,
    )
    tmod = to_torch(net)
    assert tmod.num_layers == num_layers
    assert tmod.bidirectional == bidirectional
    assert tmod.batch_first == batch_first
    assert tmod.bias == options.get("bias", True)
    x = torch.randn(B, T, I, dtype=dtype)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    mode = "lstm" if cell == "lstm" else "x"
    ys_t, h_n, c_n = split_torch_out(mode, tmod(x))
    ys, states = net(x)
    close(ys, ys_t, dtype)
    assert_final_states(states, h_n, c_n, num_layers, bidirectional, dtype)
    # rnnkit -> torch -> rnnkit is the identity on outputs
    back = from_torch(tmod)
    assert torch.equal(back(x)[0], ys)


def test_to_torch_keeps_dropout_and_mode():
    net = RNN(I, H, cell="gru", num_layers=2, dropout=0.25).eval()
    tmod = to_torch(net)
    assert tmod.dropout == 0.25
    assert not tmod.training
    net2 = from_torch(tmod)
    assert net2.stack.dropout == 0.25 and not net2.training


NO_TORCH_EQUIVALENT = {
    "elman_sigmoid": lambda: ElmanCell(I, H, "sigmoid"),
    "jordan": lambda: JordanCell(I, H, 2),
    "gru_before": lambda: GRUCell(I, H, reset="before"),
    "lstm_peephole": lambda: LSTMCell(I, H, peephole=True),
    "lstm_identity": lambda: LSTMCell(I, H, cell_activation="identity"),
}


@pytest.mark.parametrize("kind", list(NO_TORCH_EQUIVALENT))
def test_to_torch_raises_for_cells_torch_lacks(kind):
    cell = NO_TORCH_EQUIVALENT[kind]()
    with pytest.raises(ValueError, match=r"torch.nn has no equivalent"):
        to_torch(cell)
    with pytest.raises(ValueError, match=r"torch.nn has no equivalent"):
        to_torch(Recurrent(cell))


@pytest.mark.parametrize(
    ("cell", "options"),
    [
        ("elman", {"activation": "sigmoid"}),
        ("jordan", {}),
        ("gru", {"reset": "before"}),
        ("lstm", {"peephole": True}),
        ("lstm", {"cell_activation": "identity"}),
    ],
)
def test_to_torch_raises_for_rnn_of_cells_torch_lacks(cell, options):
    net = RNN(I, H, cell=cell, num_layers=2, bidirectional=True, **options)
    with pytest.raises(ValueError, match=r"torch.nn has no equivalent"):
        to_torch(net)


def test_to_torch_raises_for_reverse_layer_and_readout():
    with pytest.raises(ValueError, match=r"reverse=True"):
        to_torch(Recurrent(GRUCell(I, H), reverse=True))
    with pytest.raises(ValueError, match=r"readout"):
        to_torch(RNN(I, H, cell="gru", output_size=2))


def test_to_torch_raises_for_mixed_layers():
    mixed = RNN(I, H, num_layers=2, cell=lambda i: ElmanCell(i, H, "tanh" if i == I else "relu"))
    with pytest.raises(ValueError, match=r"layer 1 differs"):
        to_torch(mixed)
    same = RNN(I, H, num_layers=2, cell=lambda i: ElmanCell(i, H, "relu"))
    assert to_torch(same).nonlinearity == "relu"


def test_to_torch_type_error():
    with pytest.raises(TypeError, match=r"module must be an rnnkit cell, Recurrent or RNN"):
        to_torch(nn.Linear(2, 2))


def test_from_torch_rejects_projection():
    lstm = nn.LSTM(I, H, proj_size=2)
    with pytest.raises(ValueError, match=r"proj_size=0 .*got 2"):
        from_torch(lstm)


def test_from_torch_type_error():
    with pytest.raises(TypeError, match=r"module must be torch.nn.RNN, GRU, LSTM.*got Linear"):
        from_torch(nn.Linear(2, 2))


def test_public_api():
    for name in rnnkit.__all__:
        assert hasattr(rnnkit, name), name
