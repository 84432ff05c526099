r"""Echo state networks: a fixed random reservoir and a linear readout fitted by ridge regression.

.. math::
    x(n) = (1 - a)\, x(n-1) + a \tanh\big(W x(n-1) + W^{in} u(n) + W^{fb} y(n-1) + b\big)

    y(n) = W^{out} [1;\ u(n);\ x(n)]

Only :math:`W^{out}` is learned, by one ridge regression in float64; :math:`W` (sparse, scaled to
a spectral radius), :math:`W^{in}`, :math:`b` and the optional output feedback :math:`W^{fb}`
are drawn once from ``seed``. This module is the API (:class:`EchoStateNetwork`: inputs checked
and laid out, the readout's features, fit/predict/generate); the time loop is the NumPy engine of
:mod:`rnnkit.classic.reservoir` and the readout solve is :mod:`rnnkit.classic.ridge`.

It stays one module past 400 lines because it is one class: a third of it is the docstrings of
its fifteen options and methods, and fit, predict and generate share the readout's feature
layout ``[1; u; x]`` and the state that a fit leaves for the next call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from .._config import JSONConfig
from ._layout import batch_first, time_major
from .reservoir import Reservoir, apply_each_step, draw_weights
from .ridge import ridge_regression


@dataclass
class ESNConfig(JSONConfig):
    """Every option of :class:`EchoStateNetwork`; ``to_json``/``from_json`` round-trip it.

    Example:
        >>> config = ESNConfig(1, 100, 1, leak_rate=0.3, seed=0)
        >>> ESNConfig.from_json(config.to_json()) == config
        True
        >>> EchoStateNetwork.from_config(config).reservoir_size
        100
    """

    input_size: int
    reservoir_size: int
    output_size: int
    spectral_radius: float = 0.9
    leak_rate: float = 1.0
    input_scaling: float = 1.0
    density: float = 0.1
    ridge: float = 1e-6
    seed: int | None = None
    bias_scaling: float = 0.2
    input_density: float = 1.0
    feedback_scaling: float = 0.0
    noise: float = 0.0
    readout_bias: bool = True
    readout_input: bool = True


class EchoStateNetwork(nn.Module):
    r"""Echo state network (Jaeger 2001): leaky tanh reservoir, ridge-regression readout.

    .. math::
        x(n) = (1 - a)\, x(n-1) + a \tanh\big(W x(n-1) + W^{in} u(n) + W^{fb} y(n-1) + b
        + \nu(n)\big)

        y(n) = W^{out} [1;\ u(n);\ x(n)]

    with :math:`a` = ``leak_rate``, :math:`x(-1) = 0`, :math:`y(-1) = 0`, and the state noise
    :math:`\nu(n)` uniform in ``[-noise, noise]`` during :meth:`fit` only (Jaeger's
    regulariser for free-running generation; 0 elsewhere).

    * ``W`` (N, N): ``round(density * N²)`` non-zero entries uniform in [-1, 1] at random
      places, then scaled so that its largest absolute eigenvalue is ``spectral_radius``.
    * ``W_in`` (N, I): uniform in ``[-input_scaling, input_scaling]``; a fraction
      ``input_density`` of it non-zero. ``b`` (N): uniform in ``[-bias_scaling, bias_scaling]``.
    * ``W_fb`` (N, O): uniform in ``[-feedback_scaling, feedback_scaling]``; 0 (the default)
      means no output feedback.
    * ``W_out`` (O, F) with F = 1 + I + N: the columns of ``[1; u; x]``; ``readout_bias=False``
      or ``readout_input=False`` drop the 1 or the u. :meth:`fit` solves, in float64,

      .. math::
          W^{out} = \arg\min_V\ \sum_n \lVert V z(n) - y(n) \rVert^2 + \beta \lVert V' \rVert^2

      over the rows ``n >= washout`` of every sequence, :math:`\beta` = ``ridge`` and
      :math:`V'` all columns but the bias (the constant is not penalised). ``ridge=0`` is
      plain least squares.

    The buffers are ``weight`` (W), ``weight_in``, ``bias``, ``weight_fb`` and ``weight_out``
    (NaN until fitted), so ``state_dict`` saves a fitted network. Inputs are NumPy arrays or
    tensors ``(time, features)`` or ``(batch, time, features)``; outputs are tensors of the
    module's dtype (float64 by default) in the same layout. With ``seed=None`` the reservoir
    is drawn from a seed taken from torch's global generator, so ``torch.manual_seed`` fixes it.

    Args:
        input_size: I, features of u.
        reservoir_size: N, reservoir units.
        output_size: O, features of y.
        spectral_radius: largest absolute eigenvalue of W (> 0).
        leak_rate: a in (0, 1]; 1 is the plain update x(n) = tanh(...).
        input_scaling: half-width of the uniform input weights.
        density: fraction of non-zero entries of W, in (0, 1].
        ridge: the ridge penalty beta (>= 0).
        seed: seed of the reservoir and of the noise.
        bias_scaling: half-width of the uniform reservoir bias.
        input_density: fraction of non-zero input weights, in (0, 1].
        feedback_scaling: half-width of the output feedback weights (0: no feedback).
        noise: half-width of the uniform state noise during fit (0: none).
        readout_bias: the readout has a constant column.
        readout_input: the readout sees u(n) as well as x(n).
        dtype: of the buffers, states and outputs (fit always solves in float64).

    Example:
        >>> import numpy as np
        >>> series = np.sin(0.2 * np.arange(700.0))[:, None]      # (700, 1)
        >>> esn = EchoStateNetwork(1, 60, 1, spectral_radius=0.8, input_scaling=0.3, seed=0)
        >>> _ = esn.fit(series[:499], series[1:500], washout=100)  # one step ahead
        >>> esn.predict(series[:499]).shape
        torch.Size([499, 1])
        >>> future = esn.generate(200, warmup=series[:500])        # continues series[:500]
        >>> future.shape, bool(np.abs(future.numpy() - series[500:]).max() < 1e-3)
        (torch.Size([200, 1]), True)
    """

    weight: Tensor
    weight_in: Tensor
    bias: Tensor
    weight_fb: Tensor
    weight_out: Tensor

    def __init__(
        self,
        input_size: int,
        reservoir_size: int,
        output_size: int,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        density: float = 0.1,
        ridge: float = 1e-6,
        seed: int | None = None,
        *,
        bias_scaling: float = 0.2,
        input_density: float = 1.0,
        feedback_scaling: float = 0.0,
        noise: float = 0.0,
        readout_bias: bool = True,
        readout_input: bool = True,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        _checks.positive_int("input_size", input_size)
        _checks.positive_int("reservoir_size", reservoir_size)
        _checks.positive_int("output_size", output_size)
        _checks.positive_float("spectral_radius", spectral_radius)
        _checks.fraction("leak_rate", leak_rate)
        _checks.non_negative_float("input_scaling", input_scaling)
        _checks.fraction("density", density)
        _checks.non_negative_float("ridge", ridge)
        _checks.non_negative_float("bias_scaling", bias_scaling)
        _checks.fraction("input_density", input_density)
        _checks.non_negative_float("feedback_scaling", feedback_scaling)
        _checks.non_negative_float("noise", noise)
        for name, flag in (("readout_bias", readout_bias), ("readout_input", readout_input)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__} {flag!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        elif isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int in 0..2**63-1 or None, got {seed!r}")
        elif not 0 <= seed <= 2**63 - 1:  # what torch's generators take
            raise ValueError(f"seed must be an int in 0..2**63-1 or None, got {seed}")
        self.config = ESNConfig(
            input_size,
            reservoir_size,
            output_size,
            float(spectral_radius),
            float(leak_rate),
            float(input_scaling),
            float(density),
            float(ridge),
            seed,
            float(bias_scaling),
            float(input_density),
            float(feedback_scaling),
            float(noise),
            readout_bias,
            readout_input,
        )
        weights, self._noise_rng = draw_weights(
            seed,
            input_size,
            reservoir_size,
            output_size,
            spectral_radius=spectral_radius,
            density=density,
            input_scaling=input_scaling,
            input_density=input_density,
            bias_scaling=bias_scaling,
            feedback_scaling=feedback_scaling,
        )
        n_features = int(readout_bias) + int(readout_input) * input_size + reservoir_size
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dtype)  # noqa: E731
        self.register_buffer("weight", as_t(weights.weight))
        self.register_buffer("weight_in", as_t(weights.weight_in))
        self.register_buffer("bias", as_t(weights.bias))
        self.register_buffer("weight_fb", as_t(weights.weight_fb))
        self.register_buffer(
            "weight_out", torch.full((output_size, n_features), float("nan"), dtype=dtype)
        )
        # The end of the last fit: reservoir state (N,) or (N, B) and last target, for generate().
        self._end: tuple[np.ndarray, np.ndarray, bool] | None = None

    @classmethod
    def from_config(
        cls, config: ESNConfig, *, dtype: torch.dtype = torch.float64
    ) -> EchoStateNetwork:
        """The network of ``config`` (same seed: same reservoir); its readout is unfitted."""
        return cls(**asdict(config), dtype=dtype)

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def reservoir_size(self) -> int:
        return self.config.reservoir_size

    @property
    def output_size(self) -> int:
        return self.config.output_size

    @property
    def is_fitted(self) -> bool:
        return not bool(np.isnan(self._np(self.weight_out)).any())

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"{c.input_size}, {c.reservoir_size}, {c.output_size}, "
            f"spectral_radius={c.spectral_radius}, leak_rate={c.leak_rate}, ridge={c.ridge}"
        )

    # ----------------------------------------------------------------------------- public API

    def states(self, u: object, y: object = None) -> Tensor:
        """Reservoir states x(n) for inputs ``u``, from x(-1) = 0, without noise.

        With output feedback, ``y`` (same layout, O features) is the teacher: y(n-1) is fed
        back; it is required then and ignored otherwise.

        Shapes: u (T, I) or (B, T, I) -> (T, N) or (B, T, N).
        """
        u3, batched = time_major("u", u, self.input_size, self._np_dtype)
        y3 = self._teacher(u3, y, batched) if self._has_feedback else None
        x = self._collect(u3, y3, noise=0.0)
        return batch_first(x, batched, self.weight.dtype)

    def fit(self, u: object, y: object, washout: int = 0) -> EchoStateNetwork:
        """Drive the reservoir with ``u`` (and teacher ``y`` fed back) and fit ``W_out``.

        The states are collected with the state noise ``noise`` (if any); the rows
        ``n < washout`` of every sequence are dropped (the initial transient of the zero
        state). The final state is kept, for ``predict(..., continue_fit=True)`` and
        ``generate()`` without warmup. Returns ``self``.

        Shapes: u (T, I) or (B, T, I); y (T, O) or (B, T, O).
        """
        u3, batched = time_major("u", u, self.input_size, self._np_dtype)
        y3, _ = time_major("y", y, self.output_size, self._np_dtype, like=u3, batched=batched)
        steps = u3.shape[0]
        if isinstance(washout, bool) or not isinstance(washout, int):
            raise TypeError(f"washout must be an int, got {type(washout).__name__} {washout!r}")
        if not 0 <= washout < steps:
            raise ValueError(
                f"washout must be in [0, {steps - 1}] (the length of u), got {washout}"
            )
        x = self._collect(u3, y3 if self._has_feedback else None, noise=self.config.noise)
        z = self._features(u3[washout:], x[washout:])  # (T', F, B)
        z2 = z.transpose(0, 2, 1).reshape(-1, z.shape[1])  # (T' B, F)
        t2 = y3[washout:].transpose(0, 2, 1).reshape(-1, self.output_size)  # (T' B, O)
        w_out = ridge_regression(
            z2, t2, self.config.ridge, unpenalised=int(self.config.readout_bias)
        )
        self.weight_out.copy_(torch.from_numpy(w_out))
        self._end = (x[-1].copy(), y3[-1].copy(), batched)
        return self

    def predict(self, u: object, *, teacher: object = None, continue_fit: bool = False) -> Tensor:
        """Outputs y(n) for the inputs ``u``, from the zero state.

        With output feedback, y(n-1) is ``teacher`` if given (teacher forcing), else the
        network's own previous output. With ``continue_fit=True`` the run starts where the
        last :meth:`fit` ended instead (its last state, and its last target as y(-1)), so
        that ``u`` is the continuation of the training inputs (one batch size as in fit).

        Shapes: u (T, I) or (B, T, I) -> (T, O) or (B, T, O).
        """
        self._require_fit("predict")
        u3, batched = time_major("u", u, self.input_size, self._np_dtype)
        x0, y0 = self._start(u3, continue_fit)
        if self._has_feedback and teacher is None:
            res = self._reservoir()
            drive = res.drive(u3)
            const = self._features_const(u3, self._w_out())
            ys = self._closed_loop(
                res, x0, y0, u3.shape[0], res.weight_fb, drive=drive, const=const
            )
            return batch_first(ys, batched, self.weight.dtype)
        y3 = self._teacher(u3, teacher, batched) if self._has_feedback else None
        x = self._collect(u3, y3, noise=0.0, x0=x0, y0=y0)
        return batch_first(self._readout(u3, x), batched, self.weight.dtype)

    def _start(self, u3: np.ndarray, continue_fit: bool) -> tuple[np.ndarray, np.ndarray]:
        """The initial state x(-1) (N, B) and fed-back output y(-1) (O, B)."""
        batch = u3.shape[2]
        if not continue_fit:
            return (
                np.zeros((self.reservoir_size, batch), dtype=u3.dtype),
                np.zeros((self.output_size, batch), dtype=u3.dtype),
            )
        if self._end is None:
            raise ValueError(
                "continue_fit=True needs a fit() run to continue from (this network has none, "
                "e.g. it was loaded from a state_dict)"
            )
        x_end, y_end, _ = self._end
        if x_end.shape[1] != batch:
            raise ValueError(
                f"u must have the batch size of the fitted data ({x_end.shape[1]}) with "
                f"continue_fit=True, got {batch}"
            )
        return x_end.astype(u3.dtype), y_end.astype(u3.dtype)

    def generate(self, n_steps: int, warmup: object = None) -> Tensor:
        """Run closed-loop: the output y(n) is the next input u(n+1) (needs I == O).

        With ``warmup`` (T, I) or (B, T, I): drive the network from the zero state with it
        (teacher forcing: y(n-1) = warmup(n) for the feedback), then return the continuation
        of the warmup series: first ``predict(warmup)[-1]``, then each output computed from
        the previous one. Without ``warmup``: continue from the end of the last :meth:`fit`,
        whose last target is fed as the first input, so the first output follows it.

        Shapes: -> (n_steps, O) or (B, n_steps, O), like ``warmup`` (or the fitted u).
        """
        _checks.positive_int("n_steps", n_steps)
        if self.input_size != self.output_size:
            raise ValueError(
                "generate feeds the output back as the input, so input_size must equal "
                f"output_size, got input_size={self.input_size}, output_size={self.output_size}"
            )
        self._require_fit("generate")
        res = self._reservoir()
        w_back = res.weight_in + res.weight_fb if self._has_feedback else res.weight_in
        if warmup is None:
            if self._end is None:
                raise ValueError(
                    "warmup is required: this network has no fit() run to continue from "
                    "(e.g. it was loaded from a state_dict); pass warmup=(T, I) data"
                )
            x_end, y_end, batched = self._end
            dtype = self._np_dtype
            x0, y0 = x_end.astype(dtype), y_end.astype(dtype)
            ys = self._closed_loop(res, x0, y0, n_steps, w_back, output_is_input=True)
            return batch_first(ys, batched, self.weight.dtype)
        w3, batched = time_major("warmup", warmup, self.input_size, self._np_dtype)
        y3 = _shift(w3) if self._has_feedback else None
        x = self._collect(w3, y3, noise=0.0)
        first = self._readout(w3[-1:], x[-1:])  # (1, O, B)
        if n_steps == 1:
            return batch_first(first, batched, self.weight.dtype)
        rest = self._closed_loop(res, x[-1], first[0], n_steps - 1, w_back, output_is_input=True)
        return batch_first(np.concatenate([first, rest]), batched, self.weight.dtype)

    # ----------------------------------------------------------------------------- internals

    @property
    def _has_feedback(self) -> bool:
        return self.config.feedback_scaling > 0.0

    @property
    def _np_dtype(self) -> np.dtype:
        return np.dtype(np.float64 if self.weight.dtype == torch.float64 else np.float32)

    def _np(self, t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    def _reservoir(self) -> Reservoir:
        """The engine on the current buffers (a loaded ``state_dict`` takes effect at once)."""
        return Reservoir(
            self._np(self.weight),
            self._np(self.weight_in),
            self._np(self.bias),
            self._np(self.weight_fb),
            self.config.leak_rate,
        )

    def _w_out(self) -> np.ndarray:
        return self._np(self.weight_out)

    def _require_fit(self, what: str) -> None:
        if not self.is_fitted:
            raise ValueError(f"{what} needs a fitted readout: call fit(u, y) first")

    def _teacher(self, u3: np.ndarray, y: object, batched: bool) -> np.ndarray:
        if y is None:
            raise ValueError(
                "y (the teacher) is required with output feedback (feedback_scaling > 0)"
            )
        y3, _ = time_major("teacher", y, self.output_size, self._np_dtype, like=u3, batched=batched)
        return y3

    def _collect(
        self,
        u3: np.ndarray,
        y3: np.ndarray | None,
        *,
        noise: float,
        x0: np.ndarray | None = None,
        y0: np.ndarray | None = None,
    ) -> np.ndarray:
        """States (T, N, B) from x(-1) = ``x0`` (default 0), teacher ``y3`` fed back if given."""
        res = self._reservoir()
        return res.states(u3, y3, noise=noise, rng=self._noise_rng, x0=x0, y0=y0)

    def _features(self, u3: np.ndarray, x: np.ndarray) -> np.ndarray:
        """z(n) = [1; u(n); x(n)] as (T, F, B)."""
        parts = []
        if self.config.readout_bias:
            parts.append(np.ones((x.shape[0], 1, x.shape[2]), dtype=x.dtype))
        if self.config.readout_input:
            parts.append(u3)
        parts.append(x)
        return np.concatenate(parts, axis=1)

    def _readout(self, u3: np.ndarray, x: np.ndarray) -> np.ndarray:
        return apply_each_step(self._w_out(), self._features(u3, x))

    def _features_const(self, u3: np.ndarray, w_out: np.ndarray) -> np.ndarray:
        """The part of y(n) that does not depend on x(n): bias and input columns, (T, O, B)."""
        n = self.reservoir_size
        zeros = np.zeros((u3.shape[0], n, u3.shape[2]), dtype=u3.dtype)
        return apply_each_step(w_out, self._features(u3, zeros))

    def _closed_loop(
        self,
        res: Reservoir,
        x: np.ndarray,
        y: np.ndarray,
        steps: int,
        w_back: np.ndarray,
        *,
        drive: np.ndarray | None = None,
        const: np.ndarray | None = None,
        output_is_input: bool = False,
    ) -> np.ndarray:
        """The reservoir run with the previous output fed back through ``w_back`` (N, O).

        y(n) = const(n) + W_out,x x(n); with ``output_is_input`` the readout's bias and input
        columns act on u(n) = y(n-1) instead. States x (N, B), y (O, B); returns (steps, O, B).
        """
        w_out = self._w_out()
        w_ox = w_out[:, -self.reservoir_size :]  # (O, N)
        input_readout = None
        if output_is_input:
            k = int(self.config.readout_bias)
            c0 = w_out[:, :k].sum(axis=1)[:, None] if k else 0.0  # (O, 1)
            w_ou = w_out[:, k : k + self.input_size] if self.config.readout_input else None
            input_readout = (c0, w_ou)
        return res.closed_loop(
            x,
            y,
            steps,
            w_back=w_back,
            w_ox=w_ox,
            drive=drive,
            const=const,
            input_readout=input_readout,
        )


def _shift(w3: np.ndarray) -> np.ndarray:
    """The teacher of a series used as its own target: y(n) = u(n+1); the last row repeats."""
    return np.concatenate([w3[1:], w3[-1:]])


__all__ = ["ESNConfig", "EchoStateNetwork", "ridge_regression"]
