"""Bad input raises ValueError/TypeError naming the argument, what was expected and what was
given (DESIGN.md: e.g. ``x must be (batch, time, 8), got (4, 8)``); nothing is broadcast."""

from __future__ import annotations

import math
import re

import pytest
import torch

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
    cell_names,
    make_cell,
)

I, H, B, T = 3, 4, 2, 5  # noqa: E741


def esc(text: str) -> str:
    return re.escape(text)


@pytest.fixture
def x():
    return torch.randn(B, T, I)


ALL_CELLS = {kind: (lambda k: lambda: make_cell(k, I, H))(kind) for kind in cell_names()}


# --- x ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ALL_CELLS))
def test_recurrent_x_two_dimensional(kind):
    layer = Recurrent(ALL_CELLS[kind]())
    with pytest.raises(ValueError, match=esc("x must be (batch, time, 3), got (2, 3)")):
        layer(torch.randn(2, 3))


def test_recurrent_x_four_dimensional():
    with pytest.raises(ValueError, match=esc("x must be (batch, time, 3), got (2, 5, 3, 1)")):
        Recurrent(GRUCell(I, H))(torch.randn(2, 5, 3, 1))


def test_recurrent_wrong_feature_count():
    with pytest.raises(ValueError, match=esc("x must be (batch, time, 3), got (2, 5, 4)")):
        Recurrent(LSTMCell(I, H))(torch.randn(2, 5, 4))


def test_recurrent_zero_time_steps():
    with pytest.raises(ValueError, match=r"x must have at least one time step"):
        Recurrent(LSTMCell(I, H))(torch.randn(2, 0, 3))


def test_cell_x_wrong_shape():
    with pytest.raises(ValueError, match=esc("x must be (batch, 3), got (2, 5, 3)")):
        ElmanCell(I, H)(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=esc("x must be (batch, 3), got (2, 2)")):
        LSTMCell(I, H)(torch.randn(2, 2))


def test_x_not_a_tensor():
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        Recurrent(GRUCell(I, H))([[[0.0] * 3]])
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray"):
        import numpy as np

        GRUCell(I, H)(np.zeros((2, 3)))


def test_x_wrong_dtype(x):
    with pytest.raises(TypeError, match=r"x must have dtype torch.float32.*got torch.float64"):
        Recurrent(LSTMCell(I, H))(x.double())
    with pytest.raises(TypeError, match=r"x must have dtype torch.float64.*got torch.float32"):
        Recurrent(LSTMCell(I, H, dtype=torch.float64))(x)
    with pytest.raises(
        TypeError, match=r"x must be a floating-point tensor, got dtype torch.int64"
    ):
        Recurrent(LSTMCell(I, H))(torch.ones(B, T, I, dtype=torch.long))
    with pytest.raises(TypeError, match=r"x must have dtype torch.float32.*got torch.float64"):
        ElmanCell(I, H)(torch.randn(2, 3, dtype=torch.float64))


# --- state ------------------------------------------------------------------------------------


def test_wrong_state_shape(x):
    layer = Recurrent(ElmanCell(I, H))
    with pytest.raises(ValueError, match=esc("state must be (2, 4), got (2, 5)")):
        layer(x, torch.zeros(2, 5))
    with pytest.raises(ValueError, match=esc("state must be (2, 4), got (3, 4)")):
        layer(x, torch.zeros(3, 4))
    # nothing silently broadcast
    with pytest.raises(ValueError, match=esc("state must be (2, 4), got (1, 4)")):
        layer(x, torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"state must be \(2, 4\), got \(4,?\)"):
        layer(x, torch.zeros(4))


def test_wrong_lstm_state_leaf_shape(x):
    layer = Recurrent(LSTMCell(I, H))
    with pytest.raises(ValueError, match=esc("state must be (2, 4), got (2, 3)")):
        layer(x, LSTMState(torch.zeros(2, 4), torch.zeros(2, 3)))


def test_jordan_state_is_output_sized(x):
    layer = Recurrent(JordanCell(I, H, 2))
    with pytest.raises(ValueError, match=esc("state must be (2, 2), got (2, 4)")):
        layer(x, torch.zeros(2, 4))


def test_lstm_given_a_tensor_state(x):
    expected = "state must be LSTMState(a Tensor (2, 4), a Tensor (2, 4)) for this LSTMCell, "
    with pytest.raises(TypeError, match=esc(expected + "got a Tensor (2, 4)")):
        Recurrent(LSTMCell(I, H))(x, torch.zeros(2, 4))
    with pytest.raises(TypeError, match=esc(expected + "got tuple(a Tensor (2, 4))")):
        Recurrent(LSTMCell(I, H))(x, (torch.zeros(2, 4),))
    with pytest.raises(TypeError, match=esc(expected)):
        LSTMCell(I, H)(x[:, 0], torch.zeros(2, 4))


@pytest.mark.parametrize("kind", ["elman", "gru", "jordan"])
def test_tensor_cell_given_an_lstm_state(kind, x):
    cell = ALL_CELLS[kind]()
    name = type(cell).__name__
    state = LSTMState(torch.zeros(2, 4), torch.zeros(2, 4))
    expected = f"state must be a Tensor (2, 4) for this {name}, got LSTMState(a Tensor (2, 4), "
    with pytest.raises(TypeError, match=esc(expected)):
        Recurrent(cell)(x, state)
    # a 1-tuple is not a Tensor either
    with pytest.raises(TypeError, match=esc("got tuple(a Tensor (2, 4))")):
        Recurrent(cell)(x, (torch.zeros(2, 4),))


def test_state_wrong_dtype(x):
    with pytest.raises(TypeError, match=r"state must have dtype torch.float32.*got torch.float64"):
        Recurrent(GRUCell(I, H))(x, torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"state must be a floating-point tensor, got dtype"):
        Recurrent(GRUCell(I, H))(x, torch.zeros(2, 4, dtype=torch.long))


def test_state_not_a_state(x):
    with pytest.raises(TypeError, match=r"state must be a Tensor .* got int"):
        Recurrent(GRUCell(I, H))(x, 3)


def test_stack_and_bidirectional_state_structure(x):
    stack = Stack([Recurrent(GRUCell(I, H)), Recurrent(GRUCell(H, H))])
    with pytest.raises(TypeError, match=r"state must be a tuple of 2 layer states or None, got a"):
        stack(x, (torch.zeros(2, 4),))
    with pytest.raises(TypeError, match=r"state must be a tuple of 2 layer states.*got Tensor"):
        stack(x, torch.zeros(2, 4))
    bi = Bidirectional(Recurrent(GRUCell(I, H)), Recurrent(GRUCell(I, H), reverse=True))
    with pytest.raises(TypeError, match=r"state must be a \(forward, backward\) tuple or None"):
        bi(x, torch.zeros(2, 4))


def test_init_state_batch_size():
    with pytest.raises(ValueError, match=r"batch_size must be a positive int, got 0"):
        LSTMCell(I, H).init_state(0)
    with pytest.raises(TypeError, match=r"batch_size must be a positive int, got float 2.0"):
        LSTMCell(I, H).init_state(2.0)


# --- lengths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_lengths_out_of_range(x, reverse):
    layer = Recurrent(LSTMCell(I, H), reverse=reverse)
    with pytest.raises(
        ValueError, match=esc("lengths must be in [1, 5] (the time axis), got min 0")
    ):
        layer(x, lengths=torch.tensor([0, 5]))
    with pytest.raises(
        ValueError, match=esc("lengths must be in [1, 5] (the time axis), got min 2, max 6")
    ):
        layer(x, lengths=torch.tensor([2, 6]))
    with pytest.raises(ValueError, match=esc("got min -1")):
        layer(x, lengths=[-1, 3])


def test_lengths_wrong_shape(x):
    layer = Recurrent(GRUCell(I, H))
    with pytest.raises(ValueError, match=r"lengths must be \(2,\), got \(3,?\)"):
        layer(x, lengths=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=esc("lengths must be (2,), got (2, 1)")):
        layer(x, lengths=torch.tensor([[1], [2]]))
    with pytest.raises(ValueError, match=esc("lengths must be (2,), got ()")):
        layer(x, lengths=torch.tensor(3))


def test_lengths_wrong_type(x):
    layer = Recurrent(GRUCell(I, H))
    with pytest.raises(
        TypeError, match=r"lengths must be an integer tensor, got dtype torch.float32"
    ):
        layer(x, lengths=torch.tensor([2.0, 3.0]))
    with pytest.raises(TypeError, match=r"lengths must be an integer tensor, got dtype torch.bool"):
        layer(x, lengths=torch.tensor([True, True]))
    with pytest.raises(TypeError, match=r"lengths must be a tensor or a list of ints, got list"):
        layer(x, lengths=[2.0, 3.0])
    with pytest.raises(TypeError, match=r"lengths must be a tensor or a list of ints, got float"):
        layer(x, lengths=2.5)


def test_lengths_checked_through_rnn(x):
    net = RNN(I, H, cell="lstm", bidirectional=True)
    with pytest.raises(ValueError, match=esc("lengths must be in [1, 5]")):
        net(x, lengths=torch.tensor([0, 1]))


# --- option names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "pattern"),
    [
        (
            lambda: ElmanCell(I, H, activation="gelu"),
            ValueError,
            "activation must be one of 'tanh', 'sigmoid', 'relu', got 'gelu'",
        ),
        (
            lambda: ElmanCell(I, H, activation="identity"),
            ValueError,
            "activation must be one of .*got 'identity'",
        ),
        (
            lambda: JordanCell(I, H, 2, activation="softplus"),
            ValueError,
            "activation must be one of .*got 'softplus'",
        ),
        (
            lambda: JordanCell(I, H, 2, output_activation="softmax"),
            ValueError,
            "output_activation must be one of .*got 'softmax'",
        ),
        (
            lambda: GRUCell(I, H, reset="middle"),
            ValueError,
            "reset must be one of 'after', 'before', got 'middle'",
        ),
        (
            lambda: LSTMCell(I, H, cell_activation="relu"),
            ValueError,
            "cell_activation must be one of 'tanh', 'identity', got 'relu'",
        ),
        (
            lambda: ElmanCell(I, H, recurrent_init="xavier"),
            ValueError,
            "recurrent_init must be one of .*got 'xavier'",
        ),
        (
            lambda: GRUCell(I, H, recurrent_init="identity"),
            ValueError,
            "recurrent_init must be one of 'uniform', 'orthogonal', got 'identity'",
        ),
        (
            lambda: LSTMCell(I, H, recurrent_init="identity"),
            ValueError,
            "recurrent_init must be one of 'uniform', 'orthogonal', got 'identity'",
        ),
        (
            lambda: JordanCell(I, H, 2, recurrent_init="identity"),
            ValueError,
            "recurrent_init must be one of .*got 'identity'",
        ),
        (
            lambda: RNN(I, H, cell="transformer"),
            ValueError,
            "cell must be one of .*'lstm'.*got 'transformer'",
        ),
        (lambda: make_cell("foo", I, H), ValueError, "kind must be one of .*got 'foo'"),
        (lambda: RNN(I, H, cell=3), TypeError, "cell must be a cell name or a callable, got int"),
        (
            lambda: RNN(I, H, output_size=2, output_activation="softmax"),
            ValueError,
            "activation must be one of .*got 'softmax'",
        ),
        (
            lambda: Readout(I, H, activation="gelu"),
            ValueError,
            "activation must be one of .*'identity', got 'gelu'",
        ),
        (
            lambda: RNN(I, H, cell="gru", peephole=True),
            TypeError,
            "peephole",
        ),
        (
            lambda: RNN(I, H, cell=lambda i: GRUCell(i, H), reset="before"),
            TypeError,
            r"cell options \['reset'\] need a cell name, got a callable cell",
        ),
        (lambda: LSTMCell(I, H, peephole=1), TypeError, "peephole must be a bool, got int"),
        (
            lambda: LSTMCell(I, H, forget_bias="1"),
            TypeError,
            "forget_bias must be a number, got str",
        ),
        *[
            (
                lambda v=value: LSTMCell(I, H, forget_bias=v),
                ValueError,
                rf"forget_bias must be a finite number, got {text}",
            )
            for value, text in ((float("nan"), "nan"), (float("inf"), "inf"), (-math.inf, "-inf"))
        ],
        (lambda: JordanCell(I, H, 2, bias=1), TypeError, "bias must be a bool, got int 1"),
        (lambda: ElmanCell(I, H, bias=None), TypeError, "bias must be a bool, got NoneType"),
        (
            lambda: make_cell("lstm", I, H, reset="after"),
            TypeError,
            "cell options must be among peephole, cell_activation, forget_bias, bias, "
            "recurrent_init, input_dropout, recurrent_dropout, weight_drop, zoneout, layer_norm "
            "for a lstm cell, got reset",
        ),
        (lambda: Recurrent(GRUCell(I, H), reverse=1), TypeError, "reverse must be a bool, got int"),
        (
            lambda: Recurrent(torch.nn.GRUCell(I, H)),
            TypeError,
            "cell must be an rnnkit RecurrentCell, got GRUCell",
        ),
        (
            lambda: RNN(I, H, bidirectional="yes"),
            TypeError,
            "bidirectional must be a bool, got str",
        ),
        (lambda: RNN(I, H, batch_first=0), TypeError, "batch_first must be a bool, got int"),
    ],
)
def test_bad_options(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


# --- sizes --------------------------------------------------------------------------------------

SIZE_CASES = [
    (lambda v: ElmanCell(v, H), "input_size"),
    (lambda v: ElmanCell(I, v), "hidden_size"),
    (lambda v: GRUCell(v, H), "input_size"),
    (lambda v: GRUCell(I, v), "hidden_size"),
    (lambda v: LSTMCell(v, H), "input_size"),
    (lambda v: LSTMCell(I, v), "hidden_size"),
    (lambda v: JordanCell(v, H, 2), "input_size"),
    (lambda v: JordanCell(I, v, 2), "hidden_size"),
    (lambda v: JordanCell(I, H, v), "output_size"),
    (lambda v: Readout(v, 2), "in_features"),
    (lambda v: Readout(2, v), "out_features"),
    (lambda v: RNN(v, H), "input_size"),
    (lambda v: RNN(I, v), "hidden_size"),
    (lambda v: RNN(I, H, num_layers=v), "num_layers"),
    (lambda v: RNN(I, H, output_size=v), "output_size"),
]


@pytest.mark.parametrize(("make", "name"), SIZE_CASES)
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_sizes(make, name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive int, got {value}"):
        make(value)


@pytest.mark.parametrize(("make", "name"), SIZE_CASES)
@pytest.mark.parametrize(
    ("value", "shown"), [(2.0, "float 2.0"), (True, "bool True"), ("3", "str '3'")]
)
def test_non_int_sizes(make, name, value, shown):
    with pytest.raises(TypeError, match=esc(f"{name} must be a positive int, got {shown}")):
        make(value)


def test_dropout_range():
    with pytest.raises(ValueError, match=esc("dropout must be in [0, 1.0], got 1.5")):
        RNN(I, H, dropout=1.5)
    with pytest.raises(ValueError, match=esc("dropout must be in [0, 1.0], got -0.1")):
        Stack([Recurrent(GRUCell(I, H))], dropout=-0.1)
    with pytest.raises(TypeError, match=r"dropout must be a number, got str"):
        Stack([Recurrent(GRUCell(I, H))], dropout="0.1")


# --- composition --------------------------------------------------------------------------------


def test_stack_mismatched_sizes():
    with pytest.raises(
        ValueError, match=esc("layers[1] must take input_size 4 (layers[0]'s output), got 5")
    ):
        Stack([Recurrent(LSTMCell(I, H)), Recurrent(LSTMCell(5, H))])
    bi = Bidirectional(Recurrent(GRUCell(I, H)), Recurrent(GRUCell(I, H), reverse=True))
    with pytest.raises(ValueError, match=esc("layers[1] must take input_size 8")):
        Stack([bi, Recurrent(GRUCell(H, H))])
    with pytest.raises(ValueError, match=esc("layers[2] must take input_size 2")):
        Stack(
            [
                Recurrent(GRUCell(I, H)),
                Recurrent(JordanCell(H, H, 2)),
                Recurrent(GRUCell(H, H)),
            ]
        )


def test_stack_empty():
    with pytest.raises(ValueError, match=r"layers must hold at least one layer, got none"):
        Stack([])


def test_bidirectional_backward_layer_must_be_reversed():
    with pytest.raises(
        ValueError, match=r"backward_layer must run backward in time.*got a forward"
    ):
        Bidirectional(Recurrent(GRUCell(I, H)), Recurrent(GRUCell(I, H)))
    with pytest.raises(ValueError, match=r"forward_layer must run forward in time, got a reverse"):
        Bidirectional(
            Recurrent(GRUCell(I, H), reverse=True), Recurrent(GRUCell(I, H), reverse=True)
        )


def test_bidirectional_input_sizes_and_types():
    with pytest.raises(ValueError, match=r"backward_layer must take input_size 3 .*got 5"):
        Bidirectional(Recurrent(GRUCell(I, H)), Recurrent(GRUCell(5, H), reverse=True))
    with pytest.raises(TypeError, match=r"forward_layer must be a recurrent layer, got Linear"):
        Bidirectional(torch.nn.Linear(I, H), Recurrent(GRUCell(I, H), reverse=True))
    with pytest.raises(TypeError, match=r"backward_layer must be a recurrent layer, got str"):
        Bidirectional(Recurrent(GRUCell(I, H)), "backward")


def test_readout_wrong_features():
    readout = Readout(4, 2)
    with pytest.raises(ValueError, match=esc("x must be (..., 4), got (2, 3, 5)")):
        readout(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=esc("x must be (..., 4), got ()")):
        readout(torch.tensor(1.0))
    with pytest.raises(TypeError, match=r"x must have dtype torch.float32.*got torch.float64"):
        readout(torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        readout([1.0] * 4)


def test_rnn_batch_first_false_x():
    net = RNN(I, H, cell="gru", batch_first=False)
    msg = "x must be (time, batch, 3) with batch_first=False, got "
    with pytest.raises(ValueError, match=esc(msg + "(5, 3)")):
        net(torch.randn(5, 3))
    with pytest.raises(ValueError, match=esc(msg + "(5, 2, 4)")):  # the shape the user gave
        net(torch.randn(5, 2, 4))


def test_rnn_stack_errors_name_the_layer_state(x):
    net = RNN(I, H, cell="lstm", num_layers=2)
    bad = (LSTMState(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2, 4))
    with pytest.raises(TypeError, match=esc("state must be LSTMState(")):
        net(x, bad)


@pytest.mark.parametrize("where", ["stack", "bidirectional"])
def test_bare_cell_instead_of_layer_names_the_fix(where):
    cell = GRUCell(3, 4)
    with pytest.raises(TypeError, match=r"must be a layer over sequences.*Recurrent\(cell\)"):
        if where == "stack":
            Stack([cell])
        else:
            Bidirectional(cell, Recurrent(GRUCell(3, 4), reverse=True))
