"""Speed of the cells (issue 5): fused kernels vs reference loop vs a PyTorch loop vs torch.nn.

The same code as ``rnnkit bench`` (rnnkit.kernels.bench); this script takes the same options:

    .venv/bin/python benchmarks/bench_cells.py                 # the full run (tens of minutes)
    .venv/bin/python benchmarks/bench_cells.py --shapes 1x1000x64x64 --cells lstm --repeats 3
"""

from __future__ import annotations

import sys

from rnnkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
