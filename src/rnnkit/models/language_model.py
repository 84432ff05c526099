r"""A character-level language model: embedding, a stack of any rnnkit cells, a readout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from .._config import JSONConfig
from .._state import State
from ..cells import get_spec
from ..layers import RNN, Readout
from ..recurrent import Recurrent


@dataclass
class ModelConfig(JSONConfig):
    """Everything needed to rebuild a :class:`CharLanguageModel` (saved as JSON with the run).

    Attributes:
        vocab_size: V, characters known.
        cell: a kind of :data:`rnnkit.cells.CELLS` (``"lstm"``, ``"gru"``, ``"elman"``, ...).
        hidden_size: H of every recurrent layer.
        num_layers: recurrent layers in the stack.
        embed_size: E, size of a character's embedding.
        dropout: dropout on the embedding, between layers and before the readout (training only).
        tie_weights: the readout reuses the embedding matrix (needs ``embed_size == hidden_size``).
        cell_options: passed to every cell (``peephole``, ``reset``, ``activation``, ...).
    """

    vocab_size: int
    cell: str = "lstm"
    hidden_size: int = 384
    num_layers: int = 1
    embed_size: int = 64
    dropout: float = 0.2
    tie_weights: bool = False
    cell_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "embed_size"):
            _checks.positive_int(name, getattr(self, name))
        get_spec(self.cell)  # a kind of the cell registry
        _checks.non_negative_float("dropout", self.dropout, upper=1.0)
        if not isinstance(self.tie_weights, bool):
            raise TypeError(f"tie_weights must be a bool, got {type(self.tie_weights).__name__}")
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise ValueError(
                f"embed_size must equal hidden_size ({self.hidden_size}) with tie_weights=True, "
                f"got {self.embed_size}"
            )
        if not isinstance(self.cell_options, dict):
            raise TypeError(f"cell_options must be a dict, got {type(self.cell_options).__name__}")


class CharLanguageModel(nn.Module):
    r"""Predict the next character: embedding, recurrent stack, readout to V logits.

    .. math::
        e_t = E[c_t],\qquad (h_t, s_t) = R(e_t, s_{t-1}),\qquad
        p(c_{t+1} \mid c_{\le t}) = \mathrm{softmax}(W_{out} h_t + b)

    ``R`` is ``rnnkit.RNN(E, H, cell=..., num_layers=...)``; with ``tie_weights`` the readout's
    ``W_out`` is the embedding matrix ``E`` itself (Press & Wolf 2017), one tensor, saved once.

    Args:
        config: a :class:`ModelConfig`.

    Shapes:
        ids: (B, T) int64 indices; state: the stack's state or None (zeros). Returns logits
        (B, T, V) and the final state, which the next chunk of the same streams starts from.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = CharLanguageModel(ModelConfig(vocab_size=5, hidden_size=8, embed_size=4))
        >>> logits, state = model(torch.tensor([[0, 3, 1], [2, 2, 4]]))
        >>> logits.shape, state[0].h.shape
        (torch.Size([2, 3, 5]), torch.Size([2, 8]))
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        self.rnn = RNN(
            config.embed_size,
            config.hidden_size,
            cell=config.cell,
            num_layers=config.num_layers,
            dropout=config.dropout,
            **config.cell_options,
        )
        self.drop = nn.Dropout(config.dropout)
        self.readout = Readout(self.rnn.output_size, config.vocab_size)
        if config.tie_weights:
            self.readout.linear.weight = self.embedding.weight

    def init_state(self, batch_size: int) -> tuple[State, ...]:
        """The zero state of the stack for ``batch_size`` streams."""
        ref = self.embedding.weight
        return tuple(
            cast(Recurrent, layer).init_state(batch_size, device=ref.device, dtype=ref.dtype)
            for layer in self.rnn.stack.layers  # forward-only: built so in __init__
        )

    def forward(
        self, ids: Tensor, state: tuple[State, ...] | None = None
    ) -> tuple[Tensor, tuple[State, ...]]:
        if not isinstance(ids, Tensor) or ids.dtype != torch.long:
            got = f"dtype {ids.dtype}" if isinstance(ids, Tensor) else type(ids).__name__
            raise TypeError(f"ids must be an int64 tensor (batch, time), got {got}")
        _checks.shape("ids", ids, ("batch", "time"))
        V = self.config.vocab_size
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
            raise ValueError(
                f"ids must be in [0, {V - 1}], got min {int(ids.min())}, max {int(ids.max())}"
            )
        x = self.drop(self.embedding(ids))  # (B, T, E)
        hs, state = self.rnn(x, state)  # (B, T, H)
        return self.readout(self.drop(hs)), state  # (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        length: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""Sample ``length`` characters after ``prompt``, one at a time, feeding each one back.

        ``p(c) \propto \exp(\mathrm{logit}_c / \tau)`` with temperature ``τ``: below 1 sharper and
        safer, above 1 more varied.

        Args:
            prompt: (P,) int64 indices, P >= 1; the model reads them first.
            length: characters to sample.
            temperature: τ > 0.
            generator: a seeded ``torch.Generator`` for reproducible samples.

        Returns:
            (length,) int64 indices of the sampled characters (the prompt not included).

        Example:
            >>> model = CharLanguageModel(ModelConfig(vocab_size=5, hidden_size=8, embed_size=4))
            >>> out = model.generate(torch.tensor([1, 2]), 10, generator=torch.Generator())
            >>> out.shape, bool(((out >= 0) & (out < 5)).all())
            (torch.Size([10]), True)
        """
        if not isinstance(prompt, Tensor) or prompt.dtype != torch.long or prompt.dim() != 1:
            raise TypeError("prompt must be a 1-D int64 tensor of character indices")
        if len(prompt) == 0:
            raise ValueError("prompt must have at least one character, got none")
        _checks.positive_int("length", length)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
        if not 0.0 < temperature < float("inf"):
            raise ValueError(f"temperature must be a positive number, got {temperature}")
        was_training = self.training
        self.eval()
        try:
            logits, state = self(prompt.unsqueeze(0))
            last = logits[0, -1]  # (V,)
            out = torch.empty(length, dtype=torch.long)
            for i in range(length):
                scaled = last / temperature
                if not torch.isfinite(scaled).all():  # a tiny τ overflows: scale from the max
                    scaled = (last.double() - last.max()) / temperature
                probs = F.softmax(scaled, dim=-1)
                out[i] = torch.multinomial(probs, 1, generator=generator)[0]
                logits, state = self(out[i : i + 1].view(1, 1), state)
                last = logits[0, -1]
        finally:
            self.train(was_training)
        return out
