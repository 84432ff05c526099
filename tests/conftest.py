"""Shared helpers for the rnnkit core tests: every cell variant, random states, state compare."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import rnnkit
from rnnkit import ElmanCell, GRUCell, JordanCell, LSTMCell, LSTMState

F64 = torch.float64

# Every cell variant of the contract. Jordan cells get output_size = hidden_size + 1 so that a
# mix-up of hidden and output sizes cannot pass unnoticed.
CELL_BUILDERS: dict[str, Callable[..., rnnkit.RecurrentCell]] = {
    "elman_tanh": lambda i, h, **kw: ElmanCell(i, h, "tanh", **kw),
    "elman_sigmoid": lambda i, h, **kw: ElmanCell(i, h, "sigmoid", **kw),
    "elman_relu": lambda i, h, **kw: ElmanCell(i, h, "relu", **kw),
    "jordan_identity": lambda i, h, **kw: JordanCell(i, h, h + 1, "tanh", "identity", **kw),
    "jordan_tanh": lambda i, h, **kw: JordanCell(i, h, h + 1, "tanh", "tanh", **kw),
    "gru_after": lambda i, h, **kw: GRUCell(i, h, reset="after", **kw),
    "gru_before": lambda i, h, **kw: GRUCell(i, h, reset="before", **kw),
    "lstm": lambda i, h, **kw: LSTMCell(i, h, **kw),
    "lstm_peephole": lambda i, h, **kw: LSTMCell(i, h, peephole=True, **kw),
    "lstm_identity": lambda i, h, **kw: LSTMCell(i, h, cell_activation="identity", **kw),
    "lstm_peephole_identity": lambda i, h, **kw: LSTMCell(
        i, h, peephole=True, cell_activation="identity", **kw
    ),
}
VARIANTS = tuple(CELL_BUILDERS)


def build_cell(
    name: str, input_size: int, hidden_size: int, *, dtype=F64, seed: int | None = 0
) -> rnnkit.RecurrentCell:
    """A cell of variant ``name``; seeded so that every test sees the same weights."""
    if seed is not None:
        torch.manual_seed(seed)
    return CELL_BUILDERS[name](input_size, hidden_size, dtype=dtype)


def map_state(fn, state):
    """Apply ``fn`` to every tensor of a state, keeping its structure (LSTMState, tuples)."""
    if isinstance(state, torch.Tensor):
        return fn(state)
    items = [map_state(fn, part) for part in state]
    return type(state)(*items) if hasattr(state, "_fields") else tuple(items)


def random_state(cell: rnnkit.RecurrentCell, batch: int, *, scale: float = 0.5):
    """A random (non-zero) state of ``cell`` for ``batch`` sequences."""
    return map_state(lambda z: scale * torch.randn_like(z), cell.init_state(batch))


def state_leaves(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    return [leaf for part in state for leaf in state_leaves(part)]


def assert_state_close(actual, expected, *, atol: float = 1e-12) -> None:
    """Same structure (Tensor / LSTMState / tuple nesting) and leaves equal within ``atol``."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), f"expected a Tensor, got {type(actual)}"
        torch.testing.assert_close(actual, expected, rtol=0.0, atol=atol)
        return
    assert isinstance(actual, tuple), f"expected a tuple state, got {type(actual)}"
    assert len(actual) == len(expected)
    if isinstance(expected, LSTMState):
        assert isinstance(actual, LSTMState), f"expected an LSTMState, got {type(actual)}"
    for a, e in zip(actual, expected):
        assert_state_close(a, e, atol=atol)


def index_state(state, b: int):
    """The state of sequence ``b`` of a batch, keeping a batch axis of 1."""
    return map_state(lambda t: t[b : b + 1], state)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global RNG state."""
    torch.manual_seed(1234)
    yield


@pytest.fixture(params=["default", "reference"])
def unroll_path(request):
    """Run a test through Recurrent's default path and through the reference loop.

    Recurrent may dispatch built-in cells to fused kernels (``rnnkit.kernels``); the ``reference``
    param forces ``cell.step`` once per time step so that both paths meet the same checks. In a
    build without kernels the default path is the reference loop and the second param skips.
    """
    if request.param == "default":
        yield request.param
        return
    kernels = getattr(rnnkit, "kernels", None)
    if kernels is None or not hasattr(kernels, "mode"):
        pytest.skip("no fused path in this build: the default path is the reference loop")
    with kernels.mode("reference"):
        yield request.param


@pytest.fixture(autouse=True)
def _auto_mode_without_timing(tmp_path_factory, monkeypatch):
    """No timing in tests: mode "auto" would measure fused against torch's op, so here it finds
    the fused kernels faster every time, and remembers that in a temporary cache, not in the
    home directory (tests/test_dispatch.py tests the measuring and the cache themselves)."""
    from rnnkit.kernels import _autotune

    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rnnkit-cache"))
    monkeypatch.setattr(_autotune, "measure", lambda *a, **k: {"fused": 0.0, "native": 1.0})
