"""How many threads to use now: the CPUs this process may run on that are idle at the moment.

The 1-minute load average remembers a burst of work long after it ended (and counts CPUs the
process may not use), so :func:`recommended_threads` measures instead: it reads the per-CPU
counters of ``/proc/stat`` twice, ``window`` seconds apart (0.15 s by default), and adds up the
idle fraction of each CPU the process may run on (``os.sched_getaffinity``, further capped by a
cgroup CPU quota in ``/sys/fs/cgroup/cpu.max``). That sum, rounded, is the number of threads
(at least 1). Where ``/proc/stat`` cannot be read (not Linux), it is every allowed CPU.

Example:
    >>> snapshots = iter(["cpu0 10 0 0 100 0 0 0 0\\ncpu1 10 0 0 100 0 0 0 0\\n",
    ...                   "cpu0 20 0 0 100 0 0 0 0\\ncpu1 10 0 0 110 0 0 0 0\\n"])
    >>> recommended_threads(read_stat=lambda: next(snapshots), sleep=lambda s: None,
    ...                     cpus={0, 1})  # cpu0 busy, cpu1 idle: one thread
    1
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path


def _read_proc_stat() -> str:
    return Path("/proc/stat").read_text()


def _allowed_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: every CPU
        return set(range(os.cpu_count() or 1))


def _quota_cpus(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """The cgroup (v2) CPU quota in CPUs, or None if unlimited or unknown."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _counters(text: str) -> dict[int, tuple[int, int]]:
    """cpu index -> (idle ticks incl. iowait, total ticks) from /proc/stat's ``cpuN`` lines."""
    out = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            ticks = [int(v) for v in fields[:8]]  # guest time is already inside user/nice
            out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))
    return out


def idle_cpus(
    read_stat: Callable[[], str], sleep: Callable[[float], None], cpus: set[int], window: float
) -> float:
    """The sum of the idle fractions of ``cpus`` over ``window`` seconds."""
    before = _counters(read_stat())
    sleep(window)
    after = _counters(read_stat())
    free = 0.0
    for cpu in cpus:
        if cpu in before and cpu in after:
            idle = after[cpu][0] - before[cpu][0]
            total = after[cpu][1] - before[cpu][1]
            free += idle / total if total > 0 else 1.0  # no ticks counted: nothing ran there
    return free


def recommended_threads(
    *,
    window: float = 0.15,
    read_stat: Callable[[], str] = _read_proc_stat,
    sleep: Callable[[float], None] = time.sleep,
    cpus: set[int] | None = None,
) -> int:
    """The number of threads for compute now: the idle share of the CPUs this process may use,
    rounded (at least 1). Takes ``window`` seconds. See the module docstring."""
    cpus = _allowed_cpus() if cpus is None else set(cpus)
    limit = len(cpus)
    quota = _quota_cpus()
    if quota is not None:
        limit = max(1, min(limit, math.ceil(quota)))
    try:
        free = idle_cpus(read_stat, sleep, cpus, window)
    except (OSError, ValueError, IndexError):  # no /proc/stat: use every allowed CPU
        return max(1, limit)
    return max(1, min(limit, round(free)))
