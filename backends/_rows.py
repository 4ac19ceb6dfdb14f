"""Independent row ranges of one computation, run on the calling thread and on threads of our
own: for work that releases the GIL for its whole length (a BLAS call, a numba kernel that
loops over time steps), not for one short call per element or per step."""

from __future__ import annotations

import concurrent.futures
import os

#: OpenBLAS runs a product of at most 65536 * 4 multiply-adds (M * N * K) on the calling thread
#: and larger ones on its own threads, which then wait on each other: two such products from two
#: of our threads at once are far slower than one thread
BLAS_ONE_THREAD = 1 << 18


def allowed_threads():
    """The threads a user allows (the least of OMP/OPENBLAS/NUMBA_NUM_THREADS where set), else
    the cores this process may run on."""
    named = [int(v) for v in (os.environ.get(k, "") for k in
                              ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")) if v.isdigit()]
    if named:
        return max(1, min(named))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class RowThreads:
    """``ranges`` cuts ``n`` rows into at most ``threads`` parts; ``run`` calls ``part(lo, hi)``
    for each, the first on the calling thread, the others on a pool started on first use."""

    def __init__(self, threads):
        self.threads, self._pool = threads, None

    def ranges(self, n, least=1):
        """``n`` rows in parts of at least ``least`` rows, one per thread at most."""
        parts = max(1, min(self.threads, n // max(1, least)))
        return [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]

    def run(self, part, ranges):
        if len(ranges) == 1:
            part(*ranges[0])
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads - 1, thread_name_prefix="xdl-rows")
        futures = [self._pool.submit(part, lo, hi) for lo, hi in ranges[1:]]
        try:
            part(*ranges[0])
        finally:  # the other parts write into the caller's arrays: never return while one runs
            concurrent.futures.wait(futures)
        for f in futures:
            f.result()


ONE_THREAD = RowThreads(1)  # every part on the calling thread
