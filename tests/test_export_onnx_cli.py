"""``rnnkit export RUN --onnx PATH [--step]`` on a tiny train run and a saved forecaster."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.models import Forecaster, ForecasterConfig

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = 'def f(x):\n    return "a" + x\n'


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("text") / "corpus.txt"
    corpus.write_text(TEXT * 4, encoding="utf-8")
    out = tmp_path_factory.mktemp("runs") / "tiny"
    argv = ["train", "--text", str(corpus), "--cell", "lstm", "--hidden", "8", "--embed", "4"]
    argv += ["--batch-size", "2", "--seq-len", "8", "--steps", "2", "--out", str(out)]
    assert main(argv) == 0
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("step", [False, True])
def test_export_a_train_run_checked_in_onnxruntime(train_run, tmp_path, capsys, step):
    from rnnkit.train import load_model

    path = tmp_path / "lm.onnx"
    code, out, _ = run_cli(
        capsys, "export", str(train_run), "--onnx", str(path), *(["--step"] * step)
    )
    assert code == 0, out
    assert "max abs difference" in out and path.is_file()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    model, _ = load_model(train_run)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = torch.randint(0, model.config.vocab_size, (3, 5))
    logits, _ = model(ids)
    if step:
        zeros = np.zeros((3, 8), np.float32)
        y, *_ = sess.run(None, {"x_t": ids[:, 0].numpy(), "h_l0": zeros, "c_l0": zeros})
        expected = logits[:, 0]
    else:
        y, *_ = sess.run(None, {"x": ids.numpy()})
        expected = logits
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=0, atol=1e-5)


def test_export_a_forecast_run(tmp_path, capsys):
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(hidden_size=6, cell="jordan", horizon=2)).eval()
    run = tmp_path / "forecast"
    model.save(run, window=12)
    path = tmp_path / "f.onnx"
    code, out, _ = run_cli(capsys, "export", str(run), "--onnx", str(path))
    assert code == 0 and "Forecaster graph" in out and "2x12x1 example" in out
    x = torch.randn(4, 20, 1)
    (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x.numpy()}
    )
    np.testing.assert_allclose(y, model(x).detach().numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("missing", [], "RUN must be a run directory"),
        ("empty", [], "rnnkit task saves no model"),
        ("train", ["--onnx", "/no/such/dir/x.onnx"], "does not exist"),
        ("train", ["--onnx", "DIR"], "must be a file path"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    train_run, tmp_path, capsys, which, extra, message
):
    run = {"missing": tmp_path / "nope", "empty": tmp_path, "train": train_run}[which]
    argv = ["export", str(run), *(extra or ["--onnx", str(tmp_path / "out.onnx")])]
    argv = [str(tmp_path) if a == "DIR" else a for a in argv]
    before = sorted(tmp_path.iterdir())
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
    assert sorted(tmp_path.iterdir()) == before
