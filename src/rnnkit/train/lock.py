"""One writer per run directory: an exclusive ``fcntl.flock`` on ``RUN/.lock``.

The lock belongs to the open file, so the kernel releases it when the process ends in any way
(``kill -9`` included): a lock file left behind never blocks the next writer. The file holds
the writer's pid, which a refused second writer names.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from .checkpoint import CheckpointError

LOCK = ".lock"


def lock_run_dir(run_dir: str | os.PathLike) -> IO[str]:
    """Take the exclusive lock of ``run_dir`` (created if needed) for this process.

    Keep the returned file open while writing; closing it (or exiting) releases the lock.

    Raises:
        CheckpointError: another live process holds the lock; the message names its pid.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> held = lock_run_dir(folder)
        >>> import subprocess, sys
        >>> code = f"from rnnkit.train.lock import lock_run_dir; lock_run_dir({folder!r})"
        >>> "is being written by process" in subprocess.run(
        ...     [sys.executable, "-c", code], capture_output=True, text=True).stderr
        True
        >>> held.close()
    """
    path = Path(run_dir) / LOCK
    handle = open(path, "a+", encoding="utf-8")  # held open: the lock lives with it
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise CheckpointError(
            f"run directory {run_dir} is being written by process {holder}; wait for it to "
            "end or choose another directory"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


__all__ = ["LOCK", "lock_run_dir"]
