"""Hopfield networks: storage rules against hand-written formulas, stability of stored patterns,
energy descent, Glauber units, the continuous and modern networks, capacity, CLI, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.classic import (
    CapacityConfig,
    ContinuousHopfieldNetwork,
    HopfieldNetwork,
    ModernHopfieldNetwork,
    capacity_curve,
)
from rnnkit.classic.capacity import flip_bits, overlap
from rnnkit.classic.storage import RULES, learn_weights

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


def random_patterns(p: int, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (p, n), generator=gen) * 2 - 1).to(F64)


def random_symmetric(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random symmetric weight matrix with zero diagonal and a random threshold vector."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen, dtype=F64)
    w = (a + a.T) / 2
    w.fill_diagonal_(0.0)
    return w, 0.3 * torch.randn(n, generator=gen, dtype=F64)


# --- storage rules against their formulas, written out with loops -----------------------------


def hebbian_reference(x: torch.Tensor) -> torch.Tensor:
    p, n = x.shape
    w = torch.zeros(n, n, dtype=F64)
    for i in range(n):
        for j in range(n):
            if i != j:
                w[i, j] = sum(float(x[mu, i] * x[mu, j]) for mu in range(p)) / n
    return w


def storkey_reference(x: torch.Tensor) -> torch.Tensor:
    """Storkey 1997, term by term: w_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / N."""
    p, n = x.shape
    w = [[0.0] * n for _ in range(n)]
    for mu in range(p):
        xi = [float(v) for v in x[mu]]

        def h(i: int, j: int, w=w, xi=xi) -> float:
            return sum(w[i][k] * xi[k] for k in range(n) if k not in (i, j))

        new = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i][j] = w[i][j] + (xi[i] * xi[j] - xi[i] * h(j, i) - h(i, j) * xi[j]) / n
        w = new
    return torch.tensor(w, dtype=F64)


def test_hebbian_weights_match_formula():
    x = random_patterns(4, 9, seed=1)
    net = HopfieldNetwork(9, "hebbian", dtype=F64).store(x)
    torch.testing.assert_close(net.weight, hebbian_reference(x), rtol=0, atol=1e-14)


def test_storkey_weights_match_formula_and_are_incremental():
    x = random_patterns(4, 7, seed=2)
    net = HopfieldNetwork(7, "storkey", dtype=F64).store(x)
    torch.testing.assert_close(net.weight, storkey_reference(x), rtol=0, atol=1e-13)
    # Storing the patterns in two calls learns the same weights (the rule is incremental).
    two_calls = HopfieldNetwork(7, "storkey", dtype=F64).store(x[:2]).store(x[2:])
    torch.testing.assert_close(two_calls.weight, net.weight, rtol=0, atol=1e-14)
    assert torch.equal(net.weight, net.weight.T)


def test_pseudoinverse_weights_are_projection_without_diagonal():
    x = random_patterns(6, 10, seed=3)
    net = HopfieldNetwork(10, "pseudoinverse", dtype=F64).store(x)
    q, _ = torch.linalg.qr(x.T)  # (N, P) orthonormal basis of the patterns' span
    projection = q @ q.T
    expected = projection - torch.diag(projection.diagonal())
    torch.testing.assert_close(net.weight, expected, rtol=0, atol=1e-12)


# --- stability and recall ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_hebbian_low_load_patterns_are_fixed_points_and_attract(mode):
    x = random_patterns(5, 100, seed=4)
    net = HopfieldNetwork(100, "hebbian", dtype=F64).store(x)
    assert bool(net.is_fixed_point(x).all())
    assert torch.equal(net.recall(x, mode, generator=torch.Generator().manual_seed(0)), x)
    probes = flip_bits(x, 10, torch.Generator().manual_seed(1))
    recalled = net.recall(probes, mode, generator=torch.Generator().manual_seed(2))
    assert torch.equal(recalled, x)


def test_hebbian_high_load_breaks_down_where_storkey_and_pseudoinverse_hold():
    x = random_patterns(30, 100, seed=5)  # load 0.3, over twice Hebb's 0.138
    stable = {}
    for rule in ("hebbian", "storkey", "pseudoinverse"):
        net = HopfieldNetwork(100, rule, dtype=F64).store(x)
        stable[rule] = float(net.is_fixed_point(x).double().mean())
    assert stable["hebbian"] < 0.3
    assert stable["storkey"] > 0.9
    assert stable["pseudoinverse"] == 1.0


def test_storkey_and_pseudoinverse_recall_beyond_hebbian_capacity():
    x = random_patterns(20, 100, seed=6)  # load 0.2
    probes = flip_bits(x, 10, torch.Generator().manual_seed(7))
    exact = {}
    for rule in ("hebbian", "storkey", "pseudoinverse"):
        net = HopfieldNetwork(100, rule, dtype=F64).store(x)
        out = net.recall(probes, generator=torch.Generator().manual_seed(8))
        exact[rule] = float((out == x).all(1).double().mean())
    assert exact["storkey"] == 1.0 and exact["pseudoinverse"] == 1.0
    assert exact["hebbian"] < 0.6


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_pseudoinverse_recalls_independent_patterns_exactly_near_full_load(mode):
    x = random_patterns(95, 100, seed=9)
    assert int(torch.linalg.matrix_rank(x)) == 95
    net = HopfieldNetwork(100, "pseudoinverse").store(x.numpy())  # float32, numpy in
    x32 = x.float()
    assert bool(net.is_fixed_point(x32).all())
    assert torch.equal(net.recall(x32, mode, generator=torch.Generator().manual_seed(0)), x32)


def test_pseudoinverse_keeps_correlated_patterns_that_hebb_loses():
    # Five noisy copies of one prototype: strongly correlated, linearly independent patterns.
    gen = torch.Generator().manual_seed(10)
    base = random_patterns(1, 64, seed=11)
    x = flip_bits(base.repeat(5, 1), 12, gen)
    hebb = HopfieldNetwork(64, "hebbian", dtype=F64).store(x)
    pinv = HopfieldNetwork(64, "pseudoinverse", dtype=F64).store(x)
    assert not bool(hebb.is_fixed_point(x).all())
    assert bool(pinv.is_fixed_point(x).all())


# --- energy -----------------------------------------------------------------------------------


def test_energy_matches_quadratic_form():
    w, b = random_symmetric(12, seed=12)
    net = HopfieldNetwork(12, dtype=F64).set_weights(w, b)
    s = random_patterns(3, 12, seed=13)
    for k in range(3):
        expected = -0.5 * sum(
            float(w[i, j] * s[k, i] * s[k, j]) for i in range(12) for j in range(12)
        ) - sum(float(b[i] * s[k, i]) for i in range(12))
        assert math.isclose(float(net.energy(s[k])), expected, rel_tol=0, abs_tol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_async_updates_never_raise_energy(seed):
    n, batch = 40, 16
    w, b = random_symmetric(n, seed)
    net = HopfieldNetwork(n, dtype=F64).set_weights(w, b)
    s = random_patterns(batch, n, seed=100 + seed)
    gen = torch.Generator().manual_seed(seed)
    energy = net.energy(s)
    flips = 0
    for _ in range(30):  # sweeps
        swept_from = s
        for i in torch.randperm(n, generator=gen).tolist():
            h = net.field(s)[:, i]
            new = net.update_unit(s, i)
            new_energy = net.energy(new)
            # Exactly the change the theory predicts: dE = -(s_i' - s_i) h_i (w_ii = 0) ...
            torch.testing.assert_close(
                new_energy - energy, -(new[:, i] - s[:, i]) * h, rtol=0, atol=1e-10
            )
            # ... which is never positive.
            assert bool((new_energy <= energy + 1e-12).all())
            flips += int((new != s).any(1).sum())
            s, energy = new, new_energy
        if torch.equal(s, swept_from):
            break
    assert flips > 0
    assert bool(net.is_fixed_point(s).all())


def test_async_recall_is_one_unit_at_a_time_in_random_order():
    n, batch = 30, 6
    w, b = random_symmetric(n, seed=20)
    net = HopfieldNetwork(n, dtype=F64).set_weights(w, b)
    probes = random_patterns(batch, n, seed=21)
    out = net.recall(probes, "async", max_steps=3, generator=torch.Generator().manual_seed(5))
    # The same run by hand, drawing the random numbers in the documented order.
    gen = torch.Generator().manual_seed(5)
    s = probes.clone()
    for _ in range(3):
        order = torch.randperm(n, generator=gen).tolist()
        torch.rand((batch, n), generator=gen, dtype=F64)  # the (unused at T = 0) Glauber draws
        before = s
        for i in order:
            s = net.update_unit(s, i)
        if torch.equal(before, s):
            break
    assert torch.equal(out, s)
    assert bool((net.energy(out) <= net.energy(probes)).all())


def test_sync_can_oscillate_where_async_settles():
    # Two units that want to disagree: sync flips both at once for ever, async settles.
    net = HopfieldNetwork(2, dtype=F64).set_weights(torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    start = torch.tensor([1.0, 1.0], dtype=F64)
    assert torch.equal(net.recall(start, "sync", max_steps=1), -start)
    assert torch.equal(net.recall(start, "sync", max_steps=2), start)
    settled = net.recall(start, "async", generator=torch.Generator().manual_seed(0))
    assert float(settled[0] * settled[1]) == -1.0


def test_tie_keeps_the_previous_state():
    net = HopfieldNetwork(3, dtype=F64).set_weights(
        torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    )
    s = torch.tensor([[1.0, 1.0, -1.0], [-1.0, 1.0, -1.0]], dtype=F64)  # unit 0 has h = 0
    assert torch.equal(net.update_unit(s, 0)[:, 0], s[:, 0])


# --- Glauber (stochastic) units ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_glauber_at_low_temperature_equals_deterministic_recall(mode):
    n = 50
    w, b = random_symmetric(n, seed=30)
    net = HopfieldNetwork(n, dtype=F64).set_weights(w, b)
    probes = random_patterns(20, n, seed=31)
    cold = net.recall(probes, mode, temperature=1e-9, generator=torch.Generator().manual_seed(3))
    deterministic = net.recall(probes, mode, generator=torch.Generator().manual_seed(3))
    assert torch.equal(cold, deterministic)
    hot = net.recall(probes, mode, temperature=50.0, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(hot, deterministic)


def test_glauber_flip_probability_is_sigmoid_of_field():
    n, copies, temperature = 6, 20000, 1.5
    w, b = random_symmetric(n, seed=40)
    net = HopfieldNetwork(n, dtype=F64).set_weights(w, b)
    probe = random_patterns(1, n, seed=41)
    out = net.recall(
        probe.repeat(copies, 1),
        "sync",
        max_steps=1,
        temperature=temperature,
        generator=torch.Generator().manual_seed(42),
    )
    p_up = torch.sigmoid(2 * net.field(probe[0]) / temperature)  # (N,)
    observed = (out == 1).double().mean(0)
    sigma = (p_up * (1 - p_up) / copies).sqrt()
    assert bool(((observed - p_up).abs() <= 5 * sigma + 1e-3).all())


def test_glauber_settles_to_deterministic_recall_as_temperature_falls():
    x = random_patterns(5, 80, seed=50)
    net = HopfieldNetwork(80, dtype=F64).store(x)
    probes = flip_bits(x, 8, torch.Generator().manual_seed(51))
    errors = []
    for temperature in (2.0, 0.5, 0.05):
        out = net.recall(
            probes,
            temperature=temperature,
            max_steps=20,
            generator=torch.Generator().manual_seed(2),
        )
        errors.append(float((out != x).double().mean()))
    assert errors[0] > 0.2 and errors[-1] == 0.0 and errors[0] > errors[1] >= errors[2]


# --- continuous Hopfield network --------------------------------------------------------------


def test_continuous_energy_decreases_monotonically():
    n = 20
    w, b = random_symmetric(n, seed=60)
    net = ContinuousHopfieldNetwork(n, gain=2.0, tau=1.5, dtype=F64).set_weights(w / 4, b)
    u0 = torch.randn(8, n, generator=torch.Generator().manual_seed(61), dtype=F64)
    path = net.integrate(u0, n_steps=1500, dt=0.05)  # (B, T+1, N)
    energy = net.energy(net.outputs(path).reshape(-1, n)).reshape(8, -1)  # (B, T+1)
    steps = energy.diff(dim=1)
    assert bool((steps <= 1e-12).all())
    assert float(steps.min()) < -1e-3  # it does move
    # It ends at a fixed point: u = W V + b.
    assert float(net.derivative(path[:, -1]).abs().max()) < 1e-4


def test_continuous_energy_gradient_is_minus_tau_du_dt():
    # dE/dV_i = -tau du_i/dt ties the energy formula to the dynamics (Hopfield 1984, eq. 5).
    n, gain, tau = 7, 3.0, 0.7
    w, b = random_symmetric(n, seed=62)
    net = ContinuousHopfieldNetwork(n, gain=gain, tau=tau, dtype=F64).set_weights(w, b)
    u = 0.4 * torch.randn(n, generator=torch.Generator().manual_seed(63), dtype=F64)
    v = net.outputs(u)
    eps = 1e-6
    grad = torch.stack(
        [
            (net.energy(v + eps * e) - net.energy(v - eps * e)) / (2 * eps)
            for e in torch.eye(n, dtype=F64)
        ]
    )
    torch.testing.assert_close(grad, -tau * net.derivative(u), rtol=1e-6, atol=1e-7)


def test_continuous_network_recalls_stored_pattern():
    x = random_patterns(4, 60, seed=64)
    net = ContinuousHopfieldNetwork(60, gain=4.0, dtype=F64).store(x)
    probes = flip_bits(x, 9, torch.Generator().manual_seed(65))
    v = net.recall(probes, n_steps=300)
    assert torch.equal(v.sign(), x)
    assert float(v.abs().min()) > 0.9
    assert float(net.energy(v).max()) < float(net.energy(torch.tanh(4.0 * probes)).min())


# --- modern Hopfield network ------------------------------------------------------------------


def test_modern_update_matches_handwritten_softmax():
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(70), dtype=F64)
    q = torch.randn(4, generator=torch.Generator().manual_seed(71), dtype=F64)
    beta = 0.7
    net = ModernHopfieldNetwork(4, beta=beta, dtype=F64).store(x)
    scores = [beta * sum(float(x[m, k] * q[k]) for k in range(4)) for m in range(5)]
    weights = [math.exp(s) for s in scores]
    expected = [sum(weights[m] * float(x[m, k]) for m in range(5)) / sum(weights) for k in range(4)]
    torch.testing.assert_close(net.retrieve(q), torch.tensor(expected, dtype=F64))
    lse = math.log(sum(weights)) / beta
    big_m = max(float(x[m].norm()) for m in range(5))
    e = -lse + 0.5 * float(q @ q) + math.log(5) / beta + 0.5 * big_m**2
    assert math.isclose(float(net.energy(q)), e, rel_tol=1e-12)


def test_modern_one_step_retrieval_of_continuous_pattern():
    gen = torch.Generator().manual_seed(72)
    x = torch.randn(50, 64, generator=gen, dtype=F64)
    queries = x + 0.5 * torch.randn(50, 64, generator=gen, dtype=F64)
    net = ModernHopfieldNetwork(64, beta=2.0, dtype=F64).store(x)
    torch.testing.assert_close(net.retrieve(queries), x, rtol=0, atol=1e-8)
    # A small beta averages instead of retrieving: the update lands near the patterns' mean.
    soft = ModernHopfieldNetwork(64, beta=1e-4, dtype=F64).store(x)
    out = soft.retrieve(queries)
    assert float((out - x.mean(0)).abs().max()) < 0.1
    assert float((out - x).abs().max()) > 1.0


def test_modern_energy_never_rises_and_is_non_negative():
    gen = torch.Generator().manual_seed(73)
    x = torch.randn(20, 16, generator=gen, dtype=F64)
    net = ModernHopfieldNetwork(16, beta=0.3, dtype=F64).store(x)
    state = 3 * torch.randn(10, 16, generator=gen, dtype=F64)
    energies = [net.energy(state)]
    for _ in range(10):
        state = net.retrieve(state)
        energies.append(net.energy(state))
    e = torch.stack(energies, 1)  # (B, steps+1)
    assert bool((e.diff(dim=1) <= 1e-12).all()) and bool((e >= -1e-12).all())
    assert float(e[:, 0].min() - e[:, -1].max()) > 0


# --- capacity curve ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_discrete_and_continuous_networks_store_with_the_same_rule(rule):
    x = torch.randint(0, 2, (5, 30), generator=torch.Generator().manual_seed(9)).double() * 2 - 1
    expected = learn_weights(rule, x)
    assert torch.equal(expected, expected.T) and not expected.diagonal().any()
    assert torch.equal(HopfieldNetwork(30, rule, dtype=F64).store(x).weight, expected)
    assert torch.equal(
        ContinuousHopfieldNetwork(30, rule=rule, dtype=F64).store(x).weight, expected
    )
    with pytest.raises(ValueError, match="rule must be one of"):
        learn_weights("oja", x)


def test_flip_bits_flips_exactly_k_distinct_bits():
    x = random_patterns(50, 40, seed=80)
    y = flip_bits(x, 7, torch.Generator().manual_seed(81))
    assert torch.equal((y != x).sum(1), torch.full((50,), 7))
    assert torch.equal(overlap(y, x), torch.full((50,), (40 - 14) / 40, dtype=F64))


def test_capacity_curve_shows_hebbian_breakdown(tmp_path):
    cfg = CapacityConfig(n_units=64, loads=(0.05, 0.3), trials=2, seed=1)
    result = capacity_curve(cfg)
    assert result.n_patterns == [3, 19]
    assert result.exact["hebbian"][0] == 1.0 and result.exact["hebbian"][1] < 0.3
    assert result.exact["pseudoinverse"][1] > 0.9 and result.exact["storkey"][1] > 0.5
    assert result.stable["pseudoinverse"] == [1.0, 1.0]
    saved = json.loads(result.save(tmp_path / "c.json").read_text())
    assert saved["config"]["n_units"] == 64 and saved["exact"] == result.exact
    assert "| 0.300 | 19 |" in result.table()


def test_capacity_curve_reports_progress_to_a_callable_without_changing_the_result():
    cfg = CapacityConfig(n_units=20, loads=(0.05, 0.2, 0.4), trials=2, seed=3)
    calls = []
    with_progress = capacity_curve(cfg, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 6) for k in range(1, 7)]
    assert with_progress == capacity_curve(cfg)


# --- torch and numpy in, torch out; bad input -------------------------------------------------


def test_numpy_in_torch_out_default_float32():
    x = np.array([[1, -1, 1, -1], [1, 1, -1, -1]])
    net = HopfieldNetwork(4).store(x)
    out = net.recall(x.astype(np.float64), "sync")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert isinstance(net.energy(x), torch.Tensor)
    assert isinstance(ModernHopfieldNetwork(4).store(x).retrieve(x[0]), torch.Tensor)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: HopfieldNetwork(0), ValueError, "n_units"),
        (lambda: HopfieldNetwork(-3), ValueError, "n_units"),
        (lambda: HopfieldNetwork(4.0), TypeError, "n_units"),
        (lambda: HopfieldNetwork(4, rule="oja"), ValueError, "rule must be one of"),
        (
            lambda: HopfieldNetwork(4).store(torch.tensor([[1.0, 0.5, 1, -1]])),
            ValueError,
            "patterns must contain only -1 and \\+1, got 0.5",
        ),
        (
            lambda: HopfieldNetwork(4).store(np.zeros((2, 4))),
            ValueError,
            "patterns must contain only",
        ),
        (
            lambda: HopfieldNetwork(4).store(torch.ones(2, 5)),
            ValueError,
            "patterns must be \\(n_units=4,\\) or \\(batch, n_units=4\\), got \\(2, 5\\)",
        ),
        (
            lambda: HopfieldNetwork(4).store([[1, 1, 1, 1]]),
            TypeError,
            "patterns must be a torch.Tensor or a numpy array",
        ),
        (lambda: HopfieldNetwork(4).store(np.ones((1, 4), dtype=bool)), TypeError, "patterns"),
        (
            lambda: HopfieldNetwork(4).recall(torch.ones(4), mode="parallel"),
            ValueError,
            "mode must be one of",
        ),
        (lambda: HopfieldNetwork(4).recall(torch.ones(3, 4), max_steps=0), ValueError, "max_steps"),
        (lambda: HopfieldNetwork(4).recall(torch.ones(1, 3)), ValueError, "probes must be"),
        (lambda: HopfieldNetwork(4).recall(torch.zeros(4)), ValueError, "probes must contain only"),
        (
            lambda: HopfieldNetwork(4).recall(torch.ones(4), temperature=-1.0),
            ValueError,
            "temperature",
        ),
        (lambda: HopfieldNetwork(4).energy(torch.ones(2, 4, 1)), ValueError, "states must be"),
        (lambda: HopfieldNetwork(4).update_unit(torch.ones(4), 4), ValueError, "unit must be"),
        (
            lambda: HopfieldNetwork(2).set_weights(torch.tensor([[0.0, 1.0], [2.0, 0.0]])),
            ValueError,
            "weight must be symmetric",
        ),
        (
            lambda: HopfieldNetwork(2).set_weights(-torch.eye(2)),
            ValueError,
            "non-negative diagonal",
        ),
        (
            lambda: HopfieldNetwork(2).set_weights(torch.zeros(3, 3)),
            ValueError,
            "weight must be \\(2, 2\\)",
        ),
        (lambda: ContinuousHopfieldNetwork(0), ValueError, "n_units"),
        (lambda: ContinuousHopfieldNetwork(4, gain=0.0), ValueError, "gain"),
        (lambda: ContinuousHopfieldNetwork(4, tau=-1.0), ValueError, "tau"),
        (lambda: ContinuousHopfieldNetwork(4, rule="x"), ValueError, "rule must be one of"),
        (
            lambda: ContinuousHopfieldNetwork(4).store(torch.full((1, 4), 0.3)),
            ValueError,
            "patterns must contain only",
        ),
        (lambda: ContinuousHopfieldNetwork(4).integrate(torch.ones(4), dt=0.0), ValueError, "dt"),
        (
            lambda: ContinuousHopfieldNetwork(4).integrate(torch.ones(4), n_steps=0),
            ValueError,
            "n_steps",
        ),
        (
            lambda: ContinuousHopfieldNetwork(4).recall(torch.ones(2, 5)),
            ValueError,
            "potentials must be",
        ),
        (
            lambda: ContinuousHopfieldNetwork(4).energy(torch.full((4,), 1.5)),
            ValueError,
            "outputs must be in \\[-1, 1\\]",
        ),
        (lambda: ModernHopfieldNetwork(0), ValueError, "pattern_size"),
        (lambda: ModernHopfieldNetwork(4, beta=0.0), ValueError, "beta"),
        (
            lambda: ModernHopfieldNetwork(4).retrieve(torch.ones(4)),
            ValueError,
            "patterns must be stored first",
        ),
        (lambda: ModernHopfieldNetwork(4).store(torch.ones(2, 3)), ValueError, "patterns must be"),
        (
            lambda: ModernHopfieldNetwork(4).store(torch.tensor([[1.0, float("nan"), 0, 0]])),
            ValueError,
            "patterns must be finite",
        ),
        (
            lambda: (
                ModernHopfieldNetwork(4).store(torch.ones(1, 4)).retrieve(torch.ones(4), n_steps=0)
            ),
            ValueError,
            "n_steps",
        ),
        (lambda: CapacityConfig(loads=()), ValueError, "loads"),
        (lambda: CapacityConfig(loads=(-0.1,)), ValueError, "loads"),
        (lambda: CapacityConfig(rules=("hebbian", "oja")), ValueError, "rules must be one of"),
        (lambda: CapacityConfig(flip_fraction=1.5), ValueError, "flip_fraction"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- the rnnkit hopfield command ---------------------------------------------------------------


@pytest.mark.slow
def test_cli_demo_recalls_digits_and_refuses_to_overwrite(tmp_path, capsys):
    from rnnkit.cli import main

    out = tmp_path / "digits"
    assert main(["hopfield", "demo", "--digits", "0147", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recalled exactly: 4 of 4" in text and (out / "digits.png").stat().st_size > 1000
    before = (out / "digits.png").read_bytes()
    assert main(["hopfield", "demo", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "digits.png").read_bytes() == before
    # Hebb cannot hold these correlated patterns: the same probes end in a spurious state.
    assert main(["hopfield", "demo", "--rule", "hebbian", "--out", str(tmp_path / "h")]) == 0
    assert "recalled exactly: 0 of 10" in capsys.readouterr().out


def test_cli_capacity_writes_plot_and_numbers(tmp_path, capsys):
    from rnnkit.cli import main

    out = tmp_path / "cap"
    argv = ["hopfield", "capacity", "--units", "40", "--loads", "0.05,0.5", "--trials", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "| 0.500 | 20 |" in capsys.readouterr().out
    saved = json.loads((out / "capacity.json").read_text())
    assert saved["exact"]["hebbian"][0] == 1.0 and saved["exact"]["hebbian"][1] < 0.2
    assert (out / "capacity.png").stat().st_size > 1000
    assert main([*argv, "--out", str(out)]) == 2  # never overwritten
    (tmp_path / "cap.txt").write_text("a file")
    assert main([*argv, "--out", str(tmp_path / "cap.txt")]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["hopfield", "capacity", "--loads", "0.1,-0.2"],
        ["hopfield", "capacity", "--rules", "hebbian,oja"],
        ["hopfield", "capacity", "--units", "0"],
        ["hopfield", "demo", "--noise", "1.5"],
        ["hopfield", "demo", "--digits", "0a"],
        ["hopfield", "demo", "--rule", "oja"],
        ["hopfield"],
    ],
)
def test_cli_bad_arguments_exit_2(argv, tmp_path, monkeypatch, capsys):
    from rnnkit.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
