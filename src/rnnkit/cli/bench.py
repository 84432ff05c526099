"""``rnnkit bench``: time the cells — fused kernels, reference loop, a PyTorch loop, torch.nn.

Runs the benchmark of :mod:`rnnkit.kernels.bench` (the same code as
``benchmarks/bench_cells.py``): for each shape B x T x I x H and cell, training steps (forward
and backward) and forward passes, the implementations interleaved in one process; the best and
the median time printed with the ratio to the torch.nn module of equal hidden size and the
GFLOP/s against a measured sgemm rate. The full run takes tens of minutes; ``--shapes``,
``--cells``, ``--impls`` and ``--repeats`` make a quick one, e.g.
``rnnkit bench --shapes 1x1000x64x64 --cells lstm``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._common import UsageError, check_writable_file, positive_int, threads_count


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..kernels import bench

    parser = subparsers.add_parser(
        "bench",
        help="time the recurrent cells: fused kernels vs reference loop vs torch.nn",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
    )
    shapes = ",".join("x".join(str(d) for d in s) for s in bench.SHAPES)
    parser.add_argument(
        "--shapes",
        default=shapes,
        help=f"comma-separated BxTxIxH shapes (default: the issue's six, {shapes})",
    )
    parser.add_argument(
        "--cells",
        default=",".join(bench.CELLS),
        help=f"comma-separated cells among {', '.join(bench.CELLS)} (default: all)",
    )
    parser.add_argument(
        "--impls",
        default=",".join(bench.IMPLS),
        help=f"comma-separated implementations among {', '.join(bench.IMPLS)} (default: all)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(bench.MODES),
        help="comma-separated: train (forward+backward), forward (default: both)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="timed runs per implementation"
    )
    parser.add_argument(
        "--threads", type=threads_count, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the rows to this new JSON file"
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


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import kernels
    from ..kernels import bench

    shapes = _parse_shapes(args.shapes)
    cells = _choices("--cells", args.cells, tuple(bench.CELLS))
    impls = _choices("--impls", args.impls, bench.IMPLS)
    modes = _choices("--modes", args.modes, bench.MODES)
    if args.json is not None and (args.json.exists() or args.json.is_symlink()):
        raise UsageError(f"--json {args.json} already exists; choose a new file")
    if args.json is not None:
        check_writable_file(args.json, "--json")
    if "fused" in impls and not kernels.available():
        raise UsageError("the fused kernels could not be built here; drop 'fused' from --impls")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
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
        payload: dict[str, Any] = {"sgemm_gflops": sgemm, "threads": torch.get_num_threads()}
        payload["rows"] = [row.as_dict() for row in rows]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
