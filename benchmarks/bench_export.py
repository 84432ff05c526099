"""onnxruntime vs rnnkit (issue 13): forward latency of the exported graphs, side by side.

For each cell, in one process, interleaved, one thread each (torch.set_num_threads(1),
onnxruntime intra_op_num_threads=1):
  step   batch 1: rnnkit.Stream(layer).step(x_t) vs the step graph (to_onnx(step=True)) run once
         per step with its state fed back; microseconds per step.
  seq    batch 32: layer(x) under no_grad vs the sequence graph; milliseconds per call.
The ratio is onnxruntime / rnnkit (below 1: onnxruntime is faster). Best of --repeats runs.

    .venv/bin/python benchmarks/bench_export.py [--cells lstm,gru_after] [--hidden 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import rnnkit
from rnnkit.cells import VARIANTS
from rnnkit.export import to_onnx


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, args: argparse.Namespace, tmp: Path) -> str:
    """One line of the table for the variant ``name``."""
    n_in, hidden, steps = args.input, args.hidden, args.steps
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(VARIANTS[name].build(n_in, hidden)).eval()
    xs = torch.randn(1, steps, n_in)
    x = torch.randn(args.batch, args.time, n_in)
    to_onnx(layer, tmp / "step.onnx", xs[:, :2], step=True)
    to_onnx(layer, tmp / "seq.onnx", x[:, :2])
    step_sess, seq_sess = session(tmp / "step.onnx"), session(tmp / "seq.onnx")
    state_names = [i.name for i in step_sess.get_inputs()[1:]]
    xs_np = [xs[:, t].numpy() for t in range(steps)]
    x_np = x.numpy()
    outs: dict[str, np.ndarray] = {}

    def stream() -> None:
        s = rnnkit.Stream(layer)
        outs["stream"] = np.stack([s.step(xs[0, t]).numpy() for t in range(steps)])

    def ort_step() -> None:
        state = {n: np.zeros((1, layer.output_size), np.float32) for n in state_names}
        ys = []
        for t in range(steps):
            y, *new = step_sess.run(None, {"x_t": xs_np[t], **state})
            state = dict(zip(state_names, new))
            ys.append(y[0])
        outs["ort_step"] = np.stack(ys)

    @torch.no_grad()
    def seq() -> None:
        outs["seq"] = layer(x)[0].numpy()

    def ort_seq() -> None:
        outs["ort_seq"] = seq_sess.run(None, {"x": x_np})[0]

    runs = {"stream": stream, "ort_step": ort_step, "seq": seq, "ort_seq": ort_seq}
    for fn in runs.values():
        fn()  # warm-up (and the kernels' build)
    found = {k: float("inf") for k in runs}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            found[k] = min(found[k], best(fn, 1))
    diff = max(
        float(np.abs(outs["stream"] - outs["ort_step"]).max()),
        float(np.abs(outs["seq"] - outs["ort_seq"]).max()),
    )
    us = {k: found[k] / steps * 1e6 for k in ("stream", "ort_step")}
    ms = {k: found[k] * 1e3 for k in ("seq", "ort_seq")}
    return (
        f"{name:24} {us['stream']:9.1f} us {us['ort_step']:7.1f} us "
        f"{us['ort_step'] / us['stream']:6.2f} {ms['seq']:8.2f} ms {ms['ort_seq']:6.2f} ms "
        f"{ms['ort_seq'] / ms['seq']:6.2f}  {diff:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cells", default="lstm,lstm_peephole,gru_after,gru_before,elman_tanh,jordan_identity"
    )
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200, help="steps per streaming run")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--time", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    n_in, hidden, steps = args.input, args.hidden, args.steps
    print(f"I={n_in} H={hidden}; step: batch 1, {steps} steps; seq: {args.batch}x{args.time}")
    print(
        f"{'cell':24} {'step rnnkit':>12} {'step ort':>10} {'ratio':>6} "
        f"{'seq rnnkit':>11} {'seq ort':>9} {'ratio':>6}  max|diff|"
    )
    for name in args.cells.split(","):
        print(measure(name, args, tmp))


if __name__ == "__main__":
    main()
