"""One playground model: a recurrent layer and a readout, trained live in a background thread.

The thread trains while ``running`` is set and takes ``lock`` for each step, so the HTTP
handlers (which take the same lock) always see a model between two optimiser steps.
"""

from __future__ import annotations

import math
import threading
import time

import torch
from torch import nn

from ..cells import CELLS, get_spec
from ..inspect import gradient_flow, trace
from ..layers import Readout
from ..recurrent import Recurrent
from .equations import cell_equations
from .tasks import Task, TaskError, make_task

MAX_HIDDEN = 64
MAX_STEPS_PER_REQUEST = 500
MAX_LOSSES = 5000  # loss points kept; older ones are thinned out by half
LR_RANGE = (1e-5, 1.0)


def check_cell(kind: object, options: object, hidden: object) -> tuple[str, dict, int]:
    """Validate a cell choice against the registry: (kind, options, hidden size)."""
    if not isinstance(kind, str) or kind not in CELLS:
        raise TaskError(f"cell must be one of {', '.join(CELLS)}, got {kind!r}")
    spec = get_spec(kind)
    if not isinstance(options, dict):
        raise TaskError(f"options must be an object, got {type(options).__name__}")
    clean = {}
    for name, value in options.items():
        try:
            opt = spec.option(name)
        except KeyError:
            raise TaskError(
                f"options of a {kind} cell must be among {', '.join(spec.option_names)}, "
                f"got {name!r}"
            ) from None
        if opt.value_type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if name == "output_size" and value is None:
            continue
        ok = isinstance(value, opt.value_type) and not (
            opt.value_type is not bool and isinstance(value, bool)
        )
        if ok and opt.choices is not None:
            ok = value in opt.choices
        if ok and opt.value_type is float:
            ok = math.isfinite(value) and abs(value) <= 10
        if ok and name == "output_size":
            ok = 1 <= value <= MAX_HIDDEN
        if not ok:
            allowed = (
                ", ".join(map(str, opt.choices))
                if opt.choices
                else f"a {opt.value_type.__name__}"
                + (" in [1, 64]" if opt.value_type is int else "")
            )
            raise TaskError(f"option {name} must be {allowed}, got {value!r}")
        clean[name] = value
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= MAX_HIDDEN:
        raise TaskError(f"hidden_size must be an int in [1, {MAX_HIDDEN}], got {hidden!r}")
    return kind, clean, hidden


def check_lr(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TaskError(f"lr must be a number in [{LR_RANGE[0]}, {LR_RANGE[1]}], got {lr!r}")
    if not LR_RANGE[0] <= lr <= LR_RANGE[1]:
        raise TaskError(f"lr must be a number in [{LR_RANGE[0]}, {LR_RANGE[1]}], got {lr!r}")
    return float(lr)


class Session:
    """A cell of the registry unrolled by :class:`~rnnkit.Recurrent`, a linear readout, a task
    and an Adam optimiser; ``train_steps`` and the background thread train it.

    The arguments are the fields of a ``POST /api/model`` body, JSON values checked here."""

    def __init__(
        self,
        cell: object,
        options: object,
        hidden_size: object,
        task: object,
        task_params: object,
        lr: object,
        seed: object = 0,
    ) -> None:
        self.kind, self.options, self.hidden_size = check_cell(cell, options, hidden_size)
        self.lr = check_lr(lr)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise TaskError(f"seed must be an int in [0, 2^31), got {seed!r}")
        self.task: Task = make_task(task, task_params, seed)
        torch.manual_seed(seed)
        cell_module = get_spec(self.kind).make(
            self.task.input_size, self.hidden_size, **self.options
        )
        self.layer = Recurrent(cell_module)
        self.head = Readout(cell_module.output_size, self.task.output_size)
        self.model = nn.ModuleList([self.layer, self.head])
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.step = 0
        self.losses: list[tuple[int, float]] = []
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.error: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys, _ = self.layer(x)
        return self.head(ys)

    def set_lr(self, lr: object) -> None:
        self.lr = check_lr(lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def train_step(self) -> float:
        """One optimiser step on a fresh batch (caller holds the lock)."""
        batch = self.task.train_batch()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.task.loss(self.forward(batch.x), batch)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.step += 1
        value = float(loss.detach())
        self.losses.append((self.step, value))
        if len(self.losses) > MAX_LOSSES:
            self.losses = self.losses[::2]
        if not math.isfinite(value):
            self.running.clear()
            self.error = f"the loss became {value} at step {self.step}: lower the learning rate"
        return value

    def train_steps(self, n: int) -> None:
        with self.lock:
            for _ in range(n):
                self.train_step()
                if self.error:
                    break

    def status(self, since: int = 0) -> dict:
        with self.lock:
            return {
                "step": self.step,
                "running": self.running.is_set(),
                "lr": self.lr,
                "error": self.error,
                "losses": [p for p in self.losses if p[0] > since],
            }

    def summary(self) -> dict:
        return {
            "cell": self.kind,
            "options": self.options,
            "hidden_size": self.hidden_size,
            "task": self.task.name,
            "input_size": self.task.input_size,
            "output_size": self.task.output_size,
            "state_names": self._state_names(),
            "equations": cell_equations(self.kind, self.options),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def _state_names(self) -> list[str]:
        return {"lstm": ["h", "c"], "gru": ["h"], "elman": ["h"], "jordan": ["y"]}[self.kind]

    def trace(self) -> dict:
        """Gates and states of the task's fixed sample, each (H, T) as nested lists."""
        batch = self.task.view
        with self.lock, torch.no_grad():
            tr = trace(self.layer, batch.x).layers[0]
            outputs = self.forward(batch.x)
            loss = float(self.task.loss(outputs, batch))
        rows = lambda d: {k: v[0].T.tolist() for k, v in d.items()}  # noqa: E731
        return {
            "step": self.step,
            "T": batch.x.shape[1],
            "input": batch.x[0].T.tolist(),
            "labels": self.task.input_labels(batch),
            "gates": rows(tr.gates),
            "states": rows(tr.states),
            "loss": loss,
            **self.task.describe(batch, outputs),
        }

    def gradient_flow(self) -> dict:
        """‖∂L/∂h_t‖ on the fixed sample for every step t (Jordan: its hidden layer h)."""
        batch = self.task.view
        with self.lock:
            norms = gradient_flow(
                self.layer, batch.x, lambda ys: self.task.loss(self.head(ys), batch)
            )
            self.model.zero_grad(set_to_none=True)  # these gradients are for looking, not for Adam
        return {"step": self.step, "norms": norms.tolist()}


class Trainer:
    """The background thread that trains the current session while it is running."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(
            target=self._loop, name="rnnkit-playground-trainer", daemon=True
        )
        self._thread.start()

    def replace(self, session: Session) -> None:
        with self._wake:
            self.session.running.clear()
            self.session = session

    def start(self) -> None:
        with self._wake:
            self.session.error = None
            self.session.running.set()
            self._wake.notify_all()

    def _next(self) -> Session | None:
        """The session once it is running, or None once the trainer is closed."""
        with self._wake:
            while not self._stop:
                if self.session.running.is_set():
                    return self.session
                self._wake.wait()
            return None

    def _loop(self) -> None:
        while (session := self._next()) is not None:
            with session.lock:
                if session.running.is_set():
                    session.train_step()
            # Lock handover is not fair: a short pause lets waiting HTTP handlers in.
            time.sleep(0.002)

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self.session.running.clear()
            self._wake.notify_all()
        self._thread.join(timeout=10)
