"""Checkpoints without pickle: tensors in safetensors, everything else in JSON, atomic writes.

A run directory looks like this::

    RUN/config.json                    model and training config, vocabulary, corpus digest
    RUN/model.safetensors              the latest weights (what ``generate``/``evaluate`` load)
    RUN/metrics.jsonl                  one JSON object per logged step (:mod:`.metrics`)
    RUN/loss.png                       train and held-out curves
    RUN/checkpoint.json                {"step": S, "path": "checkpoints/step-0000000S"}
    RUN/checkpoints/step-0000000S/     config.json, model.safetensors, trainer.safetensors,
                                       trainer.json

Every file is written to a temporary name and renamed over the old one (``os.replace``), so a
reader never sees half a file. A checkpoint directory is written in full under a temporary
name and renamed into place; only then does ``checkpoint.json`` point at it and the older one
is removed. A training process killed at any moment therefore leaves the previous complete
checkpoint, or the new one, never a mix.

Nothing is unpickled: the optimizer's moment tensors, the RNG state and the carried recurrent
state are safetensors entries; the optimizer's hyperparameters and step scalars are JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from .._io import _umask, atomic_write_bytes, atomic_write_json
from .._state import State, leaves

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
POINTER = "checkpoint.json"
FORMAT = "rnnkit.charlm/1"


class CheckpointError(ValueError):
    """A run directory or checkpoint that cannot be used: missing, corrupted or mismatched."""


def read_json(path: Path, what: str) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{what} {path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{what} {path} is not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} {path} must hold a JSON object, got {type(obj).__name__}")
    return obj


def _read_tensors(path: Path, what: str) -> dict[str, Tensor]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{what} {path} is missing") from None
    try:
        return st_load(data)
    except Exception as err:  # safetensors raises its own error types for corrupted files
        raise CheckpointError(f"{what} {path} is corrupted ({err})") from None


def weights_dict(module: nn.Module) -> dict[str, Tensor]:
    """The module's state dict with tied (shared) tensors kept once, under their first name."""
    seen: set[int] = set()
    out = {}
    for name, tensor in module.state_dict().items():
        if tensor.numel() and tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        out[name] = tensor.detach().contiguous()
    return out


def save_weights(module: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save the module's weights as safetensors (atomically), tied tensors once.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
        >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
        >>> save_weights(a, path, {"step": 7})
        >>> load_weights(b, path)
        >>> bool(torch.equal(a.weight, b.weight))
        True
        >>> load_weights(nn.Linear(4, 2), path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnkit.train.checkpoint.CheckpointError: weights ... must be (2, 4) torch.float32, ...
    """
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    atomic_write_bytes(path, st_save(weights_dict(module), metadata=meta))


def load_weights(module: nn.Module, path: str | os.PathLike) -> None:
    """Load safetensors weights into ``module``; any missing, extra or misshapen tensor raises.

    Raises:
        CheckpointError: the file is missing or corrupted, or does not fit the module.
    """
    path = Path(path)
    tensors = _read_tensors(path, "weights")
    expected = weights_dict(module)
    missing = sorted(expected.keys() - tensors.keys())
    extra = sorted(tensors.keys() - expected.keys())
    if missing or extra:
        raise CheckpointError(
            f"weights {path} do not match the model of config.json: "
            f"missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise CheckpointError(
                f"weights {path} do not match the model of config.json: {name} must be "
                f"{tuple(want.shape)} {want.dtype}, got {tuple(got.shape)} {got.dtype}"
            )
    with torch.no_grad():
        own = module.state_dict()
        for name, value in tensors.items():
            own[name].copy_(value)


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()}
        for g in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], info: dict
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, entry in info.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in info["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _fill(structure: State, values: Iterator[Tensor]) -> State:
    """A state shaped like ``structure`` whose leaves are taken, in order, from ``values``."""
    if isinstance(structure, Tensor):
        return next(values)
    items = [_fill(part, values) for part in structure]
    return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)


def save_checkpoint(
    run_dir: str | os.PathLike,
    *,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    carry: State | None,
    info: dict,
) -> Path:
    """Write a complete checkpoint of step ``step`` and point ``checkpoint.json`` at it.

    ``carry`` is the recurrent state carried into the next chunk (None at an epoch start);
    ``info`` holds JSON scalars of the trainer (elapsed time, ...). The weights are also copied
    to ``RUN/model.safetensors``. Returns the checkpoint folder.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints"
    folder.mkdir(exist_ok=True)
    name = f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=folder))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        save_weights(model, tmp / WEIGHTS, {"step": step})
        tensors, opt_info = _optimizer_parts(optimizer)
        tensors["rng.torch"] = torch.get_rng_state()
        carry_leaves = [] if carry is None else leaves(carry)
        for k, leaf in enumerate(carry_leaves):
            tensors[f"carry.{k}"] = leaf.detach().contiguous()
        atomic_write_bytes(tmp / "trainer.safetensors", st_save(tensors))
        trainer = {"step": step, "optimizer": opt_info, "carry": carry is not None, **info}
        atomic_write_json(tmp / "trainer.json", trainer)
        if (run_dir / CONFIG).exists():  # a checkpoint folder is complete on its own
            shutil.copyfile(run_dir / CONFIG, tmp / CONFIG)
        final = folder / name
        if final.exists():  # a checkpoint of this step left by a killed run: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_json(run_dir / POINTER, {"step": step, "path": f"checkpoints/{name}"})
    save_weights(model, run_dir / WEIGHTS, {"step": step})
    for old in folder.iterdir():  # older checkpoints and temporaries of a killed writer
        old_step = _step_of(old)
        stale = old.name.endswith(".tmp") if old_step is None else old_step < step
        if old != final and stale:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _step_of(folder: Path) -> int | None:
    name = folder.name
    if name.startswith("step-") and name[5:].isdigit():
        return int(name[5:])
    return None


def find_checkpoint(run_dir: str | os.PathLike) -> tuple[int, Path] | None:
    """``(step, folder)`` of the checkpoint to resume from, or None if the run has none.

    The pointer ``checkpoint.json`` names it; when the pointer is missing or broken, the
    newest complete ``checkpoints/step-*`` folder on disk is used instead, so a lost pointer
    never restarts a run over its checkpoints.
    """
    run_dir = Path(run_dir)
    try:
        pointer = read_json(run_dir / POINTER, "checkpoint pointer")
        step, rel = pointer.get("step"), pointer.get("path")
        if isinstance(step, int) and isinstance(rel, str) and not Path(rel).is_absolute():
            folder = run_dir / rel
            if folder.parent == run_dir / "checkpoints" and _complete(folder):
                return step, folder
    except CheckpointError:
        pass
    found = []
    if (run_dir / "checkpoints").is_dir():
        for folder in (run_dir / "checkpoints").iterdir():
            step = _step_of(folder)
            if step is not None and _complete(folder):
                found.append((step, folder))
    return max(found) if found else None


def _complete(folder: Path) -> bool:
    return all(
        (folder / name).is_file() for name in (WEIGHTS, "trainer.safetensors", "trainer.json")
    )


def _check_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], info: dict):
    """Every saved moment tensor has its parameter's shape and every number is a number."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    groups = info["optimizer"]["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(optimizer.param_groups):
        raise ValueError(f"{len(optimizer.param_groups)} parameter groups expected")
    for group in groups:
        for key, value in group.items():
            if key in ("lr", "weight_decay", "eps") and not _finite(value):
                raise ValueError(f"optimizer {key} must be a finite number, got {value!r}")
    for name, value in tensors.items():
        if not name.startswith("optimizer."):
            continue
        _, index, key = name.split(".", 2)
        if not index.isdigit() or int(index) >= len(params):
            raise ValueError(f"{name} names no parameter")
        want = () if key == "step" else tuple(params[int(index)].shape)
        if tuple(value.shape) != want:
            raise ValueError(f"{name} must have shape {want}, got {tuple(value.shape)}")
    for index, entry in info["optimizer"].get("scalars", {}).items():
        for key, value in entry.items():
            if not _finite(value):
                raise ValueError(f"optimizer scalar {index}.{key} must be a number, got {value!r}")
    elapsed = info.get("elapsed_seconds", 0.0)
    if not _finite(elapsed) or elapsed < 0:
        raise ValueError(f"elapsed_seconds must be a finite number >= 0, got {elapsed!r}")


def _finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_checkpoint(
    run_dir: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    carry_like: State,
) -> tuple[int, State | None, dict]:
    """Restore the last checkpoint of ``run_dir`` into ``model`` and ``optimizer``.

    Also restores torch's global RNG. ``carry_like`` is a state of the right structure (the
    model's zero state) for the carried state. Returns ``(step, carry, info)``.

    Raises:
        CheckpointError: no checkpoint, or a corrupted or mismatched one.
    """
    run_dir = Path(run_dir)
    found = find_checkpoint(run_dir)
    if found is None:
        raise CheckpointError(f"run {run_dir} has no complete checkpoint to resume from")
    step, folder = found
    info = read_json(folder / "trainer.json", "trainer state")
    if info.get("step") != step:
        raise CheckpointError(
            f"trainer state {folder / 'trainer.json'} is for step {info.get('step')!r}, "
            f"the pointer says {step}"
        )
    tensors = _read_tensors(folder / "trainer.safetensors", "trainer state")
    try:  # everything is checked before the model, the optimizer or the RNG change
        _check_optimizer(optimizer, tensors, info)
        rng = tensors["rng.torch"]
        if rng.dtype != torch.uint8 or rng.shape != torch.get_rng_state().shape:
            raise ValueError(f"rng.torch must be {tuple(torch.get_rng_state().shape)} uint8")
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"trainer state in {folder} does not match this run ({err})"
        ) from None
    load_weights(model, folder / WEIGHTS)
    try:
        _restore_optimizer(optimizer, tensors, info["optimizer"])
        torch.set_rng_state(tensors["rng.torch"])
        carry = None
        if info["carry"]:
            values = [tensors[f"carry.{k}"] for k in range(len(leaves(carry_like)))]
            for v, like in zip(values, leaves(carry_like)):
                if v.shape != like.shape:
                    raise ValueError(f"carried state {tuple(v.shape)} != {tuple(like.shape)}")
            carry = _fill(carry_like, iter(values))
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(
            f"trainer state in {folder} does not match this run ({err})"
        ) from None
    return step, carry, info
