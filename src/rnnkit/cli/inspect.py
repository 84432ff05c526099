"""``rnnkit inspect RUN``: look inside a trained character language model.

It traces the model over a text (the run's held-out text unless ``--text`` is given), finds the
units whose activation correlates most with simple features of the text (inside quotes, inside
brackets, position in the line, indentation), prints what it found and writes PNGs: the text
coloured by each such unit, gate and state heatmaps over time, and the gradient flow through
time of the loss at the last step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import UsageError, non_negative_int, positive_float, positive_int

#: |r| from which a unit counts as tracking a feature.
INTERPRETABLE = 0.5


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="find interpretable units of a trained model; plot gates and gradient flow",
        description=(
            "Trace a run made by rnnkit train over a text, name the units that track quotes, "
            "brackets, the column or the indentation (Pearson r), and write PNGs: the text "
            "coloured by each unit, gate heatmaps over time and the gradient flow through time."
        ),
    )
    parser.add_argument(
        "run_dir", metavar="RUN", nargs="?", help="a directory made by rnnkit train"
    )
    parser.add_argument(
        "--text", help="the text to look at (default: the start of the run's held-out text)"
    )
    parser.add_argument(
        "--chars",
        type=positive_int,
        default=4000,
        metavar="N",
        help="characters of the held-out text to use without --text (default: 4000)",
    )
    parser.add_argument(
        "--units",
        type=non_negative_int,
        nargs="+",
        default=[],
        metavar="U",
        help="also draw the text coloured by these units (of --layer)",
    )
    parser.add_argument(
        "--layer", type=non_negative_int, default=0, metavar="K", help="layer of --units"
    )
    parser.add_argument("--out", metavar="DIR", help="folder for the PNGs (default: RUN/inspect)")
    classic = parser.add_argument_group("classic networks (instead of RUN)")
    classic.add_argument(
        "--hopfield",
        type=positive_int,
        metavar="N",
        help="a Hopfield net of N units: energy during the recall of a corrupted pattern",
    )
    classic.add_argument(
        "--esn",
        type=positive_int,
        metavar="N",
        help="an echo state network of N units: reservoir states and memory capacity curve",
    )
    classic.add_argument(
        "--spectral-radius",
        type=positive_float,
        default=0.9,
        metavar="R",
        help="of the --esn reservoir (default: 0.9)",
    )
    classic.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of the classic networks (default: 0)"
    )
    parser.set_defaults(run=run_inspect)


def _load(run_dir: str):
    from ..train import CheckpointError, load_model

    try:
        return load_model(run_dir)
    except CheckpointError as err:
        raise UsageError(str(err)) from None


def _held_out_text(run, chars: int) -> str:
    from ..data.text import DEFAULT_CORPUS, read_text, split_ids

    try:
        corpus = read_text(None if run.corpus_source == DEFAULT_CORPUS else run.corpus_source)
    except (OSError, ValueError) as err:
        raise UsageError(f"the run's corpus cannot be read ({err}); pass --text") from None
    try:
        ids = run.vocabulary.encode(corpus.text)
    except ValueError:
        raise UsageError(
            f"the run's corpus {corpus.source} changed since training; pass --text"
        ) from None
    _, held_out = split_ids(ids, run.train.val_fraction)
    return run.vocabulary.decode(held_out[:chars])


def run_inspect(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F

    from ..inspect import correlate_units, gradient_flow, text_features, trace
    from ..inspect.features import activations_of
    from ..viz.inspect import plot_gradient_flow, plot_heatmaps, plot_text_activation

    classic = args.hopfield is not None or args.esn is not None
    if classic:
        if args.run_dir is not None:
            raise UsageError("give RUN or --hopfield/--esn, not both")
        return _inspect_classic(args)
    if args.run_dir is None:
        raise UsageError("RUN is required (a directory made by rnnkit train), or --hopfield/--esn")
    model, run = _load(args.run_dir)
    text = args.text if args.text is not None else _held_out_text(run, args.chars)
    if len(text) < 2:
        raise UsageError(f"--text must have at least 2 characters, got {text!r}")
    try:
        ids = run.vocabulary.encode(text, name="--text").unsqueeze(0)  # (1, N)
    except ValueError as err:
        raise UsageError(str(err)) from None
    layers = model.config.num_layers
    if args.layer >= layers:
        raise UsageError(f"--layer must be in [0, {layers - 1}] for this run, got {args.layer}")
    hidden = model.config.hidden_size
    for unit in args.units:
        if unit >= hidden:
            raise UsageError(
                f"--units: there is no unit {unit}; the layers have {hidden} (0..{hidden - 1})"
            )
    out = Path(args.out) if args.out else Path(args.run_dir) / "inspect"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create {out} ({err.strerror})") from None

    model.eval()
    with torch.no_grad():
        tr = trace(model, ids)
    acts = activations_of(tr)
    findings = correlate_units(acts, text_features(text))
    shown = text[:600]  # what fits a picture
    written = []
    print(f"traced {len(text):,} characters through {len(tr.layers)} {model.config.cell} layer(s)")
    for f in findings:
        mark = "" if abs(f.r) >= INTERPRETABLE else "   (weak)"
        print(f.sentence() + mark)
        if abs(f.r) >= INTERPRETABLE:
            source = f.source.replace(" ", "-")
            path = out / f"unit-{f.feature}-{source}-{f.unit}.png"
            values = acts[f.source][: len(shown), f.unit]
            written.append(plot_text_activation(path, shown, values, title=f.sentence()))
    strong = [f for f in findings if abs(f.r) >= INTERPRETABLE]
    if strong:
        print(f"found {len(strong)} interpretable unit(s) with |r| >= {INTERPRETABLE}")
    else:
        print(f"found no unit with |r| >= {INTERPRETABLE} for these features")

    chosen = tr.layers[args.layer]
    for unit in args.units:
        for name, value in chosen.states.items():
            if unit < value.shape[-1]:
                path = out / f"unit-layer-{args.layer}-{name}-{unit}.png"
                title = f"unit {unit} of layer {args.layer} {name}"
                written.append(
                    plot_text_activation(path, shown, value[0, : len(shown), unit], title=title)
                )

    window = min(100, ids.shape[1] - 1)
    for k, layer in enumerate(tr.layers):
        panels = {**layer.gates, **layer.states}
        panels = {name: v[0, :window] for name, v in panels.items()}
        path = out / f"gates-layer-{k}.png"
        written.append(
            plot_heatmaps(path, panels, labels=text[:window], title=f"layer {k} ({layer.kind})")
        )

    target = ids[:, window]  # the character after the window: the loss of the last step only

    def last_step_loss(hs: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model.readout(hs[:, -1]), target)

    norms = gradient_flow(model, ids[:, :window], last_step_loss, layer=0)
    ratio = float(norms[0] / norms[-1]) if float(norms[-1]) > 0 else float("nan")
    written.append(
        plot_gradient_flow(
            out / "gradient-flow.png",
            norms,
            title=f"‖∂L/∂h_t‖, loss at step {window - 1} (layer 0, {model.config.cell})",
        )
    )
    print(
        f"gradient flow: ‖∂L/∂h_t‖ at t=0 is {ratio:.2e} of its value at t={window - 1} "
        f"for the loss at the last step"
    )
    print(f"wrote {len(written)} pictures to {out}")
    return 0


def _inspect_classic(args: argparse.Namespace) -> int:
    import torch

    from ..classic import EchoStateNetwork, HopfieldNetwork
    from ..inspect import energy_during_recall, memory_capacity, reservoir_trajectories
    from ..viz.inspect import plot_energy, plot_memory_capacity, plot_reservoir

    out = Path(args.out) if args.out else Path("inspect")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create {out} ({err.strerror})") from None
    generator = torch.Generator().manual_seed(args.seed)
    written = []
    if args.hopfield is not None:
        n = args.hopfield
        if n < 4:
            raise UsageError(f"--hopfield needs at least 4 units, got {n}")
        count = max(1, round(0.05 * n))  # well under Hebb's capacity of 0.138 N
        patterns = torch.where(torch.rand(count, n, generator=generator) < 0.5, -1.0, 1.0)
        net = HopfieldNetwork(n).store(patterns)
        probe = patterns[0].clone()
        flips = torch.randperm(n, generator=generator)[: n // 5]
        probe[flips] *= -1
        energy, states = energy_during_recall(net, probe, sweeps=3, generator=generator)
        overlap = float((states[-1] * patterns[0]).mean())
        written.append(plot_energy(out / "hopfield-energy.png", energy, n_units=n))
        print(
            f"Hopfield net of {n} units, {count} patterns, probe with {n // 5} bits flipped: "
            f"energy {float(energy[0]):.2f} -> {float(energy[-1]):.2f} in {len(energy) - 1} "
            f"updates, overlap with the pattern {overlap:.2f}"
        )
    if args.esn is not None:
        n = args.esn
        esn = EchoStateNetwork(
            1, n, 1, spectral_radius=args.spectral_radius, input_scaling=0.1, seed=args.seed
        )
        mc = memory_capacity(esn, max_delay=2 * n, steps=max(3000, 6 * n), seed=args.seed)
        u = torch.rand(300, 1, generator=generator, dtype=torch.float64) * 1.6 - 0.8
        written.append(plot_reservoir(out / "esn-states.png", reservoir_trajectories(esn, u), u))
        written.append(plot_memory_capacity(out / "esn-memory-capacity.png", mc))
        print(
            f"echo state network of {n} units (spectral radius {args.spectral_radius}): "
            f"memory capacity MC = {float(mc.sum()):.2f} (at most {n})"
        )
    print(f"wrote {len(written)} pictures to {out}")
    return 0
