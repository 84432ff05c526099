"""Forecaster, sequence classifier and the supervised fit loop: math, learning, saving, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

import rnnkit
from rnnkit.data.series import Scaler, sliding_windows
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier, last_step
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.train.supervised import FitConfig, TrainingDiverged, fit

F64 = torch.float64


def test_last_step_picks_each_sequence_at_its_length():
    ys = torch.randn(3, 5, 4)
    out = last_step(ys, torch.tensor([5, 1, 3]))
    assert torch.equal(out, torch.stack([ys[0, 4], ys[1, 0], ys[2, 2]]))
    assert torch.equal(last_step(ys, None), ys[:, -1])


# --- forecaster -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forecaster_is_the_readout_of_the_last_step(cell):
    model = Forecaster(ForecasterConfig(input_size=2, hidden_size=5, cell=cell, horizon=3))
    x = torch.randn(4, 7, 2)
    ys, _ = model.rnn(x)
    expected = model.readout.linear(ys[:, -1]).view(4, 3, 2)  # W_out h_w + b, identity f
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    # With lengths, padding past a length changes nothing.
    lengths = torch.tensor([7, 3, 5, 1])
    padded = x.clone()
    padded[1, 3:] = 100.0
    out = model(padded, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[b], model(x[b : b + 1, :n])[0], rtol=1e-5, atol=1e-6)


def test_forecaster_rollout_feeds_its_own_predictions_back():
    model = Forecaster(ForecasterConfig(hidden_size=6, cell="gru", num_layers=2)).double()
    context = torch.randn(2, 8, 1, dtype=F64)
    preds = model.rollout(context, steps=4)
    assert preds.shape == (2, 4, 1)
    # Each prediction is the one-step forecast of the context followed by the earlier
    # predictions, run from the zero state over the whole sequence.
    for k in range(4):
        seq = torch.cat([context, preds[:, :k]], dim=1)
        torch.testing.assert_close(preds[:, k], model(seq)[:, 0], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_forecaster_learns_a_sine_wave():
    t = torch.arange(400, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 25)  # period 25 steps
    x, y = sliding_windows(series, window=12)
    x_train, y_train, x_test, y_test = x[:300], y[:300], x[300:], y[300:]
    model = Forecaster(ForecasterConfig(hidden_size=12, cell="lstm"))
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(model(x_test), y_test))
    gen = torch.Generator().manual_seed(0)

    def batches(step):
        index = torch.randint(0, x_train.shape[0], (32,), generator=gen)
        return x_train[index], y_train[index]

    def loss_fn(model, xb, yb):
        return torch.nn.functional.mse_loss(model(xb), yb)

    result = fit(
        model,
        batches,
        loss_fn,
        FitConfig(steps=150, lr=1e-2, eval_every=50),
        evaluate=lambda m: float(torch.nn.functional.mse_loss(m(x_test), y_test)),
    )
    assert [s for s, _ in result.evals] == [50, 100, 150]
    # Held-out MSE on a wave of variance 0.5: from above 0.1 to far below 1e-3 (about 1e-5).
    assert before > 0.1
    assert result.final_eval < 1e-3


def test_forecaster_save_and_load_round_trip(tmp_path):
    config = ForecasterConfig(
        input_size=2,
        hidden_size=4,
        cell="gru",
        num_layers=2,
        horizon=2,
        cell_options={"reset": "before"},
    )
    model = Forecaster(config)
    scaler = Scaler.fit(torch.randn(50, 2))
    model.save(tmp_path / "run", scaler=json.loads(scaler.to_json()), window=12)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded, extra = Forecaster.load(tmp_path / "run")
    assert loaded.config == config
    assert Scaler(**extra["scaler"]) == scaler and extra["window"] == 12
    x = torch.randn(3, 9, 2)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match="not a saved forecaster"):
        Forecaster.load(tmp_path / "nothing")
    Forecaster(ForecasterConfig(hidden_size=5)).save(tmp_path / "other")
    (tmp_path / "run" / "model.safetensors").write_bytes(
        (tmp_path / "other" / "model.safetensors").read_bytes()
    )
    with pytest.raises(ValueError, match="does not hold this forecaster's weights"):
        Forecaster.load(tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="does not hold this forecaster's weights"):
        Forecaster.load(tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text('{"model": "Forecaster"}')
    with pytest.raises(ValueError, match="not a forecaster config"):
        Forecaster.load(tmp_path / "run")


def test_forecaster_config_errors():
    with pytest.raises(ValueError, match="horizon must be a positive int, got 0"):
        ForecasterConfig(horizon=0)
    with pytest.raises(ValueError, match="cell must be one of"):
        Forecaster(ForecasterConfig(cell="transformer"))
    with pytest.raises(TypeError, match="config must be a ForecasterConfig"):
        Forecaster({"hidden_size": 3})
    assert ForecasterConfig.from_json(ForecasterConfig(hidden_size=7).to_json()).hidden_size == 7


# --- classifier -------------------------------------------------------------------------------


def test_classifier_reads_the_last_real_step():
    model = SequenceClassifier(ClassifierConfig(input_size=3, num_classes=4, hidden_size=5))
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    garbage = x.clone()
    garbage[1, 2:] = 50.0
    garbage[2, 4:] = -50.0
    logits = model(garbage, lengths)
    for b, n in enumerate(lengths.tolist()):
        ys, _ = model.rnn(x[b : b + 1, :n])
        expected = model.readout(ys[:, -1])
        torch.testing.assert_close(logits[b : b + 1], expected, rtol=1e-5, atol=1e-6)


def test_bidirectional_classifier_summary_is_forward_end_and_backward_start():
    config = ClassifierConfig(input_size=2, num_classes=3, hidden_size=4, bidirectional=True)
    model = SequenceClassifier(config).double()
    x = torch.randn(2, 5, 2, dtype=F64)
    lengths = torch.tensor([5, 3])
    logits = model(x, lengths)
    layer = model.rnn.stack.layers[0]
    for b, n in enumerate(lengths.tolist()):
        seq = x[b : b + 1, :n]
        ys_f, _ = layer.forward_layer(seq)
        ys_b, _ = layer.backward_layer(seq)  # reverse=True: ys_b[:, 0] has read all of seq
        summary = torch.cat([ys_f[:, -1], ys_b[:, 0]], dim=1)
        torch.testing.assert_close(logits[b : b + 1], model.readout(summary), rtol=0, atol=1e-12)


@pytest.mark.slow
def test_classifier_learns_which_token_came_first():
    # Class = the token at step 0 of a sequence of random tokens with random lengths 2..12;
    # padding holds random tokens too, so reading the last real step is essential.
    gen = torch.Generator().manual_seed(0)

    def batch(n):
        tokens = torch.randint(0, 3, (n, 12), generator=gen)
        lengths = torch.randint(2, 13, (n,), generator=gen)
        return torch.nn.functional.one_hot(tokens, 3).float(), lengths, tokens[:, 0]

    model = SequenceClassifier(ClassifierConfig(input_size=3, num_classes=3, hidden_size=12))
    x_val, len_val, y_val = batch(500)
    before = float((model.predict(x_val, len_val) == y_val).float().mean())

    def batches(step):
        x, lengths, y = batch(32)
        return (x, lengths), y

    def loss_fn(model, xl, y):
        return torch.nn.functional.cross_entropy(model(*xl), y)

    fit(model, batches, loss_fn, FitConfig(steps=150, lr=1e-2, eval_every=150))
    accuracy = float((model.predict(x_val, len_val) == y_val).float().mean())
    assert before < 0.6
    assert accuracy > 0.95


def test_classifier_config_json_and_errors():
    config = ClassifierConfig(
        input_size=3, num_classes=2, cell="gru", cell_options={"reset": "before"}
    )
    assert ClassifierConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="num_classes must be at least 2, got 1"):
        ClassifierConfig(input_size=3, num_classes=1)
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got -1"):
        ClassifierConfig(input_size=3, num_classes=2, hidden_size=-1)
    model = SequenceClassifier(config)
    with pytest.raises(ValueError, match=r"x must be \(batch, time, 3\)"):
        model(torch.randn(2, 5, 4))


# --- fit --------------------------------------------------------------------------------------


def test_fit_clips_the_gradient_norm():
    model = torch.nn.Linear(4, 1, bias=False)
    x, y = torch.randn(16, 4), 1000 * torch.randn(16, 1)
    raw = torch.autograd.grad(torch.nn.functional.mse_loss(model(x), y), model.weight)[0]
    assert float(raw.norm()) > 10

    def loss_fn(m, xb, yb):
        return torch.nn.functional.mse_loss(m(xb), yb)

    before = model.weight.detach().clone()
    fit(model, lambda s: (x, y), loss_fn, FitConfig(steps=1, lr=0.1, clip_norm=0.5))
    # The gradient of the (only) step was rescaled to norm 0.5, keeping its direction.
    torch.testing.assert_close(model.weight.grad, raw * 0.5 / raw.norm())
    # AdamW's first step moves every weight by lr against the sign of its gradient.
    torch.testing.assert_close(model.weight.detach(), before - 0.1 * raw.sign())


def test_fit_stops_on_nan_before_touching_the_weights():
    model = torch.nn.Linear(2, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []

    def loss_fn(m, x, y):
        calls.append(1)
        loss = torch.nn.functional.mse_loss(m(x), y)
        return loss * float("nan") if len(calls) == 3 else loss

    with pytest.raises(TrainingDiverged, match="training stopped at step 3: the loss is nan"):
        fit(model, lambda s: (torch.randn(4, 2), torch.randn(4, 1)), loss_fn, FitConfig(steps=5))
    assert len(calls) == 3
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())

    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.zero_()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # sqrt(|w|^2) is 0 at w = 0, a finite loss whose gradient is 0/0 = nan.
    with pytest.raises(TrainingDiverged, match="step 1: the gradient norm is nan"):
        fit(
            model,
            lambda s: (None, None),
            lambda m, x, y: m.weight.pow(2).sum().sqrt(),
            FitConfig(steps=2, clip_norm=None),
        )
    for k, v in model.state_dict().items():
        assert torch.equal(before[k], v)


def test_fit_stops_at_the_target_and_records_evaluations():
    model = torch.nn.Linear(1, 1)
    values = iter([5.0, 4.0, 0.5, 0.1])
    result = fit(
        model,
        lambda s: (torch.randn(4, 1), torch.randn(4, 1)),
        lambda m, x, y: torch.nn.functional.mse_loss(m(x), y),
        FitConfig(steps=100, eval_every=3, target=1.0),
        evaluate=lambda m: next(values),
    )
    assert result.reached_target and result.steps == 9
    assert result.evals == [(3, 5.0), (6, 4.0), (9, 0.5)]
    assert len(result.train_loss) == 9


def test_fit_config_errors():
    with pytest.raises(ValueError, match="lr must be a positive finite number, got 0"):
        FitConfig(lr=0)
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        FitConfig(steps=0)
    with pytest.raises(ValueError, match="clip_norm must be a positive finite number, got -1"):
        FitConfig(clip_norm=-1)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        fit(lambda x: x, lambda s: (None, None), lambda m, x, y: None)


def test_models_are_exported():
    assert rnnkit.models.Forecaster is Forecaster
    assert rnnkit.models.SequenceClassifier is SequenceClassifier


def test_fit_continues_with_a_given_optimizer():
    # An SGD step of lr 0.5 on mse(w x, y) with x = 1, y = 0: w <- w - 0.5 * 2 w = 0.
    model = torch.nn.Linear(1, 1, bias=False)
    sgd = torch.optim.SGD(model.parameters(), lr=0.5)
    fit(
        model,
        lambda s: (torch.ones(1, 1), torch.zeros(1, 1)),
        lambda m, x, y: torch.nn.functional.mse_loss(m(x), y),
        FitConfig(steps=1, clip_norm=None),
        optimizer=sgd,
    )
    assert model.weight.item() == 0.0
