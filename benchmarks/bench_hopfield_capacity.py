"""Hopfield capacity: recall against load P/N for the Hebbian, Storkey and pseudo-inverse rules.

Random ±1 patterns, probes with 10 % of bits flipped, async recall to a fixed point, several
trials; the same patterns and probes for every rule. Prints, per N, a Markdown table (fraction
recalled exactly, mean final overlap) and the load at which each curve crosses a threshold.

    .venv/bin/python benchmarks/bench_hopfield_capacity.py            # N = 100 and 200, 10 trials
    .venv/bin/python benchmarks/bench_hopfield_capacity.py --units 100 --trials 3
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnkit.classic import CapacityConfig, CapacityResult, capacity_curve


def crossing(loads: tuple[float, ...], values: list[float], level: float) -> str:
    """The load where ``values`` first falls below ``level``, linearly interpolated."""
    for k in range(1, len(loads)):
        if values[k] < level <= values[k - 1]:
            a0, a1, v0, v1 = loads[k - 1], loads[k], values[k - 1], values[k]
            return f"{a0 + (a1 - a0) * (v0 - level) / (v0 - v1):.3f}"
    return "never" if values[-1] >= level else f"< {loads[0]}"


def summary(result: CapacityResult) -> str:
    loads = result.config.loads
    lines = ["| rule | exact recall < 0.5 at P/N | mean overlap < 0.9 at P/N |", "|---|---|---|"]
    for rule in result.config.rules:
        lines.append(
            f"| {rule} | {crossing(loads, result.exact[rule], 0.5)} "
            f"| {crossing(loads, result.overlap[rule], 0.9)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-load", type=float, default=0.6)
    parser.add_argument("--step", type=float, default=0.025)
    parser.add_argument("--flip", type=float, default=0.1)
    parser.add_argument("--mode", choices=("async", "sync"), default="async")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny ops: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_loads = round(args.max_load / args.step)
    loads = tuple(round(args.step * k, 4) for k in range(1, n_loads + 1))
    print(
        f"# Hopfield capacity: {args.flip:.0%} of bits flipped, {args.trials} trials, "
        f"{args.mode} recall, seed {args.seed}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    for n in args.units:
        config = CapacityConfig(
            n_units=n,
            loads=loads,
            flip_fraction=args.flip,
            trials=args.trials,
            mode=args.mode,
            seed=args.seed,
        )
        start = time.perf_counter()
        result = capacity_curve(config)
        seconds = time.perf_counter() - start
        print(f"\n## N = {n} ({seconds:.1f} s)\n")
        print(result.table())
        print()
        print(summary(result))


if __name__ == "__main__":
    main()
