"""Golden values on fixed inputs: lock the verified behaviour (initialisation and math).

How the constants were produced: with the code of this commit, after test_formulas.py and
test_parity_torch.py passed, each cell was built with ``torch.manual_seed(0)`` in float64
(``conftest.CELL_BUILDERS[variant](3, 4, dtype=torch.float64)``) and run on the deterministic
input ``X`` below with ``Recurrent(cell)`` (T = 5) and with ``Recurrent(cell, reverse=True)``
and ``lengths = [5, 3]``; the numbers were printed with ``repr`` and pasted here. A change of
any of them means the cells' initialisation (parameter order, forget bias, ...) or their math
changed: check test_formulas.py first, then re-record deliberately.
"""

from __future__ import annotations

import pytest
import torch

from conftest import CELL_BUILDERS, F64, state_leaves
from rnnkit import RNN, Recurrent

B, T, IN, H = 2, 5, 3, 4
X = torch.sin(torch.linspace(0.0, 6.0, B * T * IN, dtype=F64)).reshape(B, T, IN) * 1.5
LENGTHS = torch.tensor([5, 3])
ATOL = 1e-12

# variant: (ys.sum(), ys[0, -1, :3], final state sum,
#           reverse-with-lengths ys.sum(), reverse-with-lengths final state sum)
GOLDEN = {
    "elman_tanh": (
        1.552354699128538,
        [0.42156282609845797, -0.3101925820431052, -0.11877002502998221],
        0.15681543452197744,
        1.5450588786085218,
        0.3927564567915032,
    ),
    "elman_sigmoid": (
        20.11844819683347,
        [0.607224366995023, 0.4783954074458848, 0.4254127680511547],
        3.9930150959756285,
        16.309902143940917,
        3.9990593955413756,
    ),
    "elman_relu": (
        13.614319620762103,
        [0.41775405284358585, 0.0, 0.0],
        2.1675295287466496,
        9.409960058476091,
        1.5998594917036861,
    ),
    "jordan_identity": (
        -1.571478595670251,
        [-0.08787825197023907, -0.3008192381601429, -0.7013643624187005],
        -0.47973633335088745,
        -1.6109334686982624,
        -0.5374849566021779,
    ),
    "jordan_tanh": (
        -1.5267445794396473,
        [-0.07748990321951646, -0.28207090766734627, -0.5923415048042763],
        -0.47416233479178055,
        -1.4776208226211627,
        -0.42650936793893673,
    ),
    "gru_after": (
        1.8140344345960588,
        [0.18735231135938557, -0.011423130293446552, 0.3540155816277144],
        0.3131171712242168,
        1.9197064851227488,
        0.34576384646806985,
    ),
    "gru_before": (
        4.902952813944748,
        [0.20778760097275834, 0.17813123579272064, 0.30038046850015554],
        1.0579757185561416,
        4.215018763154349,
        1.0527246197692597,
    ),
    "lstm": (
        -0.8888170588398636,
        [-0.21418369281650726, 0.43460074172744234, -0.2721116155248269],
        -1.3838159821435685,
        -0.5023573108382745,
        -1.0833625765939994,
    ),
    "lstm_peephole": (
        -0.742595576505298,
        [-0.18475888690979084, 0.472800544291118, -0.29612293166954073],
        -1.5755913464829479,
        -0.30030850333961634,
        -1.1065424516388966,
    ),
    "lstm_identity": (
        -1.2041990051284808,
        [-0.2494406963280823, 0.5670089105639177, -0.3117679533276734],
        -1.5345907103610767,
        -0.5213975442581404,
        -1.1261700854509773,
    ),
    "lstm_peephole_identity": (
        -1.1099002581502888,
        [-0.21750895037443332, 0.6266977614420677, -0.3478697381775763],
        -1.764882677493227,
        -0.28682627538266736,
        -1.149991550725248,
    ),
}


def test_every_variant_has_a_golden():
    assert set(GOLDEN) == set(CELL_BUILDERS)


def _state_sum(state) -> float:
    return sum(leaf.sum() for leaf in state_leaves(state)).item()


@pytest.mark.parametrize("variant", list(GOLDEN))
def test_golden_forward(variant, unroll_path):
    total, last, state_sum, _, _ = GOLDEN[variant]
    torch.manual_seed(0)
    cell = CELL_BUILDERS[variant](IN, H, dtype=F64)
    with torch.no_grad():
        ys, state = Recurrent(cell)(X)
    assert ys.sum().item() == pytest.approx(total, abs=ATOL)
    torch.testing.assert_close(ys[0, -1, :3], torch.tensor(last, dtype=F64), rtol=0, atol=ATOL)
    assert _state_sum(state) == pytest.approx(state_sum, abs=ATOL)


@pytest.mark.parametrize("variant", list(GOLDEN))
def test_golden_reverse_with_lengths(variant, unroll_path):
    *_, total, state_sum = GOLDEN[variant]
    torch.manual_seed(0)
    cell = CELL_BUILDERS[variant](IN, H, dtype=F64)
    with torch.no_grad():
        ys, state = Recurrent(cell, reverse=True)(X, lengths=LENGTHS)
    assert ys.sum().item() == pytest.approx(total, abs=ATOL)
    assert _state_sum(state) == pytest.approx(state_sum, abs=ATOL)


def test_golden_rnn_stack():
    """RNN(3, 4, cell="gru", num_layers=2, bidirectional=True, output_size=2, reset="before")."""
    torch.manual_seed(0)
    net = RNN(
        IN,
        H,
        cell="gru",
        num_layers=2,
        bidirectional=True,
        output_size=2,
        reset="before",
        dtype=F64,
    )
    with torch.no_grad():
        ys, states = net(X, lengths=LENGTHS)
    assert ys.sum().item() == pytest.approx(-2.3502301075372136, abs=ATOL)
    expected_last = torch.tensor([0.05823675105253527, -0.24908622905397124], dtype=F64)
    torch.testing.assert_close(ys[0, -1], expected_last, rtol=0, atol=ATOL)
    assert states[1][1].sum().item() == pytest.approx(-0.30828180745435474, abs=ATOL)
