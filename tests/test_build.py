"""The build of the C++ extension: its key (ISA, sources, options; not PATH), the line it prints,
the lock between processes, the fallback without a compiler, and a second process that loads
the cached build without asking ninja."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch

from rnnkit.kernels import _cpu, _ext


def _sources(tmp_path: Path, text: str = "int f() { return 1; }") -> list[Path]:
    (tmp_path / "csrc").mkdir(exist_ok=True)
    (tmp_path / "csrc" / "a.cpp").write_text(text)
    (tmp_path / "csrc" / "common.h").write_text("#pragma once\n")
    return _ext.sources(tmp_path)


def test_sources_are_csrc_when_it_exists_else_the_single_file(tmp_path):
    assert _ext.sources(tmp_path) == [tmp_path / "_fused.cpp"]
    assert _ext.sources(_sources(tmp_path)[0].parent.parent) == [tmp_path / "csrc" / "a.cpp"]


def test_the_key_changes_with_isa_options_sources_and_torch(tmp_path):
    files = _sources(tmp_path)
    flags = _ext.cflags("avx2", "", openmp=True)
    key = _ext.build_key("avx2", files, flags, "2.13.0")
    assert key.startswith("rnnkit_fused_avx2_")
    assert _ext.build_key("avx512", files, _ext.cflags("avx512", "", openmp=True), "2.13.0") != key
    assert _ext.build_key("avx2", files, [*flags, "-funroll-loops"], "2.13.0") != key
    assert _ext.build_key("avx2", files, flags, "2.14.0") != key
    (tmp_path / "csrc" / "common.h").write_text("#pragma once\n// a header changed\n")
    assert _ext.build_key("avx2", files, flags, "2.13.0") != key
    (tmp_path / "csrc" / "common.h").write_text("#pragma once\n")
    assert _ext.build_key("avx2", files, flags, "2.13.0") == key  # content, not mtimes


def test_the_key_ignores_path_and_the_venv(monkeypatch):
    before = _key_now()
    monkeypatch.setenv("PATH", "/nonexistent/venv/bin:" + os.environ.get("PATH", ""))
    monkeypatch.setenv("VIRTUAL_ENV", "/nonexistent/venv")
    assert _key_now() == before


def _key_now() -> str:
    isa = _cpu.build_isa()
    flags = _ext.cflags(isa, _cpu.extra_cflags(), openmp=True)
    return _ext.build_key(isa, _ext.sources(), flags, torch.__version__)


def test_extra_cflags_choose_the_isa_and_enter_the_key(monkeypatch):
    flags = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"}
    assert _cpu.isa_of(flags, "") == "avx512"
    assert _cpu.isa_of(flags, "-mno-avx512f") == "avx2"
    assert _cpu.isa_of(flags, "-O2 -mno-fma") == "portable"
    assert _cpu.isa_of({"avx2", "fma", "sse4_2"}, "") == "avx2"
    assert _cpu.isa_of(set(), "") == "portable"
    assert "-march=x86-64-v3" in _ext.cflags("avx2", "", openmp=False)
    assert _ext.cflags("avx2", "-mno-avx512f", openmp=True)[-2:] == ["-mno-avx512f", "-fopenmp"]
    assert not any(f.startswith("-march") for f in _ext.cflags("portable", "", openmp=True))
    monkeypatch.setenv("RNNKIT_EXTRA_CFLAGS", "")
    plain = _key_now()
    monkeypatch.setenv("RNNKIT_EXTRA_CFLAGS", "-mno-avx512f")
    assert _key_now() != plain


def test_cpu_flags_and_model_from_cpuinfo():
    text = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\n"
    assert _cpu.cpu_flags(lambda: text) == {"fpu", "avx2", "fma"}
    assert _cpu.cpu_flags(lambda: "") == set()
    assert _cpu.build_isa() in _cpu.ISAS
    assert "ISA" in _cpu.describe()


@pytest.fixture
def fresh_ext(monkeypatch, tmp_path):
    """An extension module not yet loaded, an empty extensions directory, and a fake compiler
    that records its calls and writes the library it was asked for."""
    from torch.utils import cpp_extension

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(_ext, "_module", None)
    monkeypatch.setattr(_ext, "_error", None)
    monkeypatch.setattr(_ext, "_key", None)
    calls = []

    def fake_load(name, sources, extra_cflags, extra_ldflags, build_directory, verbose):
        calls.append(name)
        time.sleep(0.2)  # a slow compiler: a second process arrives meanwhile
        Path(build_directory, f"{name}.so").write_bytes(b"built")
        return f"module {name}"

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    monkeypatch.setattr(_ext, "_import", lambda name, library: f"imported {name}")
    return calls


def test_building_prints_one_line_and_a_second_load_imports_directly(fresh_ext, capfd):
    module = _ext._load_or_build(openmp=True)
    assert fresh_ext == [_ext._key] and module == f"module {_ext._key}"
    err = capfd.readouterr().err
    assert err == _ext.building_message(_cpu.build_isa()) + "\n"
    assert err.startswith("rnnkit: building the fused kernels for ")
    again = _ext._load_or_build(openmp=True)  # the library is there: no compiler, no message
    assert again == f"imported {_ext._key}" and len(fresh_ext) == 1
    assert capfd.readouterr().err == ""


def test_two_first_uses_at_once_build_once(fresh_ext):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(_ext._load_or_build(openmp=True)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fresh_ext) == 1  # the second waited on the lock, then imported the first's
    assert sorted(r.split()[0] for r in results) == ["imported", "module"]


def test_missing_compiler_warns_once(monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(_ext, "_module", None)
    monkeypatch.setattr(_ext, "_error", None)
    monkeypatch.setattr(_ext, "_key", None)

    def no_compiler(*args, **kwargs):
        raise RuntimeError("Error building extension: c++: command not found")

    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _ext.load() is None and _ext.load() is None
    assert [str(w.message).count("command not found") for w in caught] == [1]
    assert "command not found" in _ext.error()


@pytest.mark.slow
def test_a_second_process_with_another_ninja_loads_without_building(tmp_path):
    """The real build: made once in this test run (or found), then a new process with a ninja
    on PATH that fails when run must load it without building or printing anything."""
    if _ext.load() is None:
        pytest.skip("C++ extension not buildable")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ninja").write_text("#!/bin/sh\necho fake ninja was run >&2\nexit 1\n")
    (fake / "ninja").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ.get('PATH', '')}")
    code = "from rnnkit.kernels import _ext; print(_ext.load() is not None, _ext.loaded_key())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", _ext.loaded_key()], out.stderr
    assert "building" not in out.stderr and "fake ninja" not in out.stderr


def test_rnnkit_bench_says_where_it_runs_and_documents_every_option(capsys):
    from rnnkit.cli import bench as bench_cli
    from rnnkit.cli import main

    line = bench_cli.where()
    assert line.startswith("CPU: ") and f"ISA {_cpu.machine_isa()}" in line
    assert f"kernels built for {_cpu.build_isa()}" in line
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    options = ["--shapes", "--cells", "--impls", "--modes", "--repeats", "--threads", "--json"]
    for option, following in zip(options, [*options[1:], None]):
        start = text.index(f"{option} ", text.index("options:"))
        part = text[start : text.index(f"{following} ", start) if following else None]
        assert "(default: " in part, f"{option} does not say its default: {part}"
