"""The playground's tasks: each draws training batches and one fixed batch to look at.

A task gives inputs x (B, T, I), targets, the loss of a model's outputs (B, T, O) and labels for
the time axis. Every size is bounded (:data:`LIMITS`) so that a request cannot ask the server
for more than a laptop does in a moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import adding_problem, copy_one_hot, copy_task, mackey_glass
from ..data.synthetic import COPY_INPUT_CATEGORIES, COPY_LENGTH, COPY_OUTPUT_CATEGORIES
from ..data.text import Vocabulary

DEFAULT_TEXT = (
    "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log. "
)

#: name -> (low, high, default) of each integer task parameter.
LIMITS: dict[str, tuple[int, int, int]] = {
    "length": (2, 200, 40),
    "batch_size": (1, 64, 16),
}
MAX_TEXT = 2000

TASKS = ("sine", "mackey_glass", "adding", "copy", "text")
TASK_DOCS = {
    "sine": "predict the next value of a sine wave of random phase and frequency",
    "mackey_glass": "predict the next value of the Mackey-Glass series (tau = 17)",
    "adding": "sum the two marked values of a random sequence (Hochreiter & Schmidhuber 1997)",
    "copy": "recall 10 symbols after a delay (length = the delay)",
    "text": "predict the next character of a short text",
}


class TaskError(ValueError):
    """A task parameter out of range: the server answers 400 with this message."""


@dataclass
class Batch:
    x: Tensor  # (B, T, I)
    target: Tensor  # regression (B, T, O) or (B, 1); classes (B, T)


class Task:
    """One task with its parameters. Subclasses set ``input_size``, ``output_size`` and
    implement ``batch`` and ``loss``."""

    name = ""
    input_size = 1
    output_size = 1

    def __init__(self, length: int, batch_size: int, seed: int) -> None:
        self.length = length
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.view = self.batch(1, torch.Generator().manual_seed(seed + 1))

    def batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return F.mse_loss(outputs, batch.target)

    def train_batch(self) -> Batch:
        return self.batch(self.batch_size, self.generator)

    def input_labels(self, batch: Batch) -> list[str]:
        """A short label per time step of sample 0 (shown under the input heatmap)."""
        return [f"{v:.2f}" for v in batch.x[0, :, 0].tolist()]

    def describe(self, batch: Batch, outputs: Tensor) -> dict:
        """Sample 0's target and the model's prediction, as JSON-ready lists."""
        return {
            "target": batch.target[0, :, 0].tolist(),
            "prediction": outputs[0, :, 0].tolist(),
        }


class SeriesTask(Task):
    """Next-value prediction on windows of a series."""

    def series(self, generator: torch.Generator, batch_size: int) -> Tensor:
        raise NotImplementedError

    def batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        s = self.series(generator, batch_size)  # (B, T + 1)
        return Batch(s[:, :-1, None], s[:, 1:, None])


class Sine(SeriesTask):
    name = "sine"

    def series(self, generator, batch_size):
        t = torch.arange(self.length + 1, dtype=torch.float64)
        phase = torch.rand(batch_size, 1, generator=generator, dtype=torch.float64) * 2 * math.pi
        freq = 0.1 + 0.2 * torch.rand(batch_size, 1, generator=generator, dtype=torch.float64)
        return torch.sin(freq * t + phase).float()


class MackeyGlass(SeriesTask):
    name = "mackey_glass"

    def __init__(self, length, batch_size, seed):
        mg = mackey_glass(2000, transient=200)
        self.data = torch.from_numpy((mg - mg.mean()) / mg.std()).float()
        super().__init__(length, batch_size, seed)

    def series(self, generator, batch_size):
        starts = torch.randint(
            0, len(self.data) - self.length - 1, (batch_size,), generator=generator
        )
        idx = starts[:, None] + torch.arange(self.length + 1)
        return self.data[idx]


class Adding(Task):
    name = "adding"
    input_size = 2

    def batch(self, batch_size, generator):
        x, y = adding_problem(batch_size, self.length, generator=generator)
        return Batch(x, y)

    def loss(self, outputs, batch):
        return F.mse_loss(outputs[:, -1], batch.target)

    def input_labels(self, batch):
        return [("*" if m else "") + f"{v:.2f}" for v, m in batch.x[0].tolist()]

    def describe(self, batch, outputs):
        return {"target": batch.target[0].tolist(), "prediction": outputs[0, -1].tolist()}


class Copy(Task):
    name = "copy"
    input_size = COPY_INPUT_CATEGORIES
    output_size = COPY_OUTPUT_CATEGORIES

    def batch(self, batch_size, generator):
        inputs, targets = copy_task(batch_size, self.length, generator=generator)
        return Batch(copy_one_hot(inputs), targets)

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.reshape(-1, self.output_size), batch.target.reshape(-1))

    def input_labels(self, batch):
        names = {0: "·", 9: ":"}
        return [names.get(c, str(c)) for c in batch.x[0].argmax(-1).tolist()]

    def describe(self, batch, outputs):
        return {
            "target": batch.target[0].tolist(),
            "prediction": outputs[0].argmax(-1).tolist(),
            "copy_length": COPY_LENGTH,
        }


class Text(Task):
    name = "text"

    def __init__(self, length, batch_size, seed, text):
        if not isinstance(text, str) or not 2 <= len(text) <= MAX_TEXT:
            got = len(text) if isinstance(text, str) else type(text).__name__
            raise TaskError(f"text must be a string of 2 to {MAX_TEXT} characters, got {got}")
        if len(text) < length + 1:
            text = text * (1 + (length + 1) // len(text))  # short texts wrap around
        self.text = text
        self.vocab = Vocabulary.from_text(text)
        self.ids = self.vocab.encode(text)
        self.input_size = self.output_size = len(self.vocab)
        super().__init__(length, batch_size, seed)

    def batch(self, batch_size, generator):
        starts = torch.randint(0, len(self.ids) - self.length, (batch_size,), generator=generator)
        idx = starts[:, None] + torch.arange(self.length + 1)
        chunk = self.ids[idx]
        x = F.one_hot(chunk[:, :-1], len(self.vocab)).float()
        return Batch(x, chunk[:, 1:])

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.reshape(-1, self.output_size), batch.target.reshape(-1))

    def input_labels(self, batch):
        return list(self.vocab.decode(batch.x[0].argmax(-1)))

    def describe(self, batch, outputs):
        return {
            "target": self.vocab.decode(batch.target[0]),
            "prediction": self.vocab.decode(outputs[0].argmax(-1)),
        }


def _int(params: dict, name: str) -> int:
    low, high, default = LIMITS[name]
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TaskError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value


def make_task(name: object, params: object, seed: int) -> Task:
    """The task ``name`` with ``params`` (length, batch_size, text) checked against LIMITS."""
    if not isinstance(name, str) or name not in TASKS:
        raise TaskError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    if not isinstance(params, dict):
        raise TaskError(f"task_params must be an object, got {type(params).__name__}")
    length, batch_size = _int(params, "length"), _int(params, "batch_size")
    if name == "text":
        return Text(length, batch_size, seed, params.get("text", DEFAULT_TEXT))
    cls = {"sine": Sine, "mackey_glass": MackeyGlass, "adding": Adding, "copy": Copy}[name]
    return cls(length, batch_size, seed)


def task_catalogue() -> list[dict]:
    """What the front end shows: every task with its doc and the bounds of its parameters."""
    return [
        {
            "name": name,
            "doc": TASK_DOCS[name],
            "limits": {k: list(v) for k, v in LIMITS.items()},
            "default_text": DEFAULT_TEXT if name == "text" else None,
        }
        for name in TASKS
    ]


__all__ = ["LIMITS", "TASKS", "Task", "TaskError", "make_task", "task_catalogue"]
