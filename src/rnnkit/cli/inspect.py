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

from ._common import UsageError, non_negative_int, positive_int

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
    parser.add_argument("run_dir", metavar="RUN", help="a directory made by rnnkit train")
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
