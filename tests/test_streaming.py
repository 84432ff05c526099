"""Stream: step-by-step outputs equal the whole-sequence forward pass."""

from __future__ import annotations

import itertools

import pytest
import torch

import rnnkit
from conftest import CELL_BUILDERS, VARIANTS
from rnnkit import LSTMCell, Recurrent, Stream, kernels
from rnnkit._state import leaves, map_state
from rnnkit.kernels._functions import SPECS
from rnnkit.kernels._step import CellStepper

F32, F64 = torch.float32, torch.float64
TOL = {F32: 1e-5, F64: 1e-12}
needs_kernels = pytest.mark.skipif(not kernels.available(), reason="C++ extension not buildable")


@pytest.mark.parametrize("variant", VARIANTS)
def test_stream_equals_the_sequence_forward(variant):
    torch.manual_seed(0)
    cell = CELL_BUILDERS[variant](3, 6)
    layer = Recurrent(cell)
    x = torch.randn(1, 12, 3)
    state = cell.init_state(1)
    state = rnnkit._state.map_state(lambda z: torch.randn_like(z), state)
    with kernels.mode("reference"):
        ys, final = layer(x, state)
    stream = Stream(layer, state)
    steps = torch.stack([stream.step(x[0, t]) for t in range(12)])  # (T, O)
    torch.testing.assert_close(steps, ys[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(rnnkit._state.leaves(stream.state), rnnkit._state.leaves(final)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_stream_of_an_rnn_with_readout_in_batches_and_reset():
    torch.manual_seed(1)
    net = rnnkit.RNN(4, 16, cell="lstm", num_layers=3, output_size=2, peephole=True, dtype=F64)
    x = torch.randn(3, 10, 4, dtype=F64)
    with kernels.mode("reference"):
        ys, states = net(x)
    stream = Stream(net)
    assert stream.state is None
    for t in range(10):
        y = stream.step(x[:, t])  # (3, 2)
        torch.testing.assert_close(y, ys[:, t], rtol=0, atol=1e-12)
    assert len(stream.state) == 3
    torch.testing.assert_close(stream.state[2].c, states[2].c, rtol=0, atol=1e-12)
    stream.reset()
    torch.testing.assert_close(stream.step(x[:, 0]), ys[:, 0], rtol=0, atol=1e-12)


def test_stream_follows_weight_updates():
    """Cached transposed weights are rebuilt when a parameter changes in place."""
    torch.manual_seed(2)
    cell = rnnkit.GRUCell(2, 5)
    stream = Stream(Recurrent(cell))
    x = torch.randn(2)
    stream.step(x)
    with torch.no_grad():
        cell.weight_hh.mul_(-1.5)
    h = stream.state
    y = stream.step(x)
    with kernels.mode("reference"):
        expected, _ = cell(x.unsqueeze(0), h)
    torch.testing.assert_close(y, expected[0], rtol=1e-5, atol=1e-6)


def test_stream_of_a_subclass_cell_and_in_reference_mode():
    class Halved(LSTMCell):
        def step(self, x, state):
            h, s = super().step(x, state)
            return h / 2, s

    torch.manual_seed(3)
    layer = Recurrent(Halved(3, 4))
    x = torch.randn(1, 5, 3)
    ys, _ = layer(x)
    stream = Stream(layer)
    steps = torch.stack([stream.step(x[0, t]) for t in range(5)])
    torch.testing.assert_close(steps, ys[0])
    plain = Stream(Recurrent(LSTMCell(3, 4)))
    with kernels.mode("reference"):
        plain.step(x[0, 0])  # runs cell.step; nothing to assert beyond not failing
    assert plain.state.h.shape == (1, 4)


def test_stream_rejects_what_cannot_stream_and_bad_input():
    with pytest.raises(ValueError, match="forward in time"):
        Stream(rnnkit.RNN(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="forward in time"):
        Stream(Recurrent(LSTMCell(3, 4), reverse=True))
    with pytest.raises(TypeError, match="Recurrent"):
        Stream(rnnkit.Readout(3, 4))
    stream = Stream(Recurrent(LSTMCell(3, 4)))
    with pytest.raises(ValueError, match=r"x must be \(3,\) or \(batch, 3\), got \(5,\)"):
        stream.step(torch.randn(5))
    with pytest.raises(TypeError, match="dtype"):
        stream.step(torch.randn(3, dtype=F64))
    stream.reset(torch.zeros(1, 4))  # a Tensor where an LSTMState belongs
    with pytest.raises(TypeError, match="state must be LSTMState"):
        stream.step(torch.randn(1, 3))


@needs_kernels
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_step_kernel_equals_the_reference_cell_step(variant, dtype):
    """Each cell's step kernel against ``cell.step``: batches of 1, 3 and 5 rows (full and
    partial register tiles), with and without bias, a hidden size that is not a multiple of the
    SIMD width; the parameters are left untouched (the kernel must not write into its bias)."""
    biases = (True,) if variant.startswith("jordan") else (True, False)
    for bias, batch in itertools.product(biases, (1, 3, 5)):
        torch.manual_seed(batch)
        kw = {} if bias else {"bias": False}
        cell = CELL_BUILDERS[variant](4, 19, dtype=dtype, **kw)
        before = {n: p.detach().clone() for n, p in cell.named_parameters()}
        stepper = CellStepper(cell)
        state = map_state(torch.randn_like, cell.init_state(batch, dtype=dtype))
        ref_state = state
        for _ in range(4):
            x = torch.randn(batch, 4, dtype=dtype)
            with kernels.mode("fused"):
                y, state = stepper(x, state)
            with torch.no_grad():
                y_ref, ref_state = cell.step(x, ref_state)
            torch.testing.assert_close(y, y_ref, rtol=TOL[dtype], atol=TOL[dtype])
            for a, b in zip(leaves(state), leaves(ref_state)):
                torch.testing.assert_close(a, b, rtol=TOL[dtype], atol=TOL[dtype])
        for name, p in cell.named_parameters():
            assert torch.equal(p.detach(), before[name]), name


@needs_kernels
@pytest.mark.parametrize("variant", VARIANTS)
def test_step_kernel_propagates_nan_and_inf_like_the_cell(variant):
    torch.manual_seed(0)
    cell = CELL_BUILDERS[variant](3, 6, dtype=F64)
    state = map_state(torch.randn_like, cell.init_state(4, dtype=F64))
    x = torch.randn(4, 3, dtype=F64)
    x[1, 0], x[2, 1], x[3, 2] = float("nan"), float("inf"), -float("inf")
    with kernels.mode("fused"):
        y, new = CellStepper(cell)(x, state)
    with torch.no_grad():
        y_ref, new_ref = cell.step(x, state)
    torch.testing.assert_close(y, y_ref, equal_nan=True, rtol=1e-12, atol=1e-12)
    for a, b in zip(leaves(new), leaves(new_ref)):
        torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-12, atol=1e-12)


@needs_kernels
def test_step_kernels_reject_bad_shapes_naming_the_argument():
    ext = kernels._ext.load()
    cell = rnnkit.GRUCell(3, 4)
    step = SPECS[rnnkit.GRUCell].bind_step(ext, cell)
    with pytest.raises(RuntimeError, match=r"h must have shape \[2, 4\]"):
        step(torch.randn(2, 3), torch.randn(2, 5))
