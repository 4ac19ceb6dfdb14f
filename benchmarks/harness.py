"""Timing shared by every workload: interleaved repetitions, medians, pauses between libraries.

A workload module exposes ``workloads(backend, quick) -> list[Workload]``. Each ``Workload``
names candidates ("xdl", "torch", "numpy", ...): zero-argument callables that run one step
and return only when its work is done (they synchronize the device themselves).
"""

from __future__ import annotations

import gc
import json
import math
import os
import select
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field

PAUSE_S = 0.3  # OpenBLAS threads spin after NumPy work and slow the next library otherwise
#: a row whose slowest repetition took this many times its fastest measured nothing steady
SPREAD_LIMIT = 1.5
#: marks a row that ``unreliable`` flags, in the table and in summaries
MARK = "!"
#: wall-clock by default; ``time.process_time`` (CPU seconds of this process) shrugs off other
#: processes on a shared machine, but counts spinning threads too: use it with one thread
clock = time.perf_counter


@dataclass
class Workload:
    name: str
    items: int  # samples (or images, sequences) processed per call
    unit: str = "samples/s"
    candidates: dict = field(default_factory=dict)  # label -> callable, or None when unavailable
    notes: dict = field(default_factory=dict)  # label -> why a candidate is missing
    #: labels whose arrays NumPy allocates: tracemalloc sees those, not PyTorch's or a GPU's
    traced: tuple = ()


@dataclass
class Timing:
    label: str
    seconds: list  # per-call seconds, one entry per repetition

    @property
    def median(self):
        return statistics.median(self.seconds)


def time_calls(fn, calls):
    """Seconds per call of ``fn``, averaged over ``calls`` back-to-back calls."""
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def time_for(fn, target_s):
    """Seconds per call of ``fn``, averaged over as many calls as fill ``target_s`` (at least one).

    A time budget, not a call count fixed in advance: when neighbours slow the machine down
    mid-run, a repetition grows by one call, not by the factor of the slowdown."""
    calls, start = 0, clock()
    while True:
        fn()
        calls += 1
        elapsed = clock() - start
        if elapsed >= target_s:
            return elapsed / calls


def measure(workload, reps=7, warmup=3, target_s=0.2):
    """Interleave repetitions of every available candidate; returns {label: Timing}."""
    runners = {k: f for k, f in workload.candidates.items() if f is not None}
    for fn in runners.values():
        for _ in range(warmup):
            fn()
        time.sleep(PAUSE_S)
    timings = {label: Timing(label, []) for label in runners}
    for _ in range(reps):
        for label, fn in runners.items():
            gc.collect()
            timings[label].seconds.append(time_for(fn, target_s))
            time.sleep(PAUSE_S)
    return timings


def peak_host_memory(fn):
    """Peak bytes Python-tracked allocations reach during one call (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def throughput(workload, timing):
    """(median, min, max) items per second."""
    rates = sorted(workload.items / s for s in timing.seconds)
    return statistics.median(rates), rates[0], rates[-1]


def load_average():
    """The 1-minute load average, or None where the system does not tell."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def unreliable(seconds, load, cores=None):
    """Why a row's figures mean little, as short reasons ([] when they look sound): its
    repetitions spread beyond ``SPREAD_LIMIT`` (max/min), or other processes kept the
    machine busy: a load average, less this benchmark's own running thread (and the busy
    neighbour's share of it, in that mode), above half the cores."""
    cores = cores or os.cpu_count() or 1
    reasons = []
    if seconds and min(seconds) > 0 and max(seconds) / min(seconds) > SPREAD_LIMIT:
        reasons.append(f"spread {max(seconds) / min(seconds):.1f}x")
    if load is not None and load - 1 - neighbour_load() > cores / 2:
        reasons.append(f"load {load:.1f} on {cores} cores")
    return reasons


def threads_line():
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "OPENBLAS_THREAD_TIMEOUT", "XLA_FLAGS")
    return "threads: " + ", ".join(f"{n}={os.environ.get(n, '-')}" for n in names)


# -- JAX: the same thread count as the others --------------------------------------------------------
def bench_threads():
    """The thread count every library is pinned to (``BENCH_THREADS``, see __init__.py)."""
    from . import THREADS

    return int(THREADS)


def xla_flags(threads, flags=None):
    """``XLA_FLAGS`` for JAX with ``threads`` threads: one thread turns off Eigen's multi-threaded
    kernels (``--xla_cpu_multi_thread_eigen=false``); a flag already set is left as it is.

    (The often-quoted ``intra_op_parallelism_threads=N`` is a TensorFlow session option, not an
    XLA flag: XLA ignores it, so it is not added. The pool's size is set by ``load_jax``.)"""
    flags = (flags or "").strip()
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    return flags


def set_xla_flags():
    """``XLA_FLAGS`` for ``bench_threads()`` threads, set while JAX is not imported yet (it reads
    them once); called before the header is printed, so the header shows them."""
    if sys.modules.get("jax") is None:
        flags = xla_flags(bench_threads(), os.environ.get("XLA_FLAGS"))
        if flags:
            os.environ["XLA_FLAGS"] = flags


def _tasks():
    """Thread ids of this process (Linux), or [] where /proc does not tell."""
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return []


def load_jax():
    """``(jax, None)`` with JAX's CPU client made for ``bench_threads()`` threads, or
    ``(None, why not)``.

    XLA sizes its CPU thread pool (the threads named ``tf_XLAEigen``) from the process's CPU
    affinity when the client is created, and has no flag for it. So the affinity is narrowed to
    the first N allowed cores while the client is made, then every thread of the process,
    XLA's new ones included, gets its affinity back (the allowed set: they float as the other
    libraries' threads do). ``XLA_FLAGS`` is set before JAX is imported (``xla_flags``)."""
    threads = bench_threads()
    set_xla_flags()
    try:
        import jax
    except ImportError:
        return None, "JAX is not installed (pip install jax)"
    if not hasattr(os, "sched_setaffinity"):
        jax.devices()
        return jax, None
    allowed = sorted(os.sched_getaffinity(0))
    before = {}
    for tid in _tasks():
        try:
            before[tid] = os.sched_getaffinity(tid)
        except OSError:
            pass
    if threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])
    try:
        jax.devices()  # makes the clients (a no-op when they exist: the pool then stays as it was)
    finally:
        for tid in _tasks() or [0]:
            try:
                os.sched_setaffinity(tid, before.get(tid, allowed))
            except OSError:
                pass
    return jax, None


def xla_pool_threads():
    """How many threads XLA's CPU pool has (threads named ``tf_XLAEigen``), None if unknown."""
    names = []
    for tid in _tasks():
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return sum(n.startswith("tf_XLAEigen") for n in names) or None


# -- a busy neighbour: a CPU-bound process on one core -----------------------------------------------
#: a pure-Python spin loop that says it runs, then spins until told to stop or its parent is gone
_SPIN = """
import os, sys
parent = int(sys.argv[1])
core = int(sys.argv[2])
if core >= 0:
    os.sched_setaffinity(0, {core})
print("spinning", flush=True)
while os.getppid() == parent:
    for _ in range(200_000):
        pass
"""

#: a share of one core taken in bursts, at real-time priority where allowed (SCHED_FIFO: nothing
#: of ours runs on that core during a burst, as when a hypervisor steals the vCPU); every 20 ms
#: it spins ``share`` of the period, then sleeps
_STEAL = """
import os, sys, time
parent, core, share = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
if core >= 0:
    os.sched_setaffinity(0, {core})
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    print("spinning realtime", flush=True)
except (AttributeError, PermissionError, OSError):
    print("spinning ordinary", flush=True)
period = 0.02
while os.getppid() == parent:
    start = time.perf_counter()
    while time.perf_counter() - start < share * period:
        pass
    time.sleep((1 - share) * period)
"""

_neighbour_since = None  # time.monotonic() when a neighbour started, None without
_neighbour_share = 1.0  # the share of its core it takes (``--steal``), 1 for the plain spin loop


def neighbour_load():
    """What a running neighbour adds to the 1-minute load average by now (0 without one): the
    kernel's average moves toward 1 with a one-minute time constant."""
    if _neighbour_since is None:
        return 0.0
    return _neighbour_share * (1 - math.exp(-(time.monotonic() - _neighbour_since) / 60))


class Neighbour:
    """A CPU-bound process pinned to the first core this process may run on (Linux; unpinned
    elsewhere), started with ``start`` and stopped with ``stop``, or as a context manager. The
    benchmark keeps its own affinity. ``info()`` is what the run records."""

    def __init__(self, steal=None):
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.core = allowed[0] if allowed and hasattr(os, "sched_setaffinity") else None
        self.allowed = allowed
        #: None: spin all the time, at ordinary priority; a share in (0, 1): take that share of
        #: the core in bursts, at real-time priority where allowed (``--steal``)
        self.steal, self.priority = steal, "ordinary"
        self.proc, self.started, self.cpu_s, self.wall_s, self.died = None, None, None, None, None

    def start(self, timeout=60):
        global _neighbour_since, _neighbour_share
        core = -1 if self.core is None else self.core
        script, args = (_SPIN, []) if self.steal is None else (_STEAL, [str(self.steal)])
        self.proc = subprocess.Popen([sys.executable, "-c", script, str(os.getpid()), str(core), *args],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)  # its line, or EOF if it died
        said = self.proc.stdout.readline().strip() if ready else ""
        if not said.startswith("spinning"):
            self.stop()
            raise RuntimeError("the busy neighbour did not start")
        self.priority = "real-time (SCHED_FIFO)" if said.endswith("realtime") else "ordinary"
        _neighbour_share = 1.0 if self.steal is None else self.steal
        self.started = _neighbour_since = time.monotonic()
        return self

    def _cpu_seconds(self):
        """The neighbour's CPU seconds so far (Linux), None where /proc does not tell."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        global _neighbour_since
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.cpu_s = self._cpu_seconds()
            if self.started is not None:
                self.wall_s = time.monotonic() - self.started
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.started is not None:
            self.died = self.proc.returncode  # it stopped before the rows did: the run says so
        self.proc.stdout.close()
        _neighbour_since = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def kind(self):
        if self.steal is None:
            return "pure-Python spin loop"
        return f"spin loop taking {self.steal:.0%} of the core in bursts every 20 ms, {self.priority} priority"

    def describe(self):
        where = (f"pinned to core {self.core} of {{{','.join(map(str, self.allowed))}}}" if self.core is not None
                 else "unpinned (no sched_setaffinity here)")
        return f"a CPU-bound process ({self.kind()}) {where}; the benchmark keeps its affinity"

    def info(self):
        share = self.cpu_s / self.wall_s if self.cpu_s is not None and self.wall_s else None
        return {"on": True, "kind": self.kind(), "steal": self.steal, "core": self.core, "allowed": self.allowed,
                "pid": self.proc.pid if self.proc else None, "cpu_s": self.cpu_s, "wall_s": self.wall_s,
                "core_share": share, "exited_early_with": self.died}


MEMORY_NOTE = ("peak MB: the most NumPy-allocated memory (tracemalloc) one call holds beyond what "
               "existed before it; '-' where the library allocates outside tracemalloc's view (PyTorch, GPUs)")


def report(rows, out=print):
    """Print a table of rows as produced by ``run``; ratios divide by the torch (and the jax)
    candidate's median: "vs jax" on the xdl row is xdl's throughput over the jitted JAX step's."""
    header = (f"{'workload':38} {'candidate':9} {'median':>10} {'min':>10} {'max':>10} {'unit':9} "
              f"{'vs torch':>8} {'vs jax':>7} {'peak MB':>7}")
    out(header)
    out("-" * len(header))
    flagged = []
    for r in rows:
        if r.get("median") is None:
            out(f"{r['workload']:38} {r['candidate']:9} ({r['note']})")
            continue
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") else "-"
        ratio_jax = f"{r['ratio_jax']:.2f}x" if r.get("ratio_jax") else "-"
        peak = f"{r['peak_bytes'] / 2**20:.1f}" if r.get("peak_bytes") is not None else "-"
        mark = f" {MARK} " + ", ".join(r["unreliable"]) if r.get("unreliable") else ""
        out(f"{r['workload']:38} {r['candidate']:9} {r['median']:10,.0f} {r['min']:10,.0f} "
            f"{r['max']:10,.0f} {r['unit']:9} {ratio:>8} {ratio_jax:>7} {peak:>7}{mark}")
        flagged += [r] if mark else []
    out(MEMORY_NOTE)
    if flagged:
        out(f"{MARK} unreliable: {len(flagged)} of {sum(r.get('median') is not None for r in rows)} rows: their "
            f"repetitions differ by more than {SPREAD_LIMIT}x (max/min seconds), or other")
        out("  processes loaded the machine (1-minute load average, less this run, above half the cores):")
        out("  those figures, and the ratios and shares drawn from them, measure the neighbours, not the code;")
        out("  rerun on a quiet machine, or with OPENBLAS_NUM_THREADS=1 and --cpu-time.")


def run(workloads, reps=7, warmup=3, target_s=0.2, memory=True):
    """Measure every workload; returns rows for ``report`` and ``--json``."""
    rows = []
    for w in workloads:
        timings = measure(w, reps=reps, warmup=warmup, target_s=target_s)
        load = load_average()  # over the minute the workload ran in, roughly
        torch_rate = throughput(w, timings["torch"])[0] if "torch" in timings else None
        jax_rate = throughput(w, timings["jax"])[0] if "jax" in timings else None
        for label in w.candidates:
            if label not in timings:
                rows.append({"workload": w.name, "candidate": label, "median": None,
                             "note": w.notes.get(label, "unavailable")})
                continue
            median, lo, hi = throughput(w, timings[label])
            peak = peak_host_memory(w.candidates[label]) if memory and label in w.traced else None
            rows.append({"workload": w.name, "candidate": label, "unit": w.unit, "median": median,
                         "min": lo, "max": hi, "ratio": median / torch_rate if torch_rate else None,
                         "ratio_jax": median / jax_rate if jax_rate else None,
                         "peak_bytes": peak, "seconds": timings[label].seconds, "load": load,
                         "unreliable": unreliable(timings[label].seconds, load)})
    return rows


def write_json(path, rows, meta):
    with open(path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
