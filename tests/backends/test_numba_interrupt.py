"""Ctrl-C while numba's kernels load (issue 35): in numba's import, a kernel family's import or a
kernel's first compile. Cut short, each left numba half-built, and every later kernel call in
that process failed (``module 'numba' has no attribute 'core'``, ``duplicate registration``);
the interrupted call must still be interrupted, and the next ones must run the kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Each case in a process of its own: numba is loaded once a process, and so interrupted once.
_PROBE = """
import signal, sys
import numpy as np
from xdl.backends import _numba, numpy as numpy_backend

stage = sys.argv[1]
be = numpy_backend.create()
x = np.linspace(-1, 1, 8192, dtype=np.float32)  # large enough for ReLU's kernel
interrupted = []


def ctrl_c():
    interrupted.append(stage)
    if stage == "numba import, raised":  # not through SIGINT: what no handler can hold back
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)  # as the terminal sends it


class CtrlCInNumbaImport:  # once numba's first modules have loaded, before numba.core.config
    def find_spec(self, name, path=None, target=None):
        if name == "numba.core.config":
            sys.meta_path.remove(self)
            ctrl_c()


def interrupting(fn, n):  # fn, its n-th call interrupted
    calls = []

    def call(*args, **kwargs):
        calls.append(None)
        if len(calls) == n:
            ctrl_c()
        return fn(*args, **kwargs)
    return call


if stage.startswith("numba import"):
    sys.meta_path.insert(0, CtrlCInNumbaImport())
elif stage == "family import":  # between two of the kernels its module builds with jit
    assert _numba.usable()
    _numba.loader.jit = interrupting(_numba.loader.jit, 2)
elif stage == "kernel compile":
    # numba's first compile (or load from the disk cache) imports numba.cpython.unicode, which
    # registers its boxing, then some 50 methods: cut short in between (its 8th to 52nd
    # overload_method with numba 0.68), it registered twice
    import numba.core.extending as extending
    _numba.elementwise
    extending.overload_method = interrupting(extending.overload_method, 30)

try:
    be.relu(x)
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("the Ctrl-C did not reach the caller")
assert interrupted == [stage], interrupted
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

assert _numba.usable()
y, mask = be.relu(x)
assert np.array_equal(y, x * (x > 0)) and np.array_equal(be.relu_backward(x, mask), x * (x > 0))
print("ok")
"""


@pytest.mark.parametrize("stage", ["numba import", "numba import, raised", "family import", "kernel compile"])
def test_kernels_run_after_ctrl_c_while_they_load(stage):
    from xdl.backends import _numba

    if _numba.version() is None:
        pytest.skip("numba is not installed: no kernels to load")
    env = {k: v for k, v in os.environ.items() if k != "XDL_FUSED"}
    out = subprocess.run([sys.executable, "-c", _PROBE, stage], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr[-3000:]
