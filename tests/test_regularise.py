"""The dropout family and the layer-norm cells: hand-written formulas, mask structure, gradients,
validation and routing (the fused kernels refuse what they do not compute)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from rnnkit import GRUCell, LSTMCell, Recurrent, kernels, make_cell
from rnnkit.cells import ElmanCell, JordanCell

F64 = torch.float64
EPS = 1e-5


def ln(v, g, b):
    """Layer norm by its definition (biased variance, eps 1e-5)."""
    mu = v.mean(-1, keepdim=True)
    var = ((v - mu) ** 2).mean(-1, keepdim=True)
    return (v - mu) / torch.sqrt(var + EPS) * g + b


def randomise(cell, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5 + 0.1)
    return cell


def test_layer_norm_lstm_by_formula():
    cell = randomise(LSTMCell(3, 4, layer_norm=True, dtype=F64))
    names = [n for n, _ in cell.named_parameters() if n.startswith("ln_")]
    assert names == [
        "ln_ih_weight",
        "ln_ih_bias",
        "ln_hh_weight",
        "ln_hh_bias",
        "ln_c_weight",
        "ln_c_bias",
    ]
    assert [tuple(getattr(cell, n).shape) for n in names] == [(16,)] * 4 + [(4,)] * 2
    x, h, c = (
        torch.randn(2, 3, dtype=F64),
        torch.randn(2, 4, dtype=F64),
        torch.randn(2, 4, dtype=F64),
    )
    pre = (
        ln(x @ cell.weight_ih.T, cell.ln_ih_weight, cell.ln_ih_bias)
        + ln(h @ cell.weight_hh.T, cell.ln_hh_weight, cell.ln_hh_bias)
        + cell.bias_ih
        + cell.bias_hh
    )
    i, f, g, o = pre.sigmoid()[:, :4], pre.sigmoid()[:, 4:8], pre[:, 8:12].tanh(), pre[:, 12:]
    c_new = f * c + i * g
    h_new = o.sigmoid() * torch.tanh(ln(c_new, cell.ln_c_weight, cell.ln_c_bias))
    y, (h2, c2) = cell(x, (h, c))
    torch.testing.assert_close(c2, c_new)  # carried unnormalised
    torch.testing.assert_close(h2, h_new)
    torch.testing.assert_close(y, h_new)


def test_layer_norm_starts_as_identity_gains():
    cell = LSTMCell(3, 4, layer_norm=True)
    assert bool((cell.ln_ih_weight == 1).all()) and bool((cell.ln_c_bias == 0).all())
    assert bool((cell.ln_hh_weight == 1).all()) and bool((cell.ln_hh_bias == 0).all())


@pytest.mark.parametrize("reset", ["after", "before"])
def test_layer_norm_gru_by_formula(reset):
    H = 4
    cell = randomise(GRUCell(3, H, reset=reset, layer_norm=True, dtype=F64))
    x, h = torch.randn(2, 3, dtype=F64), torch.randn(2, H, dtype=F64)
    g, b = cell.ln_hh_weight, cell.ln_hh_bias
    a = ln(x @ cell.weight_ih.T, cell.ln_ih_weight, cell.ln_ih_bias) + cell.bias_ih
    u = cell.weight_hh
    rz = a[:, : 2 * H] + ln(h @ u[: 2 * H].T, g[: 2 * H], b[: 2 * H]) + cell.bias_hh[: 2 * H]
    r, z = rz[:, :H].sigmoid(), rz[:, H:].sigmoid()
    if reset == "after":
        hn = ln(h @ u[2 * H :].T, g[2 * H :], b[2 * H :]) + cell.bias_hh[2 * H :]
        n = torch.tanh(a[:, 2 * H :] + r * hn)
    else:
        n = torch.tanh(
            a[:, 2 * H :]
            + ln((r * h) @ u[2 * H :].T, g[2 * H :], b[2 * H :])
            + cell.bias_hh[2 * H :]
        )
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(cell(x, h)[0], expected)


def _elman_reference(cell, x, h, masks):
    """Elman with every option, by hand: one input/recurrent/weight mask, zoneout per step."""
    w = cell.weight_hh if masks.weight_mask is None else cell.weight_hh * masks.weight_mask
    ys = []
    for t in range(x.shape[1]):
        xt = x[:, t] * (1 if masks.input is None else masks.input)
        hin = h * (1 if masks.recurrent is None else masks.recurrent)
        cand = torch.tanh(xt @ cell.weight_ih.T + cell.bias_ih + hin @ w.T + cell.bias_hh)
        d = masks.zoneout[0]
        h = cand if d is None else d[t] * h + (1 - d[t]) * cand
        ys.append(h)
    return torch.stack(ys, 1), h


@pytest.mark.parametrize(
    "options",
    [
        {"input_dropout": 0.4},
        {"recurrent_dropout": 0.4},
        {"weight_drop": 0.5},
        {"zoneout": 0.3},
        {"input_dropout": 0.2, "recurrent_dropout": 0.3, "weight_drop": 0.4, "zoneout": 0.5},
    ],
)
def test_training_masks_by_formula(options):
    cell = randomise(ElmanCell(3, 5, dtype=F64, **options))
    layer = Recurrent(cell).train()
    x, h0 = torch.randn(4, 6, 3, dtype=F64), torch.randn(4, 5, dtype=F64)
    torch.manual_seed(7)
    ys, h = layer(x, h0)
    torch.manual_seed(7)  # the layer draws its masks once, as here
    masks = cell.draw_masks(4, 6, x)
    ref_ys, ref_h = _elman_reference(cell, x, h0, masks)
    torch.testing.assert_close(ys, ref_ys)
    torch.testing.assert_close(h, ref_h)
    for name in ("input_dropout", "recurrent_dropout", "weight_drop"):
        if name in options:
            mask = {"input_dropout": masks.input, "recurrent_dropout": masks.recurrent}.get(
                name, masks.weight_mask
            )
            scale = 1 / (1 - options[name])
            assert set(mask.unique().tolist()) <= {0.0, scale}


def test_weight_drop_mask_shared_by_all_steps_and_rows():
    cell = randomise(ElmanCell(3, 6, weight_drop=0.5, dtype=F64))
    torch.manual_seed(3)
    masks = cell.draw_masks(5, 4, torch.zeros((), dtype=F64))
    assert masks.weight_mask.shape == cell.weight_hh.shape  # one (H, H) mask: no batch, no time
    assert isinstance(cell.weight_hh, torch.nn.Parameter)  # the raw weight stays the parameter
    # The formula with that single mask at every step matches the layer (seeded alike).
    x = torch.randn(5, 4, 3, dtype=F64)
    torch.manual_seed(3)
    ys, _ = Recurrent(cell)(x)
    torch.testing.assert_close(
        ys, _elman_reference(cell, x, torch.zeros(5, 6, dtype=F64), masks)[0]
    )


def test_input_dropout_is_constant_over_time_per_row():
    cell = ElmanCell(8, 16, input_dropout=0.5, dtype=F64)
    with torch.no_grad():
        cell.weight_hh.zero_()  # no recurrence: y_t depends on x_t and its mask only
    x = torch.randn(1, 1, 8, dtype=F64).expand(32, 10, 8)  # the same x everywhere
    torch.manual_seed(0)
    ys, _ = Recurrent(cell).train()(x)
    torch.testing.assert_close(ys, ys[:, :1].expand_as(ys))  # fails with a mask per step
    assert not torch.allclose(ys[0], ys[1])  # but one mask per row


def test_zoneout_masks_change_every_step():
    cell = ElmanCell(3, 64, zoneout=0.5, dtype=F64)
    x = torch.randn(8, 6, 3, dtype=F64)
    torch.manual_seed(0)
    ys, _ = Recurrent(cell).train()(x)
    kept = ys[:, 1:] == ys[:, :-1]  # (B, T-1, H): where the previous value was kept
    assert 0.3 < kept.double().mean().item() < 0.7
    # Per step: the kept pattern differs between steps (a per-sequence mask would repeat it).
    assert not all(torch.equal(kept[:, 0], kept[:, t]) for t in range(1, kept.shape[1]))


@pytest.mark.parametrize("kind", ["elman", "gru", "jordan", "lstm"])
def test_zoneout_one_keeps_the_state_and_zero_is_the_plain_cell(kind):
    torch.manual_seed(0)
    plain = make_cell(kind, 3, 4, dtype=F64)
    x = torch.randn(2, 5, 3, dtype=F64)
    state = plain.init_state(2)
    state = torch.randn(2, 4, dtype=F64) if isinstance(state, torch.Tensor) else None
    frozen = make_cell(kind, 3, 4, zoneout=1.0, dtype=F64)
    zero = make_cell(kind, 3, 4, zoneout=0.0, dtype=F64)
    frozen.load_state_dict(plain.state_dict())
    zero.load_state_dict(plain.state_dict())
    if state is None:
        state = (torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64))
    _, final = Recurrent(frozen).train()(x, state)
    for a, b in zip(torch.utils._pytree.tree_leaves(final), torch.utils._pytree.tree_leaves(state)):
        assert torch.equal(a, b)
    with kernels.mode("reference"):
        torch.testing.assert_close(
            Recurrent(zero).train()(x, state)[0], Recurrent(plain)(x, state)[0]
        )


@pytest.mark.parametrize("kind", ["elman", "gru", "jordan", "lstm"])
def test_zoneout_evaluation_is_the_expectation(kind):
    torch.manual_seed(0)
    z = 0.3
    plain = make_cell(kind, 3, 4, dtype=F64)
    cell = make_cell(kind, 3, 4, zoneout=z, dtype=F64).eval()
    cell.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, dtype=F64)
    if kind == "lstm":
        state = (torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64))
        _, (h_t, c_t) = plain(x, state)
        _, (h, c) = cell(x, state)
        torch.testing.assert_close(h, z * state[0] + (1 - z) * h_t)
        torch.testing.assert_close(c, z * state[1] + (1 - z) * c_t)
    else:
        s = torch.randn(2, 4, dtype=F64)
        torch.testing.assert_close(cell(x, s)[1], z * s + (1 - z) * plain(x, s)[1])


def test_lstm_zoneout_pair_applies_to_h_and_c_separately():
    cell = LSTMCell(3, 4, zoneout=(1.0, 0.0), dtype=F64)
    state = (torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64))
    _, (h, c) = Recurrent(cell).train()(torch.randn(2, 5, 3, dtype=F64), state)
    assert torch.equal(h, state[0]) and not torch.allclose(c, state[1])
    assert cell.zoneout == (1.0, 0.0)


@pytest.mark.parametrize(
    "options",
    [{"input_dropout": 0.5}, {"recurrent_dropout": 0.5}, {"weight_drop": 0.5}],
)
def test_dropout_is_off_in_evaluation(options):
    torch.manual_seed(0)
    plain = LSTMCell(3, 4)
    cell = LSTMCell(3, 4, **options)
    cell.load_state_dict(plain.state_dict())
    x = torch.randn(2, 5, 3)
    layer = Recurrent(cell)
    torch.testing.assert_close(layer.eval()(x)[0], Recurrent(plain)(x)[0])
    assert not torch.allclose(layer.train()(x)[0], layer.train()(x)[0])  # fresh masks per call


CASES = [
    ("lstm", {"layer_norm": True}),
    ("gru", {"layer_norm": True, "reset": "before"}),
    ("gru", {"layer_norm": True}),
    ("lstm", {"input_dropout": 0.3}),
    ("gru", {"recurrent_dropout": 0.3}),
    ("elman", {"weight_drop": 0.3}),
    ("jordan", {"zoneout": 0.4, "input_dropout": 0.2}),
    ("lstm", {"zoneout": (0.3, 0.6), "weight_drop": 0.2, "peephole": True, "layer_norm": True}),
]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("kind", "options"), CASES)
def test_gradcheck_float64(kind, options, training):
    torch.manual_seed(0)
    cell = make_cell(kind, 3, 4, dtype=F64, **options).train(training)
    layer = Recurrent(cell)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    x = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)

    def fn(x, *ps):
        torch.manual_seed(5)  # the same masks at every evaluation
        ys, _ = functional_call(layer, dict(zip(names, ps, strict=True)), (x,))
        return ys

    assert torch.autograd.gradcheck(fn, (x, *params))


def test_state_dict_round_trip():
    a = randomise(LSTMCell(3, 4, layer_norm=True, zoneout=0.2, weight_drop=0.1))
    b = LSTMCell(3, 4, layer_norm=True, zoneout=0.2, weight_drop=0.1)
    b.load_state_dict(a.state_dict())
    assert "ln_c_weight" in a.state_dict() and "weight_hh" in a.state_dict()
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(Recurrent(a).eval()(x)[0], Recurrent(b).eval()(x)[0])
    g = randomise(GRUCell(3, 4, layer_norm=True))
    g2 = GRUCell(3, 4, layer_norm=True)
    g2.load_state_dict(g.state_dict())
    torch.testing.assert_close(g2(x[:, 0])[0], g(x[:, 0])[0])


@pytest.mark.parametrize("name", ["input_dropout", "recurrent_dropout", "weight_drop"])
@pytest.mark.parametrize("value", [1.0, -0.1, 1.5, math.nan, math.inf])
def test_bad_dropout_values(name, value):
    with pytest.raises(ValueError, match=name):
        make_cell("gru", 3, 4, **{name: value})


@pytest.mark.parametrize("value", ["0.1", True, None])
def test_bad_dropout_types(value):
    with pytest.raises(TypeError, match="weight_drop"):
        make_cell("elman", 3, 4, weight_drop=value)


def test_bad_zoneout():
    with pytest.raises(ValueError, match="zoneout"):
        GRUCell(3, 4, zoneout=(0.1, 0.2))  # no cell state
    with pytest.raises(ValueError, match="zoneout"):
        JordanCell(3, 4, 2, zoneout=[0.1, 0.2])
    with pytest.raises(ValueError, match="zoneout"):
        LSTMCell(3, 4, zoneout=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="zoneout"):
        LSTMCell(3, 4, zoneout=1.5)
    with pytest.raises(ValueError, match="zoneout"):
        ElmanCell(3, 4, zoneout=math.nan)
    with pytest.raises(TypeError, match="zoneout"):
        ElmanCell(3, 4, zoneout="0.1")
    with pytest.raises(TypeError, match="layer_norm"):
        LSTMCell(3, 4, layer_norm=1)
    with pytest.raises(TypeError, match="layer_norm"):
        make_cell("elman", 3, 4, layer_norm=True)  # not an option of the ungated cells


def test_fused_path_refuses_what_it_does_not_compute():
    x = torch.randn(2, 5, 3)
    assert kernels.unsupported_reason(LSTMCell(3, 4), x) is None
    cases = [
        (LSTMCell(3, 4, layer_norm=True).eval(), "layer_norm"),
        (GRUCell(3, 4, zoneout=0.1).eval(), "zoneout"),
        (LSTMCell(3, 4, recurrent_dropout=0.1), "recurrent_dropout"),
        (GRUCell(3, 4, recurrent_dropout=0.1, weight_drop=0.1), "recurrent_dropout"),
    ]
    for cell, option in cases:
        assert option in kernels.unsupported_reason(cell, x)
        with kernels.mode("fused"), pytest.raises(RuntimeError, match=option):
            Recurrent(cell)(x)
        with kernels.mode("native"), pytest.raises(RuntimeError, match=option):
            Recurrent(cell)(x)
    # Dropout is off in evaluation, so the fused kernels compute it exactly then.
    assert kernels.unsupported_reason(LSTMCell(3, 4, recurrent_dropout=0.1).eval(), x) is None
    # input_dropout and weight_drop run fused in training (masks applied around the kernel) ...
    for cell in (ElmanCell(3, 4, input_dropout=0.1), GRUCell(3, 4, weight_drop=0.1)):
        assert kernels.unsupported_reason(cell, x) is None
        # ... but torch's own op knows none of them.
        with kernels.mode("native"), pytest.raises(RuntimeError, match="drop"):
            Recurrent(cell)(x)


needs_kernels = pytest.mark.skipif(not kernels.available(), reason="C++ extension unavailable")


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru", "elman", "jordan"])
def test_fused_input_dropout_and_weight_drop_match_the_reference(kind, reverse, dtype):
    torch.manual_seed(0)
    cell = make_cell(kind, 3, 5, input_dropout=0.3, weight_drop=0.4, dtype=dtype).train()
    layer = Recurrent(cell, reverse=reverse)
    x = torch.randn(4, 7, 3, dtype=dtype)
    lengths = torch.tensor([7, 3, 5, 1])
    x_nan = x.clone()
    x_nan[0, 2] = float("nan")  # forward: NaN propagates alike (gradients compared finite)
    outs = []
    for path in ("fused", "reference"):
        torch.manual_seed(11)
        with kernels.mode(path), torch.no_grad():
            outs.append(layer(x_nan, lengths=lengths)[0])
    assert bool(outs[1].isnan().any())
    torch.testing.assert_close(outs[0], outs[1], equal_nan=True)
    results = []
    for path in ("fused", "reference"):
        xg = x.clone().requires_grad_()
        cell.zero_grad()
        torch.manual_seed(11)
        with kernels.mode(path):
            ys, final = layer(xg, lengths=lengths)
        loss = ys.pow(2).sum() + sum(
            leaf.pow(2).sum() for leaf in torch.utils._pytree.tree_leaves(final)
        )
        loss.backward()
        grads = {n: p.grad.clone() for n, p in cell.named_parameters()}
        results.append((ys, final, xg.grad, grads))
    tol = {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {}
    (ys_f, fin_f, dx_f, g_f), (ys_r, fin_r, dx_r, g_r) = results
    torch.testing.assert_close(ys_f, ys_r, equal_nan=True, **tol)
    torch.testing.assert_close(fin_f, fin_r, equal_nan=True, **tol)
    torch.testing.assert_close(dx_f, dx_r, equal_nan=True, **tol)
    for name in g_r:
        torch.testing.assert_close(g_f[name], g_r[name], equal_nan=True, **tol, msg=name)


def test_train_cli_saves_the_options_and_resume_generate_honour_them(tmp_path, capsys):
    import json

    from rnnkit.cli import main
    from rnnkit.train import load_model

    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    out = tmp_path / "run"
    tiny = ["--hidden", "8", "--embed", "4", "--batch-size", "4", "--seq-len", "8"]
    options = ["--input-dropout", "0.1", "--recurrent-dropout", "0.2", "--weight-drop", "0.3"]
    options += ["--zoneout", "0.25", "--layer-norm"]
    argv = ["train", "--text", str(text), *tiny, *options, "--steps", "3", "--out", str(out)]
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())["model"]["cell_options"]
    assert saved == {
        "input_dropout": 0.1,
        "recurrent_dropout": 0.2,
        "weight_drop": 0.3,
        "zoneout": 0.25,
        "layer_norm": True,
    }
    model, _ = load_model(out)
    cells = [m for m in model.modules() if isinstance(m, LSTMCell)]
    assert cells and all(c.layer_norm and c.zoneout == 0.25 and c.weight_drop == 0.3 for c in cells)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "5"]) == 0  # resumes with them
    capsys.readouterr()
    generate = ["generate", str(out), "--prompt", "the", "--length", "10", "--seed", "1"]
    samples = []
    for _ in range(2):  # evaluation mode: the masks are off, the same seed gives the same text
        assert main(generate) == 0
        samples.append(capsys.readouterr().out)
    assert samples[0].startswith("the") and samples[0] == samples[1]
    assert (
        _exit_code(main, ["train", "--resume", str(out), "--zoneout", "0.5", "--steps", "6"]) == 2
    )
    assert "--zoneout cannot be given with --resume" in capsys.readouterr().err
    bad = ["train", "--text", str(text), *tiny, "--cell", "elman", "--layer-norm"]
    assert _exit_code(main, [*bad, "--out", str(tmp_path / "bad")]) == 2
    assert "layer_norm" in capsys.readouterr().err
    assert (
        _exit_code(
            main, ["train", "--text", str(text), "--zoneout", "2", "--out", str(tmp_path / "b2")]
        )
        == 2
    )
    assert "zoneout must be in [0, 1]" in capsys.readouterr().err


def _exit_code(main, argv):
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return exit_.code


@pytest.mark.parametrize(
    "cell",
    [
        lambda: LSTMCell(3, 4, zoneout=(0.2, 0.4), layer_norm=True, input_dropout=0.3),
        lambda: GRUCell(3, 4, zoneout=0.3, layer_norm=True, reset="before", weight_drop=0.2),
        lambda: JordanCell(3, 4, 2, zoneout=0.5, recurrent_dropout=0.4),
    ],
)
def test_stream_in_evaluation_matches_the_layer(cell):
    from rnnkit.streaming import Stream

    torch.manual_seed(0)
    layer = Recurrent(cell()).eval()
    x = torch.randn(2, 6, 3)
    ys, _ = layer(x)
    stream = Stream(layer)
    steps = torch.stack([stream.step(x[:, t]) for t in range(6)], 1)
    torch.testing.assert_close(steps, ys)
