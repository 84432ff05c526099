"""The character language model, bits/char evaluation, the LR schedule and the trainer's steps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.language_model import CharLanguageModel, ModelConfig
from rnnkit.train import (
    TrainConfig,
    Trainer,
    TrainingDiverged,
    bits_per_char,
    learning_rate,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def small_model(cell="lstm", **kw) -> CharLanguageModel:
    torch.manual_seed(0)
    options = {"vocab_size": 7, "hidden_size": 6, "embed_size": 5, "cell": cell, "dropout": 0.0}
    options.update(kw)
    return CharLanguageModel(ModelConfig(**options)).double()


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman", "jordan"])
def test_forward_is_embedding_then_rnn_then_readout(cell):
    model = small_model(cell, num_layers=2)
    ids = torch.randint(0, 7, (3, 5))
    logits, state = model(ids)
    x = model.embedding.weight[ids]  # (B, T, E): the embedding is a row lookup
    hs, _ = model.rnn.stack(x)
    expected = hs @ model.readout.weight.T + model.readout.bias
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)
    assert len(state) == 2


def test_state_carried_across_chunks_equals_one_long_pass():
    model = small_model("gru")
    ids = torch.randint(0, 7, (2, 12))
    full, _ = model(ids)
    first, state = model(ids[:, :5])
    second, _ = model(ids[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, rtol=0, atol=1e-12)


def test_tied_weights_share_one_tensor_and_train_together():
    model = small_model(hidden_size=5, embed_size=5, tie_weights=True)
    assert model.readout.weight is model.embedding.weight
    ids = torch.randint(0, 7, (2, 4))
    logits, _ = model(ids)
    hs, _ = model.rnn.stack(model.embedding.weight[ids])
    torch.testing.assert_close(logits, hs @ model.embedding.weight.T + model.readout.bias)
    logits.sum().backward()
    assert model.embedding.weight.grad is not None
    with pytest.raises(ValueError, match=r"embed_size must equal hidden_size \(6\)"):
        ModelConfig(vocab_size=7, hidden_size=6, embed_size=5, tie_weights=True)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("hidden_size", 0, ValueError),
        ("num_layers", -1, ValueError),
        ("vocab_size", 2.5, TypeError),
        ("cell", "transformer", ValueError),
        ("dropout", 1.5, ValueError),
    ],
)
def test_bad_model_config(field, value, error):
    with pytest.raises(error, match=field if field != "cell" else "cell must be one of"):
        ModelConfig(**{"vocab_size": 7, field: value})


def test_bad_ids():
    model = small_model()
    with pytest.raises(ValueError, match=r"ids must be in \[0, 6\], got min 0, max 7"):
        model(torch.tensor([[0, 7]]))
    with pytest.raises(TypeError, match="ids must be an int64 tensor"):
        model(torch.zeros(1, 3))


def hand_bits(model, ids: torch.Tensor) -> float:
    """-mean log2 p(c_i | c_<i) over i >= 1 of one stream, from one forward pass."""
    logits, _ = model(ids[:-1].unsqueeze(0))
    logp = torch.log_softmax(logits[0].double(), -1)
    return float(-logp[torch.arange(len(ids) - 1), ids[1:]].mean().detach() / math.log(2))


def test_bits_per_char_is_the_mean_log2_loss_for_any_chunking():
    model = small_model()
    ids = torch.randint(0, 7, (61,))
    expected = hand_bits(model, ids)
    for seq_len in (1, 7, 60, 500):
        assert bits_per_char(model, ids, streams=1, seq_len=seq_len) == pytest.approx(expected)
    # Three streams of 200 predictions each: each stream scored on its own from its start.
    ids = torch.randint(0, 7, (602,))
    streams = [ids[k * 200 : k * 200 + 201] for k in range(3)]
    three = sum(hand_bits(model, s) for s in streams) / 3
    assert bits_per_char(model, ids, streams=3, seq_len=64) == pytest.approx(three)
    # Streams shorter than 200 characters are merged: 3 streams asked, one used.
    assert bits_per_char(model, ids[:400], streams=3) == pytest.approx(hand_bits(model, ids[:400]))


def test_uniform_model_scores_log2_vocab():
    model = small_model()
    with torch.no_grad():
        model.readout.linear.weight.zero_()
        model.readout.linear.bias.zero_()
    ids = torch.randint(0, 7, (40,))
    assert bits_per_char(model, ids, streams=2) == pytest.approx(math.log2(7))


def test_generate_is_seeded_and_greedy_at_low_temperature():
    model = small_model()
    prompt = torch.tensor([1, 2, 3])
    a = model.generate(prompt, 20, generator=torch.Generator().manual_seed(5))
    b = model.generate(prompt, 20, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # At a tiny temperature sampling is the argmax: compare with a greedy decode by hand.
    cold = model.generate(prompt, 8, temperature=1e-6, generator=torch.Generator())
    seq = prompt.tolist()
    for _ in range(8):
        logits, _ = model(torch.tensor([seq]))
        seq.append(int(logits[0, -1].argmax()))
    assert cold.tolist() == seq[3:]
    with pytest.raises(ValueError, match="temperature must be a positive number, got 0"):
        model.generate(prompt, 5, temperature=0)
    with pytest.raises(ValueError, match="prompt must have at least one character"):
        model.generate(torch.tensor([], dtype=torch.long), 5)


@pytest.mark.slow
def test_generate_follows_the_softmax_distribution():
    # A model whose logits ignore the input: samples follow softmax(bias / T).
    model = small_model()
    with torch.no_grad():
        model.readout.linear.weight.zero_()
        model.readout.linear.bias.copy_(torch.tensor([2.0, 1.0, 0.0, 0.0, -9, -9, -9]))
    out = model.generate(torch.tensor([0]), 4000, temperature=0.5, generator=torch.Generator())
    freq = torch.bincount(out, minlength=7).double() / 4000
    expected = torch.softmax(model.readout.bias.detach() / 0.5, 0)
    torch.testing.assert_close(freq, expected, atol=0.03, rtol=0)


def test_learning_rate_warms_up_then_follows_a_cosine():
    c = TrainConfig(lr=0.01, final_lr_ratio=0.1, warmup_steps=4, steps=100)
    assert learning_rate(c, 0, 0.0) == pytest.approx(0.0025)
    assert learning_rate(c, 3, 0.0) == pytest.approx(0.01)
    assert learning_rate(c, 50, 0.5) == pytest.approx(0.001 + 0.009 * 0.5)
    assert learning_rate(c, 100, 1.0) == pytest.approx(0.001)
    assert learning_rate(c, 100, 1.7) == pytest.approx(0.001)  # past the budget: stays low


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 5, "minutes": 1.0}, "exactly one of steps and minutes"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"minutes": float("nan")}, "minutes"),
    ],
)
def test_bad_train_config(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_training_step_minimises_cross_entropy_with_clipped_gradients(tmp_path):
    model = small_model().float()
    ids = torch.randint(0, 7, (300,))
    config = TrainConfig(batch_size=2, seq_len=5, steps=10, lr=0.01, warmup_steps=0, clip_norm=0.1)
    trainer = Trainer(model, config, ids[:250], ids[250:], tmp_path)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x, y, _ = trainer.batches.batch(0)
    logits, _ = model(x)
    expected_bits = float(
        F.cross_entropy(logits.reshape(-1, 7), y.reshape(-1)).detach()
    ) / math.log(2)
    assert trainer.train_step() == pytest.approx(expected_bits, rel=1e-6)
    # AdamW's first step moves each weight by about lr (sign of the gradient), whatever the
    # clipping; clipping shows in the gradients, whose global norm is now at most 0.1.
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))
    assert float(norm) == pytest.approx(0.1, rel=1e-4)
    moved = max(float((p - before[n]).abs().max().detach()) for n, p in model.named_parameters())
    assert 0.005 < moved < 0.0125


def test_state_is_carried_between_steps_and_reset_at_an_epoch_start(tmp_path):
    model = small_model().float()
    ids = torch.randint(0, 7, (130,))
    config = TrainConfig(batch_size=2, seq_len=5, steps=50, lr=1e-9, warmup_steps=0)
    trainer = Trainer(model, config, ids[:120], ids[120:], tmp_path)
    K = trainer.batches.chunks_per_epoch
    seen = []
    real_forward = model.forward

    def spy(x, state=None):
        seen.append(state)
        return real_forward(x, state)

    model.forward = spy
    carried = None
    for step in range(K + 1):
        trainer.train_step()
        if step == 1:
            carried = trainer.carry
    assert seen[0] is None and seen[1] is not None and seen[K] is None
    assert seen[2] is carried  # step 2 starts from step 1's final state, detached
    assert not carried[0].h.requires_grad


def test_nan_loss_stops_training_clearly(tmp_path):
    model = small_model().float()
    with torch.no_grad():
        model.embedding.weight[3] = float("nan")
    ids = torch.arange(200) % 7
    trainer = Trainer(model, TrainConfig(batch_size=2, seq_len=5, steps=5), ids, ids, tmp_path)
    with pytest.raises(TrainingDiverged, match="training stopped at step 1: the loss is nan"):
        trainer.run(plot=False)
    assert not (tmp_path / "checkpoint.json").exists()  # nothing saved from a broken model


def test_a_periodic_text_is_learnt(tmp_path):
    torch.manual_seed(0)
    model = CharLanguageModel(ModelConfig(vocab_size=5, hidden_size=16, embed_size=8, dropout=0.0))
    ids = torch.tensor([0, 1, 2, 3, 4, 3, 2, 1] * 40)
    config = TrainConfig(batch_size=4, seq_len=8, steps=150, lr=0.05, warmup_steps=0)
    summary = Trainer(model, config, ids[:280], ids[280:], tmp_path).run(plot=False)
    # Chance is log2(5) = 2.32 bits; the sequence is deterministic given two characters.
    assert summary["val_bits_per_char"] < 0.3
