"""Building and loading the C++ extension: once per CPU level, cached, never silent, optional.

The sources (every ``kernels/csrc/*.cpp``, or ``kernels/_fused.cpp`` where there is no ``csrc``)
are compiled with ``torch.utils.cpp_extension`` on first use into a directory named by a key:
the instruction-set level (:mod:`._cpu`), and a hash of the sources, the compiler options
(``$RNNKIT_EXTRA_CFLAGS`` included), torch's version and Python's ABI. The directory lives in
torch's extensions directory (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``). So:

* a build made on an AVX-512 machine is never loaded on an AVX2 one (another key), and each
  level's build runs on every CPU of that level (``-march=x86-64-v4``/``-v3``, not ``native``);
* a later process whose key finds ``<key>/<key>.so`` imports it directly, without asking ninja.
  (torch's own loader re-runs ninja every time, and a ninja of another version on PATH, such as
  the system's 1.11 against the venv's 1.13, cannot read the ``.ninja_log`` of the first and
  rebuilds everything: "build log version is too old; starting over".)
* while compiling, one line on stderr says so; two processes starting at once take turns on a
  file lock, and the second loads what the first built.

If the extension cannot be built (no compiler, no ninja), one warning says so and rnnkit keeps
using the reference loop (and torch's own operations where :mod:`._dispatch` routes there).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import sysconfig
import warnings
from pathlib import Path
from types import ModuleType

from . import _cpu

_fcntl: ModuleType | None
try:
    import fcntl as _fcntl
except ImportError:  # not POSIX: no lock (concurrent first builds are then the user's risk)
    _fcntl = None

_HERE = Path(__file__).parent
_PREFIX = "rnnkit_fused"

_module: ModuleType | None = None
_error: str | None = None
_key: str | None = None


def sources(here: Path = _HERE) -> list[Path]:
    """The C++ files of the extension: ``csrc/*.cpp`` if that directory exists, else
    ``_fused.cpp``."""
    csrc = here / "csrc"
    return sorted(csrc.glob("*.cpp")) if csrc.is_dir() else [here / "_fused.cpp"]


def cflags(isa: str, extra: str, *, openmp: bool) -> list[str]:
    """The compiler options of the build for level ``isa``: the level's ``-march``, tuning for
    this CPU (correct on any CPU of the level), then ``extra`` (``$RNNKIT_EXTRA_CFLAGS``)."""
    flags = ["-O3", "-fno-math-errno", "-fno-trapping-math"]
    march = _cpu.MARCH[isa]
    flags += [march, "-mtune=native"] if march else []
    return flags + extra.split() + (["-fopenmp"] if openmp else [])


def build_key(isa: str, files: list[Path], flags: list[str], torch_version: str) -> str:
    """The name of a build: ``rnnkit_fused_<isa>_<hash>`` with the hash of the sources (and the
    headers beside them), the options, torch's version and the Python ABI. Nothing of PATH or of
    the tools found on it enters the key."""
    digest = hashlib.sha256()
    headers = sorted({h for f in files for h in f.parent.glob("*.h")})
    for path in [*files, *headers]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    abi = sysconfig.get_config_var("EXT_SUFFIX") or sys.implementation.cache_tag
    digest.update("\0".join([*flags, torch_version, str(abi)]).encode())
    return f"{_PREFIX}_{isa}_{digest.hexdigest()[:16]}"


def extensions_root() -> Path:
    """Where builds are cached: ``$TORCH_EXTENSIONS_DIR``, else torch's default."""
    from torch.utils import cpp_extension

    root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()
    return Path(root)


def building_message(isa: str) -> str:
    """The one line printed while compiling."""
    return f"rnnkit: building the fused kernels for {isa}, once (~45 s)..."


def load() -> ModuleType | None:
    """The compiled extension, or None (with one warning per process) if it cannot be built."""
    global _module, _error
    if _module is not None or _error is not None:
        return _module
    try:
        try:
            _module = _load_or_build(openmp=True)
        except Exception:  # a compiler without OpenMP: the same kernels, one thread each
            _module = _load_or_build(openmp=False)
    except Exception as err:  # any build failure means: use the reference loop
        _error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err) else ''}"
        warnings.warn(
            "rnnkit: the fused kernels could not be built, so recurrent layers use the "
            f"(slower) reference loop. Cause: {_error}",
            RuntimeWarning,
            stacklevel=3,
        )
    return _module


def loaded_key() -> str | None:
    """The key (:func:`build_key`) of the loaded extension, or None."""
    return _key if _module is not None else None


def _load_or_build(*, openmp: bool) -> ModuleType:
    global _key
    import torch  # the extension links against torch's libraries: load them first

    isa = _cpu.build_isa()
    flags = cflags(isa, _cpu.extra_cflags(), openmp=openmp)
    files = sources()
    key = build_key(isa, files, flags, torch.__version__)
    module = _cached_or_built(key, isa, files, flags, openmp=openmp)
    _key = key
    return module


def _cached_or_built(key: str, isa: str, files: list[Path], flags: list[str], *, openmp: bool):
    directory = extensions_root() / key
    library = directory / f"{key}.so"
    if library.exists():
        return _import(key, library)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory.with_suffix(".lock")):
        if library.exists():  # another process built it while this one waited
            return _import(key, library)
        print(building_message(isa), file=sys.stderr, flush=True)
        from torch.utils import cpp_extension

        return cpp_extension.load(
            name=key,
            sources=[str(f) for f in files],
            extra_cflags=flags,
            extra_ldflags=["-fopenmp"] if openmp else [],
            build_directory=str(directory),
            verbose=os.environ.get("RNNKIT_VERBOSE_BUILD") == "1",
        )


def _import(name: str, library: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the extension {library}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (released by the OS if the process dies)."""
    fcntl = _fcntl
    if fcntl is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def error() -> str | None:
    """Why the extension is unavailable, or None if it loaded (or was not tried yet)."""
    return _error
