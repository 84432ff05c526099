"""The fused kernels against the reference loop: outputs, final states and every gradient."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit
from conftest import CELL_BUILDERS, VARIANTS
from rnnkit import Bidirectional, LSTMCell, Recurrent, Stack, kernels
from rnnkit._state import leaves, map_state
from rnnkit.kernels import _ext

F32, F64 = torch.float32, torch.float64
TOL = {F32: 1e-5, F64: 1e-10}

pytestmark = pytest.mark.skipif(not kernels.available(), reason="C++ extension not buildable")


def build(variant: str, i: int, h: int, dtype, *, bias: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    kw = {} if variant.startswith("jordan") or bias else {"bias": False}
    return CELL_BUILDERS[variant](i, h, dtype=dtype, **kw)


def random_state(cell, batch: int):
    return map_state(lambda z: (0.5 * torch.randn_like(z)).requires_grad_(), cell.init_state(batch))


def outputs_and_grads(module, x, state, lengths, mode: str):
    """Forward in ``mode``, then the gradient of a loss that weighs every output and state leaf
    differently, with respect to x, every initial-state leaf and every parameter."""
    with kernels.mode(mode):
        ys, final = module(x, state, lengths=lengths)
    w = torch.sin(torch.arange(ys.numel(), dtype=ys.dtype)).view_as(ys)
    loss = (ys * w).sum() + sum(
        (k + 1.5) * leaf.pow(2).sum() for k, leaf in enumerate(leaves(final))
    )
    inputs = [x] + ([] if state is None else leaves(state)) + list(module.parameters())
    grads = torch.autograd.grad(loss, inputs)
    return ys, leaves(final), grads


def assert_same(module, x, state=None, lengths=None, *, tol: float) -> None:
    ref = outputs_and_grads(module, x, state, lengths, "reference")
    fused = outputs_and_grads(module, x, state, lengths, "fused")
    torch.testing.assert_close(fused[0], ref[0], rtol=tol, atol=tol)
    assert len(fused[1]) == len(ref[1])
    for a, b in zip(fused[1], ref[1]):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    names = ["x"] + [f"state{k}" for k in range(0 if state is None else len(leaves(state)))]
    names += [n for n, _ in module.named_parameters()]
    for name, a, b in zip(names, fused[2], ref[2]):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_kernel_matches_the_reference_loop(variant, dtype):
    """Every cell variant, with and without bias, forward and reverse, with and without lengths."""
    biases = (True,) if variant.startswith("jordan") else (True, False)
    for bias, reverse, use_lengths in itertools.product(biases, (False, True), (False, True)):
        cell = build(variant, 3, 5, dtype, bias=bias)
        layer = Recurrent(cell, reverse=reverse)
        x = torch.randn(4, 7, 3, dtype=dtype, requires_grad=True)
        lengths = torch.tensor([7, 3, 1, 5]) if use_lengths else None
        assert_same(layer, x, random_state(cell, 4), lengths, tol=TOL[dtype])


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_zero_initial_state_and_large_batch_gemm_path(variant, dtype):
    """state=None, and sizes above the small-product threshold: the BLAS path (oneDNN for
    float32, MKL for float64) against the hand-written loop's."""
    cell = build(variant, 6, 24, dtype)
    x = torch.randn(20, 5, 6, dtype=dtype, requires_grad=True)
    lengths = torch.randint(1, 6, (20,))
    ext = _ext.load()
    try:
        for small in (0, 1 << 30):  # every product by BLAS, then every product by the loop
            ext.set_small_work(small)
            assert_same(Recurrent(cell), x, None, lengths, tol=TOL[dtype])
    finally:
        ext.set_small_work(-1)  # the defaults
    assert ext.get_onednn()  # oneDNN took the float32 products without falling back


LSTM_VARIANTS = [v for v in VARIANTS if v.startswith("lstm")]


@pytest.mark.parametrize("split", ["rows", "units"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("variant", LSTM_VARIANTS)
def test_lstm_time_loop_split_over_threads(variant, dtype, split):
    """The LSTM time loop shared by a team of threads, forced on at small sizes and in both
    splits: batch rows per thread (no synchronisation), or blocks of hidden units per thread
    with a barrier per step (where threads read each other's states). Partial blocks, fewer
    blocks than threads, uneven row tiles, sequences ending at different steps (one after its
    first), a reversed layer; three threads on any machine, so also more threads than cores."""
    ext = _ext.load()
    threads, team_work = torch.get_num_threads(), ext.get_lstm_team_work()
    torch.set_num_threads(3)
    ext.set_lstm_team_work(0)  # every problem is "large": the threaded loop
    ext.set_row_split_bytes(1 << 40 if split == "rows" else 0)
    try:
        cases = [(13, 37, False), (7, 5, True), (1, 40, False), (2, 19, True), (5, 33, True)]
        cases.append((3, 70, False))
        for batch, hidden, reverse in cases:
            cell = build(variant, 6, hidden, dtype, seed=batch)
            x = torch.randn(batch, 9, 6, dtype=dtype, requires_grad=True)
            lengths = torch.randint(1, 10, (batch,))
            lengths[batch // 2] = 1
            layer = Recurrent(cell, reverse=reverse)
            assert_same(layer, x, random_state(cell, batch), lengths, tol=TOL[dtype])
    finally:
        ext.set_lstm_team_work(team_work)
        ext.set_row_split_bytes(-1)
        torch.set_num_threads(threads)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    variant=st.sampled_from(VARIANTS),
    batch=st.integers(1, 4),
    time=st.integers(1, 8),
    inp=st.integers(1, 6),
    hidden=st.integers(1, 16),
    reverse=st.booleans(),
    use_lengths=st.booleans(),
    dtype=st.sampled_from([F32, F64]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes(variant, batch, time, inp, hidden, reverse, use_lengths, dtype, seed):
    cell = build(variant, inp, hidden, dtype, seed=seed)
    x = torch.randn(batch, time, inp, dtype=dtype, requires_grad=True)
    lengths = torch.randint(1, time + 1, (batch,)) if use_lengths else None
    assert_same(Recurrent(cell, reverse=reverse), x, random_state(cell, batch), lengths,
                tol=TOL[dtype])  # fmt: skip


def test_stack_bidirectional_and_rnn():
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 4, dtype=F64, requires_grad=True)
    torch.manual_seed(0)
    stack = Stack(
        [
            Bidirectional(
                Recurrent(LSTMCell(4, 5, peephole=True, dtype=F64)),
                Recurrent(rnnkit.GRUCell(4, 3, reset="before", dtype=F64), reverse=True),
            ),
            Recurrent(rnnkit.JordanCell(8, 6, 2, "sigmoid", "tanh", dtype=F64)),
        ]
    )
    assert_same(stack, x, None, lengths, tol=1e-10)
    for cell in ("lstm", "gru", "elman", "jordan"):
        torch.manual_seed(1)
        net = rnnkit.RNN(4, 6, cell=cell, num_layers=2, bidirectional=True, output_size=2,
                         dtype=F64)  # fmt: skip
        assert_same(net, x, None, lengths, tol=1e-10)


@pytest.mark.slow
def test_float32_rnn_matches_in_float32():
    torch.manual_seed(2)
    net = rnnkit.RNN(5, 32, cell="lstm", num_layers=2, bidirectional=True, output_size=3)
    x = torch.randn(4, 30, 5, requires_grad=True)
    assert_same(net, x, None, torch.tensor([30, 11, 29, 1]), tol=1e-5)


@pytest.mark.parametrize("variant", ["lstm_peephole_identity", "gru_before", "gru_after",
                                     "jordan_tanh", "elman_sigmoid"])  # fmt: skip
def test_gradcheck_of_the_fused_path(variant):
    cell = build(variant, 2, 3, F64)
    layer = Recurrent(cell, reverse=True)
    state = random_state(cell, 3)
    state_leaves = leaves(state)
    params = list(cell.parameters())
    lengths = torch.tensor([4, 1, 3])
    x = torch.randn(3, 4, 2, dtype=F64, requires_grad=True)

    def fn(x, *flat):
        s = flat[: len(state_leaves)]
        s = s[0] if len(s) == 1 else type(state)(*s)
        with kernels.mode("fused"):
            ys, final = torch.func.functional_call(
                layer, {f"cell.{n}": v for (n, _), v in
                        zip(cell.named_parameters(), flat[len(state_leaves):])},
                (x, s), {"lengths": lengths},
            )  # fmt: skip
        return (ys, *leaves(final))

    inputs = (x, *state_leaves, *[p.detach().clone().requires_grad_() for p in params])
    assert torch.autograd.gradcheck(fn, inputs)


def _fused_was_used(ys: torch.Tensor) -> bool:
    return "Function" in type(ys.grad_fn).__name__


def test_auto_mode_uses_the_fused_path_and_reference_mode_does_not():
    layer = Recurrent(LSTMCell(3, 4))
    x = torch.randn(2, 5, 3, requires_grad=True)
    assert kernels.get_mode() == "auto"
    assert _fused_was_used(layer(x)[0])
    with kernels.mode("reference"):
        assert kernels.get_mode() == "reference"
        assert not _fused_was_used(layer(x)[0])
    assert kernels.get_mode() == "auto"
    kernels.set_mode("reference")
    try:
        assert not _fused_was_used(layer(x)[0])
    finally:
        kernels.set_mode("auto")


class DoubledLSTM(LSTMCell):
    """A user cell that changes the step: its output is twice the LSTM's."""

    def step(self, x, state):
        h, s = super().step(x, state)
        return 2 * h, s


def test_a_subclass_cell_falls_back_to_its_own_step():
    torch.manual_seed(0)
    cell = DoubledLSTM(3, 4, dtype=F64)
    plain = LSTMCell(3, 4, dtype=F64)
    plain.load_state_dict(cell.state_dict())
    x = torch.randn(2, 5, 3, dtype=F64, requires_grad=True)
    ys, _ = Recurrent(cell)(x)
    ys_plain, _ = Recurrent(plain)(x)
    assert not _fused_was_used(ys)
    torch.testing.assert_close(ys, 2 * ys_plain, rtol=0, atol=1e-12)
    with kernels.mode("fused"), pytest.raises(RuntimeError, match="DoubledLSTM"):
        Recurrent(cell)(x)


def test_unsupported_dtype_falls_back_or_raises_in_fused_mode():
    cell = LSTMCell(3, 4, dtype=torch.bfloat16)
    x = torch.randn(2, 5, 3, dtype=torch.bfloat16)
    ys, _ = Recurrent(cell)(x)  # the reference loop handles it
    assert ys.shape == (2, 5, 4)
    with kernels.mode("fused"), pytest.raises(RuntimeError, match="bfloat16"):
        Recurrent(cell)(x)


def test_double_backward_raises_on_the_fused_path_and_works_on_the_reference():
    cell = LSTMCell(2, 3, dtype=F64)
    x = torch.randn(2, 4, 2, dtype=F64, requires_grad=True)
    for mode, ok in (("reference", True), ("fused", False)):
        with kernels.mode(mode):
            (g,) = torch.autograd.grad(Recurrent(cell)(x)[0].pow(2).sum(), x, create_graph=True)
        if ok:
            g.sum().backward()
        else:
            with pytest.raises(RuntimeError, match="differentiate twice"):
                g.sum().backward()


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be one of 'auto', 'fused', 'reference'"):
        kernels.set_mode("fast")
    assert kernels.get_mode() == "auto"


def test_missing_compiler_warns_once_and_uses_the_loop(monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # a fresh machine: nothing cached

    def fail(*args, **kwargs):
        raise RuntimeError("Error building extension: no compiler found")

    monkeypatch.setattr(_ext, "_module", None)
    monkeypatch.setattr(_ext, "_error", None)
    monkeypatch.setattr(cpp_extension, "load", fail)
    layer = Recurrent(rnnkit.GRUCell(3, 4))
    x = torch.randn(2, 5, 3, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ys, _ = layer(x)
        ys2, _ = layer(x)
    messages = [str(w.message) for w in caught if "fused kernels" in str(w.message)]
    assert len(messages) == 1 and "no compiler found" in messages[0]
    assert not _fused_was_used(ys)
    with kernels.mode("reference"):  # torch's own GRU: the same function, other rounding
        torch.testing.assert_close(ys2, layer(x)[0], rtol=0, atol=1e-6)
    with kernels.mode("fused"), pytest.raises(RuntimeError, match="unavailable"):
        layer(x)


def test_gradients_accumulate_like_the_reference():
    """Two backward passes add up, and bias_ih/bias_hh get separate gradient tensors."""
    torch.manual_seed(0)
    grads = {}
    for mode in ("reference", "fused"):
        cell = LSTMCell(3, 4, dtype=F64)
        x = torch.randn(2, 6, 3, dtype=F64)
        with kernels.mode(mode):
            for _ in range(2):
                ys, _ = Recurrent(cell)(x)
                ys.pow(2).sum().backward()
        cell.bias_ih.grad.add_(1.0)  # must not change bias_hh.grad
        grads[mode] = {n: p.grad.clone() for n, p in cell.named_parameters()}
        torch.manual_seed(0)
    for name in grads["reference"]:
        torch.testing.assert_close(grads["fused"][name], grads["reference"][name])


def test_noncontiguous_input_and_nan_propagation():
    torch.manual_seed(0)
    cell = rnnkit.GRUCell(3, 4)
    x = torch.randn(5, 2, 3).transpose(0, 1)  # (2, 5, 3), not contiguous
    with kernels.mode("fused"):
        ys, _ = Recurrent(cell)(x)
    with kernels.mode("reference"):
        ys_ref, _ = Recurrent(cell)(x)
    torch.testing.assert_close(ys, ys_ref, rtol=1e-5, atol=1e-5)
    x = x.clone()
    x[1, 2, 0] = float("nan")
    with kernels.mode("fused"):
        ys, _ = Recurrent(cell)(x)
    assert torch.isnan(ys[1, 2:]).all() and not torch.isnan(ys[0]).any()


def assert_same_nonfinite(module, x, state, lengths) -> None:
    """Fused against reference where NaN and +-Inf flow through: outputs, final state and every
    gradient agree, NaN for NaN and Inf for Inf (only finite values get a tolerance)."""
    ref = outputs_and_grads(module, x, state, lengths, "reference")
    fused = outputs_and_grads(module, x, state, lengths, "fused")
    tol = TOL[x.dtype]
    pairs = [("ys", fused[0], ref[0])]
    pairs += [(f"final{k}", a, b) for k, (a, b) in enumerate(zip(fused[1], ref[1]))]
    pairs += [(f"grad{k}", a, b) for k, (a, b) in enumerate(zip(fused[2], ref[2]))]
    for name, a, b in pairs:
        torch.testing.assert_close(
            a, b, rtol=tol, atol=tol, equal_nan=True, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_nan_and_inf_propagate_like_the_reference(variant, dtype):
    """NaN, +Inf and -Inf in the input of different sequences (each at a different step), with
    lengths, forward and reverse: every activation of every kernel, forward and backward, keeps
    them where the reference loop (torch's ops) does: a ReLU keeps NaN and +Inf."""
    for reverse in (False, True):
        cell = build(variant, 3, 5, dtype)
        x = torch.randn(5, 6, 3, dtype=dtype)
        x[1, 2, 0], x[2, 4, 1], x[3, 1, 2] = float("nan"), float("inf"), -float("inf")
        x[4, 3, :] = float("inf")
        x.requires_grad_()
        lengths = torch.tensor([6, 6, 5, 4, 6])
        layer = Recurrent(cell, reverse=reverse)
        assert_same_nonfinite(layer, x, random_state(cell, 5), lengths)


def test_relu_elman_keeps_nan_and_inf():
    """The fused ReLU must not be a max(x, 0): NaN stays NaN and +Inf stays +Inf."""
    cell = rnnkit.ElmanCell(1, 1, "relu", bias=False)
    with torch.no_grad():
        cell.weight_ih.fill_(1.0)
        cell.weight_hh.fill_(0.0)
    x = torch.tensor([1.0, float("nan"), float("inf"), -float("inf"), -2.0]).view(-1, 1, 1)
    with kernels.mode("fused"):
        ys, _ = Recurrent(cell)(x)  # five sequences of one step
    assert ys[0].item() == 1.0 and torch.isnan(ys[1]).all() and ys[2].item() == float("inf")
    assert ys[3].item() == 0.0 and ys[4].item() == 0.0


@pytest.mark.parametrize(("activation", "fn"), [("sigmoid", torch.sigmoid), ("tanh", torch.tanh)])
def test_float32_activations_are_accurate_at_extremes(activation, fn):
    """The vectorised exp of the float32 kernels: saturation and tiny inputs."""
    cell = rnnkit.ElmanCell(1, 1, activation, bias=False)
    with torch.no_grad():
        cell.weight_ih.fill_(1.0)
        cell.weight_hh.fill_(0.0)
    x = torch.tensor([-200.0, -80.0, -10.0, -1e-4, 0.0, 1e-4, 3.0, 80.0, 200.0]).view(1, -1, 1)
    with kernels.mode("fused"):
        ys, _ = Recurrent(cell)(x)
    # relative accuracy of sigmoid even where it underflows towards 0; tanh in absolute terms
    rtol, atol = (2e-6, 1e-30) if activation == "sigmoid" else (0.0, 2e-7)
    torch.testing.assert_close(ys.flatten(), fn(x.flatten()), rtol=rtol, atol=atol)


def test_rnnkit_bench_quick_run_and_bad_input(capsys, tmp_path):
    from rnnkit.cli import main

    out_json = tmp_path / "rows.json"
    argv = ["bench", "--shapes", "2x5x3x4", "--cells", "gru,jordan", "--impls", "fused,torch"]
    assert main([*argv, "--repeats", "1", "--modes", "train", "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.strip().startswith("2x5x3x4")]
    assert [(r[1], r[3]) for r in rows] == [
        ("gru", "fused"), ("gru", "torch"), ("jordan", "fused"), ("jordan", "torch")
    ]  # fmt: skip
    assert rows[1][8] == "1.00x"  # torch against itself
    assert out_json.exists()
    assert main([*argv, "--json", str(out_json)]) == 2  # never overwrites
    assert main(["bench", "--shapes", "2x5x3"]) == 2
    assert main(["bench", "--cells", "lstm,hopfield"]) == 2
    err = capsys.readouterr().err
    assert "--shapes must be BxTxIxH" in err and "--cells must be" in err and "exists" in err


def test_flop_counts_follow_deepbench():
    from rnnkit.kernels import bench

    assert bench.flops("lstm", (2, 3, 5, 7)) == 2 * 4 * 7 * (5 + 7) * 2 * 3
    assert bench.flops("gru_before", (1, 1, 4, 4)) == 2 * 3 * 4 * 8
    assert bench.flops("jordan", (1, 2, 3, 4)) == 2 * (4 * 3 + 2 * 4 * 4) * 2


@pytest.mark.slow
def test_a_first_fused_call_leaves_torch_thread_count_alone():
    """The small-problem path runs serially; it must not freeze torch's lazily sized thread pool
    at one thread when it is the first thing a process runs."""
    import subprocess
    import sys

    code = (
        "import torch, rnnkit; "
        "rnnkit.Recurrent(rnnkit.LSTMCell(3, 4))(torch.randn(1, 5, 3)); "
        "print(torch.get_num_threads())"
    )
    fresh = "import torch; print(torch.get_num_threads())"
    run = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, check=True)
           for c in (code, fresh)]  # fmt: skip
    assert run[0].stdout.strip() == run[1].stdout.strip()
