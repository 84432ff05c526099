"""Every command under bad input: one line on stderr (no traceback), exit code 2, and nothing
that existed before changed. The generic kinds (an output that cannot be written, a seed out of
range, a size that needs more memory than any machine has, too many threads) are parametrized
over every command that takes the option, not only the examples of issue 10."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from rnnkit.cli import main

TEXT = "The quick brown fox jumps over the lazy dog. " * 40

# Every command with the arguments it needs to start, and the options it takes.
COMMANDS: dict[str, list[str]] = {
    "train": ["train", "--steps", "1"],
    "generate": ["generate", "RUN"],
    "evaluate": ["evaluate", "RUN"],
    "forecast": ["forecast", "--steps", "1"],
    "task": ["task", "adding", "--steps", "1"],
    "hopfield capacity": ["hopfield", "capacity"],
    "hopfield demo": ["hopfield", "demo"],
    "esn": ["esn"],
    "bench": ["bench"],
    "inspect": ["inspect", "RUN"],
    "export": ["export", "RUN", "--onnx", "model.onnx"],
    "playground": ["playground", "--no-browser"],
}
WITH_OUT = ["train", "forecast", "hopfield capacity", "hopfield demo", "esn", "inspect"]
WITH_SEED = ["train", "generate", "forecast", "task", "hopfield capacity", "hopfield demo"]
WITH_SEED += ["esn", "inspect"]
WITH_THREADS = ["train", "forecast", "task", "bench"]
HUGE: list[tuple[str, list[str]]] = [
    ("train", ["--hidden", "10000000"]),
    ("train", ["--batch-size", "100000000000", "--seq-len", "100000"]),
    ("generate", ["--length", "100000000000000"]),
    ("forecast", ["--hidden", "10000000"]),
    ("task", ["--length", "100000000000"]),
    ("task", ["--hidden", "10000000"]),
    ("hopfield capacity", ["--units", "10000000"]),
    ("esn", ["--units", "10000000"]),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny trained run (two steps) for the commands that read one."""
    corpus = tmp_path_factory.mktemp("text") / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path_factory.mktemp("runs") / "tiny"
    argv = ["train", "--text", str(corpus), "--hidden", "8", "--embed", "8", "--batch-size", "2"]
    argv += ["--seq-len", "8", "--steps", "2", "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    return out


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (the run's lock file aside) and its SHA-256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's errors
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def assert_one_line(err: str, *words: str) -> None:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0], err
    for word in words:
        assert word in lines[0], (word, err)


def argv_of(command: str, run_dir: Path, *extra: str) -> list[str]:
    return [str(run_dir) if a == "RUN" else a for a in COMMANDS[command]] + list(extra)


def refused(capsys, run_dir: Path, argv: list[str], *words: str) -> str:
    """Run ``argv``, assert exit code 2 with one line naming ``words`` and the run unchanged."""
    before = digest(run_dir)
    cwd_before = set(os.listdir("."))
    code, err = run_cli(capsys, argv)
    assert code == 2, err
    assert_one_line(err, *words)
    assert digest(run_dir) == before
    assert set(os.listdir(".")) == cwd_before  # no stray run directory
    return err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run directories would land here


def test_every_command_is_covered():
    from rnnkit.cli import COMMAND_MODULES

    # A new command module means a new entry in COMMANDS (and the lists above).
    assert len(COMMAND_MODULES) == 10 and len(COMMANDS) == 12


@pytest.mark.parametrize("command", WITH_OUT)
@pytest.mark.parametrize("kind", ["dangling symlink", "file on the way", "existing file"])
def test_an_output_that_cannot_be_written_is_refused_first(
    command, kind, run_dir, tmp_path, capsys
):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    if kind == "dangling symlink":
        out = tmp_path / "dangling"
        out.symlink_to(tmp_path / "missing" / "target")
    elif kind == "file on the way":
        out = a_file / "run"
    else:
        out = a_file
    refused(capsys, run_dir, argv_of(command, run_dir, "--out", str(out)), "--out")
    assert a_file.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command", WITH_OUT)
def test_a_read_only_place_is_refused_first(command, run_dir, tmp_path, capsys):
    place = tmp_path / "read-only"
    place.mkdir()
    place.chmod(0o555)
    try:
        out = str(place / "run")
        refused(capsys, run_dir, argv_of(command, run_dir, "--out", out), "--out", "permission")
    finally:
        place.chmod(0o755)


def test_bench_json_that_cannot_be_written_is_refused_first(run_dir, tmp_path, capsys):
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "missing" / "x.json")
    refused(capsys, run_dir, ["bench", "--json", str(dangling)], "--json")
    (tmp_path / "a-file").write_text("")
    refused(capsys, run_dir, ["bench", "--json", str(tmp_path / "a-file" / "x.json")], "--json")


def test_an_existing_run_is_never_overwritten(run_dir, capsys):
    refused(capsys, run_dir, ["train", "--steps", "1", "--out", str(run_dir)], "--out", "--resume")


@pytest.mark.parametrize("command", WITH_SEED)
@pytest.mark.parametrize("seed", ["-1", str(2**63), "1e3", "seven"])
def test_a_seed_out_of_range_is_refused_by_the_parser(command, seed, run_dir, capsys):
    refused(capsys, run_dir, argv_of(command, run_dir, "--seed", seed), "--seed", "0..")


@pytest.mark.parametrize("command", WITH_THREADS)
@pytest.mark.parametrize("threads", ["0", "100000", "-3"])
def test_threads_are_bounded(command, threads, run_dir, capsys):
    refused(capsys, run_dir, argv_of(command, run_dir, "--threads", threads), "--threads")


@pytest.mark.parametrize(("command", "extra"), HUGE, ids=[f"{c} {' '.join(e)}" for c, e in HUGE])
def test_sizes_beyond_the_memory_are_refused_with_the_estimate(command, extra, run_dir, capsys):
    err = refused(capsys, run_dir, argv_of(command, run_dir, *extra), "needs about", "memory")
    assert extra[0] in err


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("bad", [["--no-such-option"], ["--help-me"]])
def test_argparse_errors_are_one_line(command, bad, run_dir, capsys):
    refused(capsys, run_dir, argv_of(command, run_dir, *bad), "unrecognized")


@pytest.mark.parametrize("command", ["generate", "evaluate", "inspect"])
def test_a_missing_run_is_one_line(command, tmp_path, run_dir, capsys):
    argv = [a if a != "RUN" else str(tmp_path / "no-run") for a in COMMANDS[command]]
    refused(capsys, run_dir, argv, "no-run")


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import argparse

    import rnnkit.cli as cli

    def boom(args: argparse.Namespace) -> int:
        raise RuntimeError("boom,\nunforeseen")

    real = cli.build_parser

    def patched() -> argparse.ArgumentParser:
        parser = real()
        parser.set_defaults(run=boom)
        for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
            for sub in action.choices.values():
                sub.set_defaults(run=boom)
        return parser

    monkeypatch.setattr(cli, "build_parser", patched)
    code, err = run_cli(capsys, ["bench"])
    assert code == 1
    assert_one_line(err, "RuntimeError: boom, unforeseen", "run with --debug for the traceback")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", "bench"])


def test_divergence_ends_the_same_way_in_every_training_command(monkeypatch, capsys):
    import argparse

    import rnnkit.cli as cli
    from rnnkit.train import TrainingDiverged

    def diverge(args: argparse.Namespace) -> int:
        raise TrainingDiverged("training stopped at step 3: the loss is nan")

    real = cli.build_parser

    def patched() -> argparse.ArgumentParser:
        parser = real()
        for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
            for sub in action.choices.values():
                sub.set_defaults(run=diverge)
        return parser

    monkeypatch.setattr(cli, "build_parser", patched)
    for argv in (["train"], ["forecast"], ["task", "copy"]):
        code, err = run_cli(capsys, argv)
        assert code == 1
        assert_one_line(err, f"rnnkit {argv[0]}: error: training stopped at step 3")


def test_a_fifo_in_a_text_folder_is_skipped_with_a_count(run_dir, tmp_path, capsys):
    folder = tmp_path / "sources"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "a.py").write_text(TEXT)
    (folder / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\x00\x01binary")
    os.mkfifo(folder / "pipe")
    (folder / "loop").symlink_to(folder)  # a folder symlink loop is not entered
    (folder / "again.py").symlink_to(folder / "a.py")  # the same file twice is read once
    code, err = run_cli(capsys, ["evaluate", str(run_dir), "--text", str(folder)])
    assert code == 0, err
    assert "skipped 3 non-text files" in err


def test_a_fifo_as_text_is_refused(run_dir, tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe")
    refused(capsys, run_dir, ["evaluate", str(run_dir), "--text", str(tmp_path / "pipe")], "pipe")


@pytest.mark.parametrize("temperature", ["1e-300", "5e-324", "1e300"])
def test_extreme_temperatures_sample(temperature, run_dir, capsys):
    argv = ["generate", str(run_dir), "--length", "20", "--seed", "1"]
    code, err = run_cli(capsys, [*argv, "--temperature", temperature])
    assert code == 0, err


@pytest.mark.parametrize("temperature", ["0", "-1", "nan", "inf"])
def test_temperatures_that_make_no_sense_are_refused(temperature, run_dir, capsys):
    argv = ["generate", str(run_dir), "--temperature", temperature]
    refused(capsys, run_dir, argv, "--temperature")


def test_the_largest_seed_works(run_dir, capsys):
    code, err = run_cli(
        capsys, ["generate", str(run_dir), "--length", "5", "--seed", str(2**63 - 1)]
    )
    assert code == 0, err


def test_the_corpus_path_is_saved_absolute(run_dir):
    import json

    source = json.loads((run_dir / "config.json").read_text())["corpus"]["source"]
    assert Path(source).is_absolute()
