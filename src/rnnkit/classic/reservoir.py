r"""The reservoir engine of an echo state network, in NumPy: drawing the fixed weights and
running the leaky-tanh update.

.. math::
    x(n) = (1 - a)\, x(n-1) + a \tanh\big(W x(n-1) + W^{in} u(n) + W^{fb} y(n-1) + b\big)

* ``W`` (N, N): ``round(density * N²)`` non-zero entries uniform in [-1, 1] at random places,
  then scaled so that its largest absolute eigenvalue is ``spectral_radius``.
* ``W_in`` (N, I): uniform in ``[-input_scaling, input_scaling]``, a fraction
  ``input_density`` of it non-zero; ``b`` (N): uniform in ``[-bias_scaling, bias_scaling]``;
  ``W_fb`` (N, O): uniform in ``[-feedback_scaling, feedback_scaling]``.

Series are time-major with the batch last, ``(T, features, B)``, so that one step of a batch
is one matrix product ``(N, N) @ (N, B)`` on a contiguous slice. There is no autograd and no
torch here: :mod:`rnnkit.classic.esn` keeps the weights as module buffers, turns them into a
:class:`Reservoir` for each call, and owns the readout.

SciPy (a dependency of rnnkit) makes one sequence fast: a sparse ``W`` and in-place BLAS calls.
The plain NumPy loop stays as the reference that path is tested against (``_scipy = None``
selects it), and as the fallback if SciPy's private CSR kernel moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import scipy.linalg.blas
    import scipy.sparse

    _scipy: Any = scipy
except ImportError:  # pragma: no cover - scipy is a dependency
    _scipy = None
try:  # y += A x in place, the kernel behind csr_array @ x; private, so optional
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover
    _csr_matvec = None

# Below this size, or above this density, a dense matvec beats a CSR one (measured on 2 cores).
_SPARSE_MIN_SIZE = 128
_SPARSE_MAX_DENSITY = 0.25


@dataclass(frozen=True)
class ReservoirWeights:
    """The fixed weights of a reservoir as dense float64 arrays (see the module docstring)."""

    weight: np.ndarray  # W (N, N)
    weight_in: np.ndarray  # W_in (N, I)
    bias: np.ndarray  # b (N,)
    weight_fb: np.ndarray  # W_fb (N, O)


def draw_weights(
    seed: int,
    input_size: int,
    reservoir_size: int,
    output_size: int,
    *,
    spectral_radius: float,
    density: float,
    input_scaling: float,
    input_density: float,
    bias_scaling: float,
    feedback_scaling: float,
) -> tuple[ReservoirWeights, np.random.Generator]:
    """Draw the weights from ``seed``, and the generator of the state noise.

    Each weight has its own stream spawned from ``seed``, so that e.g. turning feedback on does
    not change ``W``. Raises ``ValueError`` if the drawn ``W`` has spectral radius 0 (it cannot
    be scaled).

    Example:
        >>> weights, _ = draw_weights(0, 1, 50, 1, spectral_radius=0.9, density=0.1,
        ...     input_scaling=1.0, input_density=1.0, bias_scaling=0.2, feedback_scaling=0.0)
        >>> round(largest_eigenvalue_modulus(weights.weight), 12), weights.weight_in.shape
        (0.9, (50, 1))
    """
    w_rng, in_rng, b_rng, fb_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    w = sparse_uniform(w_rng, reservoir_size, reservoir_size, density, 1.0)
    radius = largest_eigenvalue_modulus(w)
    if not radius > 1e-12:
        raise ValueError(
            f"the random reservoir has spectral radius 0 (density={density}, "
            f"reservoir_size={reservoir_size}): raise density or reservoir_size"
        )
    w *= spectral_radius / radius
    w_in = sparse_uniform(in_rng, reservoir_size, input_size, input_density, input_scaling)
    b = b_rng.uniform(-bias_scaling, bias_scaling, reservoir_size)
    w_fb = fb_rng.uniform(-feedback_scaling, feedback_scaling, (reservoir_size, output_size))
    return ReservoirWeights(w, w_in, b, w_fb), noise_rng


def sparse_uniform(
    rng: np.random.Generator, rows: int, cols: int, density: float, scale: float
) -> np.ndarray:
    """Dense (rows, cols) with ``round(density * rows * cols)`` entries uniform in ±scale."""
    total = rows * cols
    nnz = max(1, round(density * total))
    out = np.zeros(total)
    where = rng.choice(total, size=nnz, replace=False) if nnz < total else np.arange(total)
    out[where] = rng.uniform(-scale, scale, nnz)
    return out.reshape(rows, cols)


def largest_eigenvalue_modulus(w: np.ndarray) -> float:
    """The spectral radius of a square ``w``."""
    # Dense LAPACK: ARPACK's "largest magnitude" can stop at a wrong eigenvalue of a random
    # matrix, whose outer eigenvalues crowd the circle of the radius.
    return float(np.abs(np.linalg.eigvals(w)).max())


class Reservoir:
    r"""The leaky-tanh reservoir of given weights, run on time-major NumPy series.

    .. math::
        x(n) = (1 - a)\, x(n-1) + a \tanh\big(W x(n-1) + W^{in} u(n) + W^{fb} y(n-1) + b\big)

    Shapes: ``weight`` (N, N), ``weight_in`` (N, I), ``bias`` (N,), ``weight_fb`` (N, O);
    inputs ``u`` (T, I, B), fed-back outputs ``y`` (T, O, B), states (T, N, B). All arrays of
    one call share a dtype (float32 or float64); ``W`` is held as a CSR matrix when that is
    faster.

    Example:
        >>> w = np.array([[0.0, 0.5], [-0.5, 0.0]])
        >>> res = Reservoir(w, np.ones((2, 1)), np.zeros(2), np.zeros((2, 1)), leak_rate=1.0)
        >>> x = res.states(np.ones((3, 1, 1)))  # u(n) = 1 for 3 steps, one sequence
        >>> x.shape, bool(np.allclose(x[0, :, 0], np.tanh([1.0, 1.0])))
        ((3, 2, 1), True)
    """

    def __init__(
        self,
        weight: np.ndarray,
        weight_in: np.ndarray,
        bias: np.ndarray,
        weight_fb: np.ndarray,
        leak_rate: float,
    ) -> None:
        n = weight.shape[0]
        self.weight: Any = weight
        if (
            _scipy is not None
            and n >= _SPARSE_MIN_SIZE
            and np.count_nonzero(weight) <= _SPARSE_MAX_DENSITY * n * n
        ):
            self.weight = _scipy.sparse.csr_array(weight)
        self.weight_in = weight_in
        self.bias = bias
        self.weight_fb = weight_fb
        self.leak_rate = leak_rate

    def drive(self, u3: np.ndarray) -> np.ndarray:
        """W_in u(n) + b for every step: (T, I, B) -> (T, N, B)."""
        drive = apply_each_step(self.weight_in, u3)
        drive += self.bias[None, :, None]
        return drive

    def states(
        self,
        u3: np.ndarray,
        y3: np.ndarray | None = None,
        *,
        noise: float = 0.0,
        rng: np.random.Generator | None = None,
        x0: np.ndarray | None = None,
        y0: np.ndarray | None = None,
    ) -> np.ndarray:
        """States (T, N, B) from x(-1) = ``x0`` (N, B) (default 0), teacher ``y3`` fed back.

        y(n-1) enters step n; y(-1) is ``y0`` (O, B) (default 0). With ``noise`` > 0, ``rng``
        adds uniform noise in ``[-noise, noise]`` inside the tanh.
        """
        drive = self.drive(u3)  # (T, N, B)
        if y3 is not None:
            drive[1:] += apply_each_step(self.weight_fb, y3[:-1])
            if y0 is not None:
                drive[0] += self.weight_fb @ y0
        if noise > 0.0:
            if rng is None:
                raise ValueError("rng is required when noise > 0")
            drive += rng.uniform(-noise, noise, drive.shape).astype(drive.dtype)
        return run(self.weight, drive, self.leak_rate, x0)

    def closed_loop(
        self,
        x: np.ndarray,
        y: np.ndarray,
        steps: int,
        *,
        w_back: np.ndarray,
        w_ox: np.ndarray,
        drive: np.ndarray | None = None,
        const: np.ndarray | None = None,
        input_readout: tuple[np.ndarray | float, np.ndarray | None] | None = None,
    ) -> np.ndarray:
        """Step by step with each output fed back through ``w_back`` (N, O) into the next step.

        The state update is the module's equation with ``drive`` (T, N, B) as ``W_in u(n) + b``
        (default: ``b``, no input) and ``w_back @ y(n-1)`` added. The output is linear:
        ``y(n) = w_ox x(n) [+ const(n)]``, ``w_ox`` (O, N), ``const`` (T, O, B); with
        ``input_readout = (c0, w_ou)`` the output is also the next input, and
        ``c0 + w_ou y(n-1)`` (the readout's bias and input columns, ``w_ou`` (O, I) or None) is
        added. States x (N, B), y (O, B) are y(-1) and x(-1); returns (steps, O, B).
        """
        w = self.weight
        a = self.leak_rate
        bias = self.bias[:, None]
        ys = np.empty((steps, *y.shape), dtype=y.dtype)
        for t in range(steps):
            pre = w @ x + w_back @ y
            pre += drive[t] if drive is not None else bias
            np.tanh(pre, out=pre)
            x = (1.0 - a) * x + a * pre
            y_new = w_ox @ x
            if const is not None:
                y_new += const[t]
            if input_readout is not None:
                c0, w_ou = input_readout
                y_new += c0
                if w_ou is not None:
                    y_new += w_ou @ y
            ys[t] = y = y_new
        return ys


def run(
    w: Any,
    drive: np.ndarray,
    leak: float,
    x0: np.ndarray | None = None,
) -> np.ndarray:
    """x(n) = (1 - a) x(n-1) + a tanh(W x(n-1) + drive(n)); (T, N, B) states from x0 (N, B).

    ``w`` is a dense array or a SciPy sparse matrix. Overwrites ``drive`` with the states and
    returns it. One sequence takes the fast path: in the variable v = x / a the step is
    v(n) = (1 - a) v(n-1) + tanh(a W v(n-1) + drive(n)), three in-place calls on a row of
    ``drive`` (z += (aW) v, tanh, z += (1 - a) v), since each NumPy call costs about a
    microsecond, more than a 100-unit matvec.
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


def apply_each_step(m: np.ndarray, a3: np.ndarray) -> np.ndarray:
    """``m @ a3[t]`` for every t as one matrix product: (R, C) x (T, C, B) -> (T, R, B)."""
    steps, cols, batch = a3.shape
    m = m.astype(a3.dtype, copy=False)
    if batch == 1:
        return (a3[:, :, 0] @ m.T)[:, :, None]  # (T, R, 1), already contiguous
    flat = a3.transpose(1, 0, 2).reshape(cols, steps * batch)  # (C, T B)
    out = (m @ flat).reshape(m.shape[0], steps, batch)
    return np.ascontiguousarray(out.transpose(1, 0, 2))


__all__ = [
    "Reservoir",
    "ReservoirWeights",
    "apply_each_step",
    "draw_weights",
    "largest_eigenvalue_modulus",
    "run",
    "sparse_uniform",
]
