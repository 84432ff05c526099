r"""Echo state networks: a fixed random reservoir and a linear readout fitted by ridge regression.

.. math::
    x(n) = (1 - a)\, x(n-1) + a \tanh\big(W x(n-1) + W^{in} u(n) + W^{fb} y(n-1) + b\big)

    y(n) = W^{out} [1;\ u(n);\ x(n)]

Only :math:`W^{out}` is learned, by one ridge regression in float64; :math:`W` (sparse, scaled to
a spectral radius), :math:`W^{in}`, :math:`b` and the optional output feedback :math:`W^{fb}`
are drawn once from ``seed``. The time loop runs in NumPy/SciPy on the module's buffers (no
autograd, one sparse or dense matrix product and one ``tanh`` per step), so that a single series
costs a few microseconds per step on a CPU.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from .._config import JSONConfig

# SciPy makes the loop fast (sparse W, in-place BLAS) and the ridge solve cheap; without it
# (it is not a dependency of rnnkit) everything still works in plain NumPy, more slowly.
try:
    import scipy.linalg
    import scipy.linalg.blas
    import scipy.sparse

    _scipy = scipy
except ImportError:  # pragma: no cover - scipy comes with the dev and digits extras
    _scipy = None
try:  # y += A x in place, the kernel behind csr_array @ x; private, so optional
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover
    _csr_matvec = None

# Below this size, or above this density, a dense matvec beats a CSR one (measured on 2 cores).
_SPARSE_MIN_SIZE = 128
_SPARSE_MAX_DENSITY = 0.25


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
        _positive("spectral_radius", spectral_radius)
        _fraction("leak_rate", leak_rate)
        _checks.non_negative_float("input_scaling", input_scaling)
        _fraction("density", density)
        _checks.non_negative_float("ridge", ridge)
        _checks.non_negative_float("bias_scaling", bias_scaling)
        _fraction("input_density", input_density)
        _checks.non_negative_float("feedback_scaling", feedback_scaling)
        _checks.non_negative_float("noise", noise)
        for name, flag in (("readout_bias", readout_bias), ("readout_input", readout_input)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__} {flag!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TypeError(f"seed must be a non-negative int or None, got {seed!r}")
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
        # One stream per use, so that e.g. turning feedback on does not change W.
        w_rng, in_rng, b_rng, fb_rng, noise_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
        )
        self._noise_rng = noise_rng
        w = _sparse_uniform(w_rng, reservoir_size, reservoir_size, density, 1.0)
        radius = _spectral_radius(w)
        if not radius > 1e-12:
            raise ValueError(
                f"the random reservoir has spectral radius 0 (density={density}, "
                f"reservoir_size={reservoir_size}): raise density or reservoir_size"
            )
        w *= spectral_radius / radius
        w_in = _sparse_uniform(in_rng, reservoir_size, input_size, input_density, input_scaling)
        b = b_rng.uniform(-bias_scaling, bias_scaling, reservoir_size)
        w_fb = fb_rng.uniform(-feedback_scaling, feedback_scaling, (reservoir_size, output_size))
        n_features = int(readout_bias) + int(readout_input) * input_size + reservoir_size
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dtype)  # noqa: E731
        self.register_buffer("weight", as_t(w))
        self.register_buffer("weight_in", as_t(w_in))
        self.register_buffer("bias", as_t(b))
        self.register_buffer("weight_fb", as_t(w_fb))
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
        u3, batched = self._series("u", u, self.input_size)
        y3 = self._teacher(u3, y, batched) if self._has_feedback else None
        x = self._collect(u3, y3, noise=0.0)
        return self._out(x, batched)

    def fit(self, u: object, y: object, washout: int = 0) -> EchoStateNetwork:
        """Drive the reservoir with ``u`` (and teacher ``y`` fed back) and fit ``W_out``.

        The states are collected with the state noise ``noise`` (if any); the rows
        ``n < washout`` of every sequence are dropped (the initial transient of the zero
        state). The final state is kept, for ``predict(..., continue_fit=True)`` and
        ``generate()`` without warmup. Returns ``self``.

        Shapes: u (T, I) or (B, T, I); y (T, O) or (B, T, O).
        """
        u3, batched = self._series("u", u, self.input_size)
        y3, _ = self._series("y", y, self.output_size, like=u3, batched=batched)
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
        u3, batched = self._series("u", u, self.input_size)
        x0, y0 = self._start(u3, continue_fit)
        if self._has_feedback and teacher is None:
            drive = self._drive(u3)
            const = self._features_const(u3, self._w_out())
            ys = self._closed_loop(x0, y0, u3.shape[0], drive, self._wfb(), const)
            return self._out(ys, batched)
        y3 = self._teacher(u3, teacher, batched) if self._has_feedback else None
        x = self._collect(u3, y3, noise=0.0, x0=x0, y0=y0)
        return self._out(self._readout(u3, x), batched)

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
        w_back = self._w_in() + self._wfb() if self._has_feedback else self._w_in()
        if warmup is None:
            if self._end is None:
                raise ValueError(
                    "warmup is required: this network has no fit() run to continue from "
                    "(e.g. it was loaded from a state_dict); pass warmup=(T, I) data"
                )
            x_end, y_end, batched = self._end
            dtype = self._np_dtype
            x0, y0 = x_end.astype(dtype), y_end.astype(dtype)
            ys = self._closed_loop(x0, y0, n_steps, None, w_back, None, output_is_input=True)
            return self._out(ys, batched)
        w3, batched = self._series("warmup", warmup, self.input_size)
        y3 = _shift(w3) if self._has_feedback else None
        x = self._collect(w3, y3, noise=0.0)
        first = self._readout(w3[-1:], x[-1:])  # (1, O, B)
        if n_steps == 1:
            return self._out(first, batched)
        rest = self._closed_loop(
            x[-1], first[0], n_steps - 1, None, w_back, None, output_is_input=True
        )
        return self._out(np.concatenate([first, rest]), batched)

    # ----------------------------------------------------------------------------- internals

    @property
    def _has_feedback(self) -> bool:
        return self.config.feedback_scaling > 0.0

    @property
    def _np_dtype(self) -> np.dtype:
        return np.dtype(np.float64 if self.weight.dtype == torch.float64 else np.float32)

    def _np(self, t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    def _w(self) -> np.ndarray:
        """W as an array, or as a CSR matrix when that is faster (and SciPy is there)."""
        w = self._np(self.weight)
        n = w.shape[0]
        if (
            _scipy is not None
            and n >= _SPARSE_MIN_SIZE
            and np.count_nonzero(w) <= _SPARSE_MAX_DENSITY * n * n
        ):
            return _scipy.sparse.csr_array(w)
        return w

    def _w_in(self) -> np.ndarray:
        return self._np(self.weight_in)

    def _wfb(self) -> np.ndarray:
        return self._np(self.weight_fb)

    def _w_out(self) -> np.ndarray:
        return self._np(self.weight_out)

    def _require_fit(self, what: str) -> None:
        if not self.is_fitted:
            raise ValueError(f"{what} needs a fitted readout: call fit(u, y) first")

    def _series(
        self,
        name: str,
        value: object,
        features: int,
        *,
        like: np.ndarray | None = None,
        batched: bool | None = None,
    ) -> tuple[np.ndarray, bool]:
        """``value`` as a time-major array (T, features, B) of the module's dtype."""
        if isinstance(value, Tensor):
            arr = value.detach().cpu().numpy()
        elif isinstance(value, np.ndarray):
            arr = value
        else:
            raise TypeError(
                f"{name} must be a numpy array or a torch.Tensor, got {type(value).__name__}"
            )
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        expected = f"(time, {features}) or (batch, time, {features})"
        if like is not None:
            steps, batch = like.shape[0], like.shape[2]
            expected = f"({batch}, {steps}, {features})" if batched else f"({steps}, {features})"
        ok = arr.ndim in (2, 3) and arr.shape[-1] == features and arr.shape[-2] >= 1
        if like is not None:
            ok = ok and (arr.ndim == 3) == batched and arr.shape[-2] == like.shape[0]
            ok = ok and (arr.ndim == 2 or arr.shape[0] == like.shape[2])
        if not ok or (arr.ndim == 3 and arr.shape[0] < 1):
            raise ValueError(f"{name} must be {expected}, got {_checks.shape_text(arr.shape)}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite, got NaN or inf values")
        is_batched = arr.ndim == 3
        arr3 = arr[None] if not is_batched else arr  # (B, T, F)
        return np.ascontiguousarray(arr3.transpose(1, 2, 0), dtype=self._np_dtype), is_batched

    def _teacher(self, u3: np.ndarray, y: object, batched: bool) -> np.ndarray:
        if y is None:
            raise ValueError(
                "y (the teacher) is required with output feedback (feedback_scaling > 0)"
            )
        y3, _ = self._series("teacher", y, self.output_size, like=u3, batched=batched)
        return y3

    def _drive(self, u3: np.ndarray) -> np.ndarray:
        """W_in u(n) + b for every step: (T, N, B)."""
        drive = _apply(self._w_in(), u3)
        drive += self._np(self.bias)[None, :, None]
        return drive

    def _collect(
        self,
        u3: np.ndarray,
        y3: np.ndarray | None,
        *,
        noise: float,
        x0: np.ndarray | None = None,
        y0: np.ndarray | None = None,
    ) -> np.ndarray:
        """States (T, N, B) from x(-1) = ``x0`` (default 0), teacher ``y3`` fed back if given.

        y(n-1) enters step n; y(-1) is ``y0`` (default 0).
        """
        drive = self._drive(u3)  # (T, N, B)
        if y3 is not None:
            drive[1:] += _apply(self._wfb(), y3[:-1])
            if y0 is not None:
                drive[0] += self._wfb() @ y0
        if noise > 0.0:
            drive += self._noise_rng.uniform(-noise, noise, drive.shape).astype(drive.dtype)
        return _run_reservoir(self._w(), drive, self.config.leak_rate, x0)

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
        return _apply(self._w_out(), self._features(u3, x))

    def _features_const(self, u3: np.ndarray, w_out: np.ndarray) -> np.ndarray:
        """The part of y(n) that does not depend on x(n): bias and input columns, (T, O, B)."""
        n = self.reservoir_size
        zeros = np.zeros((u3.shape[0], n, u3.shape[2]), dtype=u3.dtype)
        return _apply(w_out, self._features(u3, zeros))

    def _closed_loop(
        self,
        x: np.ndarray,
        y: np.ndarray,
        steps: int,
        drive: np.ndarray | None,
        w_back: np.ndarray,
        const: np.ndarray | None,
        *,
        output_is_input: bool = False,
    ) -> np.ndarray:
        """Step by step with the previous output fed back through ``w_back`` (N, O).

        y(n) = const(n) + W_out,x x(n); with ``output_is_input`` the readout's bias and input
        columns act on u(n) = y(n-1) instead. States x (N, B), y (O, B); returns (steps, O, B).
        """
        w = self._w()
        a = self.config.leak_rate
        bias = self._np(self.bias)[:, None]
        w_out = self._w_out()
        n = self.reservoir_size
        w_ox = w_out[:, -n:]  # (O, N)
        if output_is_input:
            k = int(self.config.readout_bias)
            c0 = w_out[:, :k].sum(axis=1)[:, None] if k else 0.0  # (O, 1)
            w_ou = w_out[:, k : k + self.input_size] if self.config.readout_input else None
        ys = np.empty((steps, *y.shape), dtype=y.dtype)
        for t in range(steps):
            pre = w @ x + w_back @ y
            pre += drive[t] if drive is not None else bias
            np.tanh(pre, out=pre)
            x = (1.0 - a) * x + a * pre
            y_new = w_ox @ x
            if const is not None:
                y_new += const[t]
            if output_is_input:
                y_new += c0
                if w_ou is not None:
                    y_new += w_ou @ y
            ys[t] = y = y_new
        return ys

    def _out(self, arr: np.ndarray, batched: bool) -> Tensor:
        """Time-major (T, F, B) -> tensor (B, T, F) or (T, F)."""
        out = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        out = out.to(self.weight.dtype)
        return out if batched else out[0]


def ridge_regression(
    z: np.ndarray, y: np.ndarray, ridge: float, *, unpenalised: int = 0
) -> np.ndarray:
    r"""Solve :math:`\min_V \lVert z V^T - y\rVert^2 + \beta \lVert V_{:, k:}\rVert^2` in float64.

    The first ``unpenalised`` columns of z (the constant) are not penalised. ``ridge = 0`` is the
    minimum-norm least-squares solution.

    Shapes: z (R, F), y (R, O) -> V (O, F).

    Example:
        >>> z = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
        >>> ridge_regression(z, np.array([[1.0], [3.0], [5.0]]), 0.0).round(12)
        array([[1., 2.]])
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if ridge == 0.0:
        return np.linalg.lstsq(z, y, rcond=None)[0].T
    free, pen = z[:, :unpenalised], z[:, unpenalised:]
    if unpenalised:
        # Partial out the unpenalised columns (for the constant: centre the data). The normal
        # equations of what is left are far better conditioned, which matters at the tiny
        # ridges of free-running generation.
        basis = np.linalg.qr(free)[0]  # (R, k)
        pen_c = pen - basis @ (basis.T @ pen)
        y_c = y - basis @ (basis.T @ y)
    else:
        pen_c, y_c = pen, y
    gram = pen_c.T @ pen_c  # (F - k, F - k)
    gram[np.diag_indices_from(gram)] += ridge
    try:
        if _scipy is None:
            raise np.linalg.LinAlgError("no scipy: no cheap conditioning check, use the SVD")
        with warnings.catch_warnings():
            warnings.simplefilter("error", _scipy.linalg.LinAlgWarning)
            weights = _scipy.linalg.solve(gram, pen_c.T @ y_c, assume_a="pos")  # (F - k, O)
    except (np.linalg.LinAlgError, Warning):  # scipy's LinAlgWarning is a RuntimeWarning
        # A ridge near or below the Gram matrix's rounding (rcond < eps): the normal equations
        # lose the digits that free-running generation needs; the SVD form s / (s² + β) keeps
        # them, at a few times the cost.
        u, sv, vt = np.linalg.svd(pen_c, full_matrices=False)
        weights = vt.T @ ((sv / (sv**2 + ridge))[:, None] * (u.T @ y_c))
    if not unpenalised:
        return weights.T
    rest = np.linalg.lstsq(free, y - pen @ weights, rcond=None)[0]  # (k, O)
    return np.concatenate([rest, weights]).T


def _run_reservoir(
    w: np.ndarray,
    drive: np.ndarray,
    leak: float,
    x0: np.ndarray | None = None,
) -> np.ndarray:
    """x(n) = (1 - a) x(n-1) + a tanh(W x(n-1) + drive(n)); (T, N, B) states from x0 (N, B).

    Overwrites ``drive`` with the states and returns it. One sequence takes the fast path: in
    the variable v = x / a the step is v(n) = (1 - a) v(n-1) + tanh(a W v(n-1) + drive(n)),
    three in-place calls on a row of ``drive`` (z += (aW) v, tanh, z += (1 - a) v), since each
    NumPy call costs about a microsecond, more than a 100-unit matvec.
    """
    keep = 1.0 - leak
    if drive.shape[2] > 1 or _scipy is None:
        x = np.zeros_like(drive[0]) if x0 is None else x0.astype(drive.dtype)  # (N, B)
        for t in range(drive.shape[0]):
            z = drive[t]
            z += w @ x
            np.tanh(z, out=z)
            if keep:
                z *= leak
                z += keep * x
            x = z
        return drive
    d = drive[:, :, 0]  # (T, N), rows contiguous
    n = d.shape[1]
    v = np.zeros_like(d[0]) if x0 is None else np.ascontiguousarray(x0[:, 0] / leak, dtype=d.dtype)
    axpy = _scipy.linalg.blas.get_blas_funcs("axpy", (d,))
    tanh = np.tanh
    # Positional arguments throughout: f2py's keyword parsing costs a third of a step.
    if _scipy.sparse.issparse(w) and _csr_matvec is not None:
        ptr, idx, val = w.indptr, w.indices, (w.data * leak).astype(d.dtype)
        for z in d:
            _csr_matvec(n, n, ptr, idx, val, v, z)  # z += (aW) v
            tanh(z, z)
            if keep:
                axpy(v, z, n, keep)  # z += (1 - a) v
            v = z
    else:
        w_dense = w.toarray() if _scipy.sparse.issparse(w) else w
        gemv = _scipy.linalg.blas.get_blas_funcs("gemv", (d,))
        wf = np.asfortranarray(w_dense * leak, dtype=d.dtype)
        for z in d:
            gemv(1.0, wf, v, 1.0, z, 0, 1, 0, 1, 0, 1)  # z += (aW) v, in place (overwrite_y)
            tanh(z, z)
            if keep:
                axpy(v, z, n, keep)
            v = z
    if leak != 1.0:
        d *= leak
    return drive


def _apply(m: np.ndarray, a3: np.ndarray) -> np.ndarray:
    """``m @ a3[t]`` for every t as one matrix product: (R, C) x (T, C, B) -> (T, R, B)."""
    steps, cols, batch = a3.shape
    m = m.astype(a3.dtype, copy=False)
    if batch == 1:
        return (a3[:, :, 0] @ m.T)[:, :, None]  # (T, R, 1), already contiguous
    flat = a3.transpose(1, 0, 2).reshape(cols, steps * batch)  # (C, T B)
    out = (m @ flat).reshape(m.shape[0], steps, batch)
    return np.ascontiguousarray(out.transpose(1, 0, 2))


def _shift(w3: np.ndarray) -> np.ndarray:
    """The teacher of a series used as its own target: y(n) = u(n+1); the last row repeats."""
    return np.concatenate([w3[1:], w3[-1:]])


def _sparse_uniform(
    rng: np.random.Generator, rows: int, cols: int, density: float, scale: float
) -> np.ndarray:
    """Dense (rows, cols) with ``round(density * rows * cols)`` entries uniform in ±scale."""
    total = rows * cols
    nnz = max(1, round(density * total))
    out = np.zeros(total)
    where = rng.choice(total, size=nnz, replace=False) if nnz < total else np.arange(total)
    out[where] = rng.uniform(-scale, scale, nnz)
    return out.reshape(rows, cols)


def _spectral_radius(w: np.ndarray) -> float:
    # Dense LAPACK: ARPACK's "largest magnitude" can stop at a wrong eigenvalue of a random
    # matrix, whose outer eigenvalues crowd the circle of the radius.
    return float(np.abs(np.linalg.eigvals(w)).max())


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not 0.0 < float(value) < float("inf"):
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return float(value)


__all__ = ["ESNConfig", "EchoStateNetwork", "ridge_regression"]
