"""Fixtures for every test and doctest of the repository (tests/ and src/rnnkit)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _auto_mode_without_timing(tmp_path_factory):
    """No timing in tests: mode "auto" would measure fused against torch's op, so here it finds
    the fused kernels faster every time, and remembers that in a temporary cache, not in the
    home directory (tests/test_dispatch.py tests the measuring and the cache themselves).
    Session-scoped so that module-scoped fixtures (tiny training runs) are covered too."""
    from rnnkit.kernels import _autotune

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rnnkit-cache"))
        patch.setattr(_autotune, "measure", lambda *a, **k: {"fused": 0.0, "native": 1.0})
        yield
