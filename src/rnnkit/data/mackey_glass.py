"""The Mackey-Glass delay differential equation, the classic chaotic benchmark series."""

from __future__ import annotations

import numpy as np

from .. import _checks


def mackey_glass(
    n_samples: int,
    *,
    tau: float = 17.0,
    dt: float = 0.1,
    subsample: int = 10,
    initial: float = 1.2,
    transient: int = 0,
    seed: int | None = None,
) -> np.ndarray:
    r"""Integrate Mackey-Glass with Euler steps and return every ``subsample``-th value.

    .. math::
        \frac{dy}{dt} = \frac{0.2\, y(t - \tau)}{1 + y(t - \tau)^{10}} - 0.1\, y(t)

    The defaults are Jaeger's (GMD Report 148, 2001): tau = 17, Euler step 1/10, sampled every 10
    steps (one sample per unit of time). The history before t = 0 is ``initial`` everywhere, or,
    with ``seed``, ``initial`` plus uniform noise in [-0.1, 0.1] so that runs differ.

    Args:
        n_samples: samples returned.
        tau: the delay.
        dt: the Euler step.
        subsample: Euler steps per returned sample.
        initial: the constant history.
        transient: samples integrated and dropped before the first returned one.
        seed: randomises the history (None: constant history, the same series every time).

    Returns:
        float64 array (n_samples,).

    Example:
        >>> y = mackey_glass(2000)
        >>> y.shape, bool(0.2 < y.min() < y.max() < 1.5)
        ((2000,), True)
    """
    _checks.positive_int("n_samples", n_samples)
    _checks.positive_int("subsample", subsample)
    if not tau > 0 or not dt > 0:
        raise ValueError(f"tau and dt must be positive, got tau={tau}, dt={dt}")
    if isinstance(transient, bool) or not isinstance(transient, int) or transient < 0:
        raise ValueError(f"transient must be a non-negative int, got {transient!r}")
    delay = round(tau / dt)
    if delay < 1:
        raise ValueError(f"tau / dt must be at least 1 step, got tau={tau}, dt={dt}")
    history = np.full(delay + 1, float(initial))
    if seed is not None:
        history += np.random.default_rng(seed).uniform(-0.1, 0.1, delay + 1)
    # A ring buffer of the last `delay + 1` values: buf[k % (delay+1)] is y at Euler step k.
    buf = history.tolist()
    size = delay + 1
    k = delay  # index of the current value y(t)
    out = np.empty(n_samples + transient)
    for n in range(n_samples + transient):
        for _ in range(subsample):
            y = buf[k % size]
            y_tau = buf[(k - delay) % size]
            buf[(k + 1) % size] = y + dt * (0.2 * y_tau / (1.0 + y_tau**10) - 0.1 * y)
            k += 1
        out[n] = buf[k % size]
    return out[transient:]
