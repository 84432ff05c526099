"""rnnkit's EchoStateNetwork against reservoirpy on reservoirpy's own README protocol.

The protocol (reservoirpy README): its Mackey-Glass series of 2000 points, one step ahead,
1600/400 split (``to_forecasting(X, test_size=0.2)``: 1599 training pairs, 400 test pairs),
100 units, spectral radius 1.25, leak rate 0.3, ridge 1e-5, warmup (washout) 100; the test
inputs continue from the training run. Published RMSE: 0.0020.

One reservoir draw is a noisy sample (reservoirpy's own RMSE ranges over 0.0018-0.0055 with the
seed), so every library runs ``--trials`` seeds on the same series and the script prints the
median and mean RMSE. Times are for construct + fit + predict (reservoirpy builds its matrices
lazily inside fit), the best of ``--repeats`` runs per seed and the median over the seeds,
the libraries interleaved seed by seed in one process.

Without reservoirpy (``pip install reservoirpy``, the ``bench`` extra) rnnkit runs alone on the
identical series, regenerated here with reservoirpy's integrator (checked against reservoirpy
when it is installed).

    .venv/bin/python benchmarks/bench_esn_reservoirpy.py [--trials 20]
"""

from __future__ import annotations

import os

# One BLAS thread for both libraries: the per-step work is a 100 x 100 matvec, and on a shared
# 2-core machine spinning BLAS threads only add noise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time

import numpy as np

from rnnkit.classic import EchoStateNetwork

UNITS, SR, LR, RIDGE, WARMUP = 100, 1.25, 0.3, 1e-5, 100


def mackey_glass_reservoirpy(n_timesteps: int = 2000, seed: int = 5555) -> np.ndarray:
    """reservoirpy.datasets.mackey_glass with its defaults (tau 17, h 1, x0 1.2, seed 5555).

    Its step is its ``_mg_rk4`` (a Runge-Kutta-like update on the delayed term held fixed) and
    its history is ``1.2 + 0.2 * (U[0, 1) - 0.5)`` over 17 steps from ``default_rng(seed)``.
    """
    a, b, n, h, tau, x0 = 0.2, 0.1, 10, 1.0, 17, 1.2
    hist = int(np.floor(tau / h))
    rng = np.random.default_rng(seed)
    x = np.empty(hist + n_timesteps)
    x[:hist] = x0 * np.ones(hist) + 0.2 * (rng.random(hist) - 0.5)
    xt = x0
    for i in range(hist, hist + n_timesteps):
        x[i] = xt
        xtau = x[i - hist]
        bh = -b * h
        k1 = bh * xt + a * xtau / (1 + xtau**n)
        k2 = 2 * k1 + bh * k1
        k3 = 2 * k1 + bh * k2
        k4 = k1 + bh * k3
        xt = xt + (k1 + k2 + k3 + k4) / 6
    return x[hist:].reshape(-1, 1)


def split(series: np.ndarray):
    """reservoirpy's ``to_forecasting(series, test_size=0.2)``."""
    x, y = series[:-1], series[1:]
    test = round(len(x) * 0.2)
    return x[:-test], x[-test:], y[:-test], y[-test:]


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run_rnnkit(seed: int, data, **options) -> tuple[float, float]:
    x_train, x_test, y_train, y_test = data
    t0 = time.perf_counter()
    esn = EchoStateNetwork(
        1, UNITS, 1, spectral_radius=SR, leak_rate=LR, ridge=RIDGE, seed=seed, **options
    )
    esn.fit(x_train, y_train, washout=WARMUP)
    pred = esn.predict(x_test, continue_fit=True).numpy()
    return rmse(pred, y_test), time.perf_counter() - t0


def run_reservoirpy(seed: int, data) -> tuple[float, float]:
    from reservoirpy import ESN

    x_train, x_test, y_train, y_test = data
    t0 = time.perf_counter()
    esn = ESN(units=UNITS, sr=SR, lr=LR, ridge=RIDGE, seed=seed)
    esn.fit(x_train, y_train, warmup=WARMUP)
    pred = esn.run(x_test)
    return rmse(pred, y_test), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="reservoir seeds per library")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per seed (best)")
    args = parser.parse_args()

    series = mackey_glass_reservoirpy(2000)
    try:
        import reservoirpy
        from reservoirpy.datasets import mackey_glass

        theirs = mackey_glass(n_timesteps=2000)
        gap = float(np.abs(theirs - series).max())
        print(f"reservoirpy {reservoirpy.__version__}: its series equals ours (max gap {gap:.1e})")
        assert gap < 1e-12, "the re-implemented series differs from reservoirpy's"
        have_rpy = True
    except ImportError:
        print("reservoirpy is not installed: rnnkit alone (pip install reservoirpy to compare)")
        have_rpy = False
    data = split(series)
    print(
        f"Mackey-Glass (reservoirpy's, 2000 points), train {len(data[0])}, test {len(data[1])}; "
        f"{UNITS} units, sr {SR}, leak {LR}, ridge {RIDGE}, warmup {WARMUP}; {args.trials} seeds; "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )

    runners = {
        "rnnkit (defaults: bias 0.2, dense W_in, u in readout)": lambda s: run_rnnkit(s, data),
        "rnnkit (reservoirpy's init: no bias, 10% W_in, x-only readout)": lambda s: run_rnnkit(
            s, data, bias_scaling=0.0, input_density=0.1, readout_input=False
        ),
    }
    if have_rpy:
        runners["reservoirpy"] = lambda s: run_reservoirpy(s, data)
    for run in runners.values():  # warm caches and imports outside the timings
        run(10_000)
    # Interleaved, best of `--repeats` per seed: the load of a shared machine drifts, and a
    # block-after-block comparison would charge the drift to one library.
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for seed in range(args.trials):
        for name, run in runners.items():
            runs = [run(seed) for _ in range(args.repeats)]
            results[name].append((runs[0][0], min(t for _, t in runs)))

    print(f"{'':66s} {'median RMSE':>11s} {'mean RMSE':>9s} {'median time':>11s} {'best':>8s}")
    median_t, best_t = {}, {}
    for name, rows in results.items():
        errors, secs = np.array(rows).T
        median_t[name], best_t[name] = float(np.median(secs)), float(secs.min())
        med, mean = np.median(errors), errors.mean()
        print(
            f"{name:66s} {med:11.5f} {mean:9.5f} {median_t[name] * 1e3:8.1f} ms "
            f"{best_t[name] * 1e3:5.1f} ms"
        )
    if have_rpy:
        for name in list(runners)[:2]:
            print(
                f"reservoirpy time / rnnkit time, {name[name.index('(') + 1 : -1]}: "
                f"{median_t['reservoirpy'] / median_t[name]:.1f}x median, "
                f"{best_t['reservoirpy'] / best_t[name]:.1f}x best"
            )


if __name__ == "__main__":
    main()
