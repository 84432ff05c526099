"""Data-parallel training (rnnkit.train.distributed): N processes train the model one process
would, to float32 summation order; checkpoints resume exactly; a killed rank stops the job."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from rnnkit.models.language_model import CharLanguageModel, ModelConfig
from rnnkit.train import Trainer, distributed, metrics
from rnnkit.train.config import TrainConfig

STEPS, HALF = 30, 15


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ids() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    # A little structure (a repeated pattern with noise) so that the losses move.
    base = torch.arange(1200) % 7
    noise = torch.randint(0, 11, (1200,), generator=gen)
    ids = torch.where(torch.rand(1200, generator=gen) < 0.3, noise, base)
    return ids[:300], ids[300:]  # 300 training characters: 8 chunks of 4x8, 3+ epochs


def _worker(rank: int, world: int, port: int, run_dir: str, mode: str) -> None:
    if world > 1:
        os.environ.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            WORLD_SIZE=str(world),
            LOCAL_WORLD_SIZE=str(world),
        )
        distributed.setup(timeout=60)
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        config = ModelConfig(vocab_size=11, hidden_size=16, embed_size=8, num_layers=2, dropout=0.2)
        model = CharLanguageModel(config)
        train, val = _ids()
        train_config = TrainConfig(
            batch_size=4,
            seq_len=8,
            steps=STEPS,
            lr=0.02,
            warmup_steps=3,
            log_every=1,
            eval_every=5,
        )
        trainer = Trainer(model, train_config, train, val, run_dir)
        if mode == "half":  # the first half of a run, then a checkpoint
            for _ in range(HALF):
                trainer.train_step()
            trainer.save()
        else:
            if mode == "resume":
                trainer.resume()
            trainer.run(plot=False)
    finally:
        distributed.teardown(barrier=True)


def _run(world: int, run_dir: Path, mode: str = "full") -> list[dict]:
    run_dir.mkdir(exist_ok=True)
    mp.spawn(_worker, args=(world, _free_port(), str(run_dir), mode), nprocs=world, join=True)
    return metrics.read_metrics(run_dir / metrics.METRICS)


def _close(a: list[dict], b: list[dict], key: str, tol: float) -> None:
    pairs = [(x[key], y[key]) for x, y in zip(a, b, strict=True) if key in x]
    assert pairs, key
    worst = max(abs(x - y) for x, y in pairs)
    assert worst <= tol, (key, worst, pairs[:3])


@pytest.mark.slow
def test_two_processes_compute_the_losses_of_one(tmp_path: Path) -> None:
    one = _run(1, tmp_path / "one")
    two = _run(2, tmp_path / "two")
    assert [r["step"] for r in one] == list(range(1, STEPS + 1)) == [r["step"] for r in two]
    # The same batches, dropout masks and updates: only the summation order differs.
    _close(one, two, "train_bits_per_char", 1e-4)
    _close(one, two, "val_bits_per_char", 1e-4)
    # The losses move by far more than the tolerance (it learns): the comparison can fail.
    assert one[-1]["train_bits_per_char"] < one[0]["train_bits_per_char"] - 0.1

    # Resuming a 2-process checkpoint continues exactly with 2 processes ...
    _run(2, tmp_path / "half", "half")
    resumed = _run(2, tmp_path / "half", "resume")
    assert [r["step"] for r in resumed] == list(range(HALF + 1, STEPS + 1))
    for got, want in zip(resumed, two[HALF:], strict=True):
        assert got["train_bits_per_char"] == want["train_bits_per_char"]
        assert got.get("val_bits_per_char") == want.get("val_bits_per_char")
    # ... and re-shards over 1 process (the checkpoint holds every stream's state).
    _run(2, tmp_path / "reshard", "half")
    one_more = _run(1, tmp_path / "reshard", "resume")
    _close(one_more, one[HALF:], "train_bits_per_char", 1e-4)


def test_stream_blocks_cover_the_batch() -> None:
    blocks = [distributed.stream_block(12, r, 3) for r in range(3)]
    assert [list(range(12))[b] for b in blocks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    rows = [list(range(7))[distributed.even_block(7, r, 3)] for r in range(3)]
    assert rows == [[0, 1, 2], [3, 4], [5, 6]]
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        distributed.stream_block(10, 0, 4)


@pytest.mark.parametrize("time_major", [False, True])
def test_sharded_dropout_draws_the_global_mask(time_major: bool) -> None:
    x = torch.randn(5, 6, 3).transpose(0, 1) if time_major else torch.randn(6, 5, 3)
    torch.manual_seed(3)
    whole = torch.nn.Dropout(0.4)(x)
    after = torch.get_rng_state()
    for rank in range(3):
        torch.manual_seed(3)
        part = distributed.ShardedDropout(0.4, rank, 3)(x[2 * rank : 2 * rank + 2])
        torch.testing.assert_close(part, whole[2 * rank : 2 * rank + 2], rtol=0, atol=0)
        assert torch.equal(torch.get_rng_state(), after)  # every rank's RNG moves the same


def test_threads_per_rank_share_the_cores() -> None:
    assert distributed.threads_per_rank(cpus=64, local_world=8) == 8
    assert distributed.threads_per_rank(cpus=2, local_world=2) == 1
    assert distributed.threads_per_rank(cpus=3, local_world=8) == 1


def test_nproc_refuses_a_batch_it_cannot_split(tmp_path: Path, capsys) -> None:
    from rnnkit.cli import main

    code = main(["train", "--nproc", "3", "--batch-size", "8", "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "rnnkit train: error: --batch-size (8 streams) must be divisible by the number of "
        "processes (3)"
    ]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.slow
def test_killing_one_rank_stops_the_job_and_resume_continues(tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    run = tmp_path / "run"
    rnnkit = [sys.executable, "-m", "rnnkit", "train"]
    small = ["--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "16"]
    cmd = [*rnnkit, "--text", str(text), *small, "--steps", "100000", "--checkpoint-every", "20"]
    cmd += ["--eval-every", "100000", "--out", str(run), "--nproc", "2", "--threads", "1"]
    lines: list[str] = []
    saved = threading.Event()
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as p:

        def read() -> None:
            assert p.stderr is not None
            for line in p.stderr:
                lines.append(line)
                if "checkpoint at step 40 saved" in line:
                    saved.set()

        reader = threading.Thread(target=read)
        reader.start()
        try:
            assert saved.wait(300), "".join(lines[-20:])
            workers = _children(p.pid)  # p is torchrun (rnnkit exec'd it); these are the ranks
            assert len(workers) == 2, workers
            os.kill(max(workers), signal.SIGKILL)
            start = time.monotonic()
            code = p.wait(timeout=120)  # no hang: the other rank and torchrun stop
            assert code != 0
            assert time.monotonic() - start < 120
        finally:
            if p.poll() is None:
                p.kill()
            reader.join(timeout=30)
    step = json.loads((run / "checkpoint.json").read_text())["step"]
    assert step >= 40
    resume = [*rnnkit, "--resume", str(run), "--steps", str(step + 30), "--nproc", "2"]
    done = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming {run} at step {step}" in done.stderr
    records = metrics.read_metrics(run / metrics.METRICS)
    assert [r["step"] for r in records][-1] == step + 30
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps))  # the records after the checkpoint were dropped once
