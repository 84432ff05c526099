"""The playground's JSON API over real HTTP (no browser): values checked against rnnkit itself."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.cells import CELLS, LSTMState
from rnnkit.classic import EchoStateNetwork, HopfieldNetwork
from rnnkit.playground import start_in_thread
from rnnkit.playground.classic import preset_patterns

TIMEOUT = 60.0


@pytest.fixture(scope="module")
def server():
    srv, thread = start_in_thread(0)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=TIMEOUT)


def call(srv, path: str, body: object = None, *, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        srv.url + path.lstrip("/"), data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def ok(srv, path: str, body: object = None) -> dict:
    status, payload = call(srv, path, body)
    assert status == 200, payload
    return payload


def wait_until(condition, what: str, timeout: float = TIMEOUT):
    """Poll ``condition`` until it returns a true value; fail naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_binds_to_localhost_only(server):
    assert server.server_address[0] == "127.0.0.1"
    assert server.server_address[1] > 0


def test_config_lists_every_registry_cell_and_its_options(server):
    config = ok(server, "/api/config")
    assert [c["name"] for c in config["cells"]] == list(CELLS)
    for entry in config["cells"]:
        spec = CELLS[entry["name"]]
        shown = {o["name"]: o for o in entry["options"]}
        assert list(shown) == list(spec.option_names)
        for name, option in shown.items():
            assert option["default"] == spec.option(name).default
    assert [t["name"] for t in config["tasks"]] == [
        "sine",
        "mackey_glass",
        "adding",
        "copy",
        "text",
    ]


def test_static_files_and_no_escape_from_the_static_folder(server):
    with urllib.request.urlopen(server.url, timeout=TIMEOUT) as response:
        page = response.read().decode()
    assert '<script src="/static/app.js">' in page
    with urllib.request.urlopen(server.url + "static/app.js", timeout=TIMEOUT) as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
    for path in ("static/../server.py", "static/__init__.py", "nothing.html"):
        status, payload = call(server, path)
        assert status == 404 and "no such file" in payload["error"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"cell": "lstm", "hidden_size": 1000}, "hidden_size must be an int in [1, 64], got 1000"),
        ({"cell": "transformer"}, "cell must be one of lstm, gru, elman, jordan"),
        ({"cell": "gru", "options": {"peephole": True}}, "got 'peephole'"),
        ({"cell": "gru", "options": {"reset": "never"}}, "option reset must be after, before"),
        ({"cell": "lstm", "options": {"forget_bias": float("inf")}}, "forget_bias"),
        ({"task": "sine", "task_params": {"length": 10_000}}, "length must be an int in [2, 200]"),
        ({"task": "text", "task_params": {"text": "x" * 5000}}, "text must be a string"),
        ({"lr": 5.0}, "lr must be a number in"),
        ({"colour": "red"}, "model fields must be among"),
    ],
)
def test_bad_model_requests_get_a_clear_400(server, body, words):
    status, payload = call(server, "/api/model", body)
    assert status == 400
    assert words in payload["error"]


def test_bad_requests_of_other_kinds(server):
    assert call(server, "/api/train", {"action": "step", "steps": 10**6})[0] == 400
    assert call(server, "/api/train", {"action": "jump"})[1]["error"].startswith("action must")
    status, payload = call(server, "/api/model", raw=b"{not json")
    assert status == 400 and "JSON" in payload["error"]
    status, payload = call(server, "/api/model", raw=b"[1, 2]")
    assert status == 400 and "object" in payload["error"]
    assert call(server, "/api/nothing")[0] == 404
    assert call(server, "/api/status?since=x")[0] == 400
    status, payload = call(server, "/api/hopfield/recall", {"patterns": [[1] * 100], "probe": [2]})
    assert status == 400 and "probe must be a list of 100 values" in payload["error"]
    status, payload = call(server, "/api/esn", {"reservoir_size": 10**6})
    assert status == 400 and "reservoir_size must be a int in [10, 500]" in payload["error"]


def _independent_gates(cell, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gates and states of every step by the formulas of DESIGN.md, written out per gate."""
    B, T, _ = x.shape
    H = cell.hidden_size
    out: dict[str, list] = {}
    state = cell.init_state(B)
    w_ih, w_hh = cell.weight_ih, getattr(cell, "weight_hh", None)
    for t in range(T):
        xt = x[:, t]
        if isinstance(state, LSTMState):
            h, c = state
            a = xt @ w_ih.T + cell.bias_ih + h @ w_hh.T + cell.bias_hh
            i = torch.sigmoid(a[:, :H])
            f = torch.sigmoid(a[:, H : 2 * H])
            g = torch.tanh(a[:, 2 * H : 3 * H])
            o = torch.sigmoid(a[:, 3 * H :])
            c = f * c + i * g
            h = o * torch.tanh(c)
            step = {"i": i, "f": f, "g": g, "o": o, "h": h, "c": c}
            state = LSTMState(h, c)
        else:  # GRU, reset after
            h = state
            ax, ah = xt @ w_ih.T + cell.bias_ih, h @ w_hh.T + cell.bias_hh
            r = torch.sigmoid(ax[:, :H] + ah[:, :H])
            z = torch.sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
            n = torch.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
            h = (1 - z) * n + z * h
            step = {"r": r, "z": z, "n": n, "h": h}
            state = h
        for name, value in step.items():
            out.setdefault(name, []).append(value)
    return {k: torch.stack(v, dim=1) for k, v in out.items()}


@pytest.mark.parametrize(("cell", "task"), [("lstm", "sine"), ("gru", "text")])
def test_trained_model_trace_equals_the_formulas_and_the_layer(server, cell, task):
    summary = ok(
        server,
        "/api/model",
        {"cell": cell, "hidden_size": 5, "task": task, "task_params": {"length": 12}},
    )
    assert summary["cell"] == cell and summary["task"] == task
    status = ok(server, "/api/train", {"action": "step", "steps": 4})
    assert status["step"] == 4 and [p[0] for p in status["losses"]] == [1, 2, 3, 4]
    assert all(np.isfinite(p[1]) for p in status["losses"])
    trace = ok(server, "/api/trace")
    session = server.app.session
    view = session.task.view
    with torch.no_grad():
        expected = _independent_gates(session.layer.cell, view.x)
        ys, _ = session.layer(view.x)  # the layer's own (fused) path
        loss = session.task.loss(session.head(ys), view)
    names = {"lstm": ("i", "f", "g", "o", "h", "c"), "gru": ("r", "z", "n", "h")}[cell]
    assert set(trace["gates"]) | set(trace["states"]) == set(names)
    for name in names:
        shown = trace["gates"].get(name, trace["states"].get(name))
        got = torch.tensor(shown).T  # (T, H)
        torch.testing.assert_close(got, expected[name][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(trace["states"]["h"]).T, ys[0], rtol=1e-5, atol=1e-6)
    assert trace["loss"] == pytest.approx(float(loss), rel=1e-5)
    assert trace["T"] == 12 and len(trace["labels"]) == 12


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_gradient_flow_equals_autograd_through_a_split_sequence(server, cell):
    ok(
        server,
        "/api/model",
        {"cell": cell, "hidden_size": 4, "task": "adding", "task_params": {"length": 8}},
    )
    norms = ok(server, "/api/gradflow")["norms"]
    session = server.app.session
    view = session.task.view
    T = view.x.shape[1]
    assert len(norms) == T
    for t in range(T):
        # s_t as a leaf: run the steps up to t, then the rest from that state.
        ys_a, state = session.layer(view.x[:, : t + 1])
        if isinstance(state, LSTMState):
            leaf = state.h.detach().requires_grad_()
            state_b = LSTMState(leaf, state.c.detach())
        else:
            leaf = state.detach().requires_grad_()
            state_b = leaf
        parts = [ys_a[:, :t].detach(), leaf.unsqueeze(1)]
        if t + 1 < T:
            ys_b, _ = session.layer(view.x[:, t + 1 :], state=state_b)
            parts.append(ys_b)
        loss = session.task.loss(session.head(torch.cat(parts, dim=1)), view)
        (grad,) = torch.autograd.grad(loss, leaf)
        assert norms[t] == pytest.approx(float(grad.norm()), rel=1e-4, abs=1e-9), t
    assert norms[-1] > 0


def test_start_pause_and_the_learning_rate(server):
    ok(server, "/api/model", {"cell": "elman", "hidden_size": 4, "task_params": {"length": 10}})
    assert ok(server, "/api/train", {"action": "start", "lr": 0.02})["lr"] == 0.02
    wait_until(lambda: ok(server, "/api/status")["step"] >= 3, "three training steps")
    paused = ok(server, "/api/train", {"action": "pause"})
    assert not paused["running"]
    # A step that was under way when pause came may still finish; after that nothing moves.
    settled = wait_until(
        lambda: (s := ok(server, "/api/status")["step"]) == ok(server, "/api/status")["step"] and s,
        "the trainer to stop",
    )
    later = ok(server, "/api/train", {"action": "step", "steps": 2})
    assert later["step"] == settled + 2 and not later["running"]
    assert server.app.session.optimizer.param_groups[0]["lr"] == 0.02
    since = ok(server, f"/api/status?since={settled}")["losses"]
    assert [p[0] for p in since] == [settled + 1, settled + 2]


def test_hopfield_recall_matches_rnnkit_and_energy_never_rises(server):
    presets = preset_patterns()
    patterns = [presets["T"], presets["X"], presets["O"]]
    probe = list(presets["T"])
    for k in range(0, 100, 9):  # 12 bits flipped
        probe[k] = -probe[k]
    answer = ok(server, "/api/hopfield/recall", {"patterns": patterns, "probe": probe, "seed": 3})
    energies = answer["energies"]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(energies))
    assert energies[-1] < energies[0]
    net = HopfieldNetwork(100, dtype=torch.float64).store(torch.tensor(patterns))
    state = torch.tensor(probe, dtype=torch.float64)
    assert energies[0] == pytest.approx(float(net.energy(state)))
    for k, unit in enumerate(answer["flips"]):  # replay the reported flips
        if unit >= 0:
            state[unit] = -state[unit]
        assert energies[k + 1] == pytest.approx(float(net.energy(state)), abs=1e-9)
    assert state.int().tolist() == answer["final"] == presets["T"]
    assert answer["fixed_point"] and bool(net.is_fixed_point(state))


def test_echo_state_answer_equals_rnnkit_directly(server):
    request = {"series": "sine", "reservoir_size": 50, "train_length": 400, "generate_length": 50}
    answer = ok(server, "/api/esn", request)
    series = np.sin(0.2 * np.arange(450.0))[:, None]
    esn = EchoStateNetwork(
        1, 50, 1, spectral_radius=0.9, leak_rate=0.3, input_scaling=0.5, ridge=1e-6, seed=0
    )
    esn.fit(series[:399], series[1:400], washout=100)
    free = esn.generate(50)[:, 0].numpy()
    np.testing.assert_allclose(answer["generated"], free, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        answer["fitted"], esn.predict(series[:399])[:, 0].numpy(), atol=1e-12
    )
    truth = series[400:, 0]
    assert answer["nrmse_free"] == pytest.approx(
        np.sqrt(np.mean((free - truth) ** 2)) / truth.std()
    )
    assert answer["nrmse_free"] < 0.1  # a sine is easy: the free run must follow it


def test_cli_serves_on_a_free_port_and_stops_on_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "rnnkit.cli", "playground", "--port", "0", "--no-browser"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            line = proc.stdout.readline()  # blocks until the server prints its URL (or exits)
            assert "serving on http://127.0.0.1:" in line, line
            url = line.split("serving on ")[1].split()[0]
            with urllib.request.urlopen(url + "api/config", timeout=TIMEOUT) as response:
                assert response.status == 200
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err
            assert "stopped" in err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=TIMEOUT)


def test_every_registry_option_reaches_the_cell(server):
    body = {"cell": "elman", "options": {"activation": "relu", "recurrent_init": "identity"}}
    assert ok(server, "/api/model", body)["options"] == body["options"]
    cell = server.app.session.layer.cell
    assert cell.activation == "relu"
    torch.testing.assert_close(cell.weight_hh, torch.eye(cell.hidden_size))
    body = {"cell": "lstm", "options": {"peephole": True, "cell_activation": "identity"}}
    summary = ok(server, "/api/model", body)
    assert server.app.session.layer.cell.weight_ch is not None
    assert "h_t = o ⊙ c_t" in summary["equations"]
    assert any("p_f ⊙ c_{t-1}" in line for line in summary["equations"])


def test_trace_of_a_jordan_cell_has_h_and_y(server):
    ok(server, "/api/model", {"cell": "jordan", "hidden_size": 3, "options": {"output_size": 2}})
    trace = ok(server, "/api/trace")
    assert trace["gates"] == {}
    assert len(trace["states"]["h"]) == 3 and len(trace["states"]["y"]) == 2
    session = server.app.session
    with torch.no_grad():
        ys, _ = session.layer(session.task.view.x)
        cell = session.layer.cell
        y_prev = torch.cat([torch.zeros(1, 1, 2), ys[:, :-1]], dim=1)
        h = torch.tanh(
            F.linear(session.task.view.x, cell.weight_ih, cell.bias_ih)
            + F.linear(y_prev, cell.weight_yh)
        )
    torch.testing.assert_close(torch.tensor(trace["states"]["y"]).T, ys[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(trace["states"]["h"]).T, h[0], rtol=1e-5, atol=1e-6)


def test_cli_rejects_a_port_out_of_range(capsys):
    from rnnkit.cli import main

    assert main(["playground", "--port", "70000", "--no-browser"]) == 2
    assert "--port must be in [0, 65535], got 70000" in capsys.readouterr().err
