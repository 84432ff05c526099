"""``rnnkit train / generate / evaluate``: run directory, bad input, resume after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.data.text import read_text, split_ids
from rnnkit.train import bits_per_char, load_model

SENTENCES = (
    "The cat sat on the mat. The dog sat on the log. A bird sang in the tree. "
    "Every cell is one step of a recursive function; the loop unrolls it over time.\n"
)
TINY = ["--hidden", "32", "--embed", "8", "--batch-size", "8", "--seq-len", "16"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(SENTENCES * 20, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, corpus) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    argv = ["train", "--text", str(corpus), *TINY, "--steps", "60", "--lr", "0.03"]
    argv += ["--eval-every", "20", "--log-every", "5", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_train_reports_the_compressors_yardsticks(run_dir, corpus, capsys):
    from rnnkit.data.text import compression_bits

    bits = compression_bits(corpus.read_text())
    out = run_dir.parent / "again"
    argv = ["train", "--text", str(corpus), *TINY, "--steps", "5", "--out", str(out)]
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0
    assert f"(zlib {bits['zlib']:.3f}, lzma {bits['lzma']:.3f} on the whole text)" in stdout


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``rnnkit argv`` in this process: exit code, stdout, stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own errors and --help
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_help_everywhere(capsys):
    for argv in ([], ["train"], ["generate"], ["evaluate"]):
        code, out, _ = run_cli(capsys, *argv, "--help")
        assert code == 0 and "usage: rnnkit" in out
    _, out, _ = run_cli(capsys, "train", "--help")
    for option in ("--text", "--cell", "--hidden", "--layers", "--minutes", "--steps", "--resume"):
        assert option in out


def test_train_writes_a_complete_run(run_dir, corpus):
    for name in ("config.json", "model.safetensors", "metrics.jsonl", "loss.png"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "loss.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((run_dir / "config.json").read_text())
    assert "".join(config["vocabulary"]) == "".join(sorted(set(corpus.read_text())))
    assert config["model"]["hidden_size"] == 32 and config["train"]["steps"] == 60
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(5, 61, 5))
    assert all(r["chars_per_second"] > 0 and r["train_bits_per_char"] > 0 for r in records)
    assert [r["step"] for r in records if "val_bits_per_char" in r] == [20, 40, 60]
    # The model learnt something: well below the uniform log2(V) bits/char.
    vocab_size = len(config["vocabulary"])
    assert records[-1]["val_bits_per_char"] < math.log2(vocab_size) - 1.0


def test_evaluate_prints_the_held_out_score_of_the_run(run_dir, corpus, capsys):
    code, out, _ = run_cli(capsys, "evaluate", str(run_dir))
    assert code == 0
    printed = float(out.split()[0])
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert printed == pytest.approx(last["val_bits_per_char"], abs=1e-4)
    # On another text: the same as scoring it in Python.
    other = corpus.parent / "other.txt"
    other.write_text("The dog sat in the tree. " * 20, encoding="utf-8")
    code, out, _ = run_cli(capsys, "evaluate", str(run_dir), "--text", str(other))
    model, run = load_model(run_dir)
    expected = bits_per_char(model, run.vocabulary.encode(other.read_text()))
    assert code == 0 and float(out.split()[0]) == pytest.approx(expected, abs=1e-4)
    _, held_out = split_ids(run.vocabulary.encode(read_text(corpus).text), 0.1)
    assert last["val_bits_per_char"] == pytest.approx(bits_per_char(model, held_out), abs=1e-6)


def test_generate_prints_a_seeded_sample(run_dir, capsys):
    args = ("generate", str(run_dir), "--prompt", "The c", "--length", "60", "--seed", "3")
    code, first, _ = run_cli(capsys, *args)
    assert code == 0
    text = first.rstrip("\n")
    assert text.startswith("The c") and len(text) == 65
    vocab = set(json.loads((run_dir / "config.json").read_text())["vocabulary"])
    assert set(text) <= vocab
    assert run_cli(capsys, *args)[1] == first
    assert run_cli(capsys, *args[:-1], "4")[1] != first


def test_bad_text_input(tmp_path, corpus, capsys):
    cases = {
        "empty.txt": (b"", "empty"),
        "binary.bin": (b"\x7fELF\x00\x01\x02", "binary"),
        "latin1.txt": ("café crème".encode("latin-1"), "UTF-8"),
        "short.txt": (b"just a few characters", "at least"),
    }
    for name, (content, needle) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / f"run-{name}"
        code, _, err = run_cli(capsys, "train", "--text", str(path), "--out", str(out))
        assert_usage_error(code, err, needle, str(path) if needle != "at least" else "")
        assert err.count("\n") == 1  # one line
        assert not out.exists()  # nothing created for a refused run
    code, _, err = run_cli(capsys, "train", "--text", str(tmp_path / "nope"))
    assert_usage_error(code, err, "no such path")


def test_bad_model_options(tmp_path, corpus, capsys):
    base = ("train", "--text", str(corpus), "--out", str(tmp_path / "r"))
    code, _, err = run_cli(capsys, *base, "--cell", "transformer")
    assert_usage_error(code, err, "argument --cell: invalid choice: 'transformer'", "'lstm'")
    assert err.count("\n") == 1
    for option in ("--hidden", "--layers", "--steps", "--batch-size"):
        code, _, err = run_cli(capsys, *base, option, "0")
        assert_usage_error(code, err, option, "expected a positive integer, got 0")
    code, _, err = run_cli(capsys, *base, "--minutes", "-1")
    assert_usage_error(code, err, "--minutes")
    assert not (tmp_path / "r").exists()


def test_an_existing_run_is_never_overwritten(run_dir, corpus, capsys):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    code, _, err = run_cli(capsys, "train", "--text", str(corpus), *TINY, "--out", str(run_dir))
    assert_usage_error(code, err, "already exists", "--resume")
    code, _, err = run_cli(capsys, "train", "--resume", str(run_dir), "--hidden", "32")
    assert_usage_error(code, err, "--hidden cannot be given with --resume")
    code, _, err = run_cli(capsys, "train", "--resume", str(run_dir))
    assert_usage_error(code, err, "already finished at step 60")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_not_a_run_and_broken_runs(tmp_path, run_dir, capsys):
    for command in ("generate", "evaluate"):
        code, _, err = run_cli(capsys, command, str(tmp_path))
        assert_usage_error(code, err, "is not an rnnkit run")
        code, _, err = run_cli(capsys, command, str(tmp_path / "missing"))
        assert_usage_error(code, err, "does not exist")
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path))
    assert_usage_error(code, err, "is not an rnnkit run")

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "model.safetensors"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    code, _, err = run_cli(capsys, "generate", str(broken))
    assert_usage_error(code, err, "corrupted")

    mismatched = json.loads((run_dir / "config.json").read_text())
    mismatched["model"]["hidden_size"] = 24
    (broken / "config.json").write_text(json.dumps(mismatched))
    (broken / "model.safetensors").write_bytes((run_dir / "model.safetensors").read_bytes())
    code, _, err = run_cli(capsys, "evaluate", str(broken))
    assert_usage_error(code, err, "do not match the model of config.json")

    (broken / "config.json").write_text("{not json")
    code, _, err = run_cli(capsys, "generate", str(broken))
    assert_usage_error(code, err, "not valid JSON")


def test_characters_the_model_does_not_know(run_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", str(run_dir), "--prompt", "Zürich")
    assert_usage_error(code, err, "--prompt must use only the model's")
    other = tmp_path / "other.txt"
    other.write_text("Qxz", encoding="utf-8")
    code, _, err = run_cli(capsys, "evaluate", str(run_dir), "--text", str(other))
    assert_usage_error(code, err, "--text must use only the model's")


def rnnkit_train(*argv: str) -> list[str]:
    return [sys.executable, "-m", "rnnkit.cli", "train", *argv]


class LineReader:
    """The lines of a child's stream, read by a thread so that waiting for one can time out."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first line matching ``pattern``; fails if the stream ends first or ``timeout``
        seconds pass (a generous bound, not a timing assumption)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout} s: {self.seen}")
            if line is None:
                pytest.fail(f"the child exited before printing {pattern!r}: {self.seen}")
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_losses(tmp_path, corpus):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--text", str(corpus), "--hidden", "8", "--embed", "4", "--batch-size", "2"]
    common += ["--seq-len", "8", "--steps", "200", "--checkpoint-every", "10", "--log-every", "1"]
    common += ["--eval-every", "100", "--seed", "5", "--dropout", "0.1", "--threads", "1"]

    straight = tmp_path / "straight"
    subprocess.run(rnnkit_train(*common, "--out", str(straight)), env=env, check=True)

    killed = tmp_path / "killed"
    with subprocess.Popen(
        rnnkit_train(*common, "--out", str(killed)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        reader = LineReader(proc.stderr)
        # The child prints this line after checkpoint.json points at the new checkpoint.
        try:
            reader.wait_for(r"checkpoint at step (2\d|[3-9]\d|1\d\d) saved", timeout=600)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, "training finished before it could be killed"
        reader.thread.join(timeout=60)  # the pipe is at its end once the child is gone
    stopped_at = json.loads((killed / "checkpoint.json").read_text())["step"]
    assert 20 <= stopped_at < 200

    resumed = subprocess.run(
        rnnkit_train("--resume", str(killed)), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} at step {stopped_at}" in resumed.stderr

    def metrics(run: Path) -> list[tuple]:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [
            (r["step"], r["train_bits_per_char"], r.get("val_bits_per_char"))
            for r in map(json.loads, lines)
        ]

    expected = metrics(straight)
    assert [m[0] for m in expected] == list(range(1, 201))
    assert metrics(killed) == expected  # every loss, before and after the kill, bit for bit
    a, b = load_file(straight / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list(killed.glob(".*.tmp"))


def test_threads_default_to_the_idle_cores(monkeypatch):
    from rnnkit import kernels
    from rnnkit.cli._common import default_threads

    # one core busy of two, read from /proc/stat 0.15 s apart (rnnkit.kernels._threads)
    stats = iter(["cpu0 100 0 0 900 0 0 0\ncpu1 0 0 0 1000 0 0 0\n",
                  "cpu0 200 0 0 900 0 0 0\ncpu1 0 0 0 1100 0 0 0\n"])  # fmt: skip
    real = kernels.recommended_threads
    monkeypatch.setattr(
        kernels,
        "recommended_threads",
        lambda: real(read_stat=lambda: next(stats), sleep=lambda s: None, cpus={0, 1}),
    )
    assert default_threads() == 1


def test_version_is_the_package_metadata(capsys):
    from importlib.metadata import version

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out == f"rnnkit {version('rnnkit')}\n"


def test_every_help_line_shows_the_dataclass_default(capsys):
    from rnnkit.models.language_model import ModelConfig
    from rnnkit.train import TrainConfig

    _, out, _ = run_cli(capsys, "train", "--help")
    text = " ".join(out.split())  # argparse wraps lines
    assert f"--lr LR peak AdamW learning rate (default: {TrainConfig.lr:g})" in text
    assert f"--dropout P dropout rate (default: {ModelConfig.dropout:g})" in text
    assert f"--hidden N units per layer (default: {ModelConfig.hidden_size})" in text
    assert "--out DIR new or empty directory" in text and "--threads N" in text


@pytest.mark.slow
def test_train_progress_is_plain_lines_in_a_log(tmp_path, corpus):
    argv = ["--text", str(corpus), *TINY, "--steps", "4", "--out", str(tmp_path / "r")]
    proc = subprocess.run(rnnkit_train(*argv), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    # "preparing" is said before the (slow) first kernel build, then the progress starts.
    preparing = next(k for k, line in enumerate(lines) if line.startswith("preparing on "))
    assert preparing < lines.index("train: 0/4 step (0%)")
    assert any(line.startswith("train: 4/4 step (100%) in ") for line in lines)
    assert f"checkpoint at step 4 saved in {tmp_path / 'r'}" in lines
    assert "\r" not in proc.stderr


def test_progress_prints_a_plain_line_every_period_and_draws_a_bar_on_a_terminal():
    import io

    from rnnkit._progress import Progress

    now = [0.0]
    log = io.StringIO()
    bar = Progress(100, desc="job", unit="step", file=log, every=10.0, clock=lambda: now[0])
    for t in (4.0, 9.9, 10.0, 15.0, 19.9, 20.5):
        now[0] = t
        bar.update()
    bar.close()
    bar.close()  # closing twice prints nothing more
    assert log.getvalue().splitlines() == [
        "job: 0/100 step (0%)",
        "job: 3/100 step (3%) in 10 s",
        "job: 6/100 step (6%) in 20 s",
        "job: 6/100 step (6%) in 20 s",
    ]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    with Progress(5, desc="job", file=screen) as bar:
        bar.update(5)
    assert "\r" in screen.getvalue() and "job: 0/5 step (0%)\n" not in screen.getvalue()


def subcommand_parsers():
    """``(name, parser)`` of every command, nested ones (``hopfield capacity``) included."""
    import argparse

    from rnnkit.cli import build_parser

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{prefix} {name}".strip())
        if prefix:
            yield prefix, parser

    return list(walk(build_parser(), ""))


def test_every_option_says_what_it_does():
    for name, parser in subcommand_parsers():
        for action in parser._actions:
            if action.option_strings and action.dest not in ("help", "version"):
                what = re.sub(r"\(default: [^)]*\)", "", action.help or "")
                assert len(what.split()) >= 2, (name, action.option_strings)


@pytest.mark.parametrize("command", ["train", "generate", "evaluate", "forecast", "task"])
def test_the_help_shows_the_default_the_option_really_has(command):
    from rnnkit.cli._common import show

    parser = dict(subcommand_parsers())[command]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert "(default: " in action.help, (command, action.option_strings)
        what = re.sub(r"\(default: [^)]*\)", "", action.help)
        assert len(what.split()) >= 2, (command, action.option_strings)  # says what it does
        if action.default is not None and not isinstance(action.default, bool):
            shown = repr(action.default) if isinstance(action.default, str) else None
            expected = shown if action.dest == "prompt" else show(action.default)
            assert f"(default: {expected})" in action.help, (command, action.help)
