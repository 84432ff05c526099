"""Unrolling and composition: lengths, reverse, Stack, Bidirectional, RNN, state, state_dict."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import (
    CELL_BUILDERS,
    F64,
    VARIANTS,
    assert_state_close,
    build_cell,
    index_state,
    map_state,
    random_state,
    state_leaves,
)
from rnnkit import (
    RNN,
    Bidirectional,
    ElmanCell,
    GRUCell,
    JordanCell,
    LSTMCell,
    LSTMState,
    Readout,
    Recurrent,
    Stack,
    kernels,
)
from rnnkit.recurrent import reverse_padded

ATOL = 1e-12  # float64 throughout; batched vs single-sequence matmuls may differ in the last bit


def run_alone(cell, x, state, lengths, *, reverse):
    """Each sequence on its own, truncated to its length, without ``lengths``."""
    ys = torch.zeros(x.shape[0], x.shape[1], cell.output_size, dtype=x.dtype)
    finals = []
    for b, n in enumerate(lengths.tolist()):
        s_b = None if state is None else index_state(state, b)
        y_b, f_b = Recurrent(cell, reverse=reverse)(x[b : b + 1, :n], s_b)
        ys[b, :n] = y_b[0]
        finals.append(f_b)
    final = _cat_states(finals)
    return ys, final


def _cat_states(states):
    first = states[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(states, 0)
    items = [_cat_states([s[k] for s in states]) for k in range(len(first))]
    return type(first)(*items) if isinstance(first, LSTMState) else tuple(items)


# --- lengths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_lengths_match_per_sequence_runs(variant, reverse, unroll_path):
    cell = build_cell(variant, 3, 4)
    lengths = torch.tensor([5, 2, 1, 4])
    x = torch.randn(4, 5, 3, dtype=F64)
    state = random_state(cell, 4)
    ys, final = Recurrent(cell, reverse=reverse)(x, state, lengths=lengths)
    ys_ref, final_ref = run_alone(cell, x, state, lengths, reverse=reverse)
    torch.testing.assert_close(ys, ys_ref, rtol=0, atol=ATOL)
    assert_state_close(final, final_ref, atol=ATOL)
    # outputs past a length are exactly zero
    for b, n in enumerate(lengths.tolist()):
        assert bool((ys[b, n:] == 0).all())
        assert bool((ys[b, :n] != 0).any())


@pytest.mark.parametrize("variant", VARIANTS)
def test_reverse_with_lengths_is_forward_on_reversed_truncated_sequence(variant):
    cell = build_cell(variant, 3, 4)
    lengths = torch.tensor([3, 5, 2])
    x = torch.randn(3, 5, 3, dtype=F64)
    ys, final = Recurrent(cell, reverse=True)(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        y_fwd, f_fwd = Recurrent(cell)(x[b : b + 1, :n].flip(1))
        torch.testing.assert_close(ys[b, :n], y_fwd[0].flip(0), rtol=0, atol=ATOL)
        assert_state_close(index_state(final, b), f_fwd, atol=ATOL)


@pytest.mark.parametrize("reverse", [False, True])
def test_padding_content_is_ignored(reverse, unroll_path):
    cell = build_cell("lstm_peephole", 3, 4)
    lengths = torch.tensor([2, 5, 3])
    x = torch.randn(3, 5, 3, dtype=F64)
    garbage = x.clone()
    for b, n in enumerate(lengths.tolist()):
        garbage[b, n:] = float("nan")
    layer = Recurrent(cell, reverse=reverse)
    ys, final = layer(x, lengths=lengths)
    ys_g, final_g = layer(garbage, lengths=lengths)
    assert torch.equal(ys, ys_g)
    assert_state_close(final_g, final, atol=0)


def test_full_lengths_equal_no_lengths():
    cell = build_cell("gru_before", 3, 4)
    x = torch.randn(3, 5, 3, dtype=F64)
    for reverse in (False, True):
        layer = Recurrent(cell, reverse=reverse)
        ys, s = layer(x)
        ys_l, s_l = layer(x, lengths=torch.tensor([5, 5, 5]))
        torch.testing.assert_close(ys_l, ys, rtol=0, atol=ATOL)
        torch.testing.assert_close(s_l, s, rtol=0, atol=ATOL)


def test_lengths_as_list_of_ints():
    cell = build_cell("elman_tanh", 3, 4)
    x = torch.randn(2, 4, 3, dtype=F64)
    a = Recurrent(cell)(x, lengths=[4, 2])
    b = Recurrent(cell)(x, lengths=torch.tensor([4, 2]))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_reverse_without_lengths_is_flip():
    cell = build_cell("lstm", 3, 4)
    x = torch.randn(2, 5, 3, dtype=F64)
    ys, s = Recurrent(cell, reverse=True)(x)
    ys_f, s_f = Recurrent(cell)(x.flip(1))
    torch.testing.assert_close(ys, ys_f.flip(1), rtol=0, atol=ATOL)
    assert_state_close(s, s_f, atol=ATOL)
    # and it is not the forward run
    assert not torch.allclose(ys, Recurrent(cell)(x)[0])


# --- reverse_padded -------------------------------------------------------------------------


def test_reverse_padded_example():
    x = torch.arange(1.0, 5.0).repeat(3, 1).unsqueeze(2)  # (3, 4, 1): 1 2 3 4 per row
    lengths = torch.tensor([3, 1, 4])
    got = reverse_padded(x, lengths)[..., 0]
    expected = torch.tensor([[3.0, 2, 1, 4], [1, 2, 3, 4], [4, 3, 2, 1]])
    assert torch.equal(got, expected)
    assert torch.equal(reverse_padded(x, None), x.flip(1))


@given(
    batch=st.integers(1, 4),
    time=st.integers(1, 6),
    data=st.data(),
)
@settings(max_examples=25, deadline=None)
def test_reverse_padded_is_an_involution(batch, time, data):
    lengths = torch.tensor(
        data.draw(st.lists(st.integers(1, time), min_size=batch, max_size=batch))
    )
    x = torch.randn(batch, time, 2)
    once = reverse_padded(x, lengths)
    assert torch.equal(reverse_padded(once, lengths), x)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(once[b, :n], x[b, :n].flip(0))
        assert torch.equal(once[b, n:], x[b, n:])  # padding stays in place


# --- Stack ------------------------------------------------------------------------------------


def two_layer_stack(dropout=0.0):
    torch.manual_seed(0)
    l1 = Recurrent(LSTMCell(3, 5, peephole=True, dtype=F64))
    l2 = Recurrent(GRUCell(5, 4, reset="before", dtype=F64))
    l3 = Recurrent(JordanCell(4, 3, 2, dtype=F64), reverse=True)
    return Stack([l1, l2, l3], dropout=dropout), (l1, l2, l3)


def test_stack_equals_manual_chaining_with_states_per_layer():
    stack, (l1, l2, l3) = two_layer_stack()
    x = torch.randn(2, 6, 3, dtype=F64)
    lengths = torch.tensor([6, 4])
    states = (random_state(l1.cell, 2), random_state(l2.cell, 2), random_state(l3.cell, 2))
    ys, finals = stack(x, states, lengths=lengths)
    y1, s1 = l1(x, states[0], lengths=lengths)
    y2, s2 = l2(y1, states[1], lengths=lengths)
    y3, s3 = l3(y2, states[2], lengths=lengths)
    assert torch.equal(ys, y3)
    assert isinstance(finals, tuple) and len(finals) == 3
    assert_state_close(finals[0], s1, atol=0)
    assert_state_close(finals[1], s2, atol=0)
    assert_state_close(finals[2], s3, atol=0)
    # the per-layer states are used in order: swapping is impossible (shapes), zeroing one matters
    zeroed = (states[0], map_state(torch.zeros_like, states[1]), states[2])
    assert not torch.allclose(stack(x, zeroed, lengths=lengths)[0], ys)
    assert stack.input_size == 3 and stack.output_size == 2


def test_stack_dropout_only_between_layers():
    p = 0.5
    stack, layers = two_layer_stack(dropout=p)
    seen = {}
    for k, layer in enumerate(layers):
        layer.register_forward_hook(
            lambda mod, args, out, k=k: seen.__setitem__(k, (args[0].detach(), out[0].detach()))
        )
    x = torch.randn(4, 6, 3, dtype=F64)
    stack.train()
    ys, _ = stack(x)
    # no dropout on the input of the first layer
    assert torch.equal(seen[0][0], x)
    # between layers: each input element is either dropped (0) or the previous output / (1 - p)
    for k in (1, 2):
        inp, prev_out = seen[k][0], seen[k - 1][1]
        kept = inp != 0
        assert 0 < int(kept.sum()) < inp.numel()
        torch.testing.assert_close(inp[kept], prev_out[kept] / (1 - p), rtol=0, atol=1e-12)
    # no dropout on the output of the last layer
    assert torch.equal(ys, seen[2][1])
    # eval mode: no effect at all; equals the dropout-free stack
    stack.eval()
    plain, _ = two_layer_stack(dropout=0.0)
    torch.testing.assert_close(stack(x)[0], plain(x)[0], rtol=0, atol=0)


def test_stack_dropout_train_differs_from_eval():
    stack, _ = two_layer_stack(dropout=0.5)
    x = torch.randn(2, 6, 3, dtype=F64)
    train_out = stack.train()(x)[0]
    eval_out = stack.eval()(x)[0]
    assert not torch.allclose(train_out, eval_out)


# --- Bidirectional ------------------------------------------------------------------------------


@pytest.mark.parametrize("with_lengths", [False, True])
def test_bidirectional_is_concat_of_forward_and_reversed_runs(with_lengths):
    torch.manual_seed(0)
    fwd_cell = LSTMCell(3, 4, dtype=F64)
    bwd_cell = GRUCell(3, 5, dtype=F64)
    bi = Bidirectional(Recurrent(fwd_cell), Recurrent(bwd_cell, reverse=True))
    assert bi.output_size == 9
    x = torch.randn(3, 6, 3, dtype=F64)
    lengths = torch.tensor([6, 2, 4]) if with_lengths else torch.tensor([6, 6, 6])
    s0 = (random_state(fwd_cell, 3), random_state(bwd_cell, 3))
    ys, (s_f, s_b) = bi(x, s0, lengths=lengths if with_lengths else None)
    assert ys.shape == (3, 6, 9)
    for b, n in enumerate(lengths.tolist()):
        xb = x[b : b + 1, :n]
        y_f, f_f = Recurrent(fwd_cell)(xb, index_state(s0[0], b))
        y_b, f_b = Recurrent(bwd_cell)(xb.flip(1), index_state(s0[1], b))
        torch.testing.assert_close(ys[b, :n, :4], y_f[0], rtol=0, atol=ATOL)
        torch.testing.assert_close(ys[b, :n, 4:], y_b[0].flip(0), rtol=0, atol=ATOL)
        assert bool((ys[b, n:] == 0).all())
        assert_state_close(index_state(s_f, b), f_f, atol=ATOL)
        assert_state_close(index_state(s_b, b), f_b, atol=ATOL)


# --- Readout and RNN --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "fn"),
    [
        ("identity", lambda v: v),
        ("tanh", torch.tanh),
        ("sigmoid", torch.sigmoid),
        ("relu", torch.relu),
    ],
)
def test_readout_formula(activation, fn):
    torch.manual_seed(0)
    readout = Readout(4, 2, activation=activation, dtype=F64)
    x = torch.randn(3, 5, 4, dtype=F64)
    expected = fn(x @ readout.weight.T + readout.bias)
    torch.testing.assert_close(readout(x), expected, rtol=0, atol=1e-12)
    assert readout.weight.shape == (2, 4)


def test_readout_without_bias():
    readout = Readout(4, 2, bias=False)
    assert readout.bias is None
    x = torch.randn(3, 4)
    torch.testing.assert_close(readout(x), x @ readout.weight.T)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_output_size_applies_readout(bidirectional):
    torch.manual_seed(0)
    net = RNN(
        3,
        4,
        cell="gru",
        num_layers=2,
        bidirectional=bidirectional,
        output_size=2,
        output_activation="sigmoid",
        dtype=F64,
    )
    assert net.output_size == 2
    assert net.readout.weight.dtype == F64
    x = torch.randn(2, 5, 3, dtype=F64)
    lengths = torch.tensor([5, 3])
    ys, states = net(x, lengths=lengths)
    hidden, stack_states = net.stack(x, lengths=lengths)
    expected = torch.sigmoid(hidden @ net.readout.weight.T + net.readout.bias)
    torch.testing.assert_close(ys, expected, rtol=0, atol=1e-12)
    assert_state_close(states, stack_states, atol=0)
    assert ys.shape == (2, 5, 2)
    assert hidden.shape[-1] == (8 if bidirectional else 4)


def test_rnn_builds_the_documented_stack():
    torch.manual_seed(0)
    net = RNN(3, 4, cell="lstm", num_layers=2, peephole=True, cell_activation="identity")
    cells = [layer.cell for layer in net.stack.layers]
    assert [c.input_size for c in cells] == [3, 4]
    assert all(isinstance(c, LSTMCell) and c.peephole for c in cells)
    assert all(c.cell_activation == "identity" for c in cells)
    bi = RNN(3, 4, cell="elman", num_layers=2, bidirectional=True, activation="relu")
    first = bi.stack.layers[0]
    assert isinstance(first, Bidirectional)
    assert first.backward_layer.reverse and not first.forward_layer.reverse
    assert bi.stack.layers[1].forward_layer.cell.input_size == 8
    assert bi.stack.layers[1].backward_layer.cell.activation == "relu"
    jordan = RNN(3, 4, cell="jordan")
    assert isinstance(jordan.stack.layers[0].cell, JordanCell)
    assert jordan.stack.layers[0].cell.output_size == 4


def test_rnn_equals_manual_stack():
    torch.manual_seed(0)
    net = RNN(3, 4, cell="gru", num_layers=2, reset="before", dtype=F64)
    c1, c2 = (layer.cell for layer in net.stack.layers)
    x = torch.randn(2, 5, 3, dtype=F64)
    y1, s1 = Recurrent(c1)(x)
    y2, s2 = Recurrent(c2)(y1)
    ys, (f1, f2) = net(x)
    assert torch.equal(ys, y2) and torch.equal(f1, s1) and torch.equal(f2, s2)


def test_rnn_batch_first_false():
    torch.manual_seed(0)
    a = RNN(3, 4, cell="lstm", num_layers=2, dtype=F64, output_size=2)
    b = RNN(3, 4, cell="lstm", num_layers=2, dtype=F64, output_size=2, batch_first=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 3, dtype=F64)
    lengths = torch.tensor([5, 2])
    ys_a, s_a = a(x, lengths=lengths)
    ys_b, s_b = b(x.transpose(0, 1), lengths=lengths)
    assert torch.equal(ys_b, ys_a.transpose(0, 1))
    assert_state_close(s_b, s_a, atol=0)


# --- initial state and continuation --------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_initial_state_matters_and_continuation(variant, unroll_path):
    cell = build_cell(variant, 3, 4)
    layer = Recurrent(cell)
    x = torch.randn(2, 7, 3, dtype=F64)
    s0 = random_state(cell, 2)
    ys, final = layer(x, s0)
    ys_zero, _ = layer(x)
    assert not torch.allclose(ys, ys_zero)
    # None means zeros
    ys_explicit_zero, _ = layer(x, cell.init_state(2))
    assert torch.equal(ys_zero, ys_explicit_zero)
    # running T1 then T2 steps with the carried state == running T1 + T2 at once
    y1, s1 = layer(x[:, :3], s0)
    y2, s2 = layer(x[:, 3:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), ys, rtol=0, atol=ATOL)
    assert_state_close(s2, final, atol=ATOL)


def test_continuation_through_a_stack():
    torch.manual_seed(0)
    net = RNN(3, 4, cell="lstm", num_layers=2, output_size=2, dtype=F64)
    x = torch.randn(2, 7, 3, dtype=F64)
    ys, final = net(x)
    y1, s1 = net(x[:, :4])
    y2, s2 = net(x[:, 4:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), ys, rtol=0, atol=ATOL)
    assert_state_close(s2, final, atol=ATOL)


def test_lstm_accepts_plain_tuple_state():
    cell = build_cell("lstm", 3, 4)
    x = torch.randn(2, 5, 3, dtype=F64)
    h, c = torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    a = Recurrent(cell)(x, (h, c))
    b = Recurrent(cell)(x, LSTMState(h, c))
    assert torch.equal(a[0], b[0])
    assert isinstance(a[1], LSTMState)
    assert_state_close(a[1], b[1], atol=0)
    _, s = cell(x[:, 0], (h, c))
    assert isinstance(s, LSTMState)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cell_forward_and_init_state(variant):
    cell = build_cell(variant, 3, 4)
    zeros = cell.init_state(2)
    for leaf in zeros if isinstance(zeros, tuple) else (zeros,):
        assert leaf.dtype == F64
        assert bool((leaf == 0).all())
    x = torch.randn(2, 3, dtype=F64)
    y0, s0 = cell(x)
    y1, s1 = cell(x, zeros)
    assert torch.equal(y0, y1)
    assert_state_close(s0, s1, atol=0)
    # one step of the cell == Recurrent over T = 1 (which may run a fused kernel)
    ys, s = Recurrent(cell)(x.unsqueeze(1))
    torch.testing.assert_close(ys[:, 0], y0, rtol=0, atol=ATOL)
    assert_state_close(s, s0, atol=ATOL)
    assert y0.shape == (2, cell.output_size)


def test_init_state_structure():
    lstm = LSTMCell(3, 4)
    s = lstm.init_state(2, dtype=F64)
    assert isinstance(s, LSTMState)
    assert s.h.shape == (2, 4) and s.c.shape == (2, 4) and s.c.dtype == F64
    jordan = JordanCell(3, 4, 6)
    assert jordan.init_state(5).shape == (5, 6)
    assert jordan.init_state(5).dtype == torch.float32


# --- fully recurrent network -------------------------------------------------------------------


def test_fully_recurrent_network_example():
    """x(n) = f(W x(n-1) + W_in u(n) + b), y(n) = first L units; against a manual loop."""
    torch.manual_seed(0)
    N, L, Iu = 10, 3, 2
    net = Recurrent(ElmanCell(Iu, N, dtype=F64))
    u = torch.randn(4, 7, Iu, dtype=F64)
    units, state = net(u)
    outputs = units[..., :L]
    cell = net.cell
    W, W_in, b = cell.weight_hh, cell.weight_ih, cell.bias_ih + cell.bias_hh
    xs = torch.zeros(4, N, dtype=F64)
    expected = []
    for n in range(7):
        xs = torch.tanh(xs @ W.T + u[:, n] @ W_in.T + b)
        expected.append(xs[:, :L])
    torch.testing.assert_close(outputs, torch.stack(expected, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(state, xs, rtol=0, atol=1e-12)


# --- state_dict round trips --------------------------------------------------------------------


def _roundtrip(src, fresh):
    buffer = io.BytesIO()
    torch.save(src.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_round_trip_cells(variant):
    cell = build_cell(variant, 3, 4, seed=0)
    fresh = build_cell(variant, 3, 4, seed=1)
    x = torch.randn(2, 5, 3, dtype=F64)
    ys, s = Recurrent(cell)(x)
    assert not torch.allclose(Recurrent(fresh)(x)[0], ys)
    _roundtrip(cell, fresh)
    ys2, s2 = Recurrent(fresh)(x)
    assert torch.equal(ys2, ys)
    assert_state_close(s2, s, atol=0)


@pytest.mark.parametrize(
    "options",
    [
        {"cell": "lstm", "num_layers": 2, "peephole": True},
        {"cell": "gru", "num_layers": 2, "bidirectional": True, "reset": "before"},
        {"cell": "elman", "num_layers": 3, "activation": "sigmoid", "output_size": 2},
        {"cell": "jordan", "bidirectional": True, "output_size": 1},
    ],
)
def test_state_dict_round_trip_rnn(options):
    torch.manual_seed(0)
    net = RNN(3, 4, dtype=F64, **options)
    torch.manual_seed(1)
    fresh = RNN(3, 4, dtype=F64, **options)
    x = torch.randn(2, 5, 3, dtype=F64)
    lengths = torch.tensor([5, 3])
    ys, s = net(x, lengths=lengths)
    assert not torch.allclose(fresh(x, lengths=lengths)[0], ys)
    _roundtrip(net, fresh)
    ys2, s2 = fresh(x, lengths=lengths)
    assert torch.equal(ys2, ys)
    assert_state_close(s2, s, atol=0)


def test_dtype_conversion_of_modules():
    torch.manual_seed(0)
    net = RNN(3, 4, cell="lstm", output_size=2)
    x = torch.randn(2, 5, 3)
    ys32, _ = net(x)
    ys64, _ = net.double()(x.double())
    torch.testing.assert_close(ys64.float(), ys32, rtol=0, atol=1e-5)


# --- hypothesis: lengths == per-sequence runs, every cell ----------------------------------------


@given(
    variant=st.sampled_from(VARIANTS),
    batch=st.integers(1, 4),
    time=st.integers(1, 6),
    input_size=st.integers(1, 4),
    hidden_size=st.integers(1, 4),
    reverse=st.booleans(),
    with_state=st.booleans(),
    data=st.data(),
)
@settings(max_examples=25, deadline=None)
def test_property_lengths_match_per_sequence_runs(
    variant, batch, time, input_size, hidden_size, reverse, with_state, data
):
    lengths = torch.tensor(
        data.draw(st.lists(st.integers(1, time), min_size=batch, max_size=batch))
    )
    cell = build_cell(variant, input_size, hidden_size, seed=batch * 100 + time)
    x = torch.randn(batch, time, input_size, dtype=F64)
    state = random_state(cell, batch) if with_state else None
    ys, final = Recurrent(cell, reverse=reverse)(x, state, lengths=lengths)
    ys_ref, final_ref = run_alone(cell, x, state, lengths, reverse=reverse)
    torch.testing.assert_close(ys, ys_ref, rtol=0, atol=ATOL)
    assert_state_close(final, final_ref, atol=ATOL)
    mask = torch.arange(time).unsqueeze(0) >= lengths.unsqueeze(1)
    assert bool((ys[mask] == 0).all())


@pytest.mark.parametrize("variant", VARIANTS)
def test_without_biases_the_default_path_gives_the_reference_gradients(variant):
    """bias=False on every cell: forward and every gradient of Recurrent's default path (fused
    when the kernels are built) equal the reference loop's."""
    torch.manual_seed(0)
    cell = CELL_BUILDERS[variant](3, 4, bias=False, dtype=F64)
    layer = Recurrent(cell)
    x = torch.randn(2, 5, 3, dtype=F64, requires_grad=True)
    lengths = torch.tensor([5, 3])

    def run():
        ys, state = layer(x, lengths=lengths)
        loss = (ys**2).sum() + sum((leaf**2).sum() for leaf in state_leaves(state))
        return [ys, *torch.autograd.grad(loss, [x, *cell.parameters()])]

    default = run()
    with kernels.mode("reference"):
        reference = run()
    for a, b in zip(default, reference):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
