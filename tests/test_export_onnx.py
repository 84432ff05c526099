"""rnnkit.export.to_onnx against onnxruntime: every cell variant and option, stacks, both
directions, lengths and dynamic shapes, to 1e-5 in float32.

onnxruntime is the oracle, not onnx's reference evaluator (it ignores ``activations`` and the
peepholes). The expected values are the modules' own forward passes and ``rnnkit.Stream``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit
from conftest import CELL_BUILDERS, VARIANTS
from rnnkit import Bidirectional, Recurrent
from rnnkit._state import leaves
from rnnkit.export import to_onnx

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

ATOL = 1e-5
F32 = torch.float32
# (batch, time) to run the graph at, none of them the export's (2, 4)
SHAPES = ((3, 6), (1, 1), (5, 2))


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def cell(name: str, i: int, h: int, *, bias: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    return CELL_BUILDERS[name](i, h, bias=bias, dtype=F32)


def assert_outputs(got: list[np.ndarray], expected: list[torch.Tensor]) -> None:
    assert len(got) == len(expected)
    for a, e in zip(got, expected):
        np.testing.assert_allclose(a, e.detach().numpy(), rtol=0, atol=ATOL)


def ops(model) -> list[str]:
    return [node.op_type for node in model.graph.node]


def node(model, op_type: str):
    (found,) = [n for n in model.graph.node if n.op_type == op_type]
    return {a.name: onnx.helper.get_attribute_value(a) for a in found.attribute}


NATIVE = {"elman": "RNN", "gru": "GRU", "lstm": "LSTM"}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_as_a_layer_at_other_shapes_and_with_lengths(
    tmp_path, variant, reverse, bias
):
    layer = Recurrent(cell(variant, 3, 5, bias=bias), reverse=reverse)
    path = tmp_path / "layer.onnx"
    model = to_onnx(layer, path, torch.randn(2, 4, 3))
    kind = rnnkit.cells.VARIANTS[variant].kind
    if kind in NATIVE:
        attrs = node(model, NATIVE[kind])
        assert attrs["direction"] == (b"reverse" if reverse else b"forward")
        assert "Scan" not in ops(model)
    else:
        assert "Scan" in ops(model)
    sess = session(path)
    assert [o.name for o in sess.get_outputs()] == ["y"] + [
        f"{leaf}_l0"
        for leaf in (("h", "c") if kind == "lstm" else ("y",) if kind == "jordan" else ("h",))
    ]
    for B, T in SHAPES:
        x = torch.randn(B, T, 3)
        ys, state = layer(x)
        assert_outputs(sess.run(None, {"x": x.numpy()}), [ys, *leaves(state)])
    to_onnx(layer, path, torch.randn(2, 4, 3), lengths=True)
    sess = session(path)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 1, 3, 5])
    ys, state = layer(x, lengths=lengths)
    got = sess.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
    assert_outputs(got, [ys, *leaves(state)])
    assert (got[0][1, 1:] == 0).all()  # past a length, zeros


def test_the_native_attributes_are_the_cells_options(tmp_path):
    path = tmp_path / "m.onnx"
    before = to_onnx(Recurrent(cell("gru_before", 2, 3)), path, torch.randn(1, 2, 2))
    after = to_onnx(Recurrent(cell("gru_after", 2, 3)), path, torch.randn(1, 2, 2))
    assert node(before, "GRU")["linear_before_reset"] == 0
    assert node(after, "GRU")["linear_before_reset"] == 1
    identity = node(
        to_onnx(Recurrent(cell("lstm_peephole_identity", 2, 3)), path, torch.randn(1, 2, 2)), "LSTM"
    )
    assert identity["activations"] == [b"Sigmoid", b"Tanh", b"Affine"]
    assert identity["activation_alpha"] == [1.0] and identity["activation_beta"] == [0.0]
    lstm = to_onnx(Recurrent(cell("lstm_peephole", 2, 3)), path, torch.randn(1, 2, 2))
    assert len(next(n for n in lstm.graph.node if n.op_type == "LSTM").input) == 8  # P given
    sigmoid = node(
        to_onnx(Recurrent(cell("elman_sigmoid", 2, 3)), path, torch.randn(1, 2, 2)), "RNN"
    )
    assert sigmoid["activations"] == [b"Sigmoid"]


@pytest.mark.parametrize("kind", ["lstm", "gru", "elman", "jordan"])
def test_stacked_bidirectional_rnn_with_readout_and_lengths(tmp_path, kind):
    torch.manual_seed(1)
    options = {"peephole": True, "cell_activation": "identity"} if kind == "lstm" else {}
    net = rnnkit.RNN(3, 5, cell=kind, num_layers=2, bidirectional=True, output_size=2, **options)
    path = tmp_path / "net.onnx"
    model = to_onnx(net, path, torch.randn(2, 4, 3), lengths=True)
    if kind != "jordan":
        assert ops(model).count(NATIVE[kind]) == 2  # one node per layer
        assert node_directions(model) == {"bidirectional"}
    sess = session(path)
    for B, T in SHAPES:
        x = torch.randn(B, T, 3)
        lengths = torch.randint(1, T + 1, (B,))
        ys, state = net(x, lengths=lengths)
        got = sess.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        assert_outputs(got, [ys, *leaves(state)])


def node_directions(model) -> set[str]:
    return {
        onnx.helper.get_attribute_value(a).decode()
        for n in model.graph.node
        for a in n.attribute
        if a.name == "direction"
    }


def test_a_bidirectional_pair_of_different_cells_and_a_time_first_rnn(tmp_path):
    torch.manual_seed(2)
    bi = Bidirectional(
        Recurrent(cell("gru_before", 3, 4)), Recurrent(cell("lstm_peephole", 3, 6), reverse=True)
    )
    path = tmp_path / "bi.onnx"
    to_onnx(bi, path, torch.randn(2, 4, 3), lengths=True)
    x, lengths = torch.randn(3, 7, 3), torch.tensor([2, 7, 5])
    ys, state = bi(x, lengths=lengths)
    got = session(path).run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
    assert_outputs(got, [ys, *leaves(state)])
    net = rnnkit.RNN(3, 4, cell="elman", activation="relu", batch_first=False, num_layers=2)
    to_onnx(net, path, torch.randn(4, 2, 3))
    x = torch.randn(6, 5, 3)  # (T, B, I)
    ys, state = net(x)
    assert_outputs(session(path).run(None, {"x": x.numpy()}), [ys, *leaves(state)])


def test_the_task_models(tmp_path):
    from rnnkit.models import (
        CharLanguageModel,
        ClassifierConfig,
        Forecaster,
        ForecasterConfig,
        ModelConfig,
        SequenceClassifier,
    )

    torch.manual_seed(3)
    path = tmp_path / "m.onnx"
    lm = CharLanguageModel(
        ModelConfig(vocab_size=7, hidden_size=6, embed_size=6, num_layers=2, tie_weights=True)
    ).eval()
    to_onnx(lm, path, torch.randint(0, 7, (2, 4)))
    ids = torch.randint(0, 7, (3, 9))
    logits, state = lm(ids)
    assert_outputs(session(path).run(None, {"x": ids.numpy()}), [logits, *leaves(state)])

    x, lengths = torch.randn(4, 8, 2), torch.tensor([8, 1, 4, 6])
    forecaster = Forecaster(
        ForecasterConfig(input_size=2, hidden_size=6, cell="gru", horizon=3)
    ).eval()
    classifier = SequenceClassifier(
        ClassifierConfig(
            input_size=2, num_classes=3, hidden_size=5, bidirectional=True, num_layers=2
        )
    ).eval()
    for model in (forecaster, classifier):
        to_onnx(model, path, torch.randn(2, 4, 2), lengths=True)
        got = session(path).run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        assert_outputs(got, [model(x, lengths)])
        to_onnx(model, path, torch.randn(2, 4, 2))
        assert_outputs(session(path).run(None, {"x": x.numpy()}), [model(x)])
    readout = rnnkit.Readout(2, 3, activation="sigmoid", bias=False)
    to_onnx(readout, path, torch.randn(2, 4, 2))
    assert_outputs(session(path).run(None, {"x": x.numpy()}), [readout(x)])


def run_steps(path, x, names):
    """Feed x (B, T, I) through a step graph one step at a time, the state fed back."""
    sess = session(path)
    state = {n.name: np.zeros([x.shape[0], n.shape[1]], np.float32) for n in sess.get_inputs()[1:]}
    assert list(state) == names
    ys = []
    for t in range(x.shape[1]):
        y, *new = sess.run(None, {"x_t": x[:, t].numpy(), **state})
        state = dict(zip(names, new))
        ys.append(y)
    return np.stack(ys, axis=1), [sess.get_outputs()[k + 1].name for k in range(len(names))]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_step_graph_equals_a_stream(tmp_path, variant):
    kind = rnnkit.cells.VARIANTS[variant].kind
    torch.manual_seed(4)
    first_cell = cell(variant, 3, 5, seed=5)
    second = Recurrent(cell("gru_after", first_cell.output_size, 4))
    stack = rnnkit.Stack([Recurrent(first_cell), second])
    path = tmp_path / "step.onnx"
    to_onnx(stack, path, torch.randn(2, 4, 3), step=True)
    first = ("h_l0", "c_l0") if kind == "lstm" else ("y_l0",) if kind == "jordan" else ("h_l0",)
    names = [*first, "h_l1"]
    x = torch.randn(3, 6, 3)
    ys, outputs = run_steps(path, x, names)
    assert outputs == [f"{n}_next" for n in names]
    stream = rnnkit.Stream(stack)
    expected = torch.stack([stream.step(x[:, t]) for t in range(6)], dim=1)
    np.testing.assert_allclose(ys, expected.numpy(), rtol=0, atol=ATOL)
    full, _ = stack(x)
    np.testing.assert_allclose(ys, full.detach().numpy(), rtol=0, atol=ATOL)


def test_the_step_graph_of_a_language_model_and_a_forecaster(tmp_path):
    from rnnkit.models import CharLanguageModel, Forecaster, ForecasterConfig, ModelConfig

    torch.manual_seed(6)
    path = tmp_path / "step.onnx"
    lm = CharLanguageModel(
        ModelConfig(vocab_size=5, hidden_size=6, embed_size=3, cell="jordan")
    ).eval()
    to_onnx(lm, path, torch.randint(0, 5, (1, 3)), step=True)
    sess = session(path)
    ids = torch.randint(0, 5, (2, 7))
    logits, _ = lm(ids)
    state = np.zeros((2, 6), np.float32)
    for t in range(7):
        y, state = sess.run(None, {"x_t": ids[:, t].numpy(), "y_l0": state})
        np.testing.assert_allclose(y, logits[:, t].detach().numpy(), rtol=0, atol=ATOL)
    forecaster = Forecaster(ForecasterConfig(input_size=2, hidden_size=4, horizon=3)).eval()
    to_onnx(forecaster, path, torch.randn(1, 3, 2), step=True)
    sess = session(path)
    x = torch.randn(2, 5, 2)
    h = c = np.zeros((2, 4), np.float32)
    for t in range(5):
        y, h, c = sess.run(None, {"x_t": x[:, t].numpy(), "h_l0": h, "c_l0": c})
    np.testing.assert_allclose(y, forecaster(x).detach().numpy(), rtol=0, atol=ATOL)


class MyCell(rnnkit.ElmanCell):
    def step(self, x, state):
        h = torch.tanh(x @ self.weight_ih.T + state @ self.weight_hh.T) * 2
        return h, h


def test_what_cannot_be_exported_is_refused_with_a_message(tmp_path):
    path = tmp_path / "no.onnx"
    x = torch.randn(2, 3, 3)
    with pytest.raises(
        TypeError, match=r"module\.cell must be one of rnnkit's built-in cells.*MyCell"
    ):
        to_onnx(Recurrent(MyCell(3, 4)), path, x)
    with pytest.raises(ValueError, match=r"float32 parameters.*float64"):
        to_onnx(Recurrent(rnnkit.LSTMCell(3, 4, dtype=torch.float64)), path, x.double())
    with pytest.raises(TypeError, match=r"module must be one of .*got LSTM"):
        to_onnx(torch.nn.LSTM(3, 4), path, x)
    bi = rnnkit.RNN(3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="step=True needs a module that runs forward in time"):
        to_onnx(bi, path, x, step=True)
    with pytest.raises(ValueError, match="lengths must be False for a single step"):
        to_onnx(rnnkit.RNN(3, 4), path, x, step=True, lengths=True)
    with pytest.raises(ValueError, match="opset must be an int in"):
        to_onnx(rnnkit.RNN(3, 4), path, x, opset=9)
    with pytest.raises(ValueError, match="example_x does not fit the module"):
        to_onnx(rnnkit.RNN(3, 4), path, torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="example_x must be float32"):
        to_onnx(rnnkit.RNN(3, 4), path, x.double())
    assert not path.exists()  # nothing written


@pytest.mark.parametrize("opset", [14, 21, 22, None])
def test_every_native_operator_at_old_and_new_opsets(tmp_path, opset):
    import onnx as onnx_package

    newest = onnx_package.defs.onnx_opset_version()
    torch.manual_seed(7)
    bi = Bidirectional(
        Recurrent(cell("gru_before", 3, 4)),
        Recurrent(cell("gru_before", 3, 4, seed=1), reverse=True),
    )
    layers = [
        Recurrent(cell("lstm_peephole_identity", 8, 5)),
        Recurrent(cell("elman_sigmoid", 5, 3)),
    ]
    net = rnnkit.Stack([bi, *layers])
    path = tmp_path / "net.onnx"
    for version in (opset, newest) if opset is None else (opset,):
        model = to_onnx(net, path, torch.randn(2, 4, 3), lengths=True, opset=version)
        assert {"GRU", "LSTM", "RNN"} <= set(ops(model))
        x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 2, 4])
        ys, state = net(x, lengths=lengths)
        got = session(path).run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        assert_outputs(got, [ys, *leaves(state)])
