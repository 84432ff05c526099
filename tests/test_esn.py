"""EchoStateNetwork: the update and readout formulas, the ridge solution, generate, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.classic import EchoStateNetwork, ESNConfig
from rnnkit.classic.reservoir import Reservoir, draw_weights
from rnnkit.classic.ridge import ridge_regression


def reference_states(esn: EchoStateNetwork, u: np.ndarray, y: np.ndarray | None = None):
    """The update written out in torch, one step at a time: x(n) from x(-1) = 0, y(-1) = 0."""
    w, w_in, b, w_fb = esn.weight, esn.weight_in, esn.bias, esn.weight_fb
    a = esn.config.leak_rate
    x = torch.zeros(esn.reservoir_size, dtype=torch.float64)
    prev = torch.zeros(esn.output_size, dtype=torch.float64)
    out = []
    for n in range(u.shape[0]):
        un = torch.as_tensor(u[n], dtype=torch.float64)
        x = (1 - a) * x + a * torch.tanh(w @ x + w_in @ un + w_fb @ prev + b)
        if y is not None:
            prev = torch.as_tensor(y[n], dtype=torch.float64)
        out.append(x)
    return torch.stack(out)  # (T, N)


def features(u: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ones((len(u), 1)), u, x], axis=1)  # (T, 1 + I + N)


def series(steps: int, features: int = 1, *, seed: int = 0) -> np.ndarray:
    """A smooth multi-sine series (steps, features): learnable, not trivial."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    freqs = rng.uniform(0.05, 0.3, (3, features))
    phases = rng.uniform(0, 2 * np.pi, (3, features))
    return sum(0.4 * np.sin(f * t + p) for f, p in zip(freqs, phases)) / 1.5


@pytest.mark.parametrize("size, density", [(30, 0.2), (150, 0.05)])  # dense and CSR paths
@pytest.mark.parametrize("leak_rate", [1.0, 0.3])
def test_states_follow_the_update_formula(size, density, leak_rate):
    esn = EchoStateNetwork(2, size, 1, leak_rate=leak_rate, density=density, seed=3)
    u = series(40, 2)
    expected = reference_states(esn, u)
    torch.testing.assert_close(esn.states(u), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("size, density", [(30, 0.2), (150, 0.05)])
def test_float32_networks_run_in_float32(size, density):
    esn64 = EchoStateNetwork(2, size, 1, leak_rate=0.5, density=density, seed=3)
    esn32 = EchoStateNetwork(
        2, size, 1, leak_rate=0.5, density=density, seed=3, dtype=torch.float32
    )
    u = series(60, 2)
    x32 = esn32.states(u)
    assert x32.dtype == torch.float32 and esn32.weight.dtype == torch.float32
    torch.testing.assert_close(x32.double(), esn64.states(u), rtol=0, atol=1e-5)
    esn32.fit(u, u[:, :1] ** 2)
    assert esn32.predict(u).dtype == torch.float32


@pytest.mark.parametrize("size, density", [(30, 0.2), (150, 0.05)])
def test_the_numpy_reference_loop_gives_the_same_network(monkeypatch, size, density):
    import rnnkit.classic.reservoir as reservoir_module

    u = series(120, 2)
    y = u[:, :1] * u[:, 1:]
    fast = EchoStateNetwork(2, size, 1, leak_rate=0.6, density=density, seed=2).fit(u, y, 10)
    monkeypatch.setattr(reservoir_module, "_scipy", None)
    slow = EchoStateNetwork(2, size, 1, leak_rate=0.6, density=density, seed=2)
    torch.testing.assert_close(slow.states(u), fast.states(u), rtol=0, atol=1e-13)
    slow.fit(u, y, 10)
    torch.testing.assert_close(slow.predict(u), fast.predict(u), rtol=0, atol=1e-8)


@pytest.mark.parametrize("size, density", [(30, 0.2), (150, 0.05)])
def test_the_engine_runs_a_batch_with_feedback_noise_and_a_start_state(size, density):
    rng = np.random.default_rng(5)
    w = np.where(rng.random((size, size)) < density, rng.uniform(-0.2, 0.2, (size, size)), 0.0)
    w_in, b, w_fb = rng.normal(size=(size, 2)), rng.normal(size=size), rng.normal(size=(size, 1))
    u, y = rng.normal(size=(40, 2, 3)), rng.normal(size=(40, 1, 3))  # (T, F, B)
    x0, y0 = rng.normal(size=(size, 3)), rng.normal(size=(1, 3))
    noise_seed, a = 11, 0.4
    states = Reservoir(w, w_in, b, w_fb, a).states(
        u, y, noise=0.01, rng=np.random.default_rng(noise_seed), x0=x0, y0=y0
    )
    nu = np.random.default_rng(noise_seed).uniform(-0.01, 0.01, (40, size, 3))
    x, prev = x0, y0
    for n in range(40):
        x = (1 - a) * x + a * np.tanh(w @ x + w_in @ u[n] + w_fb @ prev + b[:, None] + nu[n])
        prev = y[n]
        np.testing.assert_allclose(states[n], x, rtol=0, atol=1e-12)


def test_each_weight_has_its_own_random_stream():
    options = dict(spectral_radius=0.9, density=0.2, input_scaling=1.0, input_density=1.0)
    plain, _ = draw_weights(4, 2, 40, 1, bias_scaling=0.2, feedback_scaling=0.0, **options)
    other, _ = draw_weights(4, 2, 40, 1, bias_scaling=0.5, feedback_scaling=0.3, **options)
    np.testing.assert_array_equal(other.weight, plain.weight)
    np.testing.assert_array_equal(other.weight_in, plain.weight_in)
    np.testing.assert_allclose(other.bias, plain.bias * 2.5, rtol=1e-14)
    assert not plain.weight_fb.any() and other.weight_fb.any()


def test_leak_rate_one_is_the_plain_update():
    esn = EchoStateNetwork(1, 20, 1, leak_rate=1.0, seed=1)
    u = series(30)
    x = np.zeros(20)
    w, w_in, b = (t.numpy() for t in (esn.weight, esn.weight_in, esn.bias))
    plain = []
    for n in range(30):
        x = np.tanh(w @ x + w_in @ u[n] + b)
        plain.append(x)
    np.testing.assert_allclose(esn.states(u).numpy(), np.array(plain), rtol=0, atol=1e-13)


def test_reservoir_has_the_requested_spectral_radius_and_density():
    esn = EchoStateNetwork(3, 120, 2, spectral_radius=1.25, density=0.05, seed=7)
    w = esn.weight.numpy()
    assert abs(np.abs(np.linalg.eigvals(w)).max() - 1.25) < 1e-10
    assert np.count_nonzero(w) == round(0.05 * 120 * 120)
    other = EchoStateNetwork(3, 120, 2, spectral_radius=0.5, density=0.05, seed=7)
    # Same seed, same pattern: only the scale differs.
    np.testing.assert_allclose(other.weight.numpy() * 2.5, w, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ridge", [0.0, 1e-3])
def test_fit_equals_float64_least_squares_on_the_collected_states(ridge):
    esn = EchoStateNetwork(2, 25, 2, ridge=ridge, seed=0)
    u = series(200, 2, seed=1)
    y = np.stack([u[:, 0] * u[:, 1], np.roll(u[:, 0], 3)], axis=1)  # (200, 2)
    washout = 17
    esn.fit(u, y, washout=washout)
    z = features(u, esn.states(u).numpy())[washout:]  # (183, 28)
    # Augmented system: the ridge rows penalise every column but the constant.
    penalty = np.sqrt(ridge) * np.eye(z.shape[1])[1:]
    z_aug = np.concatenate([z, penalty])
    y_aug = np.concatenate([y[washout:], np.zeros((len(penalty), 2))])
    expected = np.linalg.lstsq(z_aug, y_aug, rcond=None)[0].T  # (2, 28)
    np.testing.assert_allclose(esn.weight_out.numpy(), expected, rtol=1e-7, atol=1e-8)
    # and predict is that readout applied to [1; u; x] on every row
    z_full = features(u, esn.states(u).numpy())  # (200, 28)
    np.testing.assert_allclose(esn.predict(u).numpy(), z_full @ expected.T, atol=1e-8)


def test_ridge_regression_closed_form():
    rng = np.random.default_rng(0)
    z = np.concatenate([np.ones((50, 1)), rng.normal(size=(50, 4))], axis=1)
    y = rng.normal(size=(50, 2))
    beta = 0.7
    d = np.diag([0.0, 1, 1, 1, 1])
    expected = np.linalg.solve(z.T @ z + beta * d, z.T @ y).T
    np.testing.assert_allclose(ridge_regression(z, y, beta, unpenalised=1), expected, rtol=1e-12)


def test_washout_drops_exactly_the_first_rows():
    esn = EchoStateNetwork(1, 30, 1, seed=2)
    u = series(150)
    y = np.roll(u, -1, axis=0)
    w_clean = esn.fit(u, y, washout=20).weight_out.clone()
    spoiled = y.copy()
    spoiled[:20] = 1e3  # targets inside the washout must not matter
    torch.testing.assert_close(
        esn.fit(u, spoiled, washout=20).weight_out, w_clean, rtol=0, atol=1e-12
    )
    spoiled[20] += 1.0  # the first kept row must matter
    assert (esn.fit(u, spoiled, washout=20).weight_out - w_clean).abs().max() > 1e-6


def test_batch_is_the_same_as_each_sequence_alone():
    esn = EchoStateNetwork(2, 40, 1, seed=5)
    u = np.stack([series(60, 2, seed=s) for s in range(3)])  # (3, 60, 2)
    y = u[..., :1] ** 2
    states = esn.states(u)
    for b in range(3):
        torch.testing.assert_close(states[b], esn.states(u[b]), rtol=0, atol=1e-13)
    esn.fit(u, y, washout=5)
    rows = np.concatenate([features(u[b], states[b].numpy())[5:] for b in range(3)])
    targets = np.concatenate([y[b, 5:] for b in range(3)])
    expected = ridge_regression(rows, targets, esn.config.ridge, unpenalised=1)
    # The states are ill-conditioned at ridge 1e-6: compare to the conditioning's precision.
    np.testing.assert_allclose(esn.weight_out.numpy(), expected, rtol=1e-6, atol=1e-7)
    pred = esn.predict(u)
    assert pred.shape == (3, 60, 1)
    torch.testing.assert_close(pred[1], esn.predict(u[1]), rtol=0, atol=1e-12)


def test_torch_and_numpy_inputs_agree():
    esn = EchoStateNetwork(1, 20, 1, seed=0)
    u = series(50)
    esn.fit(u[:-1], u[1:])
    a = esn.predict(u)
    b = esn.predict(torch.from_numpy(u).float())
    assert a.dtype == torch.float64
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_generate_teacher_forces_the_warmup_then_feeds_its_output_back():
    esn = EchoStateNetwork(1, 40, 1, seed=4)
    s = series(300)
    esn.fit(s[:-1], s[1:], washout=50)
    warmup = s[:120]
    out = esn.generate(4, warmup=warmup).numpy()
    assert out.shape == (4, 1)
    np.testing.assert_allclose(out[0], esn.predict(warmup).numpy()[-1], rtol=0, atol=1e-13)
    # Each next step is the one-step prediction of the warmup extended by the outputs so far.
    extended = np.concatenate([warmup, out[:3]])
    np.testing.assert_allclose(out[1:], esn.predict(extended).numpy()[-3:], rtol=0, atol=1e-11)


def test_generate_without_warmup_continues_the_fitted_series():
    esn = EchoStateNetwork(1, 40, 1, seed=4)
    s = series(301)
    esn.fit(s[:299], s[1:300], washout=50)
    cont = esn.generate(5)
    via_warmup = esn.generate(5, warmup=s[:300])
    torch.testing.assert_close(cont, via_warmup, rtol=0, atol=1e-11)
    batch = np.stack([s, series(301, seed=9)])  # (2, 301, 1)
    esn.fit(batch[:, :299], batch[:, 1:300], washout=50)
    cont = esn.generate(5)
    assert cont.shape == (2, 5, 1)
    torch.testing.assert_close(cont, esn.generate(5, warmup=batch[:, :300]), rtol=0, atol=1e-11)


@pytest.mark.parametrize("feedback_scaling", [0.0, 0.4])
def test_predict_can_continue_from_the_end_of_fit(feedback_scaling):
    esn = EchoStateNetwork(1, 40, 1, feedback_scaling=feedback_scaling, seed=4)
    s = series(301)
    u, y = s[:-1], s[1:]
    esn.fit(u[:200], y[:200], washout=20)
    cont = esn.predict(u[200:], teacher=y[200:] if feedback_scaling else None, continue_fit=True)
    whole = esn.predict(u, teacher=y if feedback_scaling else None)
    torch.testing.assert_close(cont, whole[200:], rtol=0, atol=1e-12)
    assert (esn.predict(u[200:], teacher=y[200:]) - cont).abs().max() > 1e-4  # zero start differs


def test_generate_free_runs_a_sine_accurately():
    t = np.arange(700.0)[:, None]
    s = np.sin(0.2 * t)
    esn = EchoStateNetwork(1, 60, 1, spectral_radius=0.8, input_scaling=0.3, ridge=1e-9, seed=0)
    esn.fit(s[:499], s[1:500], washout=100)
    out = esn.generate(200, warmup=s[:500]).numpy()
    assert np.abs(out - s[500:]).max() < 1e-3
    # A wrong readout (e.g. without its input column) would drift away at once.
    assert np.abs(esn.predict(s[:-1]).numpy()[100:] - s[1:][100:]).max() < 1e-4


def test_output_feedback_is_teacher_forced_in_fit_and_free_in_predict():
    esn = EchoStateNetwork(1, 30, 1, feedback_scaling=0.5, seed=6)
    u = series(120)
    y = np.tanh(2 * np.roll(u, -1, axis=0))
    torch.testing.assert_close(esn.states(u, y), reference_states(esn, u, y), rtol=0, atol=1e-12)
    assert (esn.states(u, y) - esn.states(u, np.zeros_like(y))).abs().max() > 1e-3
    esn.fit(u, y, washout=10)
    z = features(u, reference_states(esn, u, y).numpy())
    teacher_pred = esn.predict(u, teacher=y).numpy()
    np.testing.assert_allclose(teacher_pred, z @ esn.weight_out.numpy().T, atol=1e-10)
    # Without a teacher, y(n-1) is the network's own output: run that loop by hand.
    w, w_in, b, w_fb = (t.numpy() for t in (esn.weight, esn.weight_in, esn.bias, esn.weight_fb))
    w_out = esn.weight_out.numpy()
    x, prev, own = np.zeros(30), np.zeros(1), []
    for n in range(120):
        x = np.tanh(w @ x + w_in @ u[n] + w_fb @ prev + b)
        prev = w_out @ np.concatenate([[1.0], u[n], x])
        own.append(prev)
    np.testing.assert_allclose(esn.predict(u).numpy(), np.array(own), rtol=0, atol=1e-10)


def test_generate_with_feedback_matches_a_hand_loop():
    esn = EchoStateNetwork(1, 30, 1, feedback_scaling=0.3, leak_rate=0.5, seed=8)
    s = series(200)
    esn.fit(s[:-1], s[1:], washout=20)
    warmup = s[:80]
    w, w_in, b, w_fb = (t.numpy() for t in (esn.weight, esn.weight_in, esn.bias, esn.weight_fb))
    w_out = esn.weight_out.numpy()
    x = np.zeros(30)
    for n in range(80):  # teacher forcing: y(n-1) = warmup(n), as fit() saw with y = u shifted
        prev = warmup[n] if n > 0 else np.zeros(1)
        x = 0.5 * x + 0.5 * np.tanh(w @ x + w_in @ warmup[n] + w_fb @ prev + b)
    y = w_out @ np.concatenate([[1.0], warmup[-1], x])
    expected = [y]
    for _ in range(3):
        x = 0.5 * x + 0.5 * np.tanh(w @ x + (w_in + w_fb) @ y + b)
        y = w_out @ np.concatenate([[1.0], y, x])
        expected.append(y)
    np.testing.assert_allclose(esn.generate(4, warmup=warmup).numpy(), expected, atol=1e-11)


def test_noise_is_used_during_fit_only():
    u = series(200)
    quiet = EchoStateNetwork(1, 30, 1, seed=1).fit(u[:-1], u[1:])
    noisy = EchoStateNetwork(1, 30, 1, noise=1e-3, seed=1)
    torch.testing.assert_close(noisy.states(u), quiet.states(u), rtol=0, atol=0)
    noisy.fit(u[:-1], u[1:])
    assert (noisy.weight_out - quiet.weight_out).abs().max() > 1e-6


def test_seed_config_and_state_dict_round_trip():
    a = EchoStateNetwork(2, 30, 2, seed=11, leak_rate=0.4)
    b = EchoStateNetwork(2, 30, 2, seed=11, leak_rate=0.4)
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    assert (EchoStateNetwork(2, 30, 2, seed=12).weight != a.weight).any()
    torch.manual_seed(0)
    c = EchoStateNetwork(2, 30, 2)
    torch.manual_seed(0)
    torch.testing.assert_close(EchoStateNetwork(2, 30, 2).weight, c.weight, rtol=0, atol=0)
    u = series(80, 2)
    a.fit(u, u[:, ::-1].copy())
    config = ESNConfig.from_json(a.config.to_json())
    assert config == a.config and json.loads(a.config.to_json())["leak_rate"] == 0.4
    same = EchoStateNetwork.from_config(config)
    torch.testing.assert_close(same.weight, a.weight, rtol=0, atol=0)
    assert not same.is_fitted
    other = EchoStateNetwork(**{**vars(config), "seed": 99})
    other.load_state_dict(a.state_dict())
    torch.testing.assert_close(other.predict(u), a.predict(u), rtol=0, atol=0)
    with pytest.raises(ValueError, match="warmup is required"):
        other.generate(3)


def test_readout_options_change_the_features():
    u = series(100, 2)
    esn = EchoStateNetwork(2, 20, 1, readout_bias=False, readout_input=False, seed=0)
    esn.fit(u, u[:, :1])
    assert esn.weight_out.shape == (1, 20)
    expected = ridge_regression(esn.states(u).numpy(), u[:, :1], esn.config.ridge)
    np.testing.assert_allclose(esn.weight_out.numpy(), expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spectral_radius": 0.0}, "spectral_radius must be a finite number > 0, got 0.0"),
        ({"spectral_radius": -1.0}, "spectral_radius"),
        ({"ridge": -1e-3}, "ridge must be a finite number >= 0"),
        ({"leak_rate": 0.0}, r"leak_rate must be in \(0, 1\]"),
        ({"leak_rate": 1.5}, "leak_rate"),
        ({"density": 0.0}, "density"),
        ({"noise": -1.0}, "noise"),
    ],
)
def test_bad_options_raise_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EchoStateNetwork(1, 10, 1, **kwargs)


def test_bad_calls_raise_naming_the_argument():
    esn = EchoStateNetwork(2, 10, 1, seed=0)
    u = series(30, 2)
    y = u[:, :1]
    with pytest.raises(ValueError, match="predict needs a fitted readout"):
        esn.predict(u)
    with pytest.raises(ValueError, match="input_size must equal output_size"):
        esn.generate(5, warmup=u)
    with pytest.raises(ValueError, match=r"washout must be in \[0, 29\].*got 30"):
        esn.fit(u, y, washout=30)
    with pytest.raises(
        ValueError, match=r"u must be \(time, 2\) or \(batch, time, 2\), got \(30, 3\)"
    ):
        esn.fit(series(30, 3), y)
    with pytest.raises(ValueError, match=r"u must be .*got \(30,\)"):
        esn.fit(u[:, 0], y)
    with pytest.raises(ValueError, match=r"y must be \(30, 1\), got \(29, 1\)"):
        esn.fit(u, y[:-1])
    with pytest.raises(TypeError, match=r"u must be a numpy array or a torch\.Tensor, got list"):
        esn.fit(u.tolist(), y)
    with pytest.raises(ValueError, match="u must be finite"):
        esn.fit(np.full((30, 2), np.nan), y)
    square = EchoStateNetwork(1, 10, 1, seed=0)
    with pytest.raises(ValueError, match="generate needs a fitted readout"):
        square.generate(5, warmup=y)
    square.fit(y[:-1], y[1:])
    with pytest.raises(ValueError, match=r"warmup must be \(time, 1\)"):
        square.generate(5, warmup=u)
    with pytest.raises(ValueError, match="n_steps must be a positive int, got 0"):
        square.generate(0)
    fb = EchoStateNetwork(1, 10, 1, feedback_scaling=0.1, seed=0)
    with pytest.raises(ValueError, match=r"y \(the teacher\) is required"):
        fb.states(y)


def test_ridge_below_rounding_falls_back_to_the_svd_form():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 3))
    z = np.concatenate([np.ones((60, 1)), base, base[:, :1] * (1 + 1e-13)], axis=1)  # collinear
    y = rng.normal(size=(60, 1))
    v = ridge_regression(z, y, 1e-20, unpenalised=1)
    # The residual is the least-squares residual: nothing better exists.
    best = np.linalg.lstsq(z, y, rcond=None)[0]
    assert np.isfinite(v).all()
    np.testing.assert_allclose(z @ v.T, z @ best, atol=1e-9)


# ---------------------------------------------------------------------------- rnnkit esn


def run_cli(*argv: str) -> int:
    from rnnkit.cli import main

    return main(["esn", *argv])


@pytest.mark.slow
def test_cli_fits_mackey_glass_and_writes_plot_and_numbers(tmp_path, capsys):
    out = tmp_path / "mg"
    code = run_cli("--free", "100", "--out", str(out))  # Jaeger's settings, 400 units
    assert code == 0
    printed = capsys.readouterr().out
    assert "free-run NRMSE at step 84" in printed and (out / "esn.png").stat().st_size > 1000
    metrics = json.loads((out / "esn.json").read_text())
    assert metrics["washout"] == 1000 and metrics["config"]["reservoir_size"] == 400
    assert metrics["config"]["ridge"] == 1e-14
    # Repeating the last value scores 0.15 one step ahead; a fitted ESN ~1e-5, and free
    # runs 84 steps with an error still below 1e-2 of the series' std.
    assert metrics["train_one_step_nrmse"] < 1e-4
    assert metrics["nrmse_step_84"] < 1e-2
    # Never overwritten: the second run refuses, exit code 2, one line.
    assert run_cli("--units", "20", "--train", "100", "--free", "10", "--out", str(out)) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_reads_a_csv_column(tmp_path, capsys):
    t = np.arange(700)
    csv = tmp_path / "s.csv"
    rows = "\n".join(f"{i},{3 + 2 * np.sin(0.2 * i):.12f}" for i in t)
    csv.write_text("t,load\n" + rows + "\n")
    out = tmp_path / "s"
    argv = ["--csv", str(csv), "--column", "load", "--units", "60", "--out", str(out)]
    assert run_cli(*argv, "--input-scaling", "0.3", "--spectral-radius", "0.8") == 0
    metrics = json.loads((out / "esn.json").read_text())
    assert metrics["train"] == 560 and metrics["free"] == 140
    assert metrics["free_run_nrmse"] < 1e-2  # a sine is easy to continue
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--column", "x"], "--column needs --csv"),
        (["--out", "/"], "already exists and is not empty"),
        (["--csv", "missing.csv", "--column", "x"], "does not exist"),
        (["--train", "50", "--free", "10", "--washout", "49"], "--washout must be below"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert run_cli("--units", "20", *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_csv_too_short(tmp_path, capsys):
    csv = tmp_path / "short.csv"
    csv.write_text("v\n1\n2\n3\n")
    code = run_cli(
        "--csv",
        str(csv),
        "--column",
        "v",
        "--train",
        "3",
        "--free",
        "5",
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 2
    assert "need 8 values" in capsys.readouterr().err
