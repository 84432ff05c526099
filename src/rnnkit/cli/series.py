"""``rnnkit forecast`` and ``rnnkit task``: time-series forecasting and the synthetic tasks.

``rnnkit forecast`` trains a forecaster on Mackey-Glass (or a CSV column), predicts the held-out
end of the series one step ahead and closed-loop, and saves the model with a plot;
``rnnkit task adding|copy`` trains on a synthetic long-memory task and reports the held-out loss
against the task's memoryless baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._common import UsageError, csv_column, positive_float, positive_int

CELLS = ("lstm", "gru", "elman", "jordan")
TASKS = ("adding", "copy")
INITS = ("uniform", "orthogonal")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def _add_model_options(parser: argparse.ArgumentParser, hidden: int) -> None:
    model = parser.add_argument_group("model")
    model.add_argument(
        "--cell", default="lstm", metavar="|".join(CELLS), help="recurrent cell (default: lstm)"
    )
    model.add_argument(
        "--hidden",
        type=positive_int,
        default=hidden,
        metavar="N",
        help=f"units (default: {hidden})",
    )
    model.add_argument("--layers", type=positive_int, default=1, metavar="N", help="(default: 1)")
    model.add_argument(
        "--init",
        default="uniform",
        metavar="|".join(INITS),
        help="recurrent weight initialisation (default: uniform, torch's)",
    )


def _add_training_options(
    parser: argparse.ArgumentParser, *, steps: int, batch: int, lr: float
) -> None:
    run = parser.add_argument_group("training")
    run.add_argument(
        "--steps", type=positive_int, default=steps, metavar="N", help=f"steps (default: {steps})"
    )
    run.add_argument(
        "--minutes", type=positive_float, metavar="M", help="stop after M minutes at the latest"
    )
    run.add_argument(
        "--batch-size", type=positive_int, default=batch, metavar="B", help=f"(default: {batch})"
    )
    run.add_argument(
        "--lr", type=positive_float, default=lr, metavar="LR", help=f"AdamW lr (default: {lr})"
    )
    run.add_argument(
        "--clip", type=positive_float, default=1.0, metavar="C", help="max grad norm (default: 1)"
    )
    run.add_argument(
        "--eval-every", type=positive_int, default=100, metavar="N", help="steps (default: 100)"
    )
    run.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")


def register(subparsers: argparse._SubParsersAction) -> None:
    forecast = subparsers.add_parser(
        "forecast",
        help="train a forecaster on a series and plot its predictions",
        description=(
            "Train a recurrent forecaster on windows of a series: Mackey-Glass (tau=17) by "
            "default, or a column of a CSV file. The last --test-fraction of the series is held "
            "out and predicted one step ahead (from the true past) and closed-loop (from the "
            "model's own predictions). The run directory gets config.json (model, scaler, "
            "metrics), model.safetensors and forecast.png."
        ),
    )
    data = forecast.add_argument_group("data")
    data.add_argument("--csv", metavar="PATH", help="a CSV file with a header row")
    data.add_argument("--column", metavar="NAME", help="the CSV column to forecast")
    data.add_argument(
        "--samples",
        type=positive_int,
        default=2000,
        metavar="N",
        help="Mackey-Glass samples (default: 2000)",
    )
    data.add_argument(
        "--window", type=positive_int, default=50, metavar="W", help="input steps (default: 50)"
    )
    data.add_argument(
        "--test-fraction",
        type=_fraction,
        default=0.2,
        metavar="F",
        help="held-out end of the series (default: 0.2)",
    )
    _add_model_options(forecast, hidden=32)
    _add_training_options(forecast, steps=1500, batch=32, lr=3e-3)
    forecast.add_argument("--out", metavar="DIR", help="new run directory (runs/forecast-TIME)")
    forecast.set_defaults(run=run_forecast)

    task = subparsers.add_parser(
        "task",
        help="train on the adding problem or the copy task and compare with the baseline",
        description=(
            "Train on a synthetic long-memory task (Arjovsky et al. 2016's protocols) and report "
            "the held-out loss against the memoryless baseline: adding (MSE; baseline 0.167) or "
            "copy (cross-entropy; baseline 10 ln 8 / (T + 20) nats)."
        ),
    )
    task.add_argument("task", metavar="|".join(TASKS), help="the task")
    task.add_argument(
        "--length",
        type=positive_int,
        default=100,
        metavar="T",
        help="sequence length (adding) or delay (copy) (default: 100)",
    )
    _add_model_options(task, hidden=64)
    _add_training_options(task, steps=2000, batch=64, lr=3e-3)
    task.set_defaults(run=run_task)


def _model_options(args: argparse.Namespace) -> dict:
    if args.cell not in CELLS:
        raise UsageError(f"--cell must be one of {', '.join(CELLS)}, got {args.cell!r}")
    if args.init not in INITS:
        raise UsageError(f"--init must be one of {', '.join(INITS)}, got {args.init!r}")
    return {"recurrent_init": args.init} if args.init != "uniform" else {}


def _fit_config(args: argparse.Namespace):
    from ..train.supervised import FitConfig

    return FitConfig(
        steps=args.steps,
        lr=args.lr,
        clip_norm=args.clip,
        eval_every=args.eval_every,
        max_seconds=None if args.minutes is None else 60.0 * args.minutes,
    )


def _train(model, batches, loss_fn, config, evaluate, label: str):
    """fit() with a progress bar on stderr; a diverged run is bad input (lr too high)."""
    from tqdm import tqdm

    from ..train.supervised import TrainingDiverged, fit

    bar = tqdm(total=config.steps, unit="step", disable=None, dynamic_ncols=True, file=sys.stderr)
    last_eval: list[float] = []

    def on_step(step: int, loss: float, evaluated: float | None) -> None:
        if evaluated is not None:
            last_eval.append(evaluated)
        bar.update(1)
        held = f" held-out {last_eval[-1]:.4g}" if last_eval else ""
        bar.set_postfix_str(f"{label} {loss:.4g}{held}", refresh=False)

    try:
        return fit(model, batches, loss_fn, config, evaluate=evaluate, callback=on_step)
    except TrainingDiverged as err:
        raise UsageError(f"training diverged: {err}") from None
    finally:
        bar.close()


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


def _new_run_dir(out: str | None, prefix: str) -> Path:
    run_dir = Path(out or time.strftime(f"runs/{prefix}-%Y%m%d-%H%M%S"))
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UsageError(f"--out {run_dir} already exists and is not empty; choose a new directory")
    return run_dir


def run_forecast(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..data.series import Scaler, sliding_windows
    from ..models.forecaster import Forecaster, ForecasterConfig
    from ..viz.series import plot_forecast

    cell_options = _model_options(args)
    run_dir = _new_run_dir(args.out, "forecast")
    series, source = _load_series(args)
    n = series.shape[0]
    n_test = round(n * args.test_fraction)
    n_train = n - n_test
    # Training needs one full window plus its target; the test part needs at least one value.
    if n_test < 1 or n_train < args.window + 1:
        raise UsageError(
            f"the series is too short for --window {args.window}: {n} values, of which "
            f"{n_train} for training (needs at least {args.window + 1}) and {n_test} held out "
            "(needs at least 1)"
        )
    torch.manual_seed(args.seed)
    scaler = Scaler.fit(series[:n_train])
    scaled = torch.from_numpy(scaler.transform(series)).float()  # (N,)
    x_train, y_train = sliding_windows(scaled[:n_train], args.window)  # (M, w, 1), (M, 1, 1)
    # Test windows end just before each held-out value and may reach back into the train part.
    x_test, y_test = sliding_windows(scaled[n_train - args.window :], args.window)

    model = Forecaster(
        ForecasterConfig(
            hidden_size=args.hidden,
            cell=args.cell,
            num_layers=args.layers,
            cell_options=cell_options,
        )
    )
    gen = torch.Generator().manual_seed(args.seed)

    def batches(step: int):
        index = torch.randint(0, x_train.shape[0], (args.batch_size,), generator=gen)
        return x_train[index], y_train[index]

    def loss_fn(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y)

    def evaluate(model) -> float:
        return float(torch.nn.functional.mse_loss(model(x_test), y_test))

    config = _fit_config(args)
    print(
        f"forecast {source}: {n} values, train {n_train}, held out {n_test}; "
        f"{args.cell.upper()} {args.hidden}x{args.layers}, window {args.window}",
        file=sys.stderr,
    )
    result = _train(model, batches, loss_fn, config, evaluate, "mse")

    model.eval()
    with torch.no_grad():
        one_step = scaler.inverse(model(x_test)[:, 0, 0].double().numpy())  # (n_test,)
        context = scaled[n_train - args.window : n_train].view(1, -1, 1)  # (1, w, 1)
        closed = scaler.inverse(model.rollout(context, n_test)[0, :, 0].double().numpy())
    truth = series[n_train:]
    std = float(truth.std()) or 1.0
    rmse = float(np.sqrt(np.mean((one_step - truth) ** 2)))
    persistence = float(np.sqrt(np.mean((series[n_train - 1 : -1] - truth) ** 2)))
    horizon = min(n_test, 84)  # Jaeger's 84-step closed-loop horizon for Mackey-Glass
    closed_rmse = float(np.sqrt(np.mean((closed[:horizon] - truth[:horizon]) ** 2)))
    metrics = {
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "one_step_rmse": rmse,
        "one_step_nrmse": rmse / std,
        "persistence_rmse": persistence,
        f"closed_loop_nrmse_{horizon}": closed_rmse / std,
    }

    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(
        run_dir,
        scaler={"mean": scaler.mean, "std": scaler.std},
        source=source,
        window=args.window,
        train=vars(config),
        metrics=metrics,
    )
    context_len = min(n_train, n_test)
    shown = series[n_train - context_len :]
    pad = np.full(context_len, np.nan)
    plot_forecast(
        run_dir / "forecast.png",
        shown,
        {
            "one step ahead": np.concatenate([pad, one_step]),
            "closed loop": np.concatenate([pad, closed]),
        },
        start=n_train - context_len,
        split=n_train,
        title=f"{source}: {args.cell.upper()} {args.hidden}, {result.steps} steps",
    )
    print(
        f"held-out one-step RMSE {rmse:.4g} (NRMSE {rmse / std:.3g}; repeating the last value: "
        f"{persistence:.4g}); closed-loop NRMSE over {horizon} steps {closed_rmse / std:.3g}"
    )
    print(f"trained {result.steps} steps in {result.seconds:.1f} s; saved {run_dir}/")
    print(f"plot: {run_dir / 'forecast.png'}")
    return 0


def run_task(args: argparse.Namespace) -> int:
    import torch

    from ..data import synthetic as syn
    from ..layers import RNN

    if args.task not in TASKS:
        raise UsageError(f"TASK must be one of {', '.join(TASKS)}, got {args.task!r}")
    cell_options = _model_options(args)
    T = args.length
    if args.task == "adding" and T < 2:
        raise UsageError(f"--length must be at least 2 for the adding problem, got {T}")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    held_out_gen = torch.Generator().manual_seed(args.seed + 1_000_003)
    adding = args.task == "adding"
    if adding:
        baseline, unit = syn.ADDING_BASELINE_MSE, "MSE"
        x_val, y_val = syn.adding_problem(1000, T, generator=held_out_gen)
        inputs, outputs = 2, 1
    else:
        baseline, unit = syn.copy_baseline(T), "cross-entropy (nats)"
        seq, y_val = syn.copy_task(500, T, generator=held_out_gen)
        x_val = syn.copy_one_hot(seq)
        inputs, outputs = syn.COPY_INPUT_CATEGORIES, syn.COPY_OUTPUT_CATEGORIES
    net = RNN(
        inputs,
        args.hidden,
        cell=args.cell,
        num_layers=args.layers,
        output_size=outputs,
        **cell_options,
    )

    def batches(step: int):
        if adding:
            return syn.adding_problem(args.batch_size, T, generator=gen)
        seq, target = syn.copy_task(args.batch_size, T, generator=gen)
        return syn.copy_one_hot(seq), target

    def loss_fn(model, x, y):
        ys, _ = model(x)
        if adding:
            return torch.nn.functional.mse_loss(ys[:, -1], y)  # (B, 1): read at the last step
        return torch.nn.functional.cross_entropy(ys.reshape(-1, outputs), y.reshape(-1))

    def evaluate(model) -> float:
        return float(loss_fn(model, x_val, y_val))

    print(
        f"{args.task} T={T}: {args.cell.upper()} {args.hidden}x{args.layers}; baseline {unit} "
        f"{baseline:.4g}",
        file=sys.stderr,
    )
    result = _train(net, batches, loss_fn, _fit_config(args), evaluate, "loss")
    final = result.final_eval
    summary = {
        "task": args.task,
        "length": T,
        "cell": args.cell,
        "hidden": args.hidden,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "held_out": final,
        "baseline": baseline,
        "ratio": final / baseline,
    }
    extra = ""
    if not adding:
        with torch.no_grad():
            predicted = net(x_val)[0][:, -syn.COPY_LENGTH :].argmax(dim=2)
        accuracy = float((predicted == y_val[:, -syn.COPY_LENGTH :]).float().mean())
        summary["copied_symbol_accuracy"] = accuracy
        extra = f"; copied symbols right: {100 * accuracy:.1f}% (chance 12.5%)"
    print(
        f"{args.task} T={T}: held-out {unit} {final:.4g} after {result.steps} steps "
        f"({result.seconds:.0f} s); memoryless baseline {baseline:.4g}; "
        f"{100 * final / baseline:.2f}% of baseline{extra}"
    )
    print(json.dumps(summary))
    return 0


__all__ = ["register", "run_forecast", "run_task"]
