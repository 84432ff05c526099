"""``rnnkit forecast``: train a forecaster on a series and plot its held-out predictions.

The series is Mackey-Glass (tau = 17) or a column of a CSV file. The last ``--test-fraction`` is
held out and predicted one step ahead (from the true past) and closed-loop (from the model's own
predictions); the run directory gets config.json (model, scaler, metrics), model.safetensors
and forecast.png.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

from ..train.supervised import FitConfig
from ._common import (
    UsageError,
    add_option,
    add_out_option,
    apply_threads,
    csv_column,
    fraction,
    new_run_dir,
    positive_int,
)
from ._fit import (
    Recipe,
    add_recipe_options,
    cell_options,
    check_fit_memory,
    fit_config,
    train_with_progress,
)


@dataclass(frozen=True)
class ForecastRecipe(Recipe):
    """The defaults of ``rnnkit forecast`` (see :class:`~rnnkit.cli._fit.Recipe`).

    Attributes:
        samples: Mackey-Glass values generated.
        window: past values the forecaster reads.
        test_fraction: the held-out end of the series.
    """

    fit: FitConfig = field(default_factory=lambda: FitConfig(steps=1500, lr=3e-3))
    samples: int = 2000
    window: int = 50
    test_fraction: float = 0.2


RECIPE = ForecastRecipe()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forecast",
        help="train a forecaster on a series and plot its predictions",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
    )
    data = parser.add_argument_group("data")
    data.add_argument("--csv", metavar="PATH", help="a CSV file with a header row (default: none)")
    data.add_argument(
        "--column",
        metavar="NAME",
        help="the CSV column to forecast (default: none; needed with --csv)",
    )
    add_option(data, "--samples", RECIPE, "Mackey-Glass values", type=positive_int, metavar="N")
    add_option(
        data, "--window", RECIPE, "input steps per prediction", type=positive_int, metavar="W"
    )
    add_option(
        data, "--test-fraction", RECIPE, "held-out end of the series", type=fraction, metavar="F"
    )
    add_recipe_options(parser, RECIPE)
    add_out_option(parser, "forecast", "the model, its config and the plot")
    parser.set_defaults(run=run_forecast)


def _load_series(args: argparse.Namespace):
    from ..data.mackey_glass import mackey_glass

    if args.csv is None:
        if args.column is not None:
            raise UsageError("--column needs --csv PATH (the default series is Mackey-Glass)")
        return mackey_glass(args.samples, transient=500), "Mackey-Glass (tau=17)"
    if args.column is None:
        raise UsageError("--csv needs --column NAME, the column to forecast")
    values = csv_column(args.csv, args.column)
    return values, f"{args.csv}:{args.column}"


def _train_length(n: int, args: argparse.Namespace) -> int:
    """Values before the held-out end; training needs a window and its target, the test one."""
    n_test = round(n * args.test_fraction)
    n_train = n - n_test
    if n_test < 1 or n_train < args.window + 1:
        raise UsageError(
            f"the series is too short for --window {args.window}: {n} values, of which "
            f"{n_train} for training (needs at least {args.window + 1}) and {n_test} held out "
            "(needs at least 1)"
        )
    return n_train


def _predict(model, scaler, scaled, n_train: int, window: int):
    """One-step-ahead and closed-loop predictions of the held-out end, in the series' units."""
    import torch

    from ..data.series import sliding_windows

    # Test windows end just before each held-out value and may reach back into the train part.
    x_test, _ = sliding_windows(scaled[n_train - window :], window)
    model.eval()
    with torch.no_grad():
        one_step = scaler.inverse(model(x_test)[:, 0, 0].double().numpy())  # (n_test,)
        context = scaled[n_train - window : n_train].view(1, -1, 1)  # (1, w, 1)
        closed = model.rollout(context, len(scaled) - n_train)[0, :, 0]
    return one_step, scaler.inverse(closed.double().numpy())


def _metrics(series, n_train: int, one_step, closed, result) -> dict:
    """RMSE and NRMSE one step ahead, the persistence baseline, closed-loop NRMSE."""
    import numpy as np

    truth = series[n_train:]
    std = float(truth.std()) or 1.0
    rmse = float(np.sqrt(np.mean((one_step - truth) ** 2)))
    horizon = min(len(truth), 84)  # Jaeger's 84-step closed-loop horizon for Mackey-Glass
    closed_rmse = float(np.sqrt(np.mean((closed[:horizon] - truth[:horizon]) ** 2)))
    return {
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "one_step_rmse": rmse,
        "one_step_nrmse": rmse / std,
        "persistence_rmse": float(np.sqrt(np.mean((series[n_train - 1 : -1] - truth) ** 2))),
        f"closed_loop_nrmse_{horizon}": closed_rmse / std,
    }


def _plot(path, series, n_train: int, one_step, closed, title: str) -> None:
    """The held-out end with as much context before it, and both predictions."""
    import numpy as np

    from ..viz.series import plot_forecast

    context_len = min(n_train, len(series) - n_train)
    pad = np.full(context_len, np.nan)
    predictions: dict[str, Any] = {
        "one step ahead": np.concatenate([pad, one_step]),
        "closed loop": np.concatenate([pad, closed]),
    }
    start = n_train - context_len
    plot_forecast(path, series[start:], predictions, start=start, split=n_train, title=title)


def run_forecast(args: argparse.Namespace) -> int:
    import torch

    from ..data.series import Scaler, sliding_windows
    from ..models.forecaster import Forecaster, ForecasterConfig

    run_dir = new_run_dir(args.out, "forecast")
    check_fit_memory(args, inputs=1, outputs=1, steps=args.window, flag="--window")
    series, source = _load_series(args)
    n_train = _train_length(series.shape[0], args)
    apply_threads(args)
    torch.manual_seed(args.seed)
    scaler = Scaler.fit(series[:n_train])
    scaled = torch.from_numpy(scaler.transform(series)).float()  # (N,)
    x_train, y_train = sliding_windows(scaled[:n_train], args.window)  # (M, w, 1), (M, 1, 1)
    x_test, y_test = sliding_windows(scaled[n_train - args.window :], args.window)
    options = {"hidden_size": args.hidden, "cell": args.cell, "num_layers": args.layers}
    model = Forecaster(ForecasterConfig(**options, cell_options=cell_options(args)))
    gen = torch.Generator().manual_seed(args.seed)

    def batches(step: int):
        index = torch.randint(0, x_train.shape[0], (args.batch_size,), generator=gen)
        return x_train[index], y_train[index]

    def loss_fn(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y)

    config = fit_config(args)
    print(
        f"forecast {source}: {series.shape[0]} values, train {n_train}, held out "
        f"{series.shape[0] - n_train}; {args.cell.upper()} {args.hidden}x{args.layers}, "
        f"window {args.window}",
        file=sys.stderr,
    )
    result = train_with_progress(
        model, batches, loss_fn, config, lambda m: float(loss_fn(m, x_test, y_test)), "forecast"
    )
    one_step, closed = _predict(model, scaler, scaled, n_train, args.window)
    metrics = _metrics(series, n_train, one_step, closed, result)
    run_dir.mkdir(parents=True, exist_ok=True)
    scaler_json = {"mean": scaler.mean, "std": scaler.std}
    train = config.to_dict()
    model.save(
        run_dir, scaler=scaler_json, source=source, window=args.window, train=train, metrics=metrics
    )
    title = f"{source}: {args.cell.upper()} {args.hidden}, {result.steps} steps"
    _plot(run_dir / "forecast.png", series, n_train, one_step, closed, title)
    horizon = next(k for k in metrics if k.startswith("closed_loop_nrmse_"))
    print(
        f"held-out one-step RMSE {metrics['one_step_rmse']:.4g} (NRMSE "
        f"{metrics['one_step_nrmse']:.3g}; repeating the last value: "
        f"{metrics['persistence_rmse']:.4g}); closed-loop NRMSE over "
        f"{horizon.rsplit('_', 1)[1]} steps {metrics[horizon]:.3g}"
    )
    print(f"trained {result.steps} steps in {result.seconds:.1f} s; saved {run_dir}/")
    print(f"plot: {run_dir / 'forecast.png'}")
    return 0


__all__ = ["register", "run_forecast"]
