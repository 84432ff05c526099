"""Where the fused LSTM's time goes, next to torch.nn.LSTM (oneDNN) in the same process.

For each shape (B x T x I x H) and mode (``train``: forward + backward of ``ys.sum()``,
``forward``: under no_grad) it times the fused layer and ``torch.nn.LSTM`` alternately (best of
``--repeats``), then runs the fused layer again with the kernels' phase counters on and prints
the share of each phase: the sequence-long products (input projection, dx, weight gradients),
the per-step recurrent product, the cell update, the per-step barrier, packing the weights and
the rest. Phase times are thread-time divided by the team size. The CPU model and the ISA the
extension was built for are printed first (build the AVX2 variant on an AVX-512 machine with
``RNNKIT_EXTRA_CFLAGS=-mno-avx512f`` and its own ``TORCH_EXTENSIONS_DIR``).

    .venv/bin/python benchmarks/profile_lstm.py --shapes 32x100x128x128 --repeats 7
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from rnnkit import LSTMCell, Recurrent
from rnnkit.kernels import _ext, mode

SHAPES = "32x100x128x128,64x50x256x256,32x100x512x512,32x64x64x384,1x1000x64x64,4x1000x64x64"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn) -> float:
    start = clock()
    fn()
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=SHAPES, help="comma-separated BxTxIxH")
    parser.add_argument("--modes", default="train,forward")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    global clock
    clock = CLOCK[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    ext = _ext.load()
    print(f"# {cpu_model()}, extension ISA {ext.ISA}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.clock} clock")  # fmt: skip
    print("shape mode fused_ms torch_ms ratio | " + " ".join(ext.get_profile()))
    for text in args.shapes.split(","):
        for m in args.modes.split(","):
            print(profile(ext, tuple(int(v) for v in text.split("x")), m, args.repeats))


def call(module, x, m: str):
    """One forward (no_grad) or training call of ``module``."""
    if m == "forward":
        with torch.no_grad():
            module(x)
    else:
        module(x.requires_grad_())[0].sum().backward()


def profile(ext, shape: tuple[int, ...], m: str, repeats: int) -> str:
    """One line: best times of fused and torch.nn, their ratio and the fused phases in ms."""
    B, T, I, H = shape  # noqa: E741
    torch.manual_seed(0)
    layer = Recurrent(LSTMCell(I, H))
    ref = torch.nn.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    with mode("fused"):
        call(layer, x, m)
        call(ref, x, m)
        best_f = best_t = float("inf")
        for _ in range(repeats):  # interleaved: machine noise hits both alike
            best_f = min(best_f, timed(lambda: call(layer, x, m)))
            best_t = min(best_t, timed(lambda: call(ref, x, m)))
        runs = max(1, repeats // 2)
        ext.set_profile(True)
        for _ in range(runs):
            call(layer, x, m)
        prof = ext.get_profile()
        ext.set_profile(False)
    team = torch.get_num_threads()
    loops = ("step_product", "cell_update", "barrier")  # thread-time of a team: per thread
    per_call = {k: 1e3 * v / runs / (team if k in loops else 1) for k, v in prof.items()}
    phases = " ".join(f"{v:.2f}" for v in per_call.values())
    text = "x".join(str(v) for v in shape)
    return f"{text} {m} {1e3 * best_f:.2f} {1e3 * best_t:.2f} {best_f / best_t:.2f} | {phases}"


if __name__ == "__main__":
    main()
