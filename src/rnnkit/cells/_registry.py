r"""The registry of cells: every cell kind and named variant of rnnkit, in one table.

Everything that lists cells reads this module: :func:`rnnkit.make_cell` and :class:`rnnkit.RNN`,
the task models, the CLI's ``--cell`` choices, the fused-kernel dispatch, the benchmarks and the
tests.

API:

* ``CELLS``: kind name -> :class:`CellSpec` (``"lstm"``, ``"gru"``, ``"elman"``, ``"jordan"``);
  ``ALIASES`` maps other accepted names to a kind (``"rnn"`` -> ``"elman"``).
* :func:`cell_names` -> the kind names for ``choices=`` (aliases with ``aliases=True``);
  :func:`get_spec` (name or alias, validated) and :func:`spec_of` (of a cell instance).
* :func:`make_cell` ``(kind, input_size, hidden_size, **options)`` builds a cell by name.
* ``VARIANTS``: variant name -> :class:`CellVariant` (a kind with fixed options), e.g.
  ``VARIANTS["lstm_peephole"].build(3, 8, dtype=torch.float64)``.

A :class:`CellSpec` says for one kind: its class, the gate count G (rows of ``weight_ih`` are
G·H), its options (:class:`CellOption`: name, default, allowed values), the ``torch.nn`` cell and
layer with the same function and under which options (:meth:`CellSpec.torch_equivalent`), and
whether the fused kernels run it.

A new cell: its class in a module of :mod:`rnnkit.cells`, a :class:`CellSpec` in ``_SPECS`` and
its distinct configurations in ``_VARIANTS`` below; the CLI, :class:`rnnkit.RNN` and the tests
(``tests/test_registry.py`` checks the spec against the class, ``tests/test_contract.py`` and
the per-variant tests run every variant) then know it.

Example:
    >>> cell_names()
    ('lstm', 'gru', 'elman', 'jordan')
    >>> spec = get_spec("rnn")
    >>> spec.name, spec.cls.__name__, spec.option("activation").choices
    ('elman', 'ElmanCell', ('tanh', 'sigmoid', 'relu'))
    >>> get_spec("gru").torch_equivalent(reset="before") is None
    True
    >>> get_spec("lstm").torch_equivalent().__name__, get_spec("lstm").torch_layer.__name__
    ('LSTMCell', 'LSTM')
    >>> cell = make_cell("jordan", 3, 5, output_activation="tanh")
    >>> type(cell).__name__, cell.output_size
    ('JordanCell', 5)
    >>> VARIANTS["gru_before"].build(3, 5).reset
    'before'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import nn

from .. import _checks
from ._base import RecurrentCell
from .elman import ACTIVATIONS as ELMAN_ACTIVATIONS
from .elman import ElmanCell
from .gru import RESETS, GRUCell
from .jordan import ACTIVATIONS as JORDAN_ACTIVATIONS
from .jordan import OUTPUT_ACTIVATIONS, JordanCell
from .lstm import CELL_ACTIVATIONS, LSTMCell

#: Options every built-in cell takes besides its own (passed through unchanged).
FACTORY_OPTIONS = ("device", "dtype")


@dataclass(frozen=True)
class CellOption:
    """One constructor option of a cell kind.

    Attributes:
        name: the keyword.
        default: the constructor's default.
        choices: the allowed values, or None for any value of ``value_type``.
        value_type: ``str``, ``bool``, ``int`` or ``float`` (floats must be finite).
        doc: what it does, in a few words.
    """

    name: str
    default: object
    choices: tuple | None
    value_type: type
    doc: str


def _bias(doc: str) -> CellOption:
    return CellOption("bias", True, (False, True), bool, doc)


def _recurrent_init(cls: type[RecurrentCell]) -> CellOption:
    return CellOption(
        "recurrent_init",
        "uniform",
        cls.recurrent_inits,
        str,
        f"initialisation of {cls.recurrent_weight}",
    )


def _regularisers(zoneout: str, layer_norm: bool) -> tuple[CellOption, ...]:
    """The dropout family (every built-in cell) and, for the gated cells, layer_norm."""
    opts: tuple[CellOption, ...] = (
        CellOption("input_dropout", 0.0, None, float, "variational dropout p on x, per sequence"),
        CellOption("recurrent_dropout", 0.0, None, float, "variational dropout p on W_hh (m ⊙ h)"),
        CellOption("weight_drop", 0.0, None, float, "DropConnect p on the recurrent weight"),
        CellOption("zoneout", 0.0, None, float, zoneout),
    )
    if layer_norm:
        opts += (CellOption("layer_norm", False, (False, True), bool, "layer-normalised gates"),)
    return opts


@dataclass(frozen=True)
class CellSpec:
    """Everything rnnkit knows about one cell kind.

    Attributes:
        name: the kind (``"elman"``, ...).
        cls: the cell class.
        gates: G, the gate blocks of ``weight_ih`` (G·H rows); 0 when the cell has another layout
            (Jordan: ``weight_ih`` (H, I), ``weight_yh`` (H, O), ``weight_hy`` (O, H)).
        options: the constructor options besides sizes, device and dtype.
        torch_cell: the ``torch.nn`` cell computing the same function under ``torch_when``
            (None: torch has none); its state dict loads into ``cls`` unchanged.
        torch_layer: the ``torch.nn`` sequence layer of that cell (``nn.LSTM``, ...).
        torch_when: option -> the values for which the cell equals ``torch_cell``.
        fused: whether :mod:`rnnkit.kernels` has a fused kernel for every configuration.
        build: ``(input_size, hidden_size, **options) -> cell``.
        doc: one line on the cell.
    """

    name: str
    cls: type[RecurrentCell]
    gates: int
    options: tuple[CellOption, ...]
    torch_cell: type[nn.Module] | None
    torch_layer: type[nn.Module] | None
    torch_when: Mapping[str, tuple] = field(default_factory=lambda: MappingProxyType({}))
    fused: bool = True
    build: Callable[..., RecurrentCell] | None = None
    doc: str = ""

    def option(self, name: str) -> CellOption:
        """The option called ``name`` (KeyError if the kind has none)."""
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(f"{self.name} cells have no option {name!r}")

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(opt.name for opt in self.options)

    def defaults(self) -> dict[str, object]:
        """Option name -> default."""
        return {opt.name: opt.default for opt in self.options}

    def check_options(self, options: Mapping[str, object]) -> None:
        """Raise TypeError naming any option this kind does not take (values are the class's to
        check)."""
        unknown = sorted(set(options) - set(self.option_names) - set(FACTORY_OPTIONS))
        if unknown:
            raise TypeError(
                f"cell options must be among {', '.join(self.option_names)} for a {self.name} "
                f"cell, got {', '.join(unknown)}"
            )

    def torch_equivalent(self, **options) -> type[nn.Module] | None:
        """The ``torch.nn`` cell class equal to this kind with ``options``, or None."""
        if self.torch_cell is None:
            return None
        values = {**self.defaults(), **options}
        for name, allowed in self.torch_when.items():
            if values[name] not in allowed:
                return None
        return self.torch_cell

    def make(self, input_size: int, hidden_size: int, **options) -> RecurrentCell:
        """A cell of this kind (options checked by name here, by value by the class)."""
        self.check_options(options)
        build = self.build or self.cls
        return build(input_size, hidden_size, **options)


def _jordan(input_size: int, hidden_size: int, output_size: int | None = None, **options):
    # By name, a Jordan cell's state (its output) has the layer's width unless told otherwise.
    out = hidden_size if output_size is None else output_size
    return JordanCell(input_size, hidden_size, out, **options)


# In the order the CLI and the docs list them: the usual choice first.
_SPECS = (
    CellSpec(
        name="lstm",
        cls=LSTMCell,
        gates=4,
        options=(
            CellOption("peephole", False, (False, True), bool, "peephole connections p ⊙ c"),
            CellOption("cell_activation", "tanh", CELL_ACTIVATIONS, str, "φ of h = o ⊙ φ(c)"),
            CellOption("forget_bias", 1.0, None, float, "added to the forget bias at init"),
            _bias("learn bias_ih and bias_hh"),
            _recurrent_init(LSTMCell),
            *_regularisers("zoneout z (or (z_h, z_c)): keep the previous h, c", True),
        ),
        torch_cell=nn.LSTMCell,
        torch_layer=nn.LSTM,
        # forget_bias only changes the initialisation, not the function.
        torch_when=MappingProxyType({"peephole": (False,), "cell_activation": ("tanh",)}),
        doc="long short-term memory, with peepholes and the identity cell output as options",
    ),
    CellSpec(
        name="gru",
        cls=GRUCell,
        gates=3,
        options=(
            CellOption("reset", "after", RESETS, str, "reset gate after (torch) or before (Cho)"),
            _bias("learn bias_ih and bias_hh"),
            _recurrent_init(GRUCell),
            *_regularisers("zoneout z: keep the previous h with probability z", True),
        ),
        torch_cell=nn.GRUCell,
        torch_layer=nn.GRU,
        torch_when=MappingProxyType({"reset": ("after",)}),
        doc="gated recurrent unit, reset gate after (torch, cuDNN) or before (Cho et al.)",
    ),
    CellSpec(
        name="elman",
        cls=ElmanCell,
        gates=1,
        options=(
            CellOption("activation", "tanh", ELMAN_ACTIVATIONS, str, "f of h = f(W x + U h + b)"),
            _bias("learn bias_ih and bias_hh"),
            _recurrent_init(ElmanCell),
            *_regularisers("zoneout z: keep the previous h with probability z", False),
        ),
        torch_cell=nn.RNNCell,
        torch_layer=nn.RNN,
        torch_when=MappingProxyType({"activation": ("tanh", "relu")}),
        doc="Elman's simple recurrent cell, torch.nn.RNNCell with a sigmoid option",
    ),
    CellSpec(
        name="jordan",
        cls=JordanCell,
        gates=0,
        options=(
            CellOption(
                "output_size", None, None, int, "O, outputs fed back (default: hidden_size)"
            ),
            CellOption("activation", "tanh", JORDAN_ACTIVATIONS, str, "f of the hidden layer"),
            CellOption("output_activation", "identity", OUTPUT_ACTIVATIONS, str, "g of the output"),
            _bias("learn bias_ih and bias_hy"),
            _recurrent_init(JordanCell),
            *_regularisers("zoneout z: keep the previous output y with probability z", False),
        ),
        torch_cell=None,
        torch_layer=None,
        build=_jordan,
        doc="Jordan's cell: the previous output, not the hidden layer, is fed back",
    ),
)

#: kind name -> spec, in the order of ``cell_names()``.
CELLS: Mapping[str, CellSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
#: other accepted name -> kind.
ALIASES: Mapping[str, str] = MappingProxyType({"rnn": "elman"})


def cell_names(*, aliases: bool = False) -> tuple[str, ...]:
    """The kind names (``choices=`` of a ``--cell`` option); with ``aliases=True`` the aliases
    too."""
    return tuple(CELLS) + (tuple(ALIASES) if aliases else ())


def get_spec(name: str, *, argument: str = "cell") -> CellSpec:
    """The spec of kind (or alias) ``name``; ValueError naming ``argument`` if there is none."""
    _checks.choice(argument, name, cell_names(aliases=True))
    return CELLS[ALIASES.get(name, name)]


def spec_of(cell: RecurrentCell) -> CellSpec | None:
    """The spec whose class is exactly ``type(cell)`` (None for other cells, subclasses
    included)."""
    for spec in _SPECS:
        if type(cell) is spec.cls:
            return spec
    return None


def make_cell(kind: str, input_size: int, hidden_size: int, **options) -> RecurrentCell:
    """Build a cell by kind: ``"lstm"``, ``"gru"``, ``"elman"`` (alias ``"rnn"``), ``"jordan"``.

    ``options`` are the kind's :attr:`CellSpec.options` plus ``device`` and ``dtype``; an unknown
    kind raises ValueError, an option the kind does not take TypeError. A Jordan cell built this
    way has ``output_size = hidden_size`` unless ``output_size`` is given.

    Example:
        >>> make_cell("lstm", 3, 4, peephole=True).weight_ch.shape
        torch.Size([12])
    """
    return get_spec(kind, argument="kind").make(input_size, hidden_size, **options)


@dataclass(frozen=True)
class CellVariant:
    """A named configuration of a kind, e.g. ``lstm_peephole`` = ``lstm`` with ``peephole=True``.

    Attributes:
        name: the variant's name.
        kind: the kind in :data:`CELLS`.
        options: the fixed options, as ``(name, value)`` pairs.
    """

    name: str
    kind: str
    options: tuple[tuple[str, object], ...] = ()

    @property
    def spec(self) -> CellSpec:
        return CELLS[self.kind]

    @property
    def torch_cell(self) -> type[nn.Module] | None:
        """The ``torch.nn`` cell computing the same function, or None."""
        return self.spec.torch_equivalent(**dict(self.options))

    def build(self, input_size: int, hidden_size: int, **options) -> RecurrentCell:
        """A cell of this variant; ``options`` (``dtype``, ``bias``, ...) add to the fixed ones."""
        clash = sorted(set(options) & {name for name, _ in self.options})
        if clash:
            raise TypeError(f"options {clash} are fixed by the variant {self.name!r}")
        return self.spec.make(input_size, hidden_size, **dict(self.options), **options)


_VARIANTS = (
    CellVariant("elman_tanh", "elman", (("activation", "tanh"),)),
    CellVariant("elman_sigmoid", "elman", (("activation", "sigmoid"),)),
    CellVariant("elman_relu", "elman", (("activation", "relu"),)),
    CellVariant("jordan_identity", "jordan", (("output_activation", "identity"),)),
    CellVariant("jordan_tanh", "jordan", (("output_activation", "tanh"),)),
    CellVariant("gru_after", "gru", (("reset", "after"),)),
    CellVariant("gru_before", "gru", (("reset", "before"),)),
    CellVariant("lstm", "lstm"),
    CellVariant("lstm_peephole", "lstm", (("peephole", True),)),
    CellVariant("lstm_identity", "lstm", (("cell_activation", "identity"),)),
    CellVariant(
        "lstm_peephole_identity", "lstm", (("peephole", True), ("cell_activation", "identity"))
    ),
)

#: variant name -> variant: every distinct function the built-in cells compute (the tests run
#: each of them through every check).
VARIANTS: Mapping[str, CellVariant] = MappingProxyType({v.name: v for v in _VARIANTS})


__all__ = [
    "ALIASES",
    "CELLS",
    "VARIANTS",
    "CellOption",
    "CellSpec",
    "CellVariant",
    "cell_names",
    "get_spec",
    "make_cell",
    "spec_of",
]
