"""What CPU this is: its model name and the instruction set the kernels are built for.

The kernels come in three builds, one per instruction-set level of x86-64 (``avx512``: AVX-512
F/BW/DQ/VL, ``avx2``: AVX2 + FMA, ``portable``: no SIMD assumption beyond the baseline), each
compiled for the level (``-march=x86-64-v4`` / ``-v3``) rather than for the exact machine, so a
build found in a shared cache directory runs on every CPU of its level. ``RNNKIT_EXTRA_CFLAGS``
can lower the level: ``-mno-avx512f`` gives the avx2 build on an AVX-512 machine.

Example:
    >>> isa_of({"avx512f", "avx2", "fma"}, "-mno-avx512f")
    'avx2'
    >>> isa_of({"avx2"}, "")  # AVX2 without FMA: the portable build
    'portable'
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from functools import cache
from pathlib import Path

ISAS = ("avx512", "avx2", "portable")
# -march per level: the x86-64 micro-architecture levels (gcc >= 11, clang >= 12).
MARCH = {"avx512": "-march=x86-64-v4", "avx2": "-march=x86-64-v3", "portable": None}
_AVX512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}
_AVX2 = {"avx2", "fma"}


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags known, so the portable build
        return ""


def cpu_flags(read: Callable[[], str] = _read_cpuinfo) -> set[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo (empty if unknown)."""
    for line in read().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def isa_of(flags: set[str], extra_cflags: str) -> str:
    """The build level for CPU ``flags`` once the ``-mno-...`` options of ``extra_cflags`` have
    removed features (``-mno-avx512f`` -> at most avx2; ``-mno-avx2``/``-mno-fma`` -> portable)."""
    removed = {opt[len("-mno-") :] for opt in extra_cflags.split() if opt.startswith("-mno-")}
    flags = set(flags) - removed
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "portable"
    if "avx512f" not in removed and _AVX512 <= flags and _AVX2 <= flags:
        return "avx512"
    if _AVX2 <= flags:
        return "avx2"
    return "portable"


def extra_cflags() -> str:
    """``$RNNKIT_EXTRA_CFLAGS``: compiler options appended to the kernels' build."""
    return os.environ.get("RNNKIT_EXTRA_CFLAGS", "")


def build_isa() -> str:
    """The level the kernels are (or will be) built for on this machine, with this environment."""
    return _isa_with(extra_cflags())


@cache
def _isa_with(extra: str) -> str:
    return isa_of(_flags(), extra)


def machine_isa() -> str:
    """The highest level this CPU supports (whatever ``RNNKIT_EXTRA_CFLAGS`` says)."""
    return isa_of(_flags(), "")


@cache
def _flags() -> set[str]:
    return cpu_flags()


@cache
def model_name() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), with family/model numbers when known."""
    fields: dict[str, str] = {}
    for line in _read_cpuinfo().splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
        if not line.strip() and fields:
            break  # the first processor is enough
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def describe() -> str:
    """One line for benchmark headers: the CPU model, its ISA level and the build's."""
    machine, build = machine_isa(), build_isa()
    return f"CPU: {model_name()}, ISA {machine}; kernels built for {build}, {os.cpu_count()} CPUs"
