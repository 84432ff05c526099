"""``RUN/metrics.jsonl``: one JSON object per logged step, appended as training goes.

A line is written in one ``write`` and flushed, so a killed writer leaves at most a torn last
line, which readers skip; a resumed run drops the records after its checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .._io import atomic_write_bytes

METRICS = "metrics.jsonl"


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics.jsonl file; a torn last line (a killed writer) is skipped.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> append_metrics(path, {"step": 1, "train_bits_per_char": 3.5})
        >>> with open(path, "a") as f:
        ...     _ = f.write('{"step": 2, "tra')
        >>> read_metrics(path)
        [{'step': 1, 'train_bits_per_char': 3.5}]
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def check_metrics(path: str | os.PathLike) -> None:
    """Raise CheckpointError unless every line of ``path`` but a torn last one (a killed
    writer) is a UTF-8 JSON object with an integer ``step``: what a resume checks before it
    changes the file."""
    from .checkpoint import CheckpointError

    path = Path(path)
    if not path.exists():
        return
    lines = path.read_bytes().split(b"\n")
    torn = len(lines) - 1  # the last piece: empty after a complete line, else torn
    for number, raw in enumerate(lines, 1):
        if number - 1 == torn or not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(
                f"metrics {path} line {number} must be a UTF-8 JSON object, got "
                f"{raw[:40]!r} ({type(err).__name__})"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise CheckpointError(
                f"metrics {path} line {number} must be a JSON object with an integer step, "
                f"got {raw[:40]!r}"
            )


def append_metrics(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line; non-finite floats are written as null (JSON has no NaN)."""
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(clean) + "\n")
        f.flush()


def truncate_metrics(path: str | os.PathLike, step: int) -> list[dict]:
    """Keep only the records up to ``step`` (what a resumed run continues from); return them."""
    kept = [r for r in read_metrics(path) if r["step"] <= step]
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in kept).encode())
    return kept
