"""The Python API under bad input (issue 10): every case raises ValueError or TypeError whose
message names the argument; float options reject NaN and infinity where they mean nothing."""

from __future__ import annotations

import json
import math

import pytest
import torch

import rnnkit
from rnnkit.classic import EchoStateNetwork
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.streaming import Stream
from rnnkit.train import FitConfig, TrainConfig

NAN, INF = math.nan, math.inf

# (what is built, the argument, a bad value); every float option of the public constructors.
FLOAT_OPTIONS = [
    *[
        (lambda **kw: EchoStateNetwork(1, 10, 1, seed=0, **kw), name, bad)
        for name in (
            "spectral_radius",
            "leak_rate",
            "input_scaling",
            "ridge",
            "bias_scaling",
            "feedback_scaling",
            "noise",
        )
        for bad in (NAN, INF, -INF)
    ],
    *[(lambda **kw: ForecasterConfig(**kw), "dropout", bad) for bad in (NAN, INF, 1.0, -0.1)],
    *[
        (lambda **kw: TrainConfig(**kw), name, bad)
        for name in ("lr", "weight_decay", "clip_norm")
        for bad in (NAN, INF)
    ],
    *[(lambda **kw: FitConfig(**kw), "weight_decay", bad) for bad in (NAN, INF)],
    *[(lambda **kw: rnnkit.LSTMCell(2, 3, **kw), "forget_bias", bad) for bad in (NAN, INF)],
]


@pytest.mark.parametrize(
    ("build", "name", "bad"),
    FLOAT_OPTIONS,
    ids=[f"{name}={bad}-{k}" for k, (_, name, bad) in enumerate(FLOAT_OPTIONS)],
)
def test_float_options_reject_values_that_mean_nothing(build, name, bad):
    with pytest.raises(ValueError, match=name):
        build(**{name: bad})


@pytest.mark.parametrize("seed", [-1, 2**63, -(2**70)])
def test_esn_seed_out_of_range_is_a_value_error_naming_it(seed):
    with pytest.raises(ValueError, match=r"seed must be an int in 0\.\.2\*\*63-1"):
        EchoStateNetwork(1, 10, 1, seed=seed)


@pytest.mark.parametrize("seed", [1.5, "3", True])
def test_esn_seed_of_the_wrong_kind_is_a_type_error(seed):
    with pytest.raises(TypeError, match="seed"):
        EchoStateNetwork(1, 10, 1, seed=seed)


def test_the_largest_esn_seed_works():
    EchoStateNetwork(1, 10, 1, density=1.0, seed=2**63 - 1)


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_train_config_seed_out_of_range(seed):
    with pytest.raises(ValueError, match="seed"):
        TrainConfig(seed=seed)


@pytest.mark.parametrize(
    ("options", "word"),
    [({"no_such_option": 1}, "no_such_option"), ({"forget_bias": "x"}, "forget_bias")],
)
def test_forecaster_load_with_bad_cell_options_names_the_file(tmp_path, options, word):
    model = Forecaster(ForecasterConfig(input_size=1, hidden_size=4))
    model.save(tmp_path / "model")
    config_path = tmp_path / "model" / "config.json"
    meta = json.loads(config_path.read_text())
    meta["config"]["cell_options"] = options
    config_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"config\.json") as caught:
        Forecaster.load(tmp_path / "model")
    assert word in str(caught.value)


def test_a_stream_whose_batch_size_changed_says_to_reset():
    stream = Stream(rnnkit.RNN(2, 3, cell="lstm"))
    stream.step(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"reset\(\)"):
        stream.step(torch.zeros(5, 2))
    stream.reset()
    assert stream.step(torch.zeros(5, 2)).shape == (5, 3)


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e300])
def test_generate_is_stable_at_extreme_temperatures(temperature):
    from rnnkit.models.language_model import CharLanguageModel, ModelConfig

    model = CharLanguageModel(ModelConfig(vocab_size=5, hidden_size=4, embed_size=4))
    out = model.generate(torch.tensor([1, 2]), 6, temperature=temperature)
    assert out.shape == (6,) and int(out.min()) >= 0 and int(out.max()) < 5
    if temperature < 1e-200:  # the limit is the most likely character, every time
        greedy = model.generate(torch.tensor([1, 2]), 6, temperature=1e-30)
        assert torch.equal(out, greedy)


@pytest.mark.parametrize("temperature", [0.0, -1.0, NAN, INF])
def test_generate_refuses_temperatures_that_mean_nothing(temperature):
    from rnnkit.models.language_model import CharLanguageModel, ModelConfig

    model = CharLanguageModel(ModelConfig(vocab_size=5, hidden_size=4, embed_size=4))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.tensor([1]), 3, temperature=temperature)
