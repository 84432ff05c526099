"""Building and loading the C++ extension: once per machine, cached, optional.

The extension is compiled with ``torch.utils.cpp_extension.load`` on first use (about a minute
on 2 cores) into torch's extensions directory (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``), where later processes find it. If it cannot be built (no
compiler, no ninja), one warning says so and rnnkit keeps using the reference loop.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from types import ModuleType

_SOURCES = sorted(str(p) for p in (Path(__file__).parent / "csrc").glob("*.cpp"))
_NAME = "rnnkit_fused"
_log = logging.getLogger("rnnkit.kernels")

_module: ModuleType | None = None
_error: str | None = None


def load() -> ModuleType | None:
    """The compiled extension, or None (with one warning per process) if it cannot be built."""
    global _module, _error
    if _module is not None or _error is not None:
        return _module
    try:
        from torch.utils import cpp_extension

        _log.info("rnnkit: building the fused kernels (once per machine, about a minute)")
        try:
            _module = _build(cpp_extension, openmp=True)
        except Exception:  # a compiler without OpenMP: the same kernels, one thread each
            _module = _build(cpp_extension, openmp=False)
    except Exception as err:  # any build failure means: use the reference loop
        _error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err) else ''}"
        warnings.warn(
            "rnnkit: the fused kernels could not be built, so recurrent layers use the "
            f"(slower) reference loop. Cause: {_error}",
            RuntimeWarning,
            stacklevel=3,
        )
    return _module


def _build(cpp_extension, *, openmp: bool) -> ModuleType:
    flags = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math"]
    # e.g. RNNKIT_EXTRA_CFLAGS=-mno-avx512f (with its own TORCH_EXTENSIONS_DIR) builds the AVX2
    # variant on an AVX-512 machine, to test it
    flags += os.environ.get("RNNKIT_EXTRA_CFLAGS", "").split()
    return cpp_extension.load(
        name=_NAME if openmp else _NAME + "_serial",
        sources=_SOURCES,
        extra_cflags=flags + (["-fopenmp"] if openmp else []),
        extra_ldflags=["-fopenmp"] if openmp else [],
        verbose=os.environ.get("RNNKIT_VERBOSE_BUILD") == "1",
    )


def error() -> str | None:
    """Why the extension is unavailable, or None if it loaded (or was not tried yet)."""
    return _error
