r"""Time series for recurrent models: a CSV column as a series, sliding windows, a scaler.

A forecaster sees windows of ``window`` past values and predicts the next ``horizon`` ones:

.. math::
    x^{(n)} = (s_n, \ldots, s_{n+w-1}),\qquad y^{(n)} = (s_{n+w}, \ldots, s_{n+w+h-1})

for n = 0 .. N - w - h (:func:`sliding_windows`). Networks train best on values of order one,
so the series is standardised first, ``z = (s - mean) / std`` (:class:`Scaler`), and the scaler's
parameters are saved as JSON beside the model so that its predictions can be mapped back.

Example:
    >>> import numpy as np
    >>> s = np.arange(10.0)
    >>> scaler = Scaler.fit(s)
    >>> x, y = sliding_windows(scaler.transform(s), window=4, horizon=2)
    >>> x.shape, y.shape
    (torch.Size([5, 4, 1]), torch.Size([5, 2, 1]))
    >>> scaler.inverse(y)[0, :, 0].tolist()
    [4.0, 5.0]
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _checks

ArrayLike = np.ndarray | Tensor


def read_csv_column(path: str | os.PathLike, column: str) -> np.ndarray:
    """Read one numeric column of a CSV file with a header row, as float64 (N,).

    Args:
        path: a CSV file whose first row names the columns.
        column: the name of the column to read.

    Raises:
        FileNotFoundError: ``path`` does not exist (or is a directory).
        ValueError: the file is not UTF-8 text, is empty, has no column ``column`` (the message
            lists the available ones), a row lacks the column, or a value is not a finite number
            (the message gives its line).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
        >>> _ = p.write_text("t,load\\n0,1.5\\n1,2.5\\n")
        >>> read_csv_column(p, "load").tolist()
        [1.5, 2.5]
    """
    if not isinstance(column, str):
        raise TypeError(f"column must be a str, got {type(column).__name__}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"csv file {os.fspath(path)!r} does not exist or is not a file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"csv file {os.fspath(path)!r} must be UTF-8 text, got undecodable bytes at "
            f"offset {err.start}"
        ) from None
    except csv.Error as err:
        raise ValueError(f"csv file {os.fspath(path)!r} is not valid CSV: {err}") from None
    if not rows:
        raise ValueError(f"csv file {os.fspath(path)!r} must have a header row, got an empty file")
    header = [name.strip() for name in rows[0]]
    if column not in header:
        available = ", ".join(repr(h) for h in header)
        raise ValueError(f"column must be one of the csv's columns ({available}), got {column!r}")
    index = header.index(column)
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines, e.g. a trailing newline
        if index >= len(row):
            raise ValueError(f"line {line} of {os.fspath(path)!r} has no value for {column!r}")
        text = row[index].strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"column {column!r} must hold numbers, got {text!r} on line {line}"
            ) from None
        if not math.isfinite(value):
            raise ValueError(
                f"column {column!r} must hold finite numbers, got {text} on line {line}"
            )
        values.append(value)
    if not values:
        raise ValueError(f"column {column!r} of {os.fspath(path)!r} has no values")
    return np.asarray(values, dtype=np.float64)


def as_series(
    series: ArrayLike, name: str = "series", dtype: torch.dtype = torch.float32
) -> Tensor:
    """A series as a (N, F) tensor: (N,) gains a feature axis; values must be finite."""
    if isinstance(series, np.ndarray):
        if not np.issubdtype(series.dtype, np.number):
            raise TypeError(f"{name} must be numeric, got dtype {series.dtype}")
        series = torch.from_numpy(np.ascontiguousarray(series, dtype=np.float64))
    elif not isinstance(series, Tensor):
        raise TypeError(f"{name} must be a numpy array or a tensor, got {type(series).__name__}")
    if series.dim() == 1:
        series = series.unsqueeze(1)
    if series.dim() != 2:
        raise ValueError(
            f"{name} must be (time,) or (time, features), got {_checks.shape_text(series.shape)}"
        )
    if series.is_complex() or series.dtype == torch.bool:
        raise TypeError(f"{name} must be real numbers, got dtype {series.dtype}")
    series = series.to(dtype)
    if not bool(torch.isfinite(series).all()):
        raise ValueError(f"{name} must hold finite values, got NaN or Inf")
    return series


def sliding_windows(
    series: ArrayLike, window: int, horizon: int = 1, *, stride: int = 1
) -> tuple[Tensor, Tensor]:
    """Cut a series into (input window, following values) pairs.

    Args:
        series: (N,) or (N, F) values.
        window: w, the steps each input sees.
        horizon: h, the steps to predict after each window.
        stride: steps between the starts of consecutive windows.

    Returns:
        ``(x, y)``: x (M, w, F) and y (M, h, F), with ``x[n] = series[n*stride : n*stride + w]``
        and ``y[n] = series[n*stride + w : n*stride + w + h]``, M = (N - w - h) // stride + 1.

    Raises:
        ValueError: the series is shorter than ``window + horizon``.

    Example:
        >>> x, y = sliding_windows(torch.arange(6.0), window=3)
        >>> x[:, :, 0].tolist(), y[:, 0, 0].tolist()
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [3.0, 4.0, 5.0])
    """
    _checks.positive_int("window", window)
    _checks.positive_int("horizon", horizon)
    _checks.positive_int("stride", stride)
    dtype = series.dtype if isinstance(series, Tensor) and series.is_floating_point() else None
    s = as_series(series, dtype=dtype or torch.float32)  # (N, F)
    n = s.shape[0]
    if n < window + horizon:
        raise ValueError(
            f"series must have at least window + horizon = {window + horizon} steps, got {n}"
        )
    spans = s.unfold(0, window + horizon, stride).transpose(1, 2)  # (M, w + h, F)
    return spans[:, :window].contiguous(), spans[:, window:].contiguous()


@dataclass
class Scaler:
    """Standardisation ``z = (s - mean) / std`` per feature, saved as JSON with a model.

    Attributes:
        mean: per-feature means.
        std: per-feature standard deviations (a constant feature gets 1, so it maps to 0).

    Example:
        >>> scaler = Scaler.fit(torch.tensor([1.0, 2.0, 3.0]))
        >>> scaler
        Scaler(mean=[2.0], std=[0.816496580927726])
        >>> Scaler.from_json(scaler.to_json()) == scaler
        True
    """

    mean: list[float]
    std: list[float]

    def __post_init__(self) -> None:
        self.mean = [float(m) for m in self.mean]
        self.std = [float(s) for s in self.std]
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(
                f"mean and std must be non-empty and of one length, got {len(self.mean)} and "
                f"{len(self.std)}"
            )
        if not all(math.isfinite(m) for m in self.mean):
            raise ValueError(f"mean must be finite, got {self.mean}")
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"std must be finite and positive, got {self.std}")

    @classmethod
    def fit(cls, series: ArrayLike) -> Scaler:
        """The mean and (population) standard deviation of each feature of (N,) or (N, F)."""
        s = as_series(series, dtype=torch.float64)
        mean = s.mean(dim=0)
        std = s.std(dim=0, correction=0)
        std = torch.where(std > 0, std, torch.ones_like(std))
        return cls(mean.tolist(), std.tolist())

    @property
    def features(self) -> int:
        return len(self.mean)

    def _params(self, like: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        if like.shape[-1:] != (self.features,) and not (self.features == 1 and like.ndim == 1):
            raise ValueError(
                f"values must have {self.features} feature(s) on the last axis, got shape "
                f"{_checks.shape_text(tuple(like.shape))}"
            )
        if isinstance(like, Tensor):
            kw: dict[str, Any] = {"dtype": like.dtype, "device": like.device}
            return torch.tensor(self.mean, **kw), torch.tensor(self.std, **kw)
        return np.asarray(self.mean), np.asarray(self.std)

    def transform(self, values: ArrayLike) -> ArrayLike:
        """``(values - mean) / std`` over the last axis (features); numpy in, numpy out."""
        mean, std = self._params(values)
        return (values - mean) / std

    def inverse(self, values: ArrayLike) -> ArrayLike:
        """``values * std + mean``: back to the series' units."""
        mean, std = self._params(values)
        return values * std + mean

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Scaler:
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {"mean", "std"}:
            raise ValueError(f"scaler JSON must be an object with 'mean' and 'std', got {text!r}")
        return cls(**data)


__all__ = ["Scaler", "as_series", "read_csv_column", "sliding_windows"]
