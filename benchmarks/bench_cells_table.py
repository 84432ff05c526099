"""Markdown table of a ``rnnkit bench --json FILE`` run (for BENCHMARKS.md).

    .venv/bin/python benchmarks/bench_cells_table.py FILE.json

One row per shape and cell: best times of the fused path and of torch.nn (training step and
forward), the fused/torch ratio, the reference loop's and the hand-written loop's ratio to
torch.nn when they were timed, and the fused training rate against the measured sgemm rate.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    data = json.loads(open(path).read())
    rows = data["rows"]
    index = {(tuple(r["shape"]), r["cell"], r["impl"], r["mode"]): r for r in rows}
    print(
        f"{data['threads']} thread(s); measured sgemm {data['sgemm_gflops']:.0f} GFLOP/s; "
        "times are the best of the interleaved runs, ratio = fused / torch.nn\n"
    )
    print(
        "| B x T x I x H | cell | train fused | train torch.nn | ratio | ref. loop | "
        "PyTorch loop | fwd fused | fwd torch.nn | ratio | fused train GFLOP/s (% sgemm) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    seen = []
    for r in rows:
        key = (tuple(r["shape"]), r["cell"])
        if key not in seen:
            seen.append(key)
    for shape, cell in seen:

        def get(impl, mode, shape=shape, cell=cell):
            return index.get((shape, cell, impl, mode))

        def ms(row):
            return "-" if row is None else f"{row['ms']:.2f} ms"

        def ratio(row):
            return "-" if row is None or row["ratio"] is None else f"{row['ratio']:.2f}x"

        tf, tt = get("fused", "train"), get("torch", "train")
        ff, ft = get("fused", "forward"), get("torch", "forward")
        rate = "-" if tf is None else f"{tf['gflops']:.0f} ({100 * tf['sgemm_fraction']:.0f} %)"
        print(
            f"| {'x'.join(map(str, shape))} | {cell} | {ms(tf)} | {ms(tt)} | {ratio(tf)} | "
            f"{ratio(get('reference', 'train'))} | {ratio(get('loop', 'train'))} | "
            f"{ms(ff)} | {ms(ft)} | {ratio(ff)} | {rate} |"
        )


if __name__ == "__main__":
    main(sys.argv[1])
