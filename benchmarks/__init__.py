"""Benchmarks: xdl side by side with PyTorch (and plain-NumPy twins) in one process.

BLAS threads are pinned here, before NumPy or PyTorch is imported, so every library in a
run uses the same number of threads (``BENCH_THREADS``, default 2).
"""

import os

THREADS = os.environ.get("BENCH_THREADS", "2")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)
# OpenBLAS's idle workers spin before they sleep, taking the core that NumPy's single-threaded
# element-wise work and the next library need: sleep after 2**4 cycles, not the default 2**28.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
