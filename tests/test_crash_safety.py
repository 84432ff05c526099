"""Runs that cannot be corrupted: one writer per run directory, a resume that checks
everything before it changes a byte (and never restarts over valid checkpoints), and a run
killed with SIGKILL at many points that still loads and resumes.

Each refused case asserts exit code 2, one line on stderr and the run's files unchanged
(SHA-256 of every file before and after)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from rnnkit.cli import main
from rnnkit.train.lock import lock_run_dir
from test_bad_input_cli import assert_one_line, digest, run_cli

TEXT = "The quick brown fox jumps over the lazy dog. " * 40


def train_argv(corpus: Path, out: Path, steps: int = 3) -> list[str]:
    argv = ["train", "--text", str(corpus), "--hidden", "8", "--embed", "8", "--batch-size", "2"]
    argv += ["--seq-len", "8", "--steps", str(steps), "--checkpoint-every", "1"]
    return [*argv, "--log-every", "1", "--threads", "1", "--out", str(out)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A run of 3 steps with a checkpoint at every step; copied by each test that changes it."""
    corpus = tmp_path_factory.mktemp("text") / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(train_argv(corpus, out)) == 0
    return out


@pytest.fixture
def run(finished_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def resume_refused(capsys, run: Path, *words: str) -> None:
    before = digest(run)
    code, err = run_cli(capsys, ["train", "--resume", str(run), "--steps", "5"])
    assert code == 2, err
    assert_one_line(err, *words)
    assert digest(run) == before


def checkpoint_of(run: Path) -> Path:
    return run / json.loads((run / "checkpoint.json").read_text())["path"]


def test_a_second_writer_is_refused_naming_the_holder(run, capsys):
    held = lock_run_dir(run)
    try:
        resume_refused(capsys, run, "being written by process", str(os.getpid()))
    finally:
        held.close()


def test_a_second_new_run_into_the_same_directory_is_refused(finished_run, tmp_path, capsys):
    out = tmp_path / "claimed"
    out.mkdir()
    held = lock_run_dir(out)  # another process creating this run right now
    try:
        corpus = Path(json.loads((finished_run / "config.json").read_text())["corpus"]["source"])
        code, err = run_cli(capsys, train_argv(corpus, out))
        assert code == 2
        assert_one_line(err, "being written by process", str(os.getpid()))
        assert [p.name for p in out.iterdir()] == [".lock"]
    finally:
        held.close()


def test_a_missing_pointer_resumes_from_the_newest_checkpoint_on_disk(run, capsys):
    (run / "checkpoint.json").unlink()
    code, err = run_cli(capsys, ["train", "--resume", str(run), "--steps", "4"])
    assert code == 0, err
    assert f"resuming {run} at step 3" in err
    assert [
        json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ] == [1, 2, 3, 4]


@pytest.mark.parametrize("pointer", ["{", '{"step": 3, "path": "/etc"}', '{"step": "x"}', "[]"])
def test_a_broken_pointer_resumes_from_the_newest_checkpoint_on_disk(run, pointer, capsys):
    (run / "checkpoint.json").write_text(pointer)
    code, err = run_cli(capsys, ["train", "--resume", str(run), "--steps", "4"])
    assert code == 0, err
    assert "at step 3" in err


def test_a_pointer_to_nothing_is_refused_not_restarted(run, capsys):
    shutil.rmtree(run / "checkpoints")
    resume_refused(capsys, run, "missing or incomplete")


def corrupt_config(run: Path, section: str, key: str, value) -> None:
    config = json.loads((run / "config.json").read_text())
    config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("model", "hidden_size", "eight"),
        ("model", "hidden_size", 8.5),
        ("model", "cell", 3),
        ("train", "lr", "fast"),
        ("train", "seed", -1),
        ("train", "batch_size", None),
        ("model", "vocab_size", 1),
    ],
)
def test_a_corrupted_config_is_refused(run, section, key, value, capsys):
    corrupt_config(run, section, key, value)
    resume_refused(capsys, run, "config")


def test_a_wrong_shape_optimizer_tensor_is_refused(run, capsys):
    path = checkpoint_of(run) / "trainer.safetensors"
    tensors = load_file(path)
    name = next(k for k in tensors if k.endswith("exp_avg"))
    tensors[name] = torch.zeros(3, 1)
    save_file(tensors, path)
    resume_refused(capsys, run, name, "shape")


@pytest.mark.parametrize(
    ("key", "value"), [("elapsed_seconds", "abc"), ("elapsed_seconds", -1), ("step", "3")]
)
def test_a_non_number_in_trainer_json_is_refused(run, key, value, capsys):
    path = checkpoint_of(run) / "trainer.json"
    info = json.loads(path.read_text())
    info[key] = value
    path.write_text(json.dumps(info))
    resume_refused(capsys, run, "trainer")


@pytest.mark.parametrize("line", [b"\xff\xfe not utf-8", b"not json", b"[1, 2]"])
def test_a_bad_metrics_line_is_refused(run, line, capsys):
    with open(run / "metrics.jsonl", "rb+") as f:
        lines = f.read().split(b"\n")
        lines.insert(1, line)
        f.seek(0)
        f.write(b"\n".join(lines))
    resume_refused(capsys, run, "metrics", "line 2")


def test_corrupted_weights_are_refused(run, capsys):
    (checkpoint_of(run) / "model.safetensors").write_bytes(b"garbage")
    resume_refused(capsys, run, "corrupted")


def test_a_torn_last_metrics_line_is_what_a_kill_leaves_and_is_dropped(run, capsys):
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "tra')
    code, err = run_cli(capsys, ["train", "--resume", str(run), "--steps", "4"])
    assert code == 0, err


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_after",
    [
        r"^preparing",
        r"^training a",
        r"checkpoint at step 1 saved",
        r"checkpoint at step 2 saved",
        r"checkpoint at step 4 saved",
        r"checkpoint at step 7 saved",
    ],
)
def test_a_run_killed_at_any_point_loads_and_resumes(finished_run, kill_after, tmp_path):
    from rnnkit.train import load_model
    from test_cli_text import LineReader

    corpus = json.loads((finished_run / "config.json").read_text())["corpus"]["source"]
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "rnnkit.cli"]
    argv = [*cli, *train_argv(Path(corpus), out, steps=10)]
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        reader = LineReader(proc.stderr)
        try:
            reader.wait_for(kill_after, timeout=600)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, "training finished before it could be killed"
        reader.thread.join(timeout=60)
    if (out / "config.json").exists():
        if (out / "model.safetensors").exists():
            load_model(out)  # what generate/evaluate read loads
        again = [*cli, "train", "--resume", str(out)]
    else:  # killed before it wrote anything: the same command starts it again
        again = argv
    finished = subprocess.run(again, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))
    load_model(out)
