"""Golden values on fixed inputs, independent of torch's random number generator.

Every parameter is a constant per gate block (as Keras' tests use constant weights), the input
is ``0.1 * arange`` and the expected numbers were derived from the equations of DESIGN.md
("Cells: the math contract"), evaluated in float64 with Python's ``math`` module, not with
rnnkit or torch, and pasted here.

The constants (block k in torch's row order: LSTM i|f|g|o, GRU r|z|n, Elman and Jordan one
block): ``weight_ih`` 0.1 (k + 1), the recurrent weight (``weight_hh``; Jordan's ``weight_yh``)
0.15 - 0.1 k, ``bias_ih`` 0.02 (k + 1), ``bias_hh`` 0.03 - 0.04 k, peepholes p_i|p_f|p_o
0.3|-0.2|0.1, Jordan's ``weight_hy`` 0.25 and ``bias_hy`` -0.03. Each gate sees different
numbers, so a swapped gate, bias or peephole changes the result.

How they were derived: with every unit of a layer starting at 0 and every row of a block equal,
all units stay equal, so each cell is a scalar recurrence: ``W x`` is ``c * sum(x_t)`` and
``U h`` is ``u * H * h`` (Jordan: ``0.15 * O * y`` and ``0.25 * H * h``). For example, step 1
of sequence 0 (``x = (0, 0.1)``, sum 0.1):

* elman_tanh: ``h = tanh(0.1 * 0.1 + 0.02 + 0.03) = tanh(0.06) = 0.0599281035291435``;
* lstm: pre-activations i, f, g, o = 0.06, 0.05, 0.04, 0.03, so ``c = σ(0.06) tanh(0.04) =
  0.0205895…`` and ``h = σ(0.03) tanh(c) = 0.0104473488…``.

The scalar recurrences were run over the 3 steps of both sequences, forward, and backward in
time with lengths (3, 2) (outputs past a length are 0, the final state is the state at the last
real step); a change of any number means the math of a cell changed: check test_formulas.py and
test_parity_torch.py first.
"""

from __future__ import annotations

import pytest
import torch

from conftest import CELL_BUILDERS, F64
from rnnkit import RNN, LSTMState, Recurrent, RecurrentCell

B, T, IN, H = 2, 3, 2, 2  # Jordan cells get output_size H + 1 = 3 (conftest)
X = 0.1 * torch.arange(B * T * IN, dtype=F64).reshape(B, T, IN)
LENGTHS = torch.tensor([3, 2])
ATOL = 1e-12
PEEPHOLES = (0.3, -0.2, 0.1)


def set_constants(cell: RecurrentCell) -> None:
    """Fill every parameter of ``cell`` with the constants of the module docstring."""
    rules = {
        "weight_ih": lambda k: 0.1 * (k + 1),
        "weight_hh": lambda k: 0.15 - 0.1 * k,
        "weight_yh": lambda k: 0.15 - 0.1 * k,
        "bias_ih": lambda k: 0.02 * (k + 1),
        "bias_hh": lambda k: 0.03 - 0.04 * k,
        "weight_ch": lambda k: PEEPHOLES[k],
        "weight_hy": lambda k: 0.25,
        "bias_hy": lambda k: -0.03,
    }
    with torch.no_grad():
        for name, p in cell.named_parameters():
            rows = cell.hidden_size if name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                "weight_ch") else p.shape[0]  # fmt: skip
            for k, block in enumerate(p.split(rows, dim=0)):
                block.fill_(rules[name](k))


# variant: (forward ys[b][t] of every unit, forward final state [b],
#           reverse-with-lengths ys[b][t], reverse-with-lengths final state [b]);
# an LSTM state is (h, c) per sequence.
GOLDEN = {
    "elman_tanh": (
        [
            [0.0599281035291435, 0.11743408448016102, 0.17345846510932256],
            [0.17808086811733023, 0.2668082303143427, 0.3275153089286852],
        ],
        [0.17345846510932256, 0.3275153089286852],
        [
            [0.10188119116165043, 0.14078634751331434, 0.13909244787845804],
            [0.24017085513877667, 0.21651806149302888, 0.0],
        ],
        [0.10188119116165043, 0.24017085513877667],
    ),
    "elman_sigmoid": (
        [
            [0.51499550161941, 0.5632834606017244, 0.5766375011521768],
            [0.5448788923735801, 0.5947082250990792, 0.6078806885934462],
        ],
        [0.5766375011521768, 0.6078806885934462],
        [
            [0.5571063538737911, 0.5647549915676212, 0.5349429451582145],
            [0.5857525112603448, 0.5547792351072148, 0.0],
        ],
        [0.5571063538737911, 0.5857525112603448],
    ),
    "elman_relu": (
        [
            [0.06, 0.11800000000000001, 0.17540000000000003],
            [0.18000000000000002, 0.274, 0.34220000000000006],
        ],
        [0.17540000000000003, 0.34220000000000006],
        [
            [0.10260000000000001, 0.14200000000000002, 0.14],
            [0.24600000000000002, 0.22000000000000003, 0.0],
        ],
        [0.10260000000000001, 0.24600000000000002],
    ),
    "jordan_identity": (
        [
            [-0.015004498380589926, 0.0015818866827633851, 0.025130859945941685],
            [0.044442516811659005, 0.07348283472561615, 0.09858110707648979],
        ],
        [0.025130859945941685, 0.09858110707648979],
        [
            [-0.012647510708907416, 0.010486493251339851, 0.024779235107214775],
            [0.05843167939599325, 0.06387310293414271, 0.0],
        ],
        [-0.012647510708907416, 0.05843167939599325],
    ),
    "jordan_tanh": (
        [
            [-0.015003372469543403, 0.0015821376819233092, 0.025125626485456156],
            [0.04441327988599034, 0.07334459468917064, 0.09823423172127585],
        ],
        [0.025125626485456156, 0.09823423172127585],
        [
            [-0.012647177380636913, 0.010484975661711573, 0.024774164782386882],
            [0.05834643210503447, 0.06378638185946924, 0.0],
        ],
        [-0.012647177380636913, 0.05834643210503447],
    ),
    "gru_after": (
        [
            [0.03127912273911752, 0.10069802341598863, 0.1845063898641452],
            [0.1708804229704973, 0.29866763190045076, 0.40126387246586837],
        ],
        [0.1845063898641452, 0.40126387246586837],
        [
            [0.10516381962128613, 0.1515559790946138, 0.13174977848498676],
            [0.28119818719368483, 0.20210425474220003, 0.0],
        ],
        [0.10516381962128613, 0.28119818719368483],
    ),
    "gru_before": (
        [
            [0.019489710736817677, 0.08401806767728656, 0.1663113833880035],
            [0.16261962513389278, 0.2872156190088259, 0.38902141827633585],
        ],
        [0.1663113833880035, 0.38902141827633585],
        [
            [0.08614155211474595, 0.13616053441369996, 0.12217744600509609],
            [0.26939928640296035, 0.19516005097399156, 0.0],
        ],
        [0.08614155211474595, 0.26939928640296035],
    ),
    "lstm": (
        [
            [0.010447348814287107, 0.05114307130655694, 0.11304457941452241],
            [0.12753444116891685, 0.2407758691621272, 0.34475609085317105],
        ],
        [(0.11304457941452241, 0.19642523634141534), (0.34475609085317105, 0.5578054228125567)],
        [
            [0.048807474377056986, 0.08473967255619555, 0.08503624667168076],
            [0.20952354611417143, 0.17131811296428956, 0.0],
        ],
        [(0.048807474377056986, 0.09770170617561007), (0.20952354611417143, 0.35632968682183963)],
    ),
    "lstm_peephole": (
        [
            [0.010457942274906389, 0.051481382641406156, 0.11485005056360295],
            [0.12852247519943397, 0.2468798626468289, 0.3565535124214623],
        ],
        [(0.11485005056360295, 0.19797864591169312), (0.3565535124214623, 0.5691272026654839)],
        [
            [0.0487189191762937, 0.08564525129986604, 0.085548775906711],
            [0.21439907440050662, 0.1728483304989817, 0.0],
        ],
        [(0.0487189191762937, 0.09706359026637562), (0.21439907440050662, 0.3599868018502146)],
    ),
    "lstm_identity": (
        [
            [0.010448824984191248, 0.05129307398413274, 0.11449012618776036],
            [0.1293512912205313, 0.25262574430743695, 0.37942480586797245],
        ],
        [(0.11449012618776036, 0.19642105062140588), (0.37942480586797245, 0.5578990250597108)],
        [
            [0.0489361993276975, 0.08542379961003146, 0.08563950697231147],
            [0.2181795601257845, 0.17531027557546067, 0.0],
        ],
        [(0.0489361993276975, 0.09765887469652833), (0.2181795601257845, 0.3562703652254209)],
    ),
    "lstm_peephole_identity": (
        [
            [0.010459419941625468, 0.051633089850774985, 0.11634192694635685],
            [0.13035340074048396, 0.25934537432902477, 0.39383473948830217],
        ],
        [(0.11634192694635685, 0.1979743070014065), (0.39383473948830217, 0.5691903471623099)],
        [
            [0.04884434486092277, 0.08634122671747288, 0.08615567216909341],
            [0.2234363852566791, 0.1768761512032946, 0.0],
        ],
        [(0.04884434486092277, 0.09701928855696249), (0.2234363852566791, 0.3599190602105644)],
    ),
}


def test_every_variant_has_a_golden():
    assert set(GOLDEN) == set(CELL_BUILDERS)


def _cell(variant: str) -> RecurrentCell:
    cell = CELL_BUILDERS[variant](IN, H, dtype=F64)
    set_constants(cell)
    return cell


def _units(values, width: int) -> torch.Tensor:
    """Per-sequence (and per-step) scalars, repeated over ``width`` equal units."""
    t = torch.tensor(values, dtype=F64)
    return t.unsqueeze(-1).expand(*t.shape, width)


def _assert_state(state, expected, width: int) -> None:
    if isinstance(state, LSTMState):
        h, c = zip(*expected)
        torch.testing.assert_close(state.h, _units(h, width), rtol=0, atol=ATOL)
        torch.testing.assert_close(state.c, _units(c, width), rtol=0, atol=ATOL)
    else:
        torch.testing.assert_close(state, _units(expected, width), rtol=0, atol=ATOL)


@pytest.mark.parametrize("variant", list(GOLDEN))
def test_golden_forward(variant, unroll_path):
    ys_expected, state_expected, _, _ = GOLDEN[variant]
    cell = _cell(variant)
    with torch.no_grad():
        ys, state = Recurrent(cell)(X)
    torch.testing.assert_close(ys, _units(ys_expected, cell.output_size), rtol=0, atol=ATOL)
    _assert_state(state, state_expected, cell.output_size)


@pytest.mark.parametrize("variant", list(GOLDEN))
def test_golden_reverse_with_lengths(variant, unroll_path):
    _, _, ys_expected, state_expected = GOLDEN[variant]
    cell = _cell(variant)
    with torch.no_grad():
        ys, state = Recurrent(cell, reverse=True)(X, lengths=LENGTHS)
    torch.testing.assert_close(ys, _units(ys_expected, cell.output_size), rtol=0, atol=ATOL)
    _assert_state(state, state_expected, cell.output_size)


def test_golden_rnn_stack(unroll_path):
    """RNN(2, 2, cell="gru", num_layers=2, bidirectional=True, output_size=1, reset="before").

    Every GRU has the constants above; the readout's weight is (0.5, 0.5, -0.25, -0.25) (forward
    units, then backward ones, so that swapped halves change the result) and its bias 0.1.
    Derived like the cells: layer 2 reads ``2 f_t + 2 b_t`` (the sum of its 4 input features,
    forward outputs f and backward outputs b of layer 1); the readout gives
    ``0.5 * 2 f2_t - 0.25 * 2 b2_t + 0.1``, and exactly its bias 0.1 past a length (the
    recurrent outputs there are zero).
    """
    net = RNN(IN, H, cell="gru", num_layers=2, bidirectional=True, output_size=1,
              reset="before", dtype=F64)  # fmt: skip
    for layer in net.stack.layers:
        set_constants(layer.forward_layer.cell)
        set_constants(layer.backward_layer.cell)
    with torch.no_grad():
        net.readout.linear.weight.copy_(torch.tensor([[0.5, 0.5, -0.25, -0.25]]))
        net.readout.linear.bias.fill_(0.1)
        ys, states = net(X, lengths=LENGTHS)
    expected = torch.tensor(
        [
            [0.09080588526770057, 0.12980380708614483, 0.18490953048036118],
            [0.12517825483802314, 0.22715294303437808, 0.1],
        ],
        dtype=F64,
    )
    torch.testing.assert_close(ys, expected.unsqueeze(-1), rtol=0, atol=ATOL)
    backward_top = [0.08899056767128424, 0.185967203107392]  # layer 2's backward final state
    torch.testing.assert_close(states[1][1], _units(backward_top, H), rtol=0, atol=ATOL)
