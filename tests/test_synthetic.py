"""The adding problem and the copy task follow Arjovsky et al. 2016's protocols exactly."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.data.synthetic import (
    ADDING_BASELINE_MSE,
    COPY_DELIMITER,
    COPY_OUTPUT_CATEGORIES,
    adding_problem,
    copy_baseline,
    copy_one_hot,
    copy_task,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("length", [2, 3, 10, 200, 201])
def test_adding_has_one_marker_in_each_half_and_target_is_their_sum(length):
    x, y = adding_problem(500, length, generator=gen())
    assert x.shape == (500, length, 2) and y.shape == (500, 1)
    values, marks = x[..., 0], x[..., 1]
    assert bool(((values >= 0) & (values <= 1)).all())
    assert set(marks.unique().tolist()) <= {0.0, 1.0}
    half = length // 2
    assert marks[:, :half].sum(dim=1).tolist() == [1.0] * 500
    assert marks[:, half:].sum(dim=1).tolist() == [1.0] * 500
    for b in range(0, 500, 37):  # the target, written out per sequence
        marked = [values[b, t].item() for t in range(length) if marks[b, t] == 1]
        assert len(marked) == 2
        assert y[b, 0].item() == pytest.approx(sum(marked), abs=1e-6)


def test_adding_markers_cover_every_position_of_their_half():
    x, _ = adding_problem(4000, 10, generator=gen(1))
    first = x[:, :5, 1].argmax(dim=1)
    second = x[:, 5:, 1].argmax(dim=1) + 5
    assert sorted(first.unique().tolist()) == [0, 1, 2, 3, 4]
    assert sorted(second.unique().tolist()) == [5, 6, 7, 8, 9]
    # Uniform: every position gets about a fifth of the markers.
    counts = torch.bincount(first, minlength=5).double() / 4000
    assert bool((counts - 0.2).abs().max() < 0.03)


def test_adding_baseline_is_the_mse_of_predicting_the_mean():
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    _, y = adding_problem(200_000, 4, generator=gen(2))
    assert float(y.mean()) == pytest.approx(1.0, abs=0.005)
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(ADDING_BASELINE_MSE, abs=0.003)


def test_adding_is_reproducible_and_bad_input_names_the_argument():
    a = adding_problem(3, 8, generator=gen(5))
    b = adding_problem(3, 8, generator=gen(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert adding_problem(2, 4, dtype=torch.float64)[0].dtype == torch.float64
    with pytest.raises(ValueError, match="length must be at least 2"):
        adding_problem(3, 1)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        adding_problem(0, 10)
    with pytest.raises(TypeError, match="length must be a positive int"):
        adding_problem(2, 10.0)


@pytest.mark.parametrize("T", [1, 2, 100])
def test_copy_task_layout(T):
    seq, target = copy_task(300, T, generator=gen(3))
    assert seq.shape == target.shape == (300, T + 20)
    assert seq.dtype == target.dtype == torch.long
    symbols = seq[:, :10]
    assert bool(((symbols >= 1) & (symbols <= 8)).all())
    assert bool((seq[:, 10 : T + 9] == 0).all())  # T - 1 blanks
    assert seq[:, T + 9].tolist() == [COPY_DELIMITER] * 300
    assert bool((seq[:, T + 10 :] == 0).all())  # 10 blanks while the copy is output
    assert bool((target[:, : T + 10] == 0).all())  # T + 10 blanks
    assert torch.equal(target[:, T + 10 :], symbols)  # then the symbols, in order
    assert int(target.max()) < COPY_OUTPUT_CATEGORIES


def test_copy_symbols_are_uniform_over_the_eight_categories():
    seq, _ = copy_task(2000, 5, generator=gen(4))
    counts = torch.bincount(seq[:, :10].reshape(-1), minlength=10)
    assert counts[0] == 0 and counts[9] == 0
    freq = counts[1:9].double() / counts.sum()
    assert bool((freq - 1 / 8).abs().max() < 0.01)


@pytest.mark.parametrize("T", [1, 100, 1000])
def test_copy_baseline_is_the_memoryless_cross_entropy(T):
    assert copy_baseline(T) == pytest.approx(10 * math.log(8) / (T + 20), rel=1e-12)
    # The memoryless strategy: blank with certainty for T + 10 steps, then a uniform guess over
    # the 8 symbols; its mean cross-entropy over all steps is the baseline.
    _, target = copy_task(50, T, generator=gen(6))
    probs = torch.zeros(T + 20, COPY_OUTPUT_CATEGORIES, dtype=torch.float64)
    probs[: T + 10, 0] = 1.0
    probs[T + 10 :, 1:] = 1.0 / 8
    log_probs = probs.log().expand(50, -1, -1)  # (B, T+20, 9)
    loss = torch.nn.functional.nll_loss(log_probs.reshape(-1, 9), target.reshape(-1))
    assert float(loss) == pytest.approx(copy_baseline(T), rel=1e-12)
    assert copy_baseline(100) == pytest.approx(0.17329, abs=1e-5)


def test_copy_one_hot_and_bad_input():
    seq, _ = copy_task(4, 3, generator=gen(7))
    hot = copy_one_hot(seq)
    assert hot.shape == (4, 23, 10) and hot.dtype == torch.float32
    assert torch.equal(hot.argmax(dim=2), seq)
    assert torch.equal(hot.sum(dim=2), torch.ones(4, 23))
    with pytest.raises(TypeError, match="inputs must be an int64 tensor"):
        copy_one_hot(seq.float())
    with pytest.raises(ValueError, match=r"categories in 0..9, got values in 0..10"):
        copy_one_hot(torch.tensor([[0, 10]]))
    with pytest.raises(ValueError, match="length must be a positive int, got 0"):
        copy_task(2, 0)
    with pytest.raises(ValueError, match="length must be a positive int"):
        copy_baseline(-1)
