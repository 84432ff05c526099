"""One contract for every public module: the same checks, run on each of them.

Every ``nn.Module`` class that rnnkit exports (``rnnkit.__all__`` and ``rnnkit.models.__all__``)
has at least one case below, every cell variant of the registry included; each case goes through:

* construct and run forward (outputs finite, in the module's dtype);
* ``state_dict`` round trip: a fresh instance with other weights gives other outputs, and after
  ``load_state_dict`` identical ones;
* float64: the module converted with ``.double()`` runs float64 input, gives float64 outputs, and
  they agree with the float32 run;
* bad input (wrong feature size, wrong rank): ValueError whose message starts with the argument's
  name.

``test_every_public_module_has_a_case`` fails when a new public module is added without a case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import rnnkit
import rnnkit.models
from rnnkit import (
    RNN,
    VARIANTS,
    Bidirectional,
    ElmanCell,
    GRUCell,
    JordanCell,
    LSTMCell,
    Readout,
    Recurrent,
    Stack,
    cell_names,
)
from rnnkit.models import (
    CharLanguageModel,
    ClassifierConfig,
    Forecaster,
    ForecasterConfig,
    ModelConfig,
    SequenceClassifier,
)

B, T, IN = 2, 5, 3  # batch, time, input features


@dataclass(frozen=True)
class Case:
    """A module to check: ``build()`` (float32), its input, and bad inputs with the argument
    name their error must start with."""

    build: Callable[[], nn.Module]
    inputs: Callable[[torch.dtype], tuple]
    bad: tuple[tuple[str, Callable[[], tuple], str], ...]


def _x(*shape: int) -> Callable[..., tuple]:
    def make(dtype: torch.dtype = torch.float32) -> tuple:
        gen = torch.Generator().manual_seed(7)
        return (torch.randn(shape, generator=gen).to(dtype),)

    return make


def _cell_case(build: Callable[[], nn.Module]) -> Case:
    return Case(
        build,
        _x(B, IN),
        (("wrong feature size", _x(B, IN + 1), "x"), ("wrong rank", _x(B, 1, IN), "x")),
    )


def _sequence_case(build: Callable[[], nn.Module], features: int = IN) -> Case:
    return Case(
        build,
        _x(B, T, features),
        (
            ("wrong feature size", _x(B, T, features + 1), "x"),
            ("wrong rank", _x(T, features), "x"),
        ),
    )


def _ids(*shape: int, high: int = 7) -> Callable[..., tuple]:
    def make(dtype: torch.dtype = torch.float32) -> tuple:
        gen = torch.Generator().manual_seed(7)
        return (torch.randint(0, high, shape, generator=gen),)

    return make


CASES: dict[str, Case] = {
    **{
        f"cell[{name}]": _cell_case(lambda v=variant: v.build(IN, 4))
        for name, variant in VARIANTS.items()
    },
    "cell[lstm, bias=False]": _cell_case(lambda: LSTMCell(IN, 4, bias=False)),
    "cell[jordan, bias=False]": _cell_case(lambda: JordanCell(IN, 4, 2, bias=False)),
    "Recurrent": _sequence_case(lambda: Recurrent(LSTMCell(IN, 4, peephole=True))),
    "Recurrent[reverse]": _sequence_case(lambda: Recurrent(GRUCell(IN, 4), reverse=True)),
    "Bidirectional": _sequence_case(
        lambda: Bidirectional(Recurrent(GRUCell(IN, 4)), Recurrent(ElmanCell(IN, 5), reverse=True))
    ),
    "Stack": _sequence_case(
        lambda: Stack([Recurrent(LSTMCell(IN, 6)), Recurrent(JordanCell(6, 4, 5))], dropout=0.3)
    ),
    "Readout": Case(
        lambda: Readout(IN, 2, activation="tanh"),
        _x(B, T, IN),
        (("wrong feature size", _x(B, T, IN + 1), "x"), ("wrong rank", _x(), "x")),
    ),
    **{
        f"RNN[{kind}]": _sequence_case(lambda k=kind: RNN(IN, 4, cell=k, num_layers=2))
        for kind in cell_names()
    },
    "RNN[bidirectional, readout]": _sequence_case(
        lambda: RNN(IN, 4, cell="gru", bidirectional=True, output_size=2, reset="before")
    ),
    "CharLanguageModel": Case(
        lambda: CharLanguageModel(
            ModelConfig(vocab_size=7, hidden_size=6, embed_size=5, num_layers=2, dropout=0.2)
        ),
        _ids(B, T),
        (("id out of the vocabulary", _ids(B, T, high=9), "ids"), ("wrong rank", _ids(T), "ids")),
    ),
    "Forecaster": _sequence_case(
        lambda: Forecaster(ForecasterConfig(input_size=2, hidden_size=5, horizon=3, cell="gru")),
        features=2,
    ),
    "SequenceClassifier": _sequence_case(
        lambda: SequenceClassifier(
            ClassifierConfig(input_size=2, num_classes=3, hidden_size=5, bidirectional=True)
        ),
        features=2,
    ),
}


def _build(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return CASES[name].build().eval()  # eval: dropout off, so that outputs are a function


def _leaves(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [leaf for part in out for leaf in _leaves(part)]


def _run(module: nn.Module, args: tuple) -> list[torch.Tensor]:
    with torch.no_grad():
        return _leaves(module(*args))


def _public_module_classes() -> set[type]:
    found = set()
    for namespace in (rnnkit, rnnkit.models):
        for name in namespace.__all__:
            obj = getattr(namespace, name)
            if isinstance(obj, type) and issubclass(obj, nn.Module):
                found.add(obj)
    return found


def test_every_public_module_has_a_case():
    covered = {type(case.build()) for case in CASES.values()}
    # RecurrentCell is the abstract base: its cases are the concrete cells.
    missing = _public_module_classes() - covered - {rnnkit.RecurrentCell}
    assert not missing, f"no contract case for {sorted(c.__name__ for c in missing)}"
    assert {v for v in VARIANTS} <= {n[5:-1] for n in CASES if n.startswith("cell[")}


@pytest.mark.parametrize("name", list(CASES))
def test_forward(name):
    module = _build(name, 0)
    outs = _run(module, CASES[name].inputs(torch.float32))
    assert outs
    for out in outs:
        if out.is_floating_point():
            assert out.dtype == torch.float32
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip(name):
    args = CASES[name].inputs(torch.float32)
    source, fresh = _build(name, 0), _build(name, 1)
    expected = _run(source, args)
    before = _run(fresh, args)
    assert any(not torch.equal(a, b) for a, b in zip(before, expected)), "seeds gave equal weights"
    fresh.load_state_dict(source.state_dict())
    assert fresh.state_dict().keys() == source.state_dict().keys()
    after = _run(fresh, args)
    assert len(after) == len(expected)
    for a, e in zip(after, expected):
        assert torch.equal(a, e)


@pytest.mark.parametrize("name", list(CASES))
def test_float64(name):
    case = CASES[name]
    single = _run(_build(name, 0), case.inputs(torch.float32))
    module = _build(name, 0).double()
    assert all(p.dtype == torch.float64 for p in module.parameters())
    double = _run(module, case.inputs(torch.float64))
    assert len(double) == len(single)
    for d, s in zip(double, single):
        if s.is_floating_point():
            assert d.dtype == torch.float64
            torch.testing.assert_close(d.float(), s, rtol=1e-4, atol=1e-5)
        else:
            assert torch.equal(d, s)


@pytest.mark.parametrize(
    ("name", "what"),
    [(name, what) for name, case in CASES.items() for what, _, _ in case.bad],
)
def test_bad_input(name, what):
    module = _build(name, 0)
    [(make, argument)] = [(make, arg) for w, make, arg in CASES[name].bad if w == what]
    with pytest.raises(ValueError, match=rf"^{argument} must be"):
        module(*make())
