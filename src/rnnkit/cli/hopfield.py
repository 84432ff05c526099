"""``rnnkit hopfield capacity`` and ``rnnkit hopfield demo``: Hopfield networks in pictures.

``capacity`` plots recall against load P/N for the three storage rules (random patterns, 10 %
of bits flipped); ``demo`` stores scikit-learn's bundled 8x8 digits (no download), recalls
them from noisy probes and saves a probe / recalled / original grid.
"""

from __future__ import annotations

import argparse

from ._common import (
    UsageError,
    add_out_option,
    check_memory,
    float_in,
    new_run_dir,
    positive_int,
    seed_int,
)

RULES = ("hebbian", "storkey", "pseudoinverse")
MODES = ("async", "sync")
DIGIT_THRESHOLD = 6.0  # of 16: class-mean pixels above it are "ink" (+1)


def _loads(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated loads like 0.05,0.1,0.2, got {text!r}"
        ) from None
    if not values or any(not 0.0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected positive loads P/N, got {text!r}")
    return values


def _rules(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in RULES]
    if not values or bad:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated rules from {', '.join(RULES)}, got {text!r}"
        )
    return values


def _digits(text: str) -> tuple[int, ...]:
    chars = text.replace(",", "")
    if not chars or not all(c in "0123456789" for c in chars) or len(set(chars)) != len(chars):
        raise argparse.ArgumentTypeError(
            f"expected distinct digits 0-9 written together, like 0123, got {text!r}"
        )
    return tuple(int(c) for c in chars)


def register(subparsers: argparse._SubParsersAction) -> None:
    hopfield = subparsers.add_parser(
        "hopfield",
        help="Hopfield networks: capacity plot and digit-recall demo",
        description="Hopfield networks: recall against load, and recall of noisy digits.",
    )
    commands = hopfield.add_subparsers(dest="hopfield_command", metavar="ACTION", required=True)

    capacity = commands.add_parser(
        "capacity",
        help="plot recall against load P/N for the three storage rules",
        description=(
            "Store random ±1 patterns at increasing loads P/N, probe each with a fraction of "
            "its bits flipped, and plot the fraction recalled exactly and the mean final "
            "overlap for each rule. Writes capacity.png and capacity.json (the numbers) into "
            "--out DIR; prints the table."
        ),
    )
    capacity.add_argument(
        "--units", type=positive_int, default=100, metavar="N", help="units N (default: 100)"
    )
    capacity.add_argument(
        "--loads",
        type=_loads,
        metavar="A,B,...",
        help="loads P/N (default: 0.025 to 0.6 in steps of 0.025)",
    )
    capacity.add_argument(
        "--rules",
        type=_rules,
        default=RULES,
        metavar="R,...",
        help="storage rules to compare (default: all three)",
    )
    capacity.add_argument(
        "--flip",
        type=float_in(0.0, 1.0),
        default=0.1,
        metavar="F",
        help="bits flipped (default: 0.1)",
    )
    capacity.add_argument(
        "--trials",
        type=positive_int,
        default=5,
        metavar="T",
        help="random pattern sets per load (default: 5)",
    )
    capacity.add_argument(
        "--mode",
        choices=MODES,
        default="async",
        help="recall dynamics, one unit or all units at a time (default: async)",
    )
    capacity.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        metavar="S",
        help="random seed of patterns and probes (default: 0)",
    )
    add_out_option(capacity, "hopfield-capacity", "capacity.png and capacity.json")
    capacity.set_defaults(run=run_capacity)

    demo = commands.add_parser(
        "demo",
        help="recall scikit-learn's 8x8 digits from noisy probes",
        description=(
            "Store the binarised mean image of each digit class of scikit-learn's bundled 8x8 "
            "digits (64 units), flip a fraction of the bits of each, recall, and save a grid of "
            "probe / recalled / original (digits.png in --out DIR). Needs scikit-learn "
            "(pip install 'rnnkit[digits]')."
        ),
    )
    demo.add_argument(
        "--rule",
        choices=RULES,
        default="pseudoinverse",
        help="storage rule (default: pseudoinverse; digits are too correlated for Hebb)",
    )
    demo.add_argument(
        "--digits",
        type=_digits,
        default=tuple(range(10)),
        metavar="0123...",
        help="digit classes to store (default: all)",
    )
    demo.add_argument(
        "--noise",
        type=float_in(0.0, 1.0),
        default=0.1,
        metavar="F",
        help="bits flipped (default: 0.1)",
    )
    demo.add_argument(
        "--mode",
        choices=MODES,
        default="async",
        help="recall dynamics, one unit or all units at a time (default: async)",
    )
    demo.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        metavar="S",
        help="random seed of patterns and probes (default: 0)",
    )
    add_out_option(demo, "hopfield-demo", "digits.png")
    demo.set_defaults(run=run_demo)


def _single_thread() -> None:
    import torch

    # Thousands of tiny ops: extra threads only add synchronisation, badly so on a busy machine.
    torch.set_num_threads(1)


def run_capacity(args: argparse.Namespace) -> int:
    from .._progress import Progress
    from ..classic import CapacityConfig, capacity_curve
    from ..viz.hopfield import plot_capacity

    run_dir = new_run_dir(args.out, "hopfield-capacity")
    # The weights (float64) and their pseudoinverse or Storkey work copies.
    check_memory("this network", 8.0 * 4 * args.units**2, "--units")
    out, json_path = run_dir / "capacity.png", run_dir / "capacity.json"
    options = {} if args.loads is None else {"loads": args.loads}
    try:
        config = CapacityConfig(
            n_units=args.units,
            rules=args.rules,
            flip_fraction=args.flip,
            trials=args.trials,
            mode=args.mode,
            seed=args.seed,
            **options,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    _single_thread()
    # A bar on a terminal, a plain line every few seconds in a log: never a flood of bar redraws.
    with Progress(len(config.loads) * config.trials, desc="capacity", unit="load") as bar:
        result = capacity_curve(config, progress=lambda done, total: bar.goto(done))
    print(result.table())
    run_dir.mkdir(parents=True, exist_ok=True)
    plot_capacity(out, result)
    result.save(json_path)
    print(f"wrote {out} and {json_path}")
    return 0


def load_digit_prototypes(digits: tuple[int, ...]):
    """The mean 8x8 image of each digit class in ``digits``, as ±1 vectors (K, 64) float64."""
    import numpy as np

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError(
            "the demo needs scikit-learn's bundled digits: pip install 'rnnkit[digits]'"
        ) from None
    data = load_digits()
    means = np.stack([data.data[data.target == d].mean(axis=0) for d in digits])  # (K, 64)
    return np.where(means > DIGIT_THRESHOLD, 1.0, -1.0)


def run_demo(args: argparse.Namespace) -> int:
    import torch

    from ..classic import HopfieldNetwork
    from ..classic.capacity import flip_bits
    from ..viz.hopfield import plot_recall_grid

    run_dir = new_run_dir(args.out, "hopfield-demo")
    out = run_dir / "digits.png"
    patterns = torch.from_numpy(load_digit_prototypes(args.digits))  # (K, 64)
    _single_thread()
    gen = torch.Generator().manual_seed(args.seed)
    net = HopfieldNetwork(64, args.rule, dtype=torch.float64).store(patterns)
    probes = flip_bits(patterns, round(args.noise * 64), gen)
    recalled = net.recall(probes, args.mode, generator=gen)
    exact = (recalled == patterns).all(1)
    probe_overlap = (probes * patterns).sum(1) / 64
    final_overlap = (recalled * patterns).sum(1) / 64
    print(
        f"stored {len(args.digits)} digits (8x8 = 64 units, rule {args.rule}); "
        f"{round(args.noise * 64)} of 64 bits flipped per probe; {args.mode} recall"
    )
    print("digit  overlap probe -> recalled  exact")
    for k, d in enumerate(args.digits):
        print(
            f"{d:>5}  {float(probe_overlap[k]):>13.3f} -> {float(final_overlap[k]):<8.3f}"
            f"  {'yes' if bool(exact[k]) else 'no'}"
        )
    print(f"recalled exactly: {int(exact.sum())} of {len(args.digits)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    plot_recall_grid(
        out,
        {"probe": probes, "recalled": recalled, "original": patterns},
        (8, 8),
        column_titles=[str(d) for d in args.digits],
        title=f"Hopfield ({args.rule}) recall of 8x8 digits, {args.noise:.0%} bits flipped",
    )
    print(f"wrote {out}")
    return 0
