"""What every cell shares: its parameters from a gate count, their initialisation, validation of
one step and the zero state."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Generic, TypeVar, cast

import torch
from torch import Tensor, nn

from .. import _checks
from .._state import State, StateShapes, leaves, map_state
from . import _regularise
from ._regularise import SequenceMasks, StepMasks

S = TypeVar("S", bound=State)  # the state type of one cell: Tensor, LSTMState, ...


class RecurrentCell(nn.Module, Generic[S]):
    r"""One step of a recurrent layer, ``(y_t, s_t) = R(x_t, s_{t-1})``.

    Subclasses define :meth:`step` (the math, unchecked) and, when the state is not one (B, H)
    tensor, :meth:`state_shapes`; ``forward`` validates its arguments once and calls ``step``. A
    time loop never lives in a cell: use :class:`rnnkit.Recurrent` to unroll one.

    Like torch's ``RNNCellBase(num_chunks)``, the constructor creates the parameters from a gate
    count G: ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H) and, with ``bias=True``, ``bias_ih``
    and ``bias_hh`` (G·H), in this order and with torch's names, so that a ``torch.nn`` cell's
    state dict loads unchanged. A cell with another layout (Jordan) passes ``num_chunks=None``
    and adds its parameters with :meth:`add_weight`. :meth:`reset_parameters` draws every
    parameter from U(-1/sqrt(H), 1/sqrt(H)) (torch's default), then applies ``recurrent_init`` to
    the weight named by :attr:`recurrent_weight`.

    Args:
        input_size: I, features of ``x_t``.
        hidden_size: H, units of the layer.
        num_chunks: G, gate blocks stacked in the rows of ``weight_ih``/``weight_hh``; None to
            create no parameters here.
        bias: create ``bias_ih`` and ``bias_hh``.
        recurrent_init: ``"uniform"`` (torch's default), ``"orthogonal"`` (each gate's block of
            the recurrent weight) or ``"identity"`` (recurrent weight I and zero biases), among
            the subclass's :attr:`recurrent_inits`.
        input_dropout: p of variational dropout on ``x_t`` (one mask per sequence and row).
        recurrent_dropout: p of variational dropout on the state where it enters the recurrent
            product, ``W_hh (m ⊙ h_{t-1})`` (one mask per sequence and row).
        weight_drop: p of DropConnect on the recurrent weight (one mask per call, all steps and
            rows; the raw weight stays the Parameter).
        zoneout: z in [0, 1], per unit and step keep the previous state with probability z; in
            evaluation ``z ⊙ s_{t-1} + (1 - z) ⊙ s̃_t`` (an LSTM takes ``(z_h, z_c)`` too).
        device, dtype: of the parameters.

    The dropout family is active in training only (``cell.train()``); their masks come from
    :meth:`draw_masks` (see :mod:`rnnkit.cells._regularise`), and ``step`` without masks is the
    evaluation function.

    Attributes:
        input_size: features of ``x_t``.
        hidden_size: units of the layer.
        output_size: features of ``y_t`` (``hidden_size`` except for Jordan cells).
        bias: whether the cell has biases.

    Example:
        >>> class Leaky(RecurrentCell):
        ...     "h' = h + tanh(W_ih x + b_ih + W_hh h + b_hh) / 2"
        ...     def __init__(self, input_size, hidden_size):
        ...         super().__init__(input_size, hidden_size, num_chunks=1)
        ...         self.reset_parameters()
        ...     def step(self, x, h):
        ...         pre = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        ...         h = h + torch.tanh(pre) / 2
        ...         return h, h
        >>> cell = Leaky(3, 4)
        >>> [name for name, _ in cell.named_parameters()]
        ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']
        >>> cell(torch.randn(2, 3))[0].shape
        torch.Size([2, 4])
    """

    input_size: int
    hidden_size: int
    bias: bool
    recurrent_init: str
    num_chunks: int
    # The parameters made from the gate count (None where absent), declared for type checkers.
    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    #: The recurrent_init values a subclass accepts.
    recurrent_inits: ClassVar[tuple[str, ...]] = ("uniform", "orthogonal")
    #: The parameter that ``recurrent_init`` shapes (and ``weight_drop`` drops).
    recurrent_weight: ClassVar[str] = "weight_hh"
    #: The state leaves zoneout applies to, in the state's order.
    zoneout_states: ClassVar[tuple[str, ...]] = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        num_chunks: int | None = 1,
        bias: bool = True,
        recurrent_init: str = "uniform",
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_dropout = _regularise.dropout_p("input_dropout", input_dropout)
        self.recurrent_dropout = _regularise.dropout_p("recurrent_dropout", recurrent_dropout)
        self.weight_drop = _regularise.dropout_p("weight_drop", weight_drop)
        self._zoneout = _regularise.zoneout_probs(
            zoneout, type(self).zoneout_states, type(self).__name__
        )
        self.zoneout = zoneout if isinstance(zoneout, (int, float)) else self._zoneout
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__} {bias!r}")
        self.bias = bias
        self.recurrent_init = _checks.choice(
            "recurrent_init", recurrent_init, type(self).recurrent_inits
        )
        self._factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.num_chunks = 0  # no gate-stacked weights (the subclass adds its own)
        if num_chunks is None:
            return
        self.num_chunks = _checks.positive_int("num_chunks", num_chunks)
        rows = num_chunks * hidden_size
        self.add_weight("weight_ih", (rows, input_size))
        self.add_weight("weight_hh", (rows, hidden_size))
        self.add_weight("bias_ih", (rows,), present=bias)
        self.add_weight("bias_hh", (rows,), present=bias)

    def add_weight(self, name: str, shape: tuple[int, ...], *, present: bool = True) -> None:
        """Register parameter ``name`` (uninitialised; or None when not ``present``)."""
        if present:
            self.register_parameter(name, nn.Parameter(torch.empty(shape, **self._factory)))
        else:
            self.register_parameter(name, None)

    def reset_parameters(self) -> None:
        """torch's U(-1/sqrt(H), 1/sqrt(H)) for every parameter, then ``recurrent_init``; layer
        norm gains (``ln_*_weight``) 1 and biases (``ln_*_bias``) 0."""
        uniform_init(self, self.hidden_size)
        with torch.no_grad():
            for name, p in self._parameters.items():
                if p is not None and name.startswith("ln_"):
                    p.fill_(1.0 if name.endswith("_weight") else 0.0)
        weight = getattr(self, self.recurrent_weight)
        with torch.no_grad():
            if self.recurrent_init == "orthogonal":
                orthogonal_blocks(weight, max(self.num_chunks, 1))
            elif self.recurrent_init == "identity":
                weight.copy_(torch.eye(*weight.shape))
                for name in ("bias_ih", "bias_hh"):
                    b = getattr(self, name, None)
                    if b is not None:
                        b.zero_()

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def state_shapes(self, batch_size: int) -> StateShapes:
        """The shape of every leaf of the state, in the state's structure."""
        return (batch_size, self.hidden_size)

    def init_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> S:
        """Zeros in the structure of the state; device and dtype default to the parameters'."""
        _checks.positive_int("batch_size", batch_size)
        ref = next(self.parameters())
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        return cast(S, _zeros_like_shapes(self.state_shapes(batch_size), device, dtype))

    def step(self, x: Tensor, state: S) -> tuple[Tensor, S]:
        """The math of one step, without argument checks. ``x``: (B, I)."""
        raise NotImplementedError

    def regularised(self) -> bool:
        """Whether any of the dropout family is on (zoneout also changes evaluation)."""
        return bool(
            self.input_dropout or self.recurrent_dropout or self.weight_drop or any(self._zoneout)
        )

    def regularisation_reason(self, allowed: tuple[str, ...] = ()) -> str | None:
        """Why a whole-sequence kernel cannot run this cell now, given the training options it
        applies itself (``allowed``, e.g. ``("input_dropout", "weight_drop")``); None if it can."""
        if getattr(self, "layer_norm", False):
            return "layer_norm=True runs on the reference loop only"
        if any(self._zoneout):
            return f"zoneout={self.zoneout!r} runs on the reference loop only"
        if self.training:
            for name in ("input_dropout", "recurrent_dropout", "weight_drop"):
                if getattr(self, name) and name not in allowed:
                    return f"{name}={getattr(self, name)} in training runs on the reference loop"
        return None

    def draw_masks(self, batch_size: int, steps: int, like: Tensor) -> SequenceMasks | None:
        """The masks of one sequence batch of ``steps`` steps (dtype and device of ``like``), or
        None in evaluation or when every option is off. Call it once where a sequence starts."""
        if not (self.training and self.regularised()):
            return None
        x_mask = h_mask = w_mask = w = None
        if self.input_dropout:
            x_mask = _regularise.scaled_mask(
                (batch_size, self.input_size), self.input_dropout, like
            )
        state_leaves = _shape_leaves(self.state_shapes(batch_size))
        if self.recurrent_dropout:
            h_mask = _regularise.scaled_mask(state_leaves[0], self.recurrent_dropout, like)
        if self.weight_drop:
            raw = getattr(self, self.recurrent_weight)
            w_mask = _regularise.scaled_mask(tuple(raw.shape), self.weight_drop, like)
            w = raw * w_mask
        zone = tuple(
            _regularise.keep_mask((steps, *shape), z, like) if z else None
            for z, shape in zip(self._zoneout, state_leaves, strict=True)
        )
        return SequenceMasks(x_mask, h_mask, w_mask, w, zone)

    def masked_inputs(self, x: Tensor, h: Tensor, masks: StepMasks | None) -> tuple[Tensor, ...]:
        """``(x, h, W)`` of one step: input, state entering the recurrent product and recurrent
        weight, each with its mask applied when ``masks`` has one."""
        w = getattr(self, self.recurrent_weight)
        if masks is None:
            return x, h, w
        if masks.input is not None:
            x = x * masks.input
        if masks.recurrent is not None:
            h = h * masks.recurrent
        return x, h, (w if masks.weight is None else masks.weight)

    def zone_state(self, new: S, old: S, masks: StepMasks | None) -> S:
        """Zoneout of a whole state: each leaf ``d ⊙ old + (1 - d) ⊙ new`` (or the expectation)."""
        if not any(self._zoneout):
            return new
        new_leaves, old_leaves = leaves(cast(State, new)), leaves(cast(State, old))
        out = [
            _regularise.zone(n, o, z, None if masks is None else masks.zoneout[k])
            for k, (n, o, z) in enumerate(zip(new_leaves, old_leaves, self._zoneout, strict=True))
        ]
        if isinstance(new, Tensor):
            return cast(S, out[0])
        return cast(S, type(new)(*out))

    def check_input(self, x: object, name: str = "x") -> Tensor:
        x = _checks.tensor(name, x)
        _checks.shape(name, x, ("batch", self.input_size))
        _checks.same_dtype(name, x, self.dtype)
        return x

    def check_state(self, state: object, batch_size: int, name: str = "state") -> S:
        expected = self.state_shapes(batch_size)
        try:
            if not _same_structure(state, expected):
                raise TypeError(name)
            pairs = list(zip(leaves(cast(State, state)), _shape_leaves(expected), strict=True))
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be {_describe(expected)} for this {type(self).__name__}, "
                f"got {_describe_value(state)}"
            ) from None
        for leaf, shape in pairs:
            _checks.tensor(name, leaf)
            _checks.shape(name, leaf, shape)
            _checks.same_dtype(name, leaf, self.dtype)
        return cast(S, _as_structure(state, expected))  # e.g. a plain (h, c) tuple -> LSTMState

    def forward(self, x: Tensor, state: S | None = None) -> tuple[Tensor, S]:
        """One checked step: ``x`` (B, I) and ``state`` (or None for zeros) -> ``(y, state)``."""
        x = self.check_input(x)
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        else:
            state = self.check_state(state, x.shape[0])
        masks = self.draw_masks(x.shape[0], 1, x)  # a sequence of one step
        if masks is None:
            return self.step(x, state)
        return self.step(x, state, masks=masks.at(0))  # type: ignore[call-arg]

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def finite_float(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def uniform_init(module: nn.Module, hidden_size: int) -> None:
    """torch.nn's default for recurrent cells: every parameter U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.uniform_(-bound, bound)


def orthogonal_blocks(weight: Tensor, blocks: int) -> None:
    """Make each of ``blocks`` row blocks of ``weight`` (one per gate) an orthogonal matrix."""
    with torch.no_grad():
        for part in weight.chunk(blocks, dim=0):
            nn.init.orthogonal_(part)


def _zeros_like_shapes(
    shapes: StateShapes, device: torch.device | str, dtype: torch.dtype
) -> State:
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return torch.zeros(shapes, device=device, dtype=dtype)
    items = [_zeros_like_shapes(s, device, dtype) for s in shapes]
    return type(shapes)(*items) if hasattr(shapes, "_fields") else tuple(items)


def _same_structure(value: object, shapes: StateShapes) -> bool:
    """Whether ``value`` nests like ``shapes``: a Tensor where a Tensor is expected, etc."""
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return isinstance(value, Tensor)
    return (
        isinstance(value, (tuple, list))
        and len(value) == len(shapes)
        and all(_same_structure(v, s) for v, s in zip(value, shapes))
    )


def _as_structure(value: Any, shapes: StateShapes) -> State:
    """``value`` (checked by :func:`_same_structure`) rebuilt with the types of ``shapes``."""
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return value
    items = [_as_structure(v, s) for v, s in zip(value, shapes)]
    return type(shapes)(*items) if hasattr(shapes, "_fields") else tuple(items)


def _shape_leaves(shapes: StateShapes) -> list[tuple[int, ...]]:
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return [shapes]
    return [leaf for s in shapes for leaf in _shape_leaves(s)]


def _describe(shapes: StateShapes) -> str:
    if isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes):
        return "a Tensor " + _checks.shape_text(shapes)
    inner = ", ".join(_describe(s) for s in shapes)
    return f"{type(shapes).__name__}({inner})"


def _describe_value(value: object) -> str:
    if isinstance(value, Tensor):
        return "a Tensor " + _checks.shape_text(tuple(value.shape))
    if isinstance(value, tuple):
        return f"{type(value).__name__}({', '.join(_describe_value(v) for v in value)})"
    return type(value).__name__


__all__ = ["RecurrentCell", "StepMasks", "map_state"]
