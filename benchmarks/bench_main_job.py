"""The main job side by side: ``rnnkit train`` against a plain nn.LSTM script, same text, same
minutes, same model size and recipe.

The plain script (:func:`train_plain`) is what a PyTorch user writes without rnnkit: an
``nn.Embedding`` (64), dropout 0.2, one ``nn.LSTM`` (384 units), dropout, an ``nn.Linear``
readout; 32 contiguous streams read 64 characters at a time with the state carried over
(detached); AdamW (lr 3e-3, weight decay 0.01), gradient norm clipped to 1, a linear warm-up of
30 steps then a cosine down to 5% of the peak over the time budget; seed 0. These are
``rnnkit train``'s defaults, which runs with no options but ``--minutes``/``--text``/``--out``.

Both are scored on the same held-out text (the last 10% of the corpus, rnnkit's split) by the
same function (:func:`rnnkit.train.trainer.bits_per_char`: 16 streams, state carried). The runs
are sequential (never two at once on a small machine); the CPU, ISA, threads and the load
(``uptime``) before each run are printed, since other processes slow a run down.

    python benchmarks/bench_main_job.py                        # built-in corpus, 3 min each
    python benchmarks/bench_main_job.py --text PYTHON_PREFIX/lib/python3.11 --max-bytes 1000000
    python benchmarks/bench_main_job.py --only plain --minutes 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# -- the plain script: no rnnkit below this line until the harness -----------------------------


class PlainCharLSTM(nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 384, dropout: float = 0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        hs, state = self.lstm(self.drop(self.embedding(ids)), state)
        return self.head(self.drop(hs)), state


def train_plain(train_ids, vocab: int, minutes: float, batch=32, seq=64, lr=3e-3, warmup=30):
    """Train for ``minutes`` of wall-clock time; returns the model, steps and training seconds."""
    torch.manual_seed(0)
    model = PlainCharLSTM(vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    per_stream = (len(train_ids) - 1) // batch // seq * seq
    streams = train_ids[: batch * per_stream + 1]
    budget, start, steps, train_seconds, state = 60.0 * minutes, time.perf_counter(), 0, 0.0, None
    while time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        k = steps % (per_stream // seq)
        if k == 0:
            state = None  # a new pass over the text: start from zeros
        index = torch.arange(batch).unsqueeze(1) * per_stream + k * seq + torch.arange(seq + 1)
        window = streams[index]
        logits, state = model(window[:, :-1], state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), window[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        progress = min(1.0, (time.perf_counter() - start) / budget)
        cosine = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr * cosine * min(1.0, (steps + 1) / warmup)
        opt.step()
        state = tuple(s.detach() for s in state)
        steps += 1
        train_seconds += time.perf_counter() - t0
    return model, steps, train_seconds


# -- the harness -------------------------------------------------------------------------------


def _corpus(text: str | None, max_bytes: int | None):
    """rnnkit's corpus (built-in, or a folder/file); of a folder, with ``max_bytes``, its
    top-level ``.py`` files in name order up to that size (copied to a temporary folder, which
    both runs read)."""
    from rnnkit.data.text import read_text

    if text is None or max_bytes is None or not Path(text).is_dir():
        return text, read_text(text)
    files = sorted(Path(text).glob("*.py"))
    chosen, total = [], 0
    for f in files:
        size = f.stat().st_size
        if total + size > max_bytes:
            break
        try:
            f.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        chosen.append(f)
        total += size
    folder = Path(tempfile.mkdtemp(prefix="bench-main-job-text-"))
    for k, f in enumerate(sorted(chosen)):
        (folder / f"{k:05d}_{f.name}").write_bytes(f.read_bytes())
    return str(folder), read_text(folder)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


def run_plain(corpus, minutes: float, threads: int | None) -> dict:
    from rnnkit.data.text import Vocabulary
    from rnnkit.train.trainer import TrainConfig, bits_per_char, prepare_corpus

    if threads:
        torch.set_num_threads(threads)
    vocab = Vocabulary.from_text(corpus.text)
    train_ids, val_ids = prepare_corpus(corpus, vocab, TrainConfig())
    print(f"plain nn.LSTM: {torch.get_num_threads()} threads; {_uptime()}", flush=True)
    model, steps, seconds = train_plain(train_ids, len(vocab), minutes)
    return {
        "steps": steps,
        "chars_per_second": steps * 32 * 64 / seconds,
        "val_bits_per_char": bits_per_char(model, val_ids, streams=16, seq_len=256),
        "threads": torch.get_num_threads(),
    }


def run_rnnkit(text: str | None, minutes: float, threads: int | None) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-main-job-")) / "run"
    command = [sys.executable, "-m", "rnnkit.cli", "train", "--minutes", str(minutes)]
    command += ["--out", str(out)] + (["--text", text] if text else [])
    command += ["--threads", str(threads)] if threads else []
    print(f"rnnkit train: {_uptime()}", flush=True)
    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    used = re.search(r"; (\d+) threads?;", done.stderr.decode(errors="replace"))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((out / "config.json").read_text())["train"]
    chars, seconds, previous = 0, 0.0, 0
    for r in records:  # each record covers the steps since the previous one
        n = (r["step"] - previous) * config["batch_size"] * config["seq_len"]
        chars, seconds, previous = chars + n, seconds + n / r["chars_per_second"], r["step"]
    return {
        "steps": records[-1]["step"],
        "chars_per_second": chars / seconds,
        "val_bits_per_char": records[-1]["val_bits_per_char"],
        "threads": int(used.group(1)) if used else threads,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description="rnnkit train against a plain nn.LSTM script: steps, chars/s, held-out "
        "bits/char, same text and minutes."
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="budget of each run (3)")
    parser.add_argument(
        "--text", default=None, help="file or folder of text (default: the built-in corpus)"
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=None,
        help="with a --text folder: its top-level .py files in name order up to this many "
        "bytes (default: the whole folder)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads of both (default: each its own)"
    )
    parser.add_argument(
        "--only", choices=["both", "plain", "rnnkit"], default="both", help="runs (both)"
    )
    args = parser.parse_args()

    from rnnkit.kernels import _cpu

    text, corpus = _corpus(args.text, args.max_bytes)
    print(_cpu.describe(), f"torch {torch.__version__}", sep="; ")
    print(f"text: {corpus.source}, {len(corpus.text):,} characters; {args.minutes} min each")
    results = {}
    if args.only in ("both", "plain"):
        results["plain nn.LSTM"] = run_plain(corpus, args.minutes, args.threads)
    if args.only in ("both", "rnnkit"):
        results["rnnkit train"] = run_rnnkit(text, args.minutes, args.threads)
    print(f"\n{'':14} {'steps':>7} {'chars/s':>9} {'held-out bits/char':>19}  threads")
    for name, r in results.items():
        print(
            f"{name:14} {r['steps']:7d} {r['chars_per_second']:9,.0f} "
            f"{r['val_bits_per_char']:19.3f}  {r['threads']}"
        )
    if len(results) == 2:
        plain, kit = results["plain nn.LSTM"], results["rnnkit train"]
        print(
            f"rnnkit / plain: {kit['chars_per_second'] / plain['chars_per_second']:.2f}x chars/s,"
            f" {kit['val_bits_per_char'] - plain['val_bits_per_char']:+.3f} bits/char"
        )
    print(f"after: {_uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
