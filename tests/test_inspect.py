"""rnnkit.inspect: traces against the formulas and the fused path, gradient flow against autograd
by hand, the feature-correlation finder on a hand-wired unit, the classic networks' curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit import RNN, ElmanCell, LSTMCell, Recurrent, Stack, kernels
from rnnkit.cells import VARIANTS
from rnnkit.classic import EchoStateNetwork, HopfieldNetwork
from rnnkit.inspect import (
    correlate_units,
    energy_during_recall,
    gradient_flow,
    memory_capacity,
    text_features,
    trace,
)
from rnnkit.inspect.features import activations_of
from rnnkit.models import (
    CharLanguageModel,
    ClassifierConfig,
    Forecaster,
    ForecasterConfig,
    ModelConfig,
    SequenceClassifier,
)

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_thread")

ACT = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda v: v,
}


def build(variant: str, i: int, h: int, **options):
    kw = {"output_size": h + 2} if VARIANTS[variant].kind == "jordan" else {}
    cell = VARIANTS[variant].build(i, h, dtype=F64, **kw, **options)
    with torch.no_grad():  # biases and peepholes away from their init, so every term counts
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell


def _b(t):
    return 0.0 if t is None else t


def hand_step(cell, kind: str, x, state):
    """One step from DESIGN.md's formulas, written out: (gates, states, new_state)."""
    W, H = cell.weight_ih, cell.hidden_size
    if kind == "lstm":
        h, c = state
        U, b = cell.weight_hh, _b(cell.bias_ih) + _b(cell.bias_hh)
        a = [x @ W[k * H : (k + 1) * H].T + h @ U[k * H : (k + 1) * H].T for k in range(4)]
        b = [b[k * H : (k + 1) * H] if torch.is_tensor(b) else 0.0 for k in range(4)]
        p = cell.weight_ch
        p_i, p_f, p_o = (0.0, 0.0, 0.0) if p is None else (p[:H], p[H : 2 * H], p[2 * H :])
        i = torch.sigmoid(a[0] + b[0] + p_i * c)
        f = torch.sigmoid(a[1] + b[1] + p_f * c)
        g = torch.tanh(a[2] + b[2])
        c2 = f * c + i * g
        o = torch.sigmoid(a[3] + b[3] + p_o * c2)
        h2 = o * ACT[cell.cell_activation](c2)
        return {"i": i, "f": f, "g": g, "o": o}, {"h": h2, "c": c2}, (h2, c2)
    if kind == "gru":
        h, U = state, cell.weight_hh
        bi = _b(cell.bias_ih) * torch.ones(3 * H, dtype=F64)
        bh = _b(cell.bias_hh) * torch.ones(3 * H, dtype=F64)
        rows = [slice(k * H, (k + 1) * H) for k in range(3)]
        r = torch.sigmoid(x @ W[rows[0]].T + bi[rows[0]] + h @ U[rows[0]].T + bh[rows[0]])
        z = torch.sigmoid(x @ W[rows[1]].T + bi[rows[1]] + h @ U[rows[1]].T + bh[rows[1]])
        if cell.reset == "after":
            n = torch.tanh(x @ W[rows[2]].T + bi[rows[2]] + r * (h @ U[rows[2]].T + bh[rows[2]]))
        else:
            n = torch.tanh(x @ W[rows[2]].T + bi[rows[2]] + (r * h) @ U[rows[2]].T + bh[rows[2]])
        h2 = (1 - z) * n + z * h
        return {"r": r, "z": z, "n": n}, {"h": h2}, h2
    if kind == "elman":
        h2 = ACT[cell.activation](
            x @ W.T + _b(cell.bias_ih) + state @ cell.weight_hh.T + _b(cell.bias_hh)
        )
        return {}, {"h": h2}, h2
    hid = ACT[cell.activation](x @ W.T + _b(cell.bias_ih) + state @ cell.weight_yh.T)
    y = ACT[cell.output_activation](hid @ cell.weight_hy.T + _b(cell.bias_hy))
    return {}, {"h": hid, "y": y}, y


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_trace_equals_the_formulas_and_the_fused_path(variant, bias):
    kind = VARIANTS[variant].kind
    cell = build(variant, 3, 5, bias=bias)
    layer = Recurrent(cell)
    x = torch.randn(4, 9, 3, dtype=F64)
    state = (
        tuple(0.5 * torch.randn_like(s) for s in cell.init_state(4))
        if kind == "lstm"
        else (0.5 * torch.randn_like(cell.init_state(4)))
    )
    tr = trace(layer, x, state)
    (only,) = tr.layers
    assert only.kind == kind and only.name == "layer" and not only.reverse
    s = state
    for t in range(9):
        gates, states, s = hand_step(cell, kind, x[:, t], s)
        assert set(only.gates) == set(gates) and set(only.states) == set(states)
        for name, value in {**gates, **states}.items():
            got = {**only.gates, **only.states}[name][:, t]
            torch.testing.assert_close(got, value, rtol=0, atol=1e-10, msg=f"{name} at t={t}")
    with kernels.mode("fused"):
        ys, final = layer(x, state)
    torch.testing.assert_close(tr.output, ys, rtol=0, atol=1e-10)
    for a, b in zip(
        torch.utils._pytree.tree_leaves(tr.state), torch.utils._pytree.tree_leaves(final)
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("variant", ["lstm_peephole", "gru_before", "jordan_tanh", "elman_relu"])
@pytest.mark.parametrize("reverse", [False, True])
def test_lengths_and_reverse_match_each_sequence_alone(variant, reverse):
    cell = build(variant, 3, 4)
    layer = Recurrent(cell, reverse=reverse)
    x = torch.randn(3, 8, 3, dtype=F64)
    lengths = torch.tensor([8, 3, 5])
    tr = trace(layer, x, lengths=lengths)
    with kernels.mode("fused"):
        ys, final = layer(x, lengths=lengths)
    torch.testing.assert_close(tr.output, ys, rtol=0, atol=1e-10)
    torch.testing.assert_close(tr.state, final, rtol=0, atol=1e-10)
    (lt,) = tr.layers
    for b, n in enumerate(lengths.tolist()):
        alone = trace(layer, x[b : b + 1, :n]).layers[0]
        for name, value in {**lt.gates, **lt.states}.items():
            want = {**alone.gates, **alone.states}[name][0]
            torch.testing.assert_close(value[b, :n], want, rtol=0, atol=1e-12)
            assert bool((value[b, n:] == 0).all()), f"{name} past length {n}"
        if reverse:  # a reversed layer starts at the last real step: its state there is the first
            first = alone.states["y" if lt.kind == "jordan" else "h"][0, n - 1]
            h0 = hand_step(cell, lt.kind, x[b : b + 1, n - 1], cell.init_state(1))[1]
            torch.testing.assert_close(first, h0["y" if lt.kind == "jordan" else "h"][0])


def test_bidirectional_stack_order_and_outputs():
    torch.manual_seed(0)
    net = RNN(3, 4, cell="gru", num_layers=2, bidirectional=True, output_size=2, dtype=F64)
    net.eval()
    x = torch.randn(2, 6, 3, dtype=F64)
    tr = trace(net, x)
    names = [(lt.name, lt.reverse) for lt in tr.layers]
    assert names == [
        ("stack.layers.0.forward", False),
        ("stack.layers.0.backward", True),
        ("stack.layers.1.forward", False),
        ("stack.layers.1.backward", True),
    ]
    with kernels.mode("fused"):
        ys, _ = net(x)
        layer0, _ = net.stack.layers[0](x)
    torch.testing.assert_close(tr.output, ys, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        torch.cat([tr.layers[0].outputs, tr.layers[1].outputs], -1), layer0, rtol=0, atol=1e-10
    )
    # The backward direction's h at t=0 is its last step: what its final state holds.
    torch.testing.assert_close(tr.layers[1].states["h"][:, 0], tr.state[0][1])


def test_stack_dropout_follows_the_mode():
    torch.manual_seed(0)
    stack = Stack([Recurrent(ElmanCell(3, 6)), Recurrent(ElmanCell(6, 2))], dropout=0.5)
    x = torch.randn(2, 5, 3)
    stack.eval()
    torch.testing.assert_close(trace(stack, x).output, stack(x)[0], rtol=0, atol=1e-5)
    stack.train()
    torch.manual_seed(3)
    traced = trace(stack, x).output
    torch.manual_seed(3)
    with kernels.mode("reference"):
        torch.testing.assert_close(traced, stack(x)[0], rtol=0, atol=1e-6)
    assert not torch.allclose(traced, trace(stack.eval(), x).output)


def test_models_trace_their_recurrent_part():
    torch.manual_seed(0)
    lm = CharLanguageModel(ModelConfig(vocab_size=7, cell="lstm", hidden_size=5, embed_size=3))
    lm.eval()
    ids = torch.randint(0, 7, (2, 6))
    tr = trace(lm, ids)
    torch.testing.assert_close(tr.output, lm.rnn(lm.embedding(ids))[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(lm.readout(tr.output), lm(ids)[0], rtol=0, atol=1e-5)
    clf = SequenceClassifier(ClassifierConfig(input_size=3, num_classes=2, hidden_size=4))
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 2, 4])
    tc = trace(clf.eval(), x, lengths=lengths)
    torch.testing.assert_close(tc.output, clf.rnn(x, lengths=lengths)[0], rtol=0, atol=1e-6)
    fc = Forecaster(ForecasterConfig(input_size=2, hidden_size=4, cell="gru"))
    tf = trace(fc.eval(), torch.randn(2, 5, 2))
    assert [lt.kind for lt in tf.layers] == ["gru"]
    with pytest.raises(TypeError, match="ids"):
        trace(lm, torch.randn(2, 6))
    with pytest.raises(TypeError, match="module must be"):
        trace(torch.nn.Linear(2, 2), torch.randn(1, 2, 2))


def test_trace_installs_nothing():
    layer = Recurrent(LSTMCell(3, 4))
    before = (dict(layer._forward_hooks), dict(layer.cell._forward_hooks), layer.cell.step)
    trace(layer, torch.randn(1, 3, 3))
    assert before == (dict(layer._forward_hooks), dict(layer.cell._forward_hooks), layer.cell.step)


# -- gradient flow -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["lstm_peephole", "gru_after", "elman_tanh", "jordan_tanh"])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradient_flow_equals_autograd_by_hand(variant, reverse):
    cell = build(variant, 3, 4)
    kind = VARIANTS[variant].kind
    layer = Recurrent(cell, reverse=reverse)
    x = torch.randn(2, 7, 3, dtype=F64)
    weights = torch.randn(2, 7, cell.output_size, dtype=F64)

    def loss_fn(ys):
        return (ys.tanh() * weights).sum()

    got = gradient_flow(layer, x, loss_fn)
    # By hand: unroll the formulas, keep each h_t, let autograd fill in their .grad.
    order = range(6, -1, -1) if reverse else range(7)
    s, hs, ys = cell.init_state(2), {}, {}
    for t in order:
        _, states, s = hand_step(cell, kind, x[:, t], s)
        states["h"].retain_grad()
        hs[t] = states["h"]
        ys[t] = states["y" if kind == "jordan" else "h"]
    loss_fn(torch.stack([ys[t] for t in range(7)], dim=1)).backward()
    want = torch.stack([hs[t].grad.norm() for t in range(7)])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradient_vanishes_in_a_small_elman_net():
    torch.manual_seed(0)
    cell = ElmanCell(4, 16)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(0.5)
    norms = gradient_flow(Recurrent(cell), torch.randn(8, 30, 4), lambda ys: ys[:, -1].sum())
    assert norms.shape == (30,)
    assert float(norms[0]) < 1e-4 * float(norms[-1])
    assert bool((norms[1:] >= norms[:-1]).all())  # falls, step by step, back in time


def test_gradient_flow_bad_layer():
    with pytest.raises(ValueError, match="layer must be in"):
        gradient_flow(Recurrent(ElmanCell(2, 3)), torch.randn(1, 4, 2), torch.sum, layer=1)


# -- units that track features -------------------------------------------------------------------

TEXT = (
    'print("hello, world") and x = "abc" + "de"\n'
    '    if y: z = ("q" if w else "long string here")\n'
    "no double quotes on this line, 'just' words\n"
    '  say "a b c d e f g" then stop\n'
) * 4


def wire_quote_unit(lm: CharLanguageModel, index: dict[str, int], K: float = 20.0) -> None:
    """Make unit 0 of a one-layer GRU language model with one-hot embeddings (embed_size = V)
    flip the sign of its state at every double quote and hold it otherwise."""
    cell = lm.rnn.stack.layers[0].cell
    H, V = cell.hidden_size, lm.config.vocab_size
    with torch.no_grad():
        lm.embedding.weight.copy_(torch.eye(V))  # one-hot characters
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name)[[0, H, 2 * H]] = 0.0  # unit 0's rows of r, z, n
        cell.bias_ih[0] = K  # r = 1
        cell.weight_ih[H] = K  # z = 1 (keep h) on every character ...
        cell.weight_ih[H, index['"']] = -K  # ... but a quote: z = 0, h = n
        cell.weight_hh[2 * H, 0] = -2 * K  # n = tanh(K/2 - 2K h): flips the sign of h
        cell.bias_hh[2 * H] = K / 2


def quote_tracking_lm(text: str):
    chars = sorted(set(text))
    V = len(chars)
    torch.manual_seed(0)
    lm = CharLanguageModel(ModelConfig(vocab_size=V, cell="gru", hidden_size=6, embed_size=V))
    index = {c: k for k, c in enumerate(chars)}
    wire_quote_unit(lm, index)
    return lm.eval(), index


def test_finder_names_the_hand_wired_quote_unit():
    lm, index = quote_tracking_lm(TEXT)
    ids = torch.tensor([[index[c] for c in TEXT]])
    with torch.no_grad():
        acts = activations_of(trace(lm, ids))
    found = correlate_units(acts, text_features(TEXT))
    quotes = next(f for f in found if f.feature == "double_quotes")
    assert (quotes.source, quotes.unit) == ("layer 0 h", 0)
    assert quotes.r > 0.95
    assert found[0] == quotes
    assert quotes.sentence().startswith('unit 0 (layer 0 h) is on inside "double quotes", r = 0.9')


def test_text_features_by_hand():
    f = text_features("ab (c 'd')\n  \"x")
    assert f["single_quotes"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert f["double_quotes"].tolist()[-3:] == [0, 1, 1]
    assert f["brackets"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert f["indent"].tolist()[-5:] == [0, 1, 2, 2, 2]
    assert f["column"].tolist()[-5:] == [0, 1, 2, 3, 4]


# -- classic networks ----------------------------------------------------------------------------


def test_energy_never_rises_and_recall_ends_at_the_pattern():
    torch.manual_seed(0)
    patterns = torch.where(torch.rand(3, 40) < 0.5, -1.0, 1.0)
    net = HopfieldNetwork(40).store(patterns)
    probe = patterns[0].clone()
    probe[:6] *= -1
    energy, states = energy_during_recall(net, probe, sweeps=3)
    assert energy.shape == (121,) and states.shape == (121, 40)
    assert bool((energy[1:] <= energy[:-1] + 1e-6).all())
    assert float(energy[-1]) < float(energy[0])
    torch.testing.assert_close(energy[-1], net.energy(patterns[0]))


def test_memory_capacity_of_a_linear_like_reservoir():
    esn = EchoStateNetwork(1, 10, 1, spectral_radius=0.9, input_scaling=0.01, seed=0)
    mc = memory_capacity(esn, max_delay=30, steps=2000)
    assert mc.shape == (30,)
    assert float(mc[0]) > 0.95  # the last input is still there ...
    assert float(mc[-1]) < 0.2  # ... one from 30 steps ago is gone
    assert float(mc.sum()) <= 10.5  # Jaeger: MC <= N
    assert np.isfinite(mc.numpy()).all()
