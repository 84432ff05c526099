"""The synthetic long-memory tasks against their memoryless baselines (issue 3's figures).

Trains an rnnkit network on the adding problem or the copy task (rnnkit.data.synthetic: the
protocols of Arjovsky et al. 2016, no curriculum: every batch has the full length T) with
rnnkit.train.supervised.fit (AdamW, gradient-norm clipping) and prints the held-out loss every
``--eval-every`` steps, then one summary line. Targets: adding T=200 MSE < 0.01 (baseline
0.167); copy T=100 cross-entropy below 1 % of 10 ln 8 / 120 = 0.1733 nats.

    python benchmarks/bench_tasks.py adding --length 200 --minutes 20
    python benchmarks/bench_tasks.py copy --length 100 --cell gru --hidden 128 --minutes 25

With ``--checkpoint FILE`` a run saves the model, the optimizer, the batch generator, its step
count and its training time to FILE when it stops, and a later run with the same FILE and
options continues from there, so a long run can be split into segments of a few minutes each
(a resumed segment uses its own ``--lr``, so a run can also drop its learning rate). Steps and
seconds are printed cumulatively.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch

import rnnkit
from rnnkit.data import synthetic as syn
from rnnkit.train.supervised import FitConfig, fit


def chrono_init(net: rnnkit.RNN, max_delay: int) -> None:
    """Tallec & Ollivier 2018: forget bias log U(1, max_delay - 1), input bias its negative."""
    for layer in net.stack.layers:
        cell = layer.cell
        H = cell.hidden_size
        with torch.no_grad():
            bias = torch.log(torch.empty(H).uniform_(1.0, max_delay - 1.0))
            cell.bias_ih.zero_()
            cell.bias_hh.zero_()
            cell.bias_ih[H : 2 * H] = bias
            cell.bias_ih[:H] = -bias


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=("adding", "copy"))
    parser.add_argument("--length", type=int, default=None, help="T (adding 200, copy 100)")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden", type=int, default=None, help="units (adding 64, copy 128)")
    parser.add_argument("--init", default="orthogonal", choices=("uniform", "orthogonal", "chrono"))
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=None, help="(adding 64, copy 128)")
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: small matrices)")
    parser.add_argument("--checkpoint", metavar="FILE", help="resume from FILE and save to it")
    parser.add_argument(
        "--keep-going", action="store_true", help="train on after the target is reached"
    )
    args = parser.parse_args()

    adding = args.task == "adding"
    T = args.length or (200 if adding else 100)
    hidden = args.hidden or (64 if adding else 128)
    batch = args.batch_size or (64 if adding else 128)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    held_out = torch.Generator().manual_seed(10_000 + args.seed)
    if adding:
        baseline, target = syn.ADDING_BASELINE_MSE, 0.01
        x_val, y_val = syn.adding_problem(2000, T, generator=held_out)
        sizes = (2, 1)
    else:
        baseline = syn.copy_baseline(T)
        target = 0.01 * baseline
        seq, y_val = syn.copy_task(1000, T, generator=held_out)
        x_val = syn.copy_one_hot(seq)
        sizes = (syn.COPY_INPUT_CATEGORIES, syn.COPY_OUTPUT_CATEGORIES)
    options = {"recurrent_init": "orthogonal"} if args.init == "orthogonal" else {}
    net = rnnkit.RNN(sizes[0], hidden, cell=args.cell, output_size=sizes[1], **options)
    if args.init == "chrono":
        chrono_init(net, T + 20)

    def batches(step: int):
        if adding:
            return syn.adding_problem(batch, T, generator=gen)
        seq, y = syn.copy_task(batch, T, generator=gen)
        return syn.copy_one_hot(seq), y

    def loss_fn(model, x, y):
        ys, _ = model(x)
        if adding:
            return torch.nn.functional.mse_loss(ys[:, -1], y)
        return torch.nn.functional.cross_entropy(ys.reshape(-1, sizes[1]), y.reshape(-1))

    def evaluate(model) -> float:
        return float(loss_fn(model, x_val, y_val))

    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.0)
    done_steps, done_seconds, segments = 0, 0.0, 0
    if args.checkpoint and os.path.exists(args.checkpoint):
        saved = torch.load(args.checkpoint, weights_only=True)
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for group in optimizer.param_groups:  # --lr holds on resume: a segment may lower it
            group["lr"] = args.lr
        gen.set_state(saved["generator"])
        done_steps, done_seconds = int(saved["steps"]), float(saved["seconds"])
        segments = int(saved["segments"])
        print(f"resumed {args.checkpoint}: {done_steps} steps, {done_seconds:.1f} s", flush=True)
    start = time.monotonic()

    def report(step: int, loss: float, value: float | None) -> None:
        if value is not None:
            step += done_steps
            print(
                f"step {step:6d}  {done_seconds + time.monotonic() - start:7.1f} s  "
                f"train {loss:.5f}  "
                f"held-out {value:.5f}  ({100 * value / baseline:.2f}% of baseline)",
                flush=True,
            )

    print(
        f"{args.task} T={T}: {args.cell} {hidden}, init {args.init}, AdamW lr {args.lr}, "
        f"batch {batch}, clip {args.clip}, threads {args.threads}; baseline {baseline:.5f}, "
        f"target {target:.5f}",
        flush=True,
    )
    config = FitConfig(
        steps=args.steps,
        lr=args.lr,
        clip_norm=args.clip,
        eval_every=args.eval_every,
        max_seconds=60.0 * args.minutes,
        target=None if args.keep_going else target,
    )
    result = fit(
        net, batches, loss_fn, config, evaluate=evaluate, callback=report, optimizer=optimizer
    )
    if args.checkpoint:
        tmp = args.checkpoint + ".tmp"
        torch.save(
            {
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": gen.get_state(),
                "steps": done_steps + result.steps,
                "seconds": done_seconds + result.seconds,
                "segments": segments + 1,
            },
            tmp,
        )
        os.replace(tmp, args.checkpoint)
    final = result.final_eval
    first_below = next((s + done_steps for s, v in result.evals if v < 0.5 * baseline), None)
    summary = {
        "task": args.task,
        "length": T,
        "cell": args.cell,
        "hidden": hidden,
        "init": args.init,
        "lr": args.lr,
        "batch": batch,
        "steps": done_steps + result.steps,
        "seconds": round(done_seconds + result.seconds, 1),
        "segments": segments + 1,
        "held_out": final,
        "baseline": baseline,
        "percent_of_baseline": 100 * final / baseline,
        "target": target,
        "reached_target": final <= target,
        "first_step_below_half_baseline": first_below,
        "ms_per_step_this_segment": round(1000 * result.seconds / max(result.steps, 1), 1),
    }
    if not adding:
        with torch.no_grad():
            predicted = net(x_val)[0][:, -syn.COPY_LENGTH :].argmax(dim=2)
        summary["copied_symbol_accuracy"] = float(
            (predicted == y_val[:, -syn.COPY_LENGTH :]).float().mean()
        )
    print(json.dumps(summary), flush=True)
    if not math.isfinite(final):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
