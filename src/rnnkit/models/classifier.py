r"""A sequence classifier: a recurrent stack read out at each sequence's last real step.

.. math::
    h_{1..T} = \mathrm{RNN}(x_{1..T}),\qquad
    \mathrm{logits} = W_{out}\, h_{L} + b \quad (L = \text{the sequence's length})

With ``bidirectional=True`` the summary is ``[h^{fwd}_L ; h^{bwd}_1]``: the forward layer's
output after the last real step and the backward layer's output after it has read the whole
sequence back to the first step. Padding past a sequence's length never reaches the logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor, nn

from .. import _checks
from .._config import JSONConfig
from ..layers import RNN, Bidirectional, Readout
from ..recurrent import Recurrent


def last_step(ys: Tensor, lengths: Tensor | None) -> Tensor:
    """The output of each sequence at its last real step: ys (B, T, F) -> (B, F).

    Example:
        >>> ys = torch.arange(12.0).reshape(2, 3, 2)
        >>> last_step(ys, torch.tensor([3, 1])).tolist()
        [[4.0, 5.0], [6.0, 7.0]]
    """
    if lengths is None:
        return ys[:, -1]
    index = (lengths.to(device=ys.device, dtype=torch.long) - 1).view(-1, 1, 1)  # (B, 1, 1)
    return ys.gather(1, index.expand(-1, 1, ys.shape[2])).squeeze(1)


@dataclass
class ClassifierConfig(JSONConfig):
    """The architecture of a :class:`SequenceClassifier`, saved as JSON with its weights.

    Attributes:
        input_size: features of each step.
        num_classes: classes of the logits.
        hidden_size: units of every recurrent layer.
        cell: a kind of :data:`rnnkit.cells.CELLS` (``"lstm"``, ``"gru"``, ``"elman"``, ...).
        num_layers: recurrent layers in the stack.
        bidirectional: read each sequence in both directions.
        dropout: between recurrent layers (training only).
        cell_options: passed to every cell (e.g. ``{"recurrent_init": "orthogonal"}``).
    """

    input_size: int
    num_classes: int
    hidden_size: int = 64
    cell: str = "lstm"
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    cell_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _checks.positive_int("input_size", self.input_size)
        _checks.positive_int("num_classes", self.num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.positive_int("num_layers", self.num_layers)


class SequenceClassifier(nn.Module):
    r"""Classify whole sequences: an rnnkit :class:`~rnnkit.RNN` stack and a :class:`Readout`.

    ``logits = W_out h_L + b`` with ``h_L`` the stack's output at each sequence's last real step
    (``lengths``); see the module docstring for the bidirectional case.

    Args:
        config: a :class:`ClassifierConfig`.

    Shapes:
        x: (B, T, input_size); lengths: (B,) ints in [1, T] or None (all of length T).
        Returns logits (B, num_classes).

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = SequenceClassifier(ClassifierConfig(input_size=3, num_classes=4, hidden_size=8))
        >>> x = torch.randn(2, 5, 3)
        >>> logits = model(x, lengths=torch.tensor([5, 2]))
        >>> logits.shape
        torch.Size([2, 4])
        >>> bool(torch.allclose(logits[1], model(x[1:, :2])[0]))  # padding is ignored
        True
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        if not isinstance(config, ClassifierConfig):
            raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
        self.config = config
        self.rnn = RNN(
            config.input_size,
            config.hidden_size,
            cell=config.cell,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            **config.cell_options,
        )
        self.readout = Readout(self.rnn.output_size, config.num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        ys, _ = self.rnn(x, lengths=lengths)  # (B, T, D*H), zero past each length
        if not self.config.bidirectional:
            return self.readout(last_step(ys, lengths))
        top = cast(Bidirectional, self.rnn.stack.layers[-1])
        split = cast(Recurrent, top.forward_layer).output_size
        forward_summary = last_step(ys[..., :split], lengths)  # (B, H)
        backward_summary = ys[:, 0, split:]  # (B, H): the backward pass ends at step 0
        return self.readout(torch.cat([forward_summary, backward_summary], dim=1))

    @torch.no_grad()
    def predict(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The most likely class of each sequence, int64 (B,)."""
        return self.forward(x, lengths).argmax(dim=1)


__all__ = ["ClassifierConfig", "SequenceClassifier", "last_step"]
