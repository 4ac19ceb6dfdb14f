"""Keep freed host memory for reuse, so that a training step's big temporaries cost no page faults.

glibc's malloc serves a large request (above 128 KiB at first, a threshold it raises as it
sees such blocks freed) with a fresh ``mmap`` and unmaps it on ``free``; and it trims free
memory above 128 KiB off the top of the heap. Either way the next step's arrays come back as
new pages, each faulted in and zeroed by the kernel on first touch: a large share of a CNN
training step's time, which the thresholds below take away (benchmarks/README.md).

The setting is process-wide (the C allocator is shared by every library in the process, so
PyTorch in the same process gains as well) and is made once, by the CPU backends when they
are created. ``XDL_KEEP_FREED_MEMORY=0`` leaves the allocator as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # the most glibc accepts on 64-bit; bigger blocks are still mapped
TRIM_THRESHOLD = 512 << 20  # free memory kept at the top of the heap for the next step

_state = {}


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds, once per process. Returns whether they are set
    (False: not Linux/glibc, or turned off by ``XDL_KEEP_FREED_MEMORY=0``)."""
    if "tuned" not in _state:
        _state["tuned"] = _tune()
    return _state["tuned"]


def _tune() -> bool:
    if os.environ.get("XDL_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mmap_set = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(mmap_set and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
