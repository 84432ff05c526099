"""The torch-native route against the reference loop, the routing decisions (forced modes, the
stored choices of mode "auto", CUDA, no build), the thread-local mode and the thread count."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import torch

import rnnkit
from conftest import CELL_BUILDERS
from rnnkit import Bidirectional, Recurrent, Stack, kernels
from rnnkit._state import leaves, map_state
from rnnkit.kernels import _autotune, _dispatch, _ext, _threads

F32, F64 = torch.float32, torch.float64
TOL = {F32: 1e-5, F64: 1e-12}
NATIVE = ["lstm", "gru_after", "elman_tanh", "elman_relu"]
NOT_NATIVE = ["lstm_peephole", "lstm_identity", "gru_before", "elman_sigmoid", "jordan_tanh"]


def build(variant: str, dtype, *, bias: bool = True, i: int = 3, h: int = 5):
    torch.manual_seed(0)
    kw = {} if bias else {"bias": False}
    return CELL_BUILDERS[variant](i, h, dtype=dtype, **kw)


def run(module, x, state, lengths, mode: str):
    """Outputs, final state and the gradients of a loss weighing every output differently."""
    with kernels.mode(mode):
        ys, final = module(x, state, lengths=lengths)
    w = torch.sin(torch.arange(ys.numel(), dtype=ys.dtype)).view_as(ys)
    loss = (ys * w).sum() + sum((s * (k + 2)).sum() for k, s in enumerate(leaves(final)))
    wrt = [x, *([] if state is None else leaves(state)), *module.parameters()]
    grads = torch.autograd.grad(loss, wrt)
    return ys, leaves(final), grads, ys.grad_fn


@pytest.mark.parametrize("given_state", [False, True], ids=["zero", "given"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("variant", NATIVE)
def test_native_route_equals_the_reference_loop(variant, dtype, use_lengths, reverse, given_state):
    cell = build(variant, dtype)
    layer = Recurrent(cell, reverse=reverse)
    x = torch.randn(4, 6, 3, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([6, 2, 1, 4]) if use_lengths else None
    state = None
    if given_state:
        zeros = cell.init_state(4)
        state = map_state(lambda z: (0.5 * torch.randn_like(z)).requires_grad_(), zeros)
    ys, final, grads, fn = run(layer, x, state, lengths, "native")
    ys_r, final_r, grads_r, _ = run(layer, x, state, lengths, "reference")
    assert "Backward" in type(fn).__name__ and "Function" not in type(fn).__name__
    tol = TOL[dtype]
    torch.testing.assert_close(ys, ys_r, rtol=0, atol=tol)
    for a, b in zip([*final, *grads], [*final_r, *grads_r], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=tol)
    if use_lengths:  # past a length: zero outputs
        assert bool((ys[1, 2:] == 0).all()) and bool((ys[2, 1:] == 0).all())


@pytest.mark.parametrize("variant", NATIVE)
def test_native_route_without_biases_and_in_stacks(variant):
    cell = build(variant, F64, bias=False)
    x = torch.randn(3, 5, 3, dtype=F64, requires_grad=True)
    lengths = torch.tensor([5, 3, 2])
    for module in (
        Recurrent(cell),
        Stack([Bidirectional(Recurrent(cell), Recurrent(build(variant, F64), reverse=True)),
               Recurrent(build(variant, F64, i=10))]),
    ):  # fmt: skip
        ys, final, grads, _ = run(module, x, None, lengths, "native")
        ys_r, final_r, grads_r, _ = run(module, x, None, lengths, "reference")
        for a, b in zip([ys, *final, *grads], [ys_r, *final_r, *grads_r], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", NATIVE)
def test_native_route_propagates_nan_and_inf_like_the_loop(variant):
    layer = Recurrent(build(variant, F64))
    x = torch.randn(3, 4, 3, dtype=F64)
    x[0, 1, 0], x[1, 2, 2] = float("nan"), float("inf")
    with kernels.mode("native"):
        ys = layer(x)[0]
    with kernels.mode("reference"):
        ys_r = layer(x)[0]
    assert torch.equal(ys.isnan(), ys_r.isnan())
    torch.testing.assert_close(ys, ys_r, rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("variant", NOT_NATIVE)
def test_native_mode_raises_for_a_cell_torch_does_not_have(variant):
    layer = Recurrent(build(variant, F32))
    with kernels.mode("native"), pytest.raises(RuntimeError, match="torch has no fused op"):
        layer(torch.randn(2, 3, 3))


def _route(cell, x, lengths=None):
    return _dispatch.route(cell, x, lengths, fused=lambda *a: None)[0]


def _needs_build():
    if not kernels.available():
        pytest.skip("C++ extension not buildable")


def test_auto_reads_the_stored_choice_and_forced_modes_override_it(tmp_path, monkeypatch):
    _needs_build()
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    cell, x = build("lstm", F32), torch.randn(2, 7, 3)
    key = _autotune.decision_key(cell, x, None, _ext.loaded_key())

    def no_timing(*args):
        raise AssertionError("a stored choice must not be measured again")

    monkeypatch.setattr(_autotune, "measure", no_timing)
    for stored in ("native", "fused"):
        _autotune.remember(key, stored)
        assert _route(cell, x) == stored
        with kernels.mode("fused"):
            assert _route(cell, x) == "fused"
        with kernels.mode("native"):
            assert _route(cell, x) == "native"
        with kernels.mode("reference"):
            assert _route(cell, x) == "reference"
    with torch.no_grad():  # inference is another situation: measured, not looked up
        with pytest.raises(AssertionError, match="measured again"):
            _route(cell, x)


def test_auto_measures_once_and_writes_the_choice_to_disk(tmp_path, monkeypatch):
    _needs_build()
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_measure(cell, x, lengths, runners):
        calls.append(sorted(runners))
        return {"fused": 2.0, "native": 1.0}

    monkeypatch.setattr(_autotune, "measure", fake_measure)
    cell, x = build("gru_after", F32), torch.randn(3, 20, 3)
    layer = Recurrent(cell)
    layer(x)
    ys, _ = layer(x)
    assert calls == [["fused", "native"]]
    assert "Function" not in type(ys.grad_fn).__name__  # torch's GRU, not the fused kernel
    stored = json.loads((tmp_path / "dispatch.json").read_text())["decisions"]
    (key,) = stored
    assert stored[key] == "native"
    assert key.startswith("gru-after+bias|B4-T32-I4-H8|float32|threads")
    assert f"|{_ext.loaded_key()}|" in key and key.endswith("|train")
    _autotune._memory.clear()  # a new process: read from the file, not measured again
    assert _route(cell, x) == "native" and len(calls) == 1
    assert _autotune.read(tmp_path / "dispatch.json") == stored


def test_decision_keys_separate_what_changes_the_answer():
    cell = build("lstm", F32)
    x = torch.randn(4, 10, 3)
    base = _autotune.decision_key(cell, x, None, "build-a")
    assert _autotune.decision_key(cell, torch.randn(3, 9, 3), None, "build-a") == base  # class
    others = [
        _autotune.decision_key(cell, torch.randn(5, 10, 3), None, "build-a"),
        _autotune.decision_key(cell, x, torch.tensor([10, 2, 3, 4]), "build-a"),
        _autotune.decision_key(cell, x.double(), None, "build-a"),
        _autotune.decision_key(cell, x, None, "build-b"),
        _autotune.decision_key(build("gru_after", F32), x, None, "build-a"),
        _autotune.decision_key(build("lstm", F32, bias=False), x, None, "build-a"),
    ]
    with torch.no_grad():
        others.append(_autotune.decision_key(cell, x, None, "build-a"))
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        others.append(_autotune.decision_key(cell, x, None, "build-a"))
    finally:
        torch.set_num_threads(threads)
    assert len({base, *others}) == len(others) + 1


def test_an_unreadable_cache_file_counts_as_empty(tmp_path):
    path = tmp_path / "dispatch.json"
    path.write_text("{not json")
    assert _autotune.read(path) == {}
    _autotune.remember("k", "native", path)
    assert _autotune.read(path) == {"k": "native"}


@pytest.mark.parametrize("variant", NATIVE + NOT_NATIVE)
def test_on_cuda_torch_op_where_torch_has_the_cell_else_the_loop(variant, monkeypatch):
    monkeypatch.setattr(_dispatch, "_device_type", lambda x: "cuda")
    cell = build(variant, F64)
    x = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    expected = "native" if variant in NATIVE else "reference"
    assert _route(cell, x) == expected
    ys, final, grads, fn = run(Recurrent(cell), x, None, None, "auto")
    assert ("Function" in type(fn).__name__) is False  # never the CPU kernels
    ys_r, final_r, grads_r, _ = run(Recurrent(cell), x, None, None, "reference")
    for a, b in zip([ys, *final, *grads], [ys_r, *final_r, *grads_r], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    with kernels.mode("fused"), pytest.raises(RuntimeError, match="x is on"):
        _route(cell, x)


def test_without_a_build_auto_takes_torch_op_where_it_can(monkeypatch):
    monkeypatch.setattr(_ext, "load", lambda: None)
    x = torch.randn(2, 4, 3)
    assert _route(build("gru_after", F32), x) == "native"
    assert _route(build("jordan_tanh", F32), x) == "reference"
    bf16 = build("lstm", torch.bfloat16)  # a dtype the kernels lack, torch's op has
    assert _route(bf16, x.bfloat16()) == "native"


def test_mode_blocks_are_per_thread_and_set_mode_is_for_all():
    inside, release, seen = threading.Event(), threading.Event(), {}

    def worker():
        with kernels.mode("reference"):
            inside.set()
            release.wait(10)
            seen["worker"] = kernels.get_mode()

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    seen["main"] = kernels.get_mode()  # while the worker is inside its block
    release.set()
    thread.join()
    assert seen == {"worker": "reference", "main": "auto"}
    kernels.set_mode("native")
    try:
        other = []
        thread = threading.Thread(target=lambda: other.append(kernels.get_mode()))
        thread.start()
        thread.join()
        assert other == ["native"]
    finally:
        kernels.set_mode("auto")


def test_the_environment_variable_sets_the_default_mode():
    code = "from rnnkit import kernels; print(kernels.get_mode())"
    env = {"RNNKIT_KERNELS": "reference", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "reference", out.stderr
    env["RNNKIT_KERNELS"] = "fastest"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "RNNKIT_KERNELS must be one of 'auto', 'fused', 'reference', 'native'" in out.stderr


def _stat(*cpus: tuple[int, int]) -> str:
    """A /proc/stat text with (busy, idle) ticks per CPU."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{k} {busy} 0 0 {idle} 0 0 0 0 0 0" for k, (busy, idle) in enumerate(cpus)]
    return "\n".join(lines) + "\nintr 1 2 3\n"


@pytest.mark.parametrize(
    ("after", "cpus", "expected"),
    [
        (_stat((0, 100), (0, 100), (0, 100), (0, 100)), {0, 1, 2, 3}, 4),  # idle machine
        (_stat((100, 0), (100, 0), (0, 100), (0, 100)), {0, 1, 2, 3}, 2),  # two busy
        (_stat((100, 0), (100, 0), (100, 0), (100, 0)), {0, 1, 2, 3}, 1),  # all busy: one
        (_stat((0, 100), (0, 100), (0, 100), (0, 100)), {2}, 1),  # affinity: one CPU
        (_stat((60, 40), (60, 40), (0, 100), (0, 100)), {0, 1, 2, 3}, 3),  # 2.8 idle
    ],
)
def test_recommended_threads_counts_idle_allowed_cpus_now(after, cpus, expected, monkeypatch):
    monkeypatch.setattr(_threads, "_quota_cpus", lambda: None)
    snapshots = iter([_stat((0, 0), (0, 0), (0, 0), (0, 0)), after])
    slept = []
    n = kernels.recommended_threads(
        read_stat=lambda: next(snapshots), sleep=slept.append, cpus=cpus
    )
    assert n == expected and slept == [0.15]


def test_recommended_threads_falls_back_to_the_allowed_cpus(monkeypatch):
    monkeypatch.setattr(_threads, "_quota_cpus", lambda: 2.5)

    def unreadable():
        raise OSError("no /proc/stat")

    got = rnnkit.kernels.recommended_threads(read_stat=unreadable, cpus={0, 1, 2, 3, 4})
    assert got == 3  # five allowed CPUs, a quota of 2.5 CPUs


def test_recommended_threads_on_this_machine_is_in_range():
    n = kernels.recommended_threads(window=0.01)
    assert 1 <= n <= len(_threads._allowed_cpus())
