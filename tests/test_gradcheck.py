"""float64 ``torch.autograd.gradcheck`` through time, w.r.t. input, initial state and parameters.

The layer is made a pure function of its parameters with ``torch.func.functional_call`` so that
gradcheck perturbs every weight as well as ``x`` and the initial state. Sequences have different
lengths so that the masking of finished sequences is differentiated too.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from conftest import F64, VARIANTS, build_cell, random_state, state_leaves
from rnnkit import RNN, LSTMState, Recurrent

B, T, I, H = 3, 4, 2, 3  # noqa: E741
LENGTHS = torch.tensor([4, 2, 3])


def rebuild_state(template, flat):
    """Put the flat tensors back into the structure of ``template``."""
    it = iter(flat)

    def go(s):
        if isinstance(s, torch.Tensor):
            return next(it)
        items = [go(p) for p in s]
        return type(s)(*items) if isinstance(s, LSTMState) else tuple(items)

    return go(template)


def check_layer(module, x, state, lengths):
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in module.named_parameters()]
    s_leaves = [s.detach().clone().requires_grad_(True) for s in state_leaves(state)]
    x = x.detach().clone().requires_grad_(True)
    n_state = len(s_leaves)

    def fn(x, *rest):
        s = rebuild_state(state, rest[:n_state])
        p = dict(zip(names, rest[n_state:]))
        ys, final = functional_call(module, p, (x, s), {"lengths": lengths})
        return (ys, *state_leaves(final))

    inputs = (x, *s_leaves, *params)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    # every input really receives a gradient (nothing silently detached)
    outs = fn(*inputs)
    total = sum((o * torch.randn_like(o)).sum() for o in outs)
    grads = torch.autograd.grad(total, inputs)
    for name, g in zip(["x", *(f"state{k}" for k in range(n_state)), *names], grads):
        assert g is not None and g.abs().sum() > 0, name


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradcheck_recurrent(variant, reverse, unroll_path):
    cell = build_cell(variant, I, H)
    torch.manual_seed(1)
    # inputs away from 0 in magnitude keep relu pre-activations off their kink
    x = torch.randn(B, T, I, dtype=F64)
    x = x + 0.3 * torch.sign(x)
    state = random_state(cell, B)
    check_layer(Recurrent(cell, reverse=reverse), x, state, LENGTHS)


@pytest.mark.parametrize("variant", ["gru_before", "lstm_peephole_identity"])
def test_gradcheck_without_lengths(variant):
    cell = build_cell(variant, I, H)
    x = torch.randn(B, T, I, dtype=F64)
    check_layer(Recurrent(cell), x, random_state(cell, B), None)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_gradcheck_bidirectional_stack(cell, unroll_path):
    torch.manual_seed(0)
    net = RNN(I, 2, cell=cell, num_layers=2, bidirectional=True, output_size=2, dtype=F64)
    x = torch.randn(B, T, I, dtype=F64)
    state = tuple(
        (random_state(layer.forward_layer.cell, B), random_state(layer.backward_layer.cell, B))
        for layer in net.stack.layers
    )
    check_layer(net, x, state, LENGTHS)


def test_padding_gets_zero_gradient(unroll_path):
    """Steps past a sequence's length do not influence anything."""
    cell = build_cell("lstm_peephole", I, H)
    for reverse in (False, True):
        x = torch.randn(B, T, I, dtype=F64, requires_grad=True)
        ys, (h, c) = Recurrent(cell, reverse=reverse)(x, lengths=LENGTHS)
        (ys.sum() + h.sum() + c.sum()).backward()
        for b, n in enumerate(LENGTHS.tolist()):
            assert bool((x.grad[b, n:] == 0).all())
            assert bool((x.grad[b, :n] != 0).any())
