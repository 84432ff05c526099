r"""The ridge regression that fits an echo state network's readout, in float64.

.. math::
    V = \arg\min_V\ \lVert z V^\top - y \rVert^2 + \beta \lVert V_{:, k:} \rVert^2

over the rows of the features ``z`` (R, F) and targets ``y`` (R, O), with the first ``k``
columns of ``z`` (the constant of ``[1; u; x]``) not penalised; ``V`` is (O, F).

The numerical choices, for the tiny ridges (1e-8 and below) that free-running generation needs:

1. the unpenalised columns are partialled out first (for the constant: the data are centred),
   which leaves far better conditioned normal equations;
2. the normal equations are solved by a Cholesky solve, unless SciPy reports that their
   condition number is beyond float64 rounding; then the SVD form ``s / (s² + β)`` is used,
   which keeps the digits that the normal equations lose, at a few times the cost;
3. the unpenalised weights are the least-squares fit of what the penalised ones leave;
4. ``ridge = 0`` is the minimum-norm least-squares solution.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg


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
        basis = np.linalg.qr(free)[0]  # (R, k)
        pen_c = pen - basis @ (basis.T @ pen)
        y_c = y - basis @ (basis.T @ y)
    else:
        pen_c, y_c = pen, y
    weights = _penalised_solve(pen_c, y_c, ridge)  # (F - k, O)
    if not unpenalised:
        return weights.T
    rest = np.linalg.lstsq(free, y - pen @ weights, rcond=None)[0]  # (k, O)
    return np.concatenate([rest, weights]).T


def _penalised_solve(a: np.ndarray, b: np.ndarray, ridge: float) -> np.ndarray:
    """argmin_W ||a W - b||² + ridge ||W||²: a (R, F), b (R, O) -> W (F, O)."""
    gram = a.T @ a  # (F, F)
    gram[np.diag_indices_from(gram)] += ridge
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            return scipy.linalg.solve(gram, a.T @ b, assume_a="pos")
    except (np.linalg.LinAlgError, Warning):  # scipy's LinAlgWarning is a RuntimeWarning
        # rcond below eps: the Gram matrix lost the digits; the SVD of a keeps them.
        u, sv, vt = np.linalg.svd(a, full_matrices=False)
        return vt.T @ ((sv / (sv**2 + ridge))[:, None] * (u.T @ b))


__all__ = ["ridge_regression"]
