"""Fused CPU kernels for the NumPy backend, compiled by numba when it is installed.

Each kernel does in one pass over memory what the portable form (backends/_base.py) does in
several NumPy calls. They are fast paths only: without numba (``pip install "xdl[fast]"``), or
with ``XDL_FUSED=0``, the adapter runs the portable forms, and tests/backends/test_fast_paths.py checks
each kernel against them. Kernels take C-contiguous arrays and run on the calling thread; with
``XDL_PARALLEL_MIN`` set, those with at least that much work run a build split across numba's
threads. The float32 LSTM's and GRU's loops over time are kernels too, with their products
through SciPy's BLAS, one per part of the batch, each on a thread of its own.

``loader`` says whether numba is usable and holds the ``jit`` every kernel is compiled with.
The kernel families, each its Python wrappers beside its kernels, import numba at their top,
so they are imported on first use, through this package's attributes (``_numba.windows``),
and only once ``usable()`` is true:

- ``windows``: max pooling and its backward, col2im, the backward of a convolution under a max pooling
- ``elementwise``: ReLU, GELU's tanh form, the float32 ``tanh32`` of arithmetic only
- ``softmax_norms``: attention's masked softmax and its backward, LayerNorm and its backward
- ``optimizers``: the Adam, RMSprop and momentum updates
- ``lstm``, ``gru``: the recurrent loops over time; ``recurrent``: what they share
"""

from __future__ import annotations

import importlib

from . import loader
from .loader import blas, usable, version

__all__ = ["blas", "loader", "usable", "version"]

FAMILIES = ("elementwise", "flash", "gru", "lstm", "optimizers", "recurrent", "softmax_norms", "windows")


def __getattr__(name):
    if name in FAMILIES and usable():
        with loader.ctrl_c_held():  # a family's import builds its kernels' dispatchers
            return importlib.import_module(f"{__name__}.{name}")
    why = " (numba's kernels are off here: see usable())" if name in FAMILIES else ""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}{why}")
