"""Shared helpers for the rnnkit core tests: every cell variant, random states, state compare."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import rnnkit
from rnnkit import LSTMState
from rnnkit._state import leaves, map_state
from rnnkit.cells import VARIANTS as REGISTRY_VARIANTS

F64 = torch.float64


def _builder(name: str) -> Callable[..., rnnkit.RecurrentCell]:
    variant = REGISTRY_VARIANTS[name]
    if variant.kind == "jordan":
        # output_size = hidden_size + 1, so that a mix-up of hidden and output sizes cannot pass
        # unnoticed.
        return lambda i, h, **kw: variant.build(i, h, output_size=h + 1, **kw)
    return lambda i, h, **kw: variant.build(i, h, **kw)


# Every cell variant of the contract, from the registry: name -> (input_size, hidden_size,
# **options) -> cell.
CELL_BUILDERS: dict[str, Callable[..., rnnkit.RecurrentCell]] = {
    name: _builder(name) for name in REGISTRY_VARIANTS
}
VARIANTS = tuple(CELL_BUILDERS)
state_leaves = leaves  # the tensors of a state, depth first (the tests' name)


def build_cell(
    name: str, input_size: int, hidden_size: int, *, dtype=F64, seed: int | None = 0
) -> rnnkit.RecurrentCell:
    """A cell of variant ``name``; seeded so that every test sees the same weights."""
    if seed is not None:
        torch.manual_seed(seed)
    return CELL_BUILDERS[name](input_size, hidden_size, dtype=dtype)


def random_state(cell: rnnkit.RecurrentCell, batch: int, *, scale: float = 0.5):
    """A random (non-zero) state of ``cell`` for ``batch`` sequences."""
    return map_state(lambda z: scale * torch.randn_like(z), cell.init_state(batch))


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


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests: tiny models run fastest on one thread, and the
    machine is shared with other test runs. Use with ``pytestmark =
    pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``rnnkit argv`` in this process: exit code, stdout, stderr."""
    from rnnkit.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own errors and --help
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err
