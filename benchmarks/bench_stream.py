"""Streaming latency (issue 5): one step of a trained network at batch 1, state kept between calls.

Times, interleaved in one process, the microseconds per step of:
  stream-fused      rnnkit.Stream(net).step(x_t), the fused kernels (the default)
  stream-reference  the same under rnnkit.kernels.mode("reference"): cell.step in Python
  torch.nn.LSTM     net(x_t[None, None], state) of the equal torch.nn.LSTM, one step per call
  torch.nn.LSTMCell cell(x_t[None], state) of the equal torch.nn.LSTMCell

    .venv/bin/python benchmarks/bench_stream.py [--hidden 64] [--input 64] [--threads 1]

Many short runs (200 steps, 30 repeats) and the best of them: on a shared machine a short run
often fits in one time slice, so the best is the undisturbed cost.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n_in, hidden, steps = args.input, args.hidden, args.steps
    xs = torch.randn(steps, n_in)
    layer = rnnkit.Recurrent(rnnkit.LSTMCell(n_in, hidden))
    lstm = torch.nn.LSTM(n_in, hidden, batch_first=True)
    cell = torch.nn.LSTMCell(n_in, hidden)

    def stream_fused() -> None:
        stream = rnnkit.Stream(layer)
        for t in range(steps):
            stream.step(xs[t])

    def stream_reference() -> None:
        stream = rnnkit.Stream(layer)
        with rnnkit.kernels.mode("reference"):
            for t in range(steps):
                stream.step(xs[t])

    @torch.no_grad()
    def torch_lstm() -> None:
        state = None
        for t in range(steps):
            _, state = lstm(xs[t].view(1, 1, -1), state)

    @torch.no_grad()
    def torch_cell() -> None:
        state = None
        for t in range(steps):
            state = cell(xs[t].view(1, -1), state)

    runs = {
        "stream-fused": stream_fused,
        "stream-reference": stream_reference,
        "torch.nn.LSTM": torch_lstm,
        "torch.nn.LSTMCell": torch_cell,
    }
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        fn()  # warm-up (and the kernels' build)
    for _ in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) / steps * 1e6)
    print(
        f"LSTM I={n_in} H={hidden}, batch 1, {steps} steps, {torch.get_num_threads()} threads; "
        f"microseconds per step, best and median of {args.repeats} interleaved runs"
    )
    base = min(samples["torch.nn.LSTM"])
    for name, s in samples.items():
        print(
            f"{name:>18} {min(s):8.1f} us {statistics.median(s):8.1f} us "
            f"{min(s) / base:6.2f}x torch.nn.LSTM"
        )


if __name__ == "__main__":
    main()
