"""What the LSTM's and GRU's time loops share (``lstm.py``, ``gru.py``): how a loop runs as one
kernel per part of the batch, each part on a thread of its own (``loop_plan``), and the
product inside those kernels (``blocked_dot``, through SciPy's BLAS: numba's ``np.dot``)."""

from __future__ import annotations

import numpy

from .._rows import BLAS_ONE_THREAD
from .loader import blas, jit

#: the fewest batch rows worth a thread of their own in a time loop
_ROWS_PER_THREAD = 8
#: the narrowest column block a part's products are cut into, to stay on its own thread
_NARROWEST_BLOCK = 32
#: the most multiply-adds of one step's product for which the loop runs in one kernel: beyond,
#: NumPy's BLAS threads each product well enough where its idle threads spin (OpenBLAS's default),
#: and they then take the second core from our second part
_LOOP_PRODUCT_MOST = 1 << 22


def loop_plan(n, w, rows):
    """How a time loop over ``n`` batch rows with the per-step product ``(n, K) @ w`` runs in
    one kernel per part of the batch: the row ranges, one thread each (``rows``, a
    ``_rows.RowThreads``), and ``w`` as contiguous column blocks (B, K, W / B), each product
    of a part's rows by a block small enough that BLAS runs it on that part's thread
    (``BLAS_ONE_THREAD``). The rows of a batch recur independently, so each thread runs its
    rows through every step with no handoff between steps (numba releases the GIL for the
    whole loop), where one product split per step costs a handoff each. None where blocks
    would be narrower than ``_NARROWEST_BLOCK`` columns (a threaded product inside the kernel,
    beside NumPy's BLAS threads still spinning, is far slower) or the product is larger than
    ``_LOOP_PRODUCT_MOST``: the loop then stays in Python, its products threaded by NumPy's BLAS."""
    k, width = w.shape
    if n * k * width > _LOOP_PRODUCT_MOST:
        return None
    ranges = rows.ranges(n, _ROWS_PER_THREAD)
    most = max(hi - lo for lo, hi in ranges)
    cols = width
    while most * k * cols > BLAS_ONE_THREAD and cols % 2 == 0 and cols // 2 >= _NARROWEST_BLOCK:
        cols //= 2
    if most * k * cols > BLAS_ONE_THREAD:
        return None
    return ranges, numpy.ascontiguousarray(w.reshape(k, width // cols, cols).transpose(1, 0, 2))


def kernel_plan(n, steps, dtype, w, rows):
    """``loop_plan`` where a loop can be one kernel at all (float32, at least one step, SciPy's
    BLAS for the products), else None."""
    return loop_plan(n, w, rows) if dtype == numpy.float32 and steps and blas() else None


def contiguous_transpose(u_t):
    """The recurrent kernel's transpose, which layers pass as a view of the kernel, copied
    once: OpenBLAS multiplies by a contiguous copy faster than by the transposed view, and the
    backward loop makes one such product a step."""
    return numpy.ascontiguousarray(u_t)


@jit
def blocked_dot(a, blocks, out_blocks, out):
    """``out = a @ w`` with ``w`` as column blocks (see ``loop_plan``): one BLAS call a block."""
    nb, cols = blocks.shape[0], blocks.shape[2]
    if nb == 1:
        numpy.dot(a, blocks[0], out)
        return
    for q in range(nb):
        numpy.dot(a, blocks[q], out_blocks[q])
    for b in range(a.shape[0]):
        for q in range(nb):
            for j in range(cols):
                out[b, q * cols + j] = out_blocks[q, b, j]
