"""numba's disk cache: a second process loads the fused kernels instead of compiling them, where
numba finds a writable folder, else in a temporary one; without any folder they compile silently."""

from __future__ import annotations

import numpy as np
import pytest


def _double(x):
    return 2 * x


@pytest.fixture
def numba_jit():
    pytest.importorskip("numba", reason="the fused kernels need numba (the fast extra)")
    from xdl.backends._numba import loader

    return loader.jit


def test_kernels_are_cached_where_numba_finds_a_writable_folder(numba_jit, monkeypatch, tmp_path):
    from numba.core import caching, config

    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))  # as NUMBA_CACHE_DIR=tmp_path does
    kernel = numba_jit(_double)
    assert kernel(np.float32(2)) == 4
    assert any(tmp_path.rglob("*_double*.nbi")), list(tmp_path.rglob("*"))
    assert isinstance(kernel._cache, caching.FunctionCache)


def test_without_a_writable_cache_folder_a_temporary_one_is_used(numba_jit, monkeypatch, tmp_path):
    from numba.core import caching, config

    # no locator but NUMBA_CACHE_DIR's: as in a read-only install with an unwritable home
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [caching.UserProvidedCacheLocator])
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    kernel = numba_jit(_double)
    assert kernel(np.float32(3)) == 6
    assert config.CACHE_DIR.startswith(str(tmp_path)) and any(tmp_path.rglob("*_double*.nbi"))


def test_without_any_cache_folder_kernels_compile_silently(numba_jit, monkeypatch, tmp_path, recwarn):
    from numba.core import caching, config

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "missing" / "deeper"))
    (tmp_path / "missing").write_text("a file, not a folder")  # so the temporary folder cannot exist
    kernel = numba_jit(_double)
    assert kernel(np.float32(4)) == 8 and not recwarn.list
