"""``rnnkit forecast`` and ``rnnkit task``: tiny runs end to end, and every bad input exits 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.cli._common import cell_names
from rnnkit.data.mackey_glass import mackey_glass
from rnnkit.data.series import Scaler, sliding_windows
from rnnkit.models.forecaster import Forecaster

TINY = ["--steps", "3", "--hidden", "4", "--eval-every", "2"]


def sine_csv(tmp_path, n=120, name="wave.csv"):
    path = tmp_path / name
    rows = ["t,wave,label"] + [f"{t},{math.sin(t / 4):.6f},x" for t in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_forecast_mackey_glass_writes_a_run_that_reloads(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["forecast", "--samples", "300", "--window", "12", "--out", str(out), *TINY]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "held-out one-step RMSE" in stdout and str(out) in stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "forecast.png",
        "model.safetensors",
    ]
    assert (out / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, extra = Forecaster.load(out)
    assert extra["source"].startswith("Mackey-Glass") and extra["window"] == 12
    assert extra["train"]["steps"] == 3
    # The saved scaler and weights reproduce the reported held-out one-step RMSE: the same
    # series (after the 500-sample transient), standardised with the training part's scaler.
    series = mackey_glass(300, transient=500)
    scaler = Scaler(**extra["scaler"])
    np.testing.assert_allclose(scaler.mean, [series[:240].mean()], rtol=1e-12)
    scaled = torch.from_numpy(scaler.transform(series)).float()
    x, _ = sliding_windows(scaled[240 - 12 :], 12)
    with torch.no_grad():
        pred = scaler.inverse(model(x)[:, 0, 0].double().numpy())
    rmse = float(np.sqrt(np.mean((pred - series[240:]) ** 2)))
    assert rmse == pytest.approx(extra["metrics"]["one_step_rmse"], rel=1e-5)


def test_forecast_from_a_csv_column(tmp_path, capsys):
    path = sine_csv(tmp_path)
    out = tmp_path / "run"
    code = main(
        [
            *("forecast", "--csv", str(path), "--column", "wave", "--window", "8"),
            *("--out", str(out), "--cell", "gru", "--init", "orthogonal", *TINY),
        ]
    )
    assert code == 0
    _, extra = Forecaster.load(out)
    assert extra["source"] == f"{path}:wave"
    wave = np.sin(np.arange(96) / 4)
    np.testing.assert_allclose(extra["scaler"]["mean"], [wave.mean()], atol=1e-5)
    assert "GRU 4x1" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_task_reports_against_the_baseline(task, capsys):
    assert main(["task", task, "--length", "6", *TINY]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    baseline = 1 / 6 if task == "adding" else 10 * math.log(8) / 26
    assert summary["baseline"] == pytest.approx(baseline)
    assert summary["ratio"] == pytest.approx(summary["held_out"] / baseline)
    assert summary["steps"] == 3
    assert "of baseline" in lines[0]


def error_of(capsys, argv) -> str:
    """Run ``argv``; it must exit with 2 and print one line on stderr, no traceback."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own checks (types, missing arguments)
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_forecast_bad_input(tmp_path, capsys):
    csv = sine_csv(tmp_path)
    base = ["forecast", "--out", str(tmp_path / "never"), *TINY]
    assert "does not exist" in error_of(capsys, [*base, "--csv", "nope.csv", "--column", "a"])
    message = error_of(capsys, [*base, "--csv", str(csv), "--column", "temp"])
    assert "'t', 'wave', 'label'" in message and "'temp'" in message
    assert "must hold numbers, got 'x' on line 2" in error_of(
        capsys, [*base, "--csv", str(csv), "--column", "label"]
    )
    nan = tmp_path / "nan.csv"
    nan.write_text("v\n1\n2\nNaN\n")
    assert "finite numbers" in error_of(capsys, [*base, "--csv", str(nan), "--column", "v"])
    assert "--csv needs --column" in error_of(capsys, [*base, "--csv", str(csv)])
    assert "--column needs --csv" in error_of(capsys, [*base, "--column", "wave"])
    short = error_of(capsys, [*base, "--csv", str(csv), "--column", "wave", "--window", "100"])
    assert "too short for --window 100" in short
    assert "--cell: invalid choice: 'transformer'" in error_of(
        capsys, [*base, "--cell", "transformer"]
    )
    assert "--init: invalid choice: 'zeros'" in error_of(capsys, [*base, "--init", "zeros"])
    assert "positive integer, got 0" in error_of(capsys, [*base, "--hidden", "0"])
    assert "positive integer, got -3" in error_of(capsys, [*base, "--steps", "-3"])
    assert "positive number" in error_of(capsys, [*base, "--lr", "0"])
    assert "in (0, 1)" in error_of(capsys, [*base, "--test-fraction", "1.5"])
    assert not (tmp_path / "never").exists()


def test_forecast_never_overwrites_a_run(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "config.json").write_text("precious")
    message = error_of(capsys, ["forecast", "--out", str(out), *TINY])
    assert "already exists and is not empty" in message
    assert (out / "config.json").read_text() == "precious"
    assert [p.name for p in out.iterdir()] == ["config.json"]


def test_task_bad_input(capsys):
    assert "invalid choice: 'sort'" in error_of(capsys, ["task", "sort"])
    assert "--cell: invalid choice: 'xyz'" in error_of(capsys, ["task", "adding", "--cell", "xyz"])
    assert "at least 2" in error_of(capsys, ["task", "adding", "--length", "1"])
    assert "positive integer, got 0" in error_of(capsys, ["task", "copy", "--length", "0"])
    assert "positive integer" in error_of(capsys, ["task", "copy", "--batch-size", "-1"])


@pytest.mark.slow
def test_console_script_prints_one_line_and_exits_2(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", "task", "copy", "--cell", "nope"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    # One line: argparse's usage block is left out, the choices are named.
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("rnnkit task: error: argument --cell: invalid choice: 'nope'")
    assert all(name in line for name in cell_names()) and line.endswith("(see rnnkit task --help)")
    assert proc.stdout == ""


@pytest.mark.slow
def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", "task", "adding", "--length", "6", *TINY],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    # One line when it starts and one when it ends (more every 10 s); no bar, no carriage return.
    assert "adding: 0/3 step (0%)" in lines
    assert any(line.startswith("adding: 3/3 step (100%) in ") for line in lines)
    assert "\r" not in proc.stderr
