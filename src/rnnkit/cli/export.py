"""``rnnkit export RUN --onnx PATH [--step]``: a trained model as an ONNX file, checked.

RUN is a directory written by ``rnnkit train`` (a character language model) or ``rnnkit
forecast`` (a forecaster); ``rnnkit task`` saves no model. The file is written to a temporary
name, run in onnxruntime next to the model on an example input, and renamed to PATH only when
the two agree (the largest difference is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from ._common import UsageError

#: The largest difference between onnxruntime and the model that counts as the same function
#: (float32 sums in a different order differ by a few ulps).
TOLERANCE = 1e-4


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a trained model as an ONNX file, checked in onnxruntime",
        description=(
            "Write the model of a run made by rnnkit train or rnnkit forecast as ONNX, its "
            "recurrent layers as native RNN/GRU/LSTM nodes (Jordan cells as a Scan), run the "
            "file in onnxruntime against the model and keep it only if they agree. Needs the "
            "onnx extra (pip install 'rnnkit[onnx]')."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="a directory made by rnnkit train/forecast")
    parser.add_argument("--onnx", required=True, metavar="PATH", help="the ONNX file to write")
    parser.add_argument(
        "--step",
        action="store_true",
        help="write the single-step graph (x_t and the state in, y_t and the next state out)",
    )
    parser.set_defaults(run=run_export)


def _load(run_dir: str):
    """The run's model and an example input of it."""
    import torch

    from ..models.forecaster import CONFIG_FILE, Forecaster
    from ..train import load_model
    from ..train.checkpoint import CheckpointError

    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"RUN must be a run directory, got {run_dir!r} (no such directory)")
    try:
        raw = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        raw = {}
    gen = torch.Generator().manual_seed(0)
    if isinstance(raw, dict) and raw.get("model") == "Forecaster":
        try:
            model, extra = Forecaster.load(path)
        except (ValueError, FileNotFoundError) as err:
            raise UsageError(str(err)) from None
        window = extra.get("window", 16)
        window = window if isinstance(window, int) and window > 0 else 16
        x = torch.randn(2, window, model.config.input_size, generator=gen)
        return model.eval(), x
    try:
        lm, _ = load_model(path)
    except CheckpointError as err:
        raise UsageError(
            f"{err} (RUN must be a directory of rnnkit train or rnnkit forecast; rnnkit task "
            "saves no model)"
        ) from None
    ids = torch.randint(0, lm.config.vocab_size, (2, 32), generator=gen)
    return lm, ids


def run_export(args: argparse.Namespace) -> int:
    try:
        from ..export import to_onnx, verify
    except ImportError as err:
        raise UsageError(f"needs the onnx extra (pip install 'rnnkit[onnx]'): {err}") from None
    target = Path(args.onnx)
    if target.is_dir():
        raise UsageError(f"--onnx must be a file path, got the directory {target}")
    if not target.parent.is_dir():
        raise UsageError(f"--onnx {target}: the directory {target.parent} does not exist")
    model, example = _load(args.run_dir)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            to_onnx(model, tmp, example, step=args.step)
        except (TypeError, ValueError) as err:
            raise UsageError(f"cannot export {args.run_dir}: {err}") from None
        diff = verify(model, tmp, example, step=args.step)
        if not diff <= TOLERANCE:
            raise UsageError(
                f"onnxruntime disagrees with the model by {diff:.3g} (more than {TOLERANCE:g}); "
                f"nothing written"
            )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    what = "single-step graph" if args.step else "graph"
    shape = "x".join(str(d) for d in example.shape)
    print(
        f"wrote {target} ({type(model).__name__} {what}, {target.stat().st_size} bytes); "
        f"onnxruntime vs rnnkit on a {shape} example: max abs difference {diff:.3g}"
    )
    return 0


__all__ = ["register", "run_export"]
