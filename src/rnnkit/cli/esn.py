"""``rnnkit esn``: fit an echo state network to a series, let it run free, plot and score it.

The series is Mackey-Glass (tau = 17, Jaeger's sampling) by default, or a column of a CSV file.
It is scaled to zero mean and standard deviation 0.2 (the size of Jaeger's tanh(y - 1)
squashing), the network is fitted one step ahead on the first ``--train`` values (the first
``--washout`` states dropped), then runs closed-loop for ``--free`` steps, each output being
the next input. Prints the NRMSEs (in the original units, normalised by the series' standard
deviation) and writes esn.png (the free run against the truth) and esn.json (the numbers)
into the run directory ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ._common import (
    UsageError,
    add_out_option,
    check_memory,
    csv_column,
    float_in,
    new_run_dir,
    non_negative_int,
    positive_float,
    positive_int,
    seed_int,
)

SCALE = 0.2  # standard deviation of the scaled series


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "esn",
        help="fit an echo state network to a series and let it run free",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
    )
    data = parser.add_argument_group("data")
    data.add_argument("--csv", metavar="PATH", help="a CSV file with a header row")
    data.add_argument("--column", metavar="NAME", help="the CSV column (with --csv)")
    data.add_argument(
        "--train",
        type=positive_int,
        metavar="N",
        help="values to fit on (default: 3000 for Mackey-Glass, 80%% of a CSV column)",
    )
    data.add_argument(
        "--free",
        type=positive_int,
        metavar="N",
        help="closed-loop steps after them (default: 300; a CSV column: the rest of it)",
    )
    data.add_argument(
        "--washout",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="initial states dropped from the fit (default: a third of --train, at most 1000)",
    )
    data.add_argument(
        "--horizon",
        type=positive_int,
        default=84,
        metavar="K",
        help="also report the error of the K-th free-running step (default: 84, Jaeger's)",
    )
    net = parser.add_argument_group(
        "network (defaults: the Mackey-Glass settings of BENCHMARKS.md)"
    )
    net.add_argument(
        "--units",
        type=positive_int,
        default=400,
        metavar="N",
        help="reservoir units (default: 400)",
    )
    net.add_argument(
        "--spectral-radius",
        type=positive_float,
        default=0.9,
        metavar="R",
        help="largest |eigenvalue| of the reservoir weights (default: 0.9)",
    )
    net.add_argument(
        "--leak-rate",
        type=float_in(0.0, 1.0, include_low=False),
        default=0.65,
        metavar="A",
        help="leak rate a of the state update (default: 0.65)",
    )
    net.add_argument(
        "--input-scaling",
        type=float_in(0.0, math.inf),
        default=0.7,
        metavar="S",
        help="scale of the input weights (default: 0.7)",
    )
    net.add_argument(
        "--bias-scaling",
        type=float_in(0.0, math.inf),
        default=0.02,
        metavar="S",
        help="scale of the reservoir bias (default: 0.02)",
    )
    net.add_argument(
        "--density",
        type=float_in(0.0, 1.0, include_low=False),
        default=0.05,
        metavar="D",
        help="fraction of non-zero reservoir weights (default: 0.05)",
    )
    net.add_argument(
        "--ridge",
        type=float_in(0.0, math.inf),
        metavar="B",
        help="ridge penalty of the readout fit (default: 1e-14 for the noise-free Mackey-Glass, "
        "1e-8 for a CSV column; raise it if the free run blows up)",
    )
    net.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        metavar="S",
        help="seed of the reservoir and of the Mackey-Glass history (default: 0)",
    )
    add_out_option(parser, "esn", "esn.png and esn.json")
    parser.set_defaults(run=run_esn)


def _series(args: argparse.Namespace):
    import numpy as np

    from ..data.mackey_glass import mackey_glass

    if args.csv is None:
        if args.column is not None:
            raise UsageError("--column needs --csv PATH (the default series is Mackey-Glass)")
        train = args.train or 3000
        free = args.free or 300
        return (
            mackey_glass(train + free, transient=1000, seed=args.seed),
            "Mackey-Glass",
            train,
            free,
        )
    if args.column is None:
        raise UsageError("--csv needs --column NAME, the column to fit")
    values = csv_column(args.csv, args.column)
    train = args.train or int(0.8 * len(values))
    free = args.free or len(values) - train
    if train < 2 or free < 1 or train + free > len(values):
        raise UsageError(
            f"--train {train} and --free {free} need {train + free} values, at least 2 for "
            f"training and 1 after them; the column {args.column!r} has {len(values)}"
        )
    if float(np.std(values[:train])) == 0.0:
        raise UsageError(f"the first {train} values of column {args.column!r} are constant")
    return values[: train + free], f"{Path(args.csv).name}:{args.column}", train, free


def run_esn(args: argparse.Namespace) -> int:
    import numpy as np

    from ..classic import EchoStateNetwork
    from ..viz.esn import plot_esn_prediction

    run_dir = new_run_dir(args.out, "esn")
    # The reservoir matrix, its copies while scaled to the spectral radius, and the states.
    check_memory("this reservoir", 8.0 * args.units * (4 * args.units + 4000), "--units")
    png, numbers = run_dir / "esn.png", run_dir / "esn.json"
    values, source, train, free = _series(args)
    washout = args.washout if args.washout is not None else min(1000, train // 3)
    ridge = args.ridge if args.ridge is not None else (1e-14 if args.csv is None else 1e-8)
    if washout >= train - 1:
        raise UsageError(f"--washout must be below --train - 1 = {train - 1}, got {washout}")
    mean, std = float(values[:train].mean()), float(values[:train].std())
    scaled = ((values - mean) / std * SCALE)[:, None]  # (train + free, 1)
    esn = EchoStateNetwork(
        1,
        args.units,
        1,
        spectral_radius=args.spectral_radius,
        leak_rate=args.leak_rate,
        input_scaling=args.input_scaling,
        density=args.density,
        ridge=ridge,
        seed=args.seed,
        bias_scaling=args.bias_scaling,
    )
    print(
        f"esn {source}: fit on {train} values ({washout} washed out), then {free} free-running "
        f"steps; {args.units} units",
        file=sys.stderr,
    )
    esn.fit(scaled[: train - 1], scaled[1:train], washout=washout)
    one_step = esn.predict(scaled[: train - 1]).numpy()[washout:, 0] / SCALE * std + mean
    closed = esn.generate(free, warmup=scaled[:train]).numpy()[:, 0] / SCALE * std + mean
    truth = values[train : train + free]
    norm = float(values.std())

    def nrmse(a, b) -> float:
        return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)) / norm)

    metrics = {
        "source": source,
        "train": train,
        "washout": washout,
        "free": free,
        "train_one_step_nrmse": nrmse(one_step, values[washout + 1 : train]),
        "free_run_nrmse": nrmse(closed, truth),
    }
    horizon = args.horizon if args.horizon <= free else None
    if horizon:
        metrics[f"nrmse_step_{horizon}"] = abs(closed[horizon - 1] - truth[horizon - 1]) / norm
    metrics["config"] = json.loads(esn.config.to_json())
    context = values[max(0, train - free) : train]
    run_dir.mkdir(parents=True, exist_ok=True)
    plot_esn_prediction(
        png,
        truth,
        closed,
        start=train,
        context=context,
        mark=horizon,
        title=f"{source}: ESN {args.units} units, free run from step {train}",
    )
    numbers.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"training one-step NRMSE {metrics['train_one_step_nrmse']:.3g}")
    if horizon:
        print(f"free-run NRMSE at step {horizon}: {metrics[f'nrmse_step_{horizon}']:.3g}")
    print(f"free-run NRMSE over {free} steps: {metrics['free_run_nrmse']:.3g}")
    if not metrics["free_run_nrmse"] < 1.0:
        print(
            "the free run diverged (NRMSE above 1): raise --ridge (e.g. 1e-8) or lower "
            "--spectral-radius",
            file=sys.stderr,
        )
    print(f"plot: {png}  numbers: {numbers}")
    return 0
