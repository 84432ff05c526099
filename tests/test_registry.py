"""The cell registry tells the truth about the classes: options, defaults, choices, torch
equivalents, fused support, variants."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

import rnnkit
from rnnkit import kernels
from rnnkit.cells import (
    ALIASES,
    CELLS,
    VARIANTS,
    ElmanCell,
    GRUCell,
    JordanCell,
    LSTMCell,
    cell_names,
    get_spec,
    make_cell,
    spec_of,
)

F64 = torch.float64


def test_kinds_and_aliases():
    assert cell_names() == ("lstm", "gru", "elman", "jordan")
    assert cell_names(aliases=True) == ("lstm", "gru", "elman", "jordan", "rnn")
    assert get_spec("rnn") is CELLS["elman"]
    assert {get_spec(n).cls for n in cell_names()} == {ElmanCell, JordanCell, GRUCell, LSTMCell}
    assert set(ALIASES.values()) <= set(CELLS)
    expected = "cell must be one of 'lstm', 'gru', 'elman', 'jordan', 'rnn', got 'transformer'"
    with pytest.raises(ValueError, match=expected):
        get_spec("transformer")


def test_public_names():
    for name in ("CELLS", "VARIANTS", "CellSpec", "CellVariant", "cell_names", "get_spec"):
        assert name in rnnkit.__all__
    assert rnnkit.make_cell is make_cell
    assert rnnkit.CELLS is CELLS


def test_specs_and_variants_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CELLS["lstm"].gates = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        VARIANTS["lstm"].kind = "gru"  # type: ignore[misc]
    with pytest.raises(TypeError):
        CELLS["x"] = CELLS["lstm"]  # type: ignore[index]


@pytest.mark.parametrize("kind", list(CELLS))
def test_options_are_the_constructor_keywords_with_its_defaults(kind):
    spec = CELLS[kind]
    params = inspect.signature(spec.cls).parameters
    keywords = set(params) - {"input_size", "hidden_size", "device", "dtype"}
    assert set(spec.option_names) == keywords
    for opt in spec.options:
        if kind == "jordan" and opt.name == "output_size":
            assert opt.default is None  # by name: hidden_size (see make_cell)
            continue
        assert params[opt.name].default == opt.default, opt.name


@pytest.mark.parametrize(
    ("kind", "option"),
    [(kind, opt.name) for kind, spec in CELLS.items() for opt in spec.options if opt.choices],
)
def test_every_listed_choice_is_accepted_and_others_rejected(kind, option):
    spec = CELLS[kind]
    choices = spec.option(option).choices
    for value in choices:
        if option == "recurrent_init" and value == "identity":
            continue  # needs a square recurrent weight: checked in test_formulas
        cell = make_cell(kind, 3, 4, **{option: value})
        assert getattr(cell, option) == value
    bad = "nonsense" if spec.option(option).value_type is str else 2
    with pytest.raises((TypeError, ValueError), match=option):
        make_cell(kind, 3, 4, **{option: bad})


def test_float_options_must_be_finite():
    floats = [(k, o.name) for k, s in CELLS.items() for o in s.options if o.value_type is float]
    assert ("lstm", "forget_bias") in floats and ("gru", "zoneout") in floats
    for kind, option in floats:
        for value in (float("nan"), float("inf"), -float("inf")):
            with pytest.raises(ValueError, match=f"{option} must be a finite number"):
                make_cell(kind, 3, 4, **{option: value})


def test_make_cell_builds_the_spec_class():
    for kind in cell_names(aliases=True):
        cell = make_cell(kind, 3, 4, dtype=F64)
        assert type(cell) is get_spec(kind).cls
        assert spec_of(cell) is get_spec(kind)
        assert cell.weight_ih.dtype == F64
    assert make_cell("jordan", 3, 4).output_size == 4
    assert make_cell("jordan", 3, 4, output_size=2).output_size == 2


def test_spec_of_a_subclass_is_none():
    class Mine(LSTMCell):
        pass

    assert spec_of(Mine(3, 4)) is None


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_builds_its_options(name):
    variant = VARIANTS[name]
    cell = variant.build(3, 4, dtype=F64)
    assert type(cell) is variant.spec.cls
    for option, value in variant.options:
        assert getattr(cell, option) == value
    if variant.options:
        with pytest.raises(TypeError, match="fixed by the variant"):
            variant.build(3, 4, **dict(variant.options[:1]))
    with pytest.raises(TypeError, match="got bogus"):
        variant.build(3, 4, bogus=1)


def test_variants_are_distinct_functions():
    configs = {(v.kind, tuple(sorted(v.options))) for v in VARIANTS.values()}
    assert len(configs) == len(VARIANTS)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_torch_equivalent_computes_the_same_function(name):
    """Where the registry names a torch cell, its state dict loads and gives equal outputs;
    where it names none, to_torch refuses."""
    variant = VARIANTS[name]
    cell = variant.build(
        3, 4, dtype=F64, **({"output_size": 4} if variant.kind == "jordan" else {})
    )
    torch_cell = variant.torch_cell
    if torch_cell is None:
        with pytest.raises(ValueError, match="no equivalent"):
            rnnkit.to_torch(cell)
        return
    options = {"nonlinearity": cell.activation} if torch_cell is torch.nn.RNNCell else {}
    theirs = torch_cell(3, 4, dtype=F64, **options)
    theirs.load_state_dict(cell.state_dict())
    assert type(rnnkit.to_torch(cell)) is torch_cell
    x, h = torch.randn(5, 3, dtype=F64), torch.randn(5, 4, dtype=F64)
    if variant.kind == "lstm":
        c = torch.randn(5, 4, dtype=F64)
        torch.testing.assert_close(cell(x, (h, c))[1].c, theirs(x, (h, c))[1], rtol=0, atol=1e-12)
        torch.testing.assert_close(cell(x, (h, c))[0], theirs(x, (h, c))[0], rtol=0, atol=1e-12)
    else:
        torch.testing.assert_close(cell(x, h)[0], theirs(x, h), rtol=0, atol=1e-12)


def test_torch_layers_match_the_cells():
    for spec in CELLS.values():
        if spec.torch_cell is None:
            assert spec.torch_layer is None
        else:
            assert spec.torch_layer.__name__ + "Cell" == spec.torch_cell.__name__


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("bias", [True, False])
def test_fused_support_is_what_the_dispatch_says(name, bias):
    cell = VARIANTS[name].build(3, 4, bias=bias, dtype=F64)
    x = torch.zeros(2, 5, 3, dtype=F64)
    reason = kernels.unsupported_reason(cell, x)
    assert (reason is None) == cell_spec_fused(cell), reason


def cell_spec_fused(cell) -> bool:
    spec = spec_of(cell)
    return spec is not None and spec.fused
