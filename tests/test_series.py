"""CSV columns, sliding windows and the scaler: exact values, round trips, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnnkit.data.series import Scaler, as_series, read_csv_column, sliding_windows


def write(tmp_path, text: str | bytes, name: str = "s.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_read_csv_column_reads_the_named_column(tmp_path):
    path = write(tmp_path, "\ufefftime, load ,temp\n0,1.5,-2\n1,2.5e1,3\n\n2,-0.25,4\n")
    np.testing.assert_array_equal(read_csv_column(path, "load"), [1.5, 25.0, -0.25])
    np.testing.assert_array_equal(read_csv_column(path, "time"), [0.0, 1.0, 2.0])
    assert read_csv_column(path, "temp").dtype == np.float64


def test_read_csv_column_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_csv_column(tmp_path / "missing.csv", "x")
    with pytest.raises(FileNotFoundError):
        read_csv_column(tmp_path, "x")  # a directory
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"column must be one of the csv's columns \('a', 'b'\)"):
        read_csv_column(path, "c")
    bad = write(tmp_path, "a,b\n1,2\n3,oops\n", "bad.csv")
    with pytest.raises(ValueError, match="'b' must hold numbers, got 'oops' on line 3"):
        read_csv_column(bad, "b")
    nan = write(tmp_path, "a\n1\nnan\n", "nan.csv")
    with pytest.raises(ValueError, match="finite numbers, got nan on line 3"):
        read_csv_column(nan, "a")
    empty_cell = write(tmp_path, "a,b\n1,\n", "empty_cell.csv")
    with pytest.raises(ValueError, match="got '' on line 2"):
        read_csv_column(empty_cell, "b")
    short = write(tmp_path, "a,b\n1\n", "short.csv")
    with pytest.raises(ValueError, match=r"line 2 .* has no value for 'b'"):
        read_csv_column(short, "b")
    with pytest.raises(ValueError, match="empty file"):
        read_csv_column(write(tmp_path, "", "empty.csv"), "a")
    with pytest.raises(ValueError, match="has no values"):
        read_csv_column(write(tmp_path, "a\n", "header.csv"), "a")
    with pytest.raises(ValueError, match="must be UTF-8"):
        read_csv_column(write(tmp_path, b"a\n\xff\xfe1\n", "bin.csv"), "a")


def test_sliding_windows_exact_values():
    s = torch.arange(20.0).view(10, 2)  # (N=10, F=2): row n is (2n, 2n+1)
    x, y = sliding_windows(s, window=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 2) and y.shape == (3, 2, 2)  # starts 0, 2, 4
    for m, start in enumerate([0, 2, 4]):
        assert torch.equal(x[m], s[start : start + 3])
        assert torch.equal(y[m], s[start + 3 : start + 5])
    # Exactly window + horizon values: one pair; a numpy (N,) series gains a feature axis.
    x, y = sliding_windows(np.array([1.0, 2.0, 3.0]), window=2)
    assert x[:, :, 0].tolist() == [[1.0, 2.0]] and y[:, :, 0].tolist() == [[3.0]]
    assert x.dtype == torch.float32
    assert sliding_windows(torch.zeros(5, dtype=torch.float64), 2)[0].dtype == torch.float64


def test_sliding_windows_errors():
    with pytest.raises(ValueError, match="at least window \\+ horizon = 6 steps, got 5"):
        sliding_windows(np.zeros(5), window=5)
    with pytest.raises(ValueError, match="window must be a positive int, got 0"):
        sliding_windows(np.zeros(5), window=0)
    with pytest.raises(ValueError, match="finite values"):
        sliding_windows(np.array([1.0, np.nan, 2.0]), window=1)
    with pytest.raises(ValueError, match=r"\(time,\) or \(time, features\), got \(2, 2, 2\)"):
        as_series(torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="numpy array or a tensor, got list"):
        as_series([1.0, 2.0])


def test_scaler_standardises_and_inverts():
    rng = np.random.default_rng(0)
    data = rng.normal([3.0, -1.0], [2.0, 0.5], size=(500, 2))
    scaler = Scaler.fit(data)
    np.testing.assert_allclose(scaler.mean, data.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, data.std(axis=0), rtol=1e-12)
    z = scaler.transform(data)
    assert isinstance(z, np.ndarray)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse(z), data, atol=1e-12)
    t = torch.from_numpy(data).float()  # tensors in, tensors out, same dtype
    zt = scaler.transform(t)
    assert zt.dtype == torch.float32
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-5)


def test_scaler_json_round_trip_and_errors():
    scaler = Scaler.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert scaler.std == [1.0, 1.0]  # a constant feature keeps std 1 and maps to 0
    assert scaler.transform(np.array([[2.0, 5.0]])).tolist() == [[0.0, 0.0]]
    assert json.loads(scaler.to_json()) == {"mean": [2.0, 5.0], "std": [1.0, 1.0]}
    assert Scaler.from_json(scaler.to_json()) == scaler
    with pytest.raises(ValueError, match="2 feature"):
        scaler.transform(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="std must be finite and positive"):
        Scaler([0.0], [0.0])
    with pytest.raises(ValueError, match="of one length"):
        Scaler([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="'mean' and 'std'"):
        Scaler.from_json('{"mean": [1.0]}')


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=st.floats(-1e6, 1e6)))
def test_scaler_round_trip_property(values):
    scaler = Scaler.fit(values)
    back = scaler.inverse(scaler.transform(values))
    np.testing.assert_allclose(back, values, rtol=1e-9, atol=1e-9 * (1 + np.abs(values).max()))
