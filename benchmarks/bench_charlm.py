"""Character language model on the built-in corpus: held-out bits/char against zlib and lzma.

Runs ``rnnkit train`` (the real command, default options unless more are given) for a time
budget in a fresh run directory, then prints the held-out bits/char at every evaluation, the
training speed, and the compressors' ratios on the same text (bits per byte = bits per
character up to the few non-ASCII characters), and the machine's load average, because a busy
machine trains slower.

    python benchmarks/bench_charlm.py                      # the default: 3 minutes
    python benchmarks/bench_charlm.py --minutes 10 -- --hidden 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnnkit.data.text import compression_bits, default_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget")
    parser.add_argument("--out", help="run directory (default: a new temporary one)")
    parser.add_argument("train_args", nargs="*", help="more rnnkit train options, after --")
    args = parser.parse_args()

    bits = compression_bits(default_corpus().text)
    ratios = {"zlib -9": bits["zlib"], "lzma -9e": bits["lzma"]}
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-charlm-")) / "run"
    command = [sys.executable, "-m", "rnnkit.cli", "train", "--minutes", str(args.minutes)]
    command += ["--out", str(out), *args.train_args]
    print("command:", " ".join(["rnnkit", *command[3:]]), flush=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()[0]

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((out / "config.json").read_text())
    evals = [r for r in records if r.get("val_bits_per_char") is not None]
    speeds = sorted(r["chars_per_second"] for r in records)
    last = evals[-1]
    m = config["model"]
    print()
    print(
        f"model: {m['num_layers']}-layer {m['cell']}, hidden {m['hidden_size']}, embed "
        f"{m['embed_size']}; batch {config['train']['batch_size']} x {config['train']['seq_len']}"
    )
    print(f"load average (1 min) before / after: {load_before:.1f} / {load_after:.1f}")
    print(f"wall time of the command (with start-up): {wall:.0f} s")
    print(f"training speed (median over logged windows): {speeds[len(speeds) // 2]:,.0f} chars/s")
    print("held-out bits/char by time:")
    for r in evals:
        print(
            f"  step {r['step']:>6}  {r['elapsed_seconds']:>6.0f} s  {r['val_bits_per_char']:.3f}"
        )
    print()
    print(f"{'':<28}{'bits/char':>10}")
    print(f"{'rnnkit, held-out (final)':<28}{last['val_bits_per_char']:>10.3f}")
    for name, value in ratios.items():
        print(f"{name + ', whole corpus':<28}{value:>10.3f}")
    for name, value in ratios.items():
        verdict = "below" if last["val_bits_per_char"] < value else "ABOVE"
        print(f"rnnkit is {verdict} {name} by {abs(value - last['val_bits_per_char']):.3f}")
    print(f"run directory: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
