"""``rnnkit inspect RUN``: end to end on a tiny run, the hand-wired quote unit found through the
CLI, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image
import pytest
import torch

from conftest import run_cli
from rnnkit.cli import main
from rnnkit.train import load_model
from rnnkit.train.checkpoint import WEIGHTS, save_weights
from test_inspect import TEXT, wire_quote_unit

pytestmark = pytest.mark.usefixtures("one_thread")

SENTENCE = re.compile(
    r"^unit \d+ \(layer \d+ [a-z]\) (is on|is off|grows with|falls with) .+, r = -?[01]\.\d\d"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("text") / "corpus.txt"
    corpus.write_text(TEXT * 3, encoding="utf-8")
    out = tmp_path_factory.mktemp("runs") / "tiny"
    argv = ["train", "--text", str(corpus), "--cell", "gru", "--hidden", "8", "--embed", "0"]
    argv[-1] = str(len(set(TEXT)))  # embed_size = V, so that a one-hot embedding fits
    argv += ["--batch-size", "4", "--seq-len", "16", "--steps", "3", "--out", str(out)]
    assert main(argv) == 0
    return out


def _valid_png(path: Path) -> bool:
    image = matplotlib.image.imread(path)  # decodes the whole file: fails on a broken PNG
    return image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_inspect_writes_pictures_and_names_units(run_dir, tmp_path, capsys):
    out = tmp_path / "pics"
    code, stdout, _ = run_cli(capsys, "inspect", str(run_dir), "--units", "1", "--out", str(out))
    assert code == 0
    found = [line for line in stdout.splitlines() if line.startswith("unit ")]
    assert found and all(SENTENCE.match(line) for line in found)
    # On a text with every feature, one line per feature.
    code, stdout, _ = run_cli(capsys, "inspect", str(run_dir), "--text", TEXT, "--out", str(out))
    assert code == 0
    assert sum(bool(SENTENCE.match(line)) for line in stdout.splitlines()) == 5
    assert re.search(r"^wrote \d+ pictures to ", stdout, re.M)
    names = sorted(p.name for p in out.iterdir())
    assert {"gates-layer-0.png", "gradient-flow.png", "unit-layer-0-h-1.png"} <= set(names)
    assert all(_valid_png(out / name) for name in names)


def test_inspect_finds_the_hand_wired_quote_unit(run_dir, tmp_path, capsys):
    model, run = load_model(run_dir)
    wired = tmp_path / "wired"
    wired.mkdir()
    for name in ("config.json",):
        (wired / name).write_bytes((run_dir / name).read_bytes())
    index = {c: k for k, c in enumerate(run.vocabulary.chars)}
    torch.manual_seed(0)
    wire_quote_unit(model, index)
    save_weights(model, wired / WEIGHTS)
    code, stdout, _ = run_cli(capsys, "inspect", str(wired), "--text", TEXT)
    assert code == 0
    first = stdout.splitlines()[1]
    assert re.match(r'^unit 0 \(layer 0 h\) is on inside "double quotes", r = 0\.9\d$', first)
    assert "found " in stdout and "interpretable unit(s)" in stdout
    assert (wired / "inspect" / "unit-double_quotes-layer-0-h-0.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["inspect", "/nonexistent/run"], "does not exist"),
        (["inspect", "RUN", "--units", "8"], "there is no unit 8"),
        (["inspect", "RUN", "--text", ""], "--text must have at least 2 characters"),
        (["inspect", "RUN", "--text", "\u2603\u2603"], "--text"),
        (["inspect", "RUN", "--layer", "1"], "--layer must be in [0, 0]"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_dir, capsys, argv, message):
    argv = [str(run_dir) if a == "RUN" else a for a in argv]
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 2
    assert stderr.startswith("rnnkit inspect: error: ") and message in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_inspect_classic_networks(tmp_path, capsys):
    out = tmp_path / "classic"
    code, stdout, _ = run_cli(
        capsys, "inspect", "--hopfield", "40", "--esn", "15", "--out", str(out)
    )
    assert code == 0
    assert re.search(r"energy (-?\d+\.\d\d) -> (-?\d+\.\d\d) in 120 updates", stdout)
    before, after = map(float, re.search(r"energy (\S+) -> (\S+) in", stdout).groups())
    assert after < before
    mc = float(re.search(r"memory capacity MC = (\d+\.\d\d) \(at most 15\)", stdout).group(1))
    assert 1.0 < mc <= 15.5
    names = {"hopfield-energy.png", "esn-states.png", "esn-memory-capacity.png"}
    assert {p.name for p in out.iterdir()} == names
    assert all(_valid_png(out / name) for name in names)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["inspect"], "RUN is required"),
        (["inspect", "somewhere", "--esn", "10"], "not both"),
        (["inspect", "--hopfield", "2"], "at least 4 units"),
    ],
)
def test_classic_bad_input(capsys, argv, message):
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
