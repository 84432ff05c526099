r"""A forecaster: a recurrent stack reads a window of a series and a readout predicts what follows.

.. math::
    h_{1..w} = \mathrm{RNN}(s_{n..n+w-1}),\qquad
    (\hat s_{n+w}, \ldots, \hat s_{n+w+h-1}) = W_{out}\, h_w + b

for a window of w values and a horizon of h steps. :meth:`Forecaster.rollout` runs closed-loop:
it reads a context, then feeds each one-step prediction back as the next input, carrying the
recurrent state, for as many steps as asked.

The weights are saved as safetensors and the config (with any extra JSON values, such as the
data's scaler) as JSON by :meth:`Forecaster.save`; :meth:`Forecaster.load` reads both back
without unpickling anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .. import _checks
from .._config import JSONConfig
from ..layers import RNN, Readout
from .classifier import last_step

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class ForecasterConfig(JSONConfig):
    """The architecture of a :class:`Forecaster`, saved as JSON with its weights.

    Attributes:
        input_size: features of the series (F).
        hidden_size: units of every recurrent layer.
        cell: a kind of :data:`rnnkit.cells.CELLS` (``"lstm"``, ``"gru"``, ``"elman"``, ...).
        num_layers: recurrent layers in the stack.
        horizon: steps predicted after each window (h).
        dropout: between recurrent layers (training only).
        cell_options: passed to every cell (e.g. ``{"reset": "before"}``).
    """

    input_size: int = 1
    hidden_size: int = 32
    cell: str = "lstm"
    num_layers: int = 1
    horizon: int = 1
    dropout: float = 0.0
    cell_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _checks.positive_int("input_size", self.input_size)
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.positive_int("num_layers", self.num_layers)
        _checks.positive_int("horizon", self.horizon)
        _checks.non_negative_float("dropout", self.dropout, upper=1.0)
        if self.dropout == 1.0:
            raise ValueError("dropout must be in [0, 1), got 1.0")


class Forecaster(nn.Module):
    r"""Predict the next ``horizon`` values of a series from a window of past values.

    Built from :class:`~rnnkit.RNN` (the recurrent stack, no readout) and a
    :class:`~rnnkit.Readout` from the last step's output to ``horizon * input_size`` values.

    Args:
        config: a :class:`ForecasterConfig`.

    Shapes:
        x: (B, w, F) windows; lengths (B,) or None. Returns (B, horizon, F).

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = Forecaster(ForecasterConfig(hidden_size=8, horizon=3))
        >>> model(torch.randn(4, 20, 1)).shape
        torch.Size([4, 3, 1])
        >>> model.rollout(torch.randn(1, 20, 1), steps=5).shape
        torch.Size([1, 5, 1])
    """

    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        if not isinstance(config, ForecasterConfig):
            raise TypeError(f"config must be a ForecasterConfig, got {type(config).__name__}")
        self.config = config
        self.rnn = RNN(
            config.input_size,
            config.hidden_size,
            cell=config.cell,
            num_layers=config.num_layers,
            dropout=config.dropout,
            **config.cell_options,
        )
        self.readout = Readout(self.rnn.output_size, config.horizon * config.input_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        ys, _ = self.rnn(x, lengths=lengths)  # (B, w, H)
        out = self.readout(last_step(ys, lengths))  # (B, h * F)
        return out.view(x.shape[0], self.config.horizon, self.config.input_size)

    @torch.no_grad()
    def rollout(self, context: Tensor, steps: int) -> Tensor:
        """Closed-loop forecast: read ``context`` (B, T, F), then predict ``steps`` values,
        feeding each first-step prediction back as the next input. Returns (B, steps, F)."""
        _checks.positive_int("steps", steps)
        F = self.config.input_size
        ys, state = self.rnn(context)  # (B, T, H)
        last = ys[:, -1]
        preds = []
        for _ in range(steps):
            pred = self.readout(last)[:, :F]  # (B, F): the next value
            preds.append(pred)
            ys, state = self.rnn(pred.unsqueeze(1), state)
            last = ys[:, -1]
        return torch.stack(preds, dim=1)

    def save(self, directory: str | os.PathLike, **extra: object) -> None:
        """Write ``config.json`` (this config and the ``extra`` JSON values) and
        ``model.safetensors`` into ``directory``; each file is written to a temporary name and
        then renamed, so a crash never leaves half a file."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"model": "Forecaster", "config": asdict(self.config), **extra}
        _atomic_write(
            directory / CONFIG_FILE,
            lambda path: Path(path).write_text(json.dumps(meta, indent=2) + "\n"),
        )
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        _atomic_write(directory / WEIGHTS_FILE, lambda path: save_file(tensors, path))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> tuple[Forecaster, dict]:
        """Read a model saved by :meth:`save`; returns ``(model, extra)``."""
        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"{directory} is not a saved forecaster: {path} is missing")
        try:
            meta = json.loads(config_path.read_text())
            config = ForecasterConfig(**meta.pop("config"))
            if meta.pop("model") != "Forecaster":
                raise ValueError("'model' must be 'Forecaster'")
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{config_path} is not a forecaster config: {err}") from None
        try:
            model = cls(config)
        except (ValueError, TypeError) as err:  # e.g. cell options the cell does not take
            raise ValueError(f"{config_path} is not a usable forecaster config: {err}") from None
        try:
            model.load_state_dict(load_file(str(weights_path)))
        except Exception as err:  # safetensors' own error type, or mismatched tensors
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"{weights_path} does not hold this forecaster's weights: {first}"
            ) from None
        return model, meta


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["Forecaster", "ForecasterConfig"]
