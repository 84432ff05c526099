"""Checkpoints: safetensors + JSON (no pickle), atomic writes, exact resume, bad files."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.models.language_model import CharLanguageModel, ModelConfig
from rnnkit.train import TrainConfig, Trainer, metrics
from rnnkit.train import checkpoint as ckpt

pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(seed=0, **kw) -> CharLanguageModel:
    torch.manual_seed(seed)
    options = {"vocab_size": 6, "hidden_size": 8, "embed_size": 4, **kw}
    return CharLanguageModel(ModelConfig(**options))


def test_weights_round_trip_bit_exactly(tmp_path):
    a, b = make_model(0, cell="gru", num_layers=2), make_model(1, cell="gru", num_layers=2)
    ckpt.save_weights(a, tmp_path / "w.safetensors", {"step": 3})
    ckpt.load_weights(b, tmp_path / "w.safetensors")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path):
    a = make_model(0, hidden_size=4, tie_weights=True)
    b = make_model(1, hidden_size=4, tie_weights=True)
    ckpt.save_weights(a, tmp_path / "w.safetensors")
    stored = load_file(tmp_path / "w.safetensors")
    assert "embedding.weight" in stored and "readout.linear.weight" not in stored
    ckpt.load_weights(b, tmp_path / "w.safetensors")
    assert torch.equal(b.embedding.weight, a.embedding.weight)
    assert b.readout.weight is b.embedding.weight


def test_mismatched_and_corrupted_weights_are_refused(tmp_path):
    ckpt.save_weights(make_model(hidden_size=8), tmp_path / "w.safetensors")
    target = make_model(hidden_size=9)
    before = [p.clone() for p in target.parameters()]
    with pytest.raises(ckpt.CheckpointError, match=r"do not match .* must be \(36, 4\)"):
        ckpt.load_weights(target, tmp_path / "w.safetensors")
    with pytest.raises(ckpt.CheckpointError, match="missing"):
        ckpt.load_weights(make_model(num_layers=2), tmp_path / "w.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ckpt.CheckpointError, match="corrupted"):
        ckpt.load_weights(target, tmp_path / "bad.safetensors")
    with pytest.raises(ckpt.CheckpointError, match="missing"):
        ckpt.load_weights(target, tmp_path / "none.safetensors")
    assert all(torch.equal(p, q) for p, q in zip(target.parameters(), before))


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    ckpt.atomic_write_json(path, {"v": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_write_json(path, {"v": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary left behind


def trainer_for(tmp_path, steps=12, checkpoint_every=4, dropout=0.3):
    torch.manual_seed(7)
    model = CharLanguageModel(
        ModelConfig(vocab_size=6, hidden_size=8, embed_size=4, num_layers=2, dropout=dropout)
    )
    ids = torch.randint(0, 6, (400,), generator=torch.Generator().manual_seed(0))
    config = TrainConfig(
        batch_size=3,
        seq_len=5,
        steps=steps,
        checkpoint_every=checkpoint_every,
        eval_every=100,
        log_every=1,
        lr=0.02,
        warmup_steps=2,
    )
    tmp_path.mkdir(exist_ok=True)
    return Trainer(model, config, ids[:350], ids[350:], tmp_path)


@pytest.mark.slow
def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    # Dropout makes the RNG part of the state; the carried state and AdamW's moments too.
    straight = trainer_for(tmp_path / "a")
    straight.run(plot=False)
    reference = [
        r["train_bits_per_char"] for r in metrics.read_metrics(tmp_path / "a/metrics.jsonl")
    ]

    first = trainer_for(tmp_path / "b")
    for _ in range(8):  # the checkpoint of step 8, then some steps that are lost
        first.train_step()
        if first.step % 4 == 0:
            first.save()
    first.train_step()
    torch.manual_seed(999)  # whatever the RNG did since, resume restores it

    resumed = trainer_for(tmp_path / "b")
    assert resumed.resume() == 8
    assert resumed.carry is not None
    losses = [resumed.train_step() for _ in range(4)]
    assert losses == reference[8:12]
    final = dict(straight.model.state_dict())
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, final[name]), name


def test_checkpoint_files_hold_no_pickle(tmp_path):
    trainer = trainer_for(tmp_path, steps=4)
    (tmp_path / "config.json").write_text('{"format": "test"}')
    trainer.run(plot=False)
    pointer = json.loads((tmp_path / "checkpoint.json").read_text())
    assert pointer == {"step": 4, "path": "checkpoints/step-00000004"}
    folder = tmp_path / pointer["path"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "trainer.json",
        "trainer.safetensors",
    ]
    state = load_file(folder / "trainer.safetensors")
    assert "rng.torch" in state and any(k.endswith(".exp_avg_sq") for k in state)
    info = json.loads((folder / "trainer.json").read_text())
    assert info["step"] == 4 and info["optimizer"]["param_groups"][0]["weight_decay"] == 0.01
    # Only the newest checkpoint stays; the top-level weights are the same as its weights.
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000004"]
    top, inner = load_file(tmp_path / "model.safetensors"), load_file(folder / "model.safetensors")
    assert all(torch.equal(top[k], inner[k]) for k in inner)


def test_corrupted_checkpoints_are_refused(tmp_path):
    trainer = trainer_for(tmp_path, steps=4)
    trainer.run(plot=False)
    folder = tmp_path / "checkpoints/step-00000004"
    (folder / "trainer.safetensors").write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="corrupted"):
        trainer_for(tmp_path).resume()
    # A broken pointer falls back to the newest checkpoint on disk, here still the corrupted one.
    (tmp_path / "checkpoint.json").write_text('{"step": 4, "path": "/etc"}')
    with pytest.raises(ckpt.CheckpointError, match=r"step-00000004.* is corrupted"):
        trainer_for(tmp_path).resume()
    (tmp_path / "checkpoint.json").write_text("{")
    with pytest.raises(ckpt.CheckpointError, match=r"step-00000004.* is corrupted"):
        trainer_for(tmp_path).resume()


def test_metrics_after_the_checkpoint_and_a_torn_line_are_dropped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    for step in (1, 2, 3):
        metrics.append_metrics(path, {"step": step, "train_bits_per_char": float(step)})
    with open(path, "a") as f:
        f.write('{"step": 4, "train_bits')  # a writer killed mid-line
    assert [r["step"] for r in metrics.read_metrics(path)] == [1, 2, 3]
    kept = metrics.truncate_metrics(path, 2)
    assert [r["step"] for r in kept] == [1, 2]
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    metrics.append_metrics(path, {"step": 3, "val_bits_per_char": float("nan")})
    assert metrics.read_metrics(path)[-1]["val_bits_per_char"] is None
