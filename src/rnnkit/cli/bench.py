"""``rnnkit bench``: time the cells — fused kernels, reference loop, a PyTorch loop, torch.nn.

Runs the benchmark of :mod:`rnnkit.kernels.bench` (the same code as
``benchmarks/bench_cells.py``): for each shape B x T x I x H (batch, time steps, input size,
hidden size) and cell, training steps (forward and backward) and forward passes, the
implementations interleaved in one process; the best and the median time printed with the
ratio to the torch.nn module of equal hidden size (below 1: faster than torch) and the GFLOP/s
against a measured sgemm rate. The first lines say where it ran: the CPU model, its
instruction set (AVX-512, AVX2 or portable) and the one the kernels were built for, torch's
version and threads. The full run takes tens of minutes; --shapes, --cells, --impls and
--repeats make a quick one, e.g. ``rnnkit bench --shapes 1x1000x64x64 --cells lstm``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._common import UsageError, positive_int


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..kernels import bench

    parser = subparsers.add_parser(
        "bench",
        help="time the recurrent cells: fused kernels vs reference loop vs torch.nn",
        description=__doc__.split("\n\n", 1)[1].replace(":mod:", "").replace("`", ""),
    )
    shapes = ",".join("x".join(str(d) for d in s) for s in bench.SHAPES)
    parser.add_argument(
        "--shapes",
        metavar="BxTxIxH[,...]",
        default=shapes,
        help=f"comma-separated shapes to time (default: {shapes})",
    )
    parser.add_argument(
        "--cells",
        metavar="CELL[,...]",
        default=",".join(bench.CELLS),
        help=f"comma-separated cells, among {', '.join(bench.CELLS)} (default: all of them)",
    )
    parser.add_argument(
        "--impls",
        metavar="IMPL[,...]",
        default=",".join(bench.IMPLS),
        help=(
            "comma-separated implementations, among fused (rnnkit's C++ kernels), auto (rnnkit's "
            "default route: the faster of fused and native), native (rnnkit through torch's own "
            "op; only the cells torch has), reference (rnnkit's per-step loop), loop (a "
            "hand-written PyTorch loop; only the cells torch has), torch (the torch.nn module) "
            "(default: all of them)"
        ),
    )
    parser.add_argument(
        "--modes",
        metavar="MODE[,...]",
        default=",".join(bench.MODES),
        help="comma-separated, among train (forward and backward) and forward (forward only, "
        "without gradients) (default: both)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=5,
        help="timed runs of each implementation, after one warm-up run (default: 5)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="threads of torch and of the kernels (default: torch's default, usually one per core)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        default=None,
        help="also write the rows, the machine and the sgemm rate to this new JSON file "
        "(default: none)",
    )
    parser.set_defaults(run=run)


def _parse_shapes(text: str) -> list[tuple[int, int, int, int]]:
    shapes = []
    for part in _list(text):
        try:
            dims = tuple(int(d) for d in part.lower().split("x"))
        except ValueError:
            dims = ()
        if len(dims) != 4 or min(dims) < 1:
            raise UsageError(f"--shapes must be BxTxIxH with positive integers, got {part!r}")
        shapes.append(dims)
    if not shapes:
        raise UsageError("--shapes must name at least one BxTxIxH shape, got none")
    return shapes


def _choices(option: str, text: str, allowed) -> list[str]:
    values = _list(text)
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise UsageError(
            f"{option} must be a comma-separated list of {', '.join(allowed)}, got {text!r}"
        )
    return values


def where() -> str:
    """The CPU model, its ISA level and the kernels' build level, as one line."""
    from .. import kernels
    from ..kernels import _cpu, _ext

    line = _cpu.describe()
    return line if kernels.available() else f"{line} (kernels unavailable: {_ext.error()})"


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import kernels
    from ..kernels import bench

    shapes = _parse_shapes(args.shapes)
    cells = _choices("--cells", args.cells, tuple(bench.CELLS))
    impls = _choices("--impls", args.impls, bench.IMPLS)
    modes = _choices("--modes", args.modes, bench.MODES)
    if args.json is not None and args.json.exists():
        raise UsageError(f"--json {args.json} already exists; choose a new file")
    if "fused" in impls and not kernels.available():
        raise UsageError("the fused kernels could not be built here; drop 'fused' from --impls")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(where(), flush=True)
    sgemm = bench.sgemm_gflops()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"measured sgemm (1024^3 float32): {sgemm:.1f} GFLOP/s; "
        f"best and median of {args.repeats} interleaved runs; ratio = best / best of torch.nn",
        flush=True,
    )
    print(bench.HEADER, flush=True)
    rows = bench.run(
        shapes,
        cells,
        impls,
        modes,
        args.repeats,
        sgemm=sgemm,
        report=lambda row: print(bench.format_row(row), flush=True),
    )
    if args.json is not None:
        payload: dict[str, Any] = {
            "machine": where(),
            "sgemm_gflops": sgemm,
            "threads": torch.get_num_threads(),
        }
        payload["rows"] = [row.as_dict() for row in rows]
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
